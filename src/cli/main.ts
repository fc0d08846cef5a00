#!/usr/bin/env node
// The `shoal` command (commander): the daemon, the client commands that talk to it, and the simulator.
//
//   shoal init --dir DIR [--name NAME]
//   shoal daemon [--config FILE] --cluster FILE --data DIR [--listen MA]... [--api HOST:PORT] [--bootstrap MA]... [--label K=V]... [--slots N]
//   shoal apply -f FILE...   delete KIND/NAME   get nodes|policies|view   status   explain KIND/NAME
//   shoal drain NODE   cordon NODE   uncordon NODE   admit PEERID...   promote Service/NAME
//   shoal sim [--engine libp2p|virtual] [--nodes N] [--scenario FILE] [--seed S] [--transport memory|tcp]
//             [--policies FILE] [--labels FILE] [--from-cluster DIR] [--report DIR] [--json]
//   shoal completion bash|zsh   shoal --version
//
// Only commander loads up front; each command imports what it needs when it runs, so that a client
// command (status, get, …) loads neither libp2p nor the simulator and starts about as fast as node.
// Errors (a bad flag, a bad file, an unreachable daemon) are one line naming the problem, exit code 2;
// a failed simulator expectation exits 1.

import '../polyfill.ts'
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { CliError, InputError } from '../errors.ts'
import { shoalVersion } from '../package.ts'
import { parseDuration, parseHostPort, parseInteger, parseLabel, parseMultiaddr, parsePositiveInteger } from './values.ts'

/** A value parser for commander: the same parser, its error as commander's. */
function flag<T> (parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value)
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message)
    }
  }
}

const positiveInteger = flag(parsePositiveInteger)
const integer = flag(parseInteger)

