// The `shoal` command. For now it has one subcommand, `sim`, which runs a scenario against N real
// libp2p nodes in one process (sim/scenario.ts). The daemon's commands come with issue 4.
//
//   shoal sim [--nodes N] [--scenario FILE] [--seed S] [--report DIR] [--json]
//
// Errors (a bad flag, a bad scenario file) are one line naming the problem, exit code 2; a failed
// expectation exits 1, naming the step and the seed.

import '../polyfill.ts'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { renderReportHtml } from '../../sim/report.ts'
import { parseScenario, runScenario, ScenarioError, type StepReport } from '../../sim/scenario.ts'

const builtInScenario = join(dirname(fileURLToPath(import.meta.url)), '../../sim/scenarios/demo.yaml')

function positiveInteger (value: string): number {
  const number = Number(value)
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError('must be a whole number of at least 1')
  return number
}

function integer (value: string): number {
  const number = Number(value)
  if (!Number.isSafeInteger(number)) throw new InvalidArgumentError('must be a whole number')
  return number
}

async function sim (options: { nodes?: number, scenario?: string, seed?: number, transport: 'memory' | 'tcp', report?: string, json?: boolean }): Promise<number> {
  const file = options.scenario ?? builtInScenario
  const text = await readFile(file, 'utf8').catch((error: Error) => { throw new ScenarioError(`cannot read ${file}: ${error.message}`) })
  const scenario = parseScenario(text, file)
  const nodes = options.nodes ?? scenario.nodes ?? 20
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31)
  const out = options.json === true ? process.stderr : process.stdout
  out.write(`shoal sim: ${nodes} nodes in one process (real libp2p, ${options.transport} transport, memory actuators), seed ${seed}\n`)
  const report = await runScenario(scenario, {
    nodes,
    seed,
    transport: options.transport,
    onStep: (step: StepReport) => {
      const converged = step.convergedMs !== null ? `converged in ${step.convergedMs.toFixed(0)} ms` : step.effectMs !== null ? `seen in ${step.effectMs.toFixed(0)} ms` : ''
      out.write(`${String(step.index + 1).padStart(3)}. ${step.step.padEnd(60)} ${converged.padEnd(22)} ${String(step.messages).padStart(6)} msgs ${(step.bytes / 1024).toFixed(0).padStart(6)} KB  ${step.ok ? '' : `FAILED: ${step.problem}`}\n`)
    },
  })
  out.write(`verdict: ${report.verdict === 'pass' ? 'PASS' : `FAIL — ${report.failure}`}\n`)
  if (options.report !== undefined) {
    await mkdir(options.report, { recursive: true })
    await writeFile(join(options.report, 'report.json'), JSON.stringify(report, null, 2))
    await writeFile(join(options.report, 'report.html'), renderReportHtml(report))
    out.write(`report written to ${join(options.report, 'report.json')} and report.html\n`)
  }
  if (options.json === true) process.stdout.write(JSON.stringify(report) + '\n')
  return report.verdict === 'pass' ? 0 : 1
}

const program = new Command('shoal')
  .description('Shoal: a decentralised, reconciling control plane')
  .exitOverride()
  .configureOutput({ writeErr: (text) => process.stderr.write(text.split('\n')[0] + '\n') })
program.command('sim')
  .description('run a scenario against N real nodes in one process (the built-in demo without --scenario)')
  .option('--nodes <n>', 'number of nodes (default: the scenario\'s, else 20)', positiveInteger)
  .option('--scenario <file>', 'scenario YAML file')
  .option('--seed <s>', 'seed for the scenario\'s random choices', integer)
  .addOption(new Option('--transport <kind>', 'how the nodes connect').choices(['memory', 'tcp']).default('memory'))
  .option('--report <dir>', 'write report.json and report.html into this directory')
  .option('--json', 'print the report as JSON on stdout')
  .action(async (options) => { process.exitCode = await sim(options) })

try {
  await program.parseAsync(process.argv)
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2
  } else if (error instanceof ScenarioError) {
    process.stderr.write(`shoal: ${error.message}\n`)
    process.exitCode = 2
  } else {
    process.stderr.write(`shoal: ${(error as Error).message}\n`)
    process.exitCode = 2
  }
}
process.exit(process.exitCode ?? 0)
