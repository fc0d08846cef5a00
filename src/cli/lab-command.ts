// `shoal lab up | down | run`: the fault lab (testing/lab.ts) from the command line. `up` starts N
// daemons in network namespaces and leaves them running; `down` removes everything a lab made (also
// after the lab's own process died); `run` is the seeded nemesis (testing/nemesis.ts). Without root or
// nftables each says why in one line and exits 2.

import { Lab, labUnavailable, startLab } from '../testing/lab.ts'
import { nemesisFaults, runNemesis, type NemesisFault } from '../testing/nemesis.ts'
import { CliError } from './client.ts'

export interface LabUpOptions { readonly nodes: number, readonly dir?: string }
export interface LabRunOptions { readonly nodes: number, readonly seed?: number, readonly duration: number, readonly faults?: string, readonly dir?: string }

async function available (): Promise<void> {
  const problem = await labUnavailable()
  if (problem !== undefined) throw new CliError(problem)
}

export async function labUp (options: LabUpOptions): Promise<number> {
  await available()
  const lab = await startLab({ nodes: options.nodes, ...(options.dir === undefined ? {} : { dir: options.dir }) })
  lab.detach()
  process.stdout.write(`lab ${lab.state.id}: ${lab.nodes.length} daemons, state in ${lab.state.dir}\n`)
  for (const node of lab.nodes) process.stdout.write(`  node ${node.index}  ${node.address}  api ${node.api.url}  shoal status --data ${node.dataDir}\n`)
  process.stdout.write(`faults from TypeScript: startLab() in shoal/testing; remove it all: shoal lab down --dir ${lab.state.dir}\n`)
  return 0
}

export async function labDown (dir: string): Promise<number> {
  await available()
  await Lab.down(dir).catch((error: Error) => { throw new CliError(`no lab in ${dir}: ${error.message}`) })
  process.stdout.write(`removed the lab's namespaces and processes; its files stay in ${dir}\n`)
  return 0
}

export async function labRun (options: LabRunOptions): Promise<number> {
  await available()
  const faults = options.faults?.split(',').map((fault) => fault.trim()) ?? [...nemesisFaults]
  const unknown = faults.find((fault) => !(nemesisFaults as readonly string[]).includes(fault))
  if (unknown !== undefined) throw new CliError(`--faults: unknown fault '${unknown}'; choose from ${nemesisFaults.join(', ')}`)
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31)
  process.stdout.write(`shoal lab run: ${options.nodes} daemons, seed ${seed}, ${options.duration / 1000} s of ${faults.join(', ')}\n`)
  const report = await runNemesis({
    nodes: options.nodes, seed, durationMs: options.duration, faults: faults as NemesisFault[],
    ...(options.dir === undefined ? {} : { dir: options.dir }),
    onEvent: (line) => { process.stdout.write(`${line}\n`) },
  })
  process.stdout.write(`${report.faults} faults, ${report.applies} applies, ${report.samples} samples; history in ${report.history}\n`)
  if (report.verdict === 'pass') {
    process.stdout.write(`verdict: PASS (settled ${report.settledMs} ms after the final heal)\n`)
    return 0
  }
  process.stdout.write(`verdict: FAIL — reproduce with --seed ${seed}\n${report.problems.map((problem) => `  ${problem}`).join('\n')}\n`)
  return 1
}