function collect (value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

function collectMultiaddr (value: string, previous: string[] | undefined): string[] {
  return collect(flag(parseMultiaddr)(value), previous)
}

function collectLabel (value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const [key, labelValue] = flag(parseLabel)(value)
  return { ...previous, [key]: labelValue }
}

/** The client commands' module, loaded when one of them runs. */
async function commands (): Promise<typeof import('./commands.ts')> {
  return await import('./commands.ts')
}

/** Options every client command takes: how to find the daemon, and --json. */
function clientCommand (name: string, description: string): Command {
  return program.command(name)
    .description(description)
    .option('--data <dir>', 'the daemon\'s data directory (reads its daemon.json)')
    .option('--api <url>', 'the daemon\'s API url (or SHOAL_API)')
    .option('--token <token>', 'the API token (or SHOAL_TOKEN)')
    .option('--json', 'machine-readable output')
}

const program = new Command('shoal')
  .description('Shoal: a decentralised, reconciling control plane')
  .version(shoalVersion(), '-V, --version', 'print the version')
  .exitOverride()
  .showSuggestionAfterError()
  .configureOutput({ writeErr: (text) => process.stderr.write(text.split('\n')[0] + '\n') })

program.command('init')
  .description('create a cluster: cluster.yaml, network.key and operator.key in DIR')
  .requiredOption('--dir <dir>', 'where to create the cluster files')
  .option('--name <name>', 'the cluster\'s name', 'shoal')
  .action(async (options: { dir: string, name: string }) => {
    const { initCluster } = await import('../daemon/cluster.ts')
    const { file, operatorId } = await initCluster(options.dir, options.name)
    process.stdout.write(`created ${file} (operator ${operatorId})\nstart a node: shoal daemon --cluster ${file} --data DATA_DIR\n`)
  })

program.command('daemon')
  .description('run a node (settings from --config FILE and flags; a flag wins over the file)')
  .option('--config <file>', 'a YAML file with any of the settings below (cluster, data, listen, api, bootstrap, labels, slots, grace, log, logLevel, fileRoots, net)')
  .option('--cluster <file>', 'the cluster file (network.key beside it)')
  .option('--data <dir>', 'this node\'s data directory')
  .option('--listen <multiaddr>', 'listen address (repeatable; port 0 picks a free one) [/ip4/0.0.0.0/tcp/7420]', collectMultiaddr)
  .option('--api <host:port>', 'API address [127.0.0.1:7421]', flag(parseHostPort))
  .option('--bootstrap <multiaddr>', 'a peer to join through (repeatable)', collectMultiaddr)
  .option('--label <key=value>', 'a label of this node (repeatable)', collectLabel)
  .option('--slots <n>', 'capacity: how many slots of work this node takes [10]', positiveInteger)
  .option('--grace <duration>', 'after a SIGTERM, how long the others hold this node\'s work [30s]', flag(parseDuration))
  .option('--log <file>', 'write JSON log lines here (default: stdout; SIGHUP reopens it)')
  .option('--file-root <dir>', 'a directory file workloads may write absolute paths under (repeatable; none by default)', collect)
  .addOption(new Option('--log-level <level>', 'log level [info]').choices(['debug', 'info', 'warn', 'error']))
  .action(async (flags) => {
    const [{ runDaemon }, { daemonSettings }] = await Promise.all([import('./daemon-command.ts'), import('./daemon-config.ts')])
    process.exitCode = await runDaemon(await daemonSettings(flags))
  })

clientCommand('apply', 'sign and apply policy files (YAML or JSON; one or more documents each)')
  .requiredOption('-f, --file <file>', 'a policy file (repeatable)', collect)
  .option('--operator-key <file>', 'the operator key (default: operator.key beside the cluster file)')
  .action(async (options) => { await (await commands()).applyCommand(options.file, options) })

clientCommand('delete', 'delete a policy, e.g. Service/web')
  .argument('<kind/name>')
  .option('--operator-key <file>', 'the operator key')
  .action(async (target: string, options) => { await (await commands()).deleteCommand(target, options) })

clientCommand('get', 'list nodes, policies, or the view')
  .addArgument(new Argument('<what>', 'what to list').choices(['nodes', 'policies', 'view']))
  .action(async (what: string, options) => { await (await commands()).getCommand(what, options) })

clientCommand('status', 'this node: view, convergence, reachable nodes, assigned and running work')
  .action(async (options) => { await (await commands()).statusCommand(options) })

clientCommand('explain', 'why a service runs where it does (Service/NAME), or what a node is given (Node/ID)')
  .argument('<kind/name>')
  .action(async (target: string, options) => { await (await commands()).explainCommand(target, options) })

clientCommand('promote', 'let a canary rollout continue: the canaries are good (Service/NAME)')
  .argument('<kind/name>')
  .option('--operator-key <file>', 'the operator key')
  .action(async (target: string, options) => { await (await commands()).promoteCommand(target, options) })

for (const [change, description] of [
  ['drain', 'move all work away from a node (before removing it)'],
  ['cordon', 'place no new work on a node; what runs there stays'],
  ['uncordon', 'undo drain and cordon'],
] as const) {
  clientCommand(change, description)
    .argument('<node>', 'the node\'s peer id, or a unique ending of it')
    .option('--operator-key <file>', 'the operator key')
    .action(async (node: string, options) => { await (await commands()).nodeSettingCommand(node, change, options) })
}

clientCommand('admit', 'admit nodes to the cluster by peer id (a daemon prints its id; it is in daemon.json)')
  .argument('<peer-id...>')
  .option('--operator-key <file>', 'the operator key')
  .action(async (peerIds: string[], options) => { await (await commands()).admitCommand(peerIds, options) })

program.command('sim')
  .description('run a scenario against N simulated nodes in one process (the built-in demo without --scenario)')
  .addOption(new Option('--engine <engine>', 'libp2p: real libp2p nodes, wall time (up to 500); virtual: a simulated network, virtual time, reproducible from the seed').choices(['libp2p', 'virtual']).default('libp2p'))
  .option('--nodes <n>', 'number of nodes (default: the scenario\'s, else 20)', positiveInteger)
  .option('--scenario <file>', 'scenario YAML file')
  .option('--seed <s>', 'seed for the scenario\'s random choices', integer)
  .addOption(new Option('--transport <kind>', 'how the libp2p engine\'s nodes connect').choices(['memory', 'tcp']).default('memory'))
  .option('--policies <file>', 'apply these policy files (as `shoal apply` takes them) first; workloads run as simulated ones')
  .option('--labels <file>', 'each node\'s labels: a YAML list of label maps, one per node (sets --nodes)')
  .option('--from-cluster <dir>', 'a daemon\'s data dir: simulate its cluster (its nodes\' labels and its policies)')
  .option('--report <dir>', 'write report.json and report.html into this directory')
  .option('--json', 'print the report as JSON on stdout')
  .action(async (options) => { process.exitCode = await (await import('./sim-command.ts')).sim(options) })

const lab = program.command('lab').description('the fault lab: real daemons in network namespaces, and faults the kernel injects (needs root and nftables)')
lab.command('up')
  .description('start N daemons, each in a network namespace of its own, and leave them running')
  .option('--nodes <n>', 'number of daemons', positiveInteger, 5)
  .option('--dir <dir>', 'where the lab keeps its state (default: a new temp dir)')
  .action(async (options) => { process.exitCode = await (await import('./lab-command.ts')).labUp(options) })
lab.command('down')
  .description('remove every namespace, rule and process a lab made')
  .requiredOption('--dir <dir>', 'the lab\'s directory (printed by lab up)')
  .action(async (options: { dir: string }) => { process.exitCode = await (await import('./lab-command.ts')).labDown(options.dir) })
lab.command('run')
  .description('a seeded nemesis: random faults, heals and policy changes for a while, then heal and check')
  .option('--nodes <n>', 'number of daemons', positiveInteger, 5)
  .option('--seed <s>', 'the seed of the schedule', integer)
  .option('--duration <duration>', 'how long faults go on', flag(parseDuration), 60_000)
  .option('--faults <list>', 'comma-separated: partition, one-way, pause, kill, policy (default: all)')
  .option('--dir <dir>', 'where the lab keeps its state and history.jsonl')
  .action(async (options) => { process.exitCode = await (await import('./lab-command.ts')).labRun(options) })

program.command('completion')
  .description('print a shell completion script: eval "$(shoal completion bash)", or zsh')
  .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh']))
  .action(async (shell: 'bash' | 'zsh') => { process.stdout.write((await import('./completion.ts')).completionScript(program, shell)) })

try {
  await program.parseAsync(process.argv)
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2
  } else {
    const known = error instanceof InputError || error instanceof CliError
    process.stderr.write(`shoal: ${(error as Error).message}\n`)
    if (!known && process.env.SHOAL_DEBUG !== undefined) process.stderr.write(`${(error as Error).stack}\n`)
    process.exitCode = 2
  }
}
process.exit(process.exitCode ?? 0)
