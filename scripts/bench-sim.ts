// Benchmark: `shoal sim` over fleet sizes (issue 25's goals: the demo at 1,000 nodes on the virtual
// engine in under 60 s; events per second of wall time; the same seed, the same trace).
//
//   npx tsx scripts/bench-sim.ts [--nodes 100,400,1000] [--engine virtual] [--seed 1] [--scenario FILE] [--timeout-s 1800]
//
// Each size runs in a process of its own (the CLI, from the sources), so that peak memory is that
// run's alone; prints a table of wall time, virtual time, events, events per second, peak RSS, the
// verdict and the trace hash.

import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100,400,1000' },
    engine: { type: 'string', default: 'virtual' },
    seed: { type: 'string', default: '1' },
    scenario: { type: 'string' },
    'timeout-s': { type: 'string', default: '1800' },
  },
})

interface Report { verdict: string, wallMs: number, simulatedMs: number, events?: number, peakRssMB: number, traceHash?: string, failure?: string }

async function run (nodes: number): Promise<Report | string> {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'sim', '--engine', values.engine as string, '--nodes', String(nodes), '--seed', values.seed as string, '--json',
    ...(values.scenario === undefined ? [] : ['--scenario', values.scenario])]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], timeout: Number(values['timeout-s']) * 1_000 })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => { child.on('close', resolve) })
  try {
    return JSON.parse(out) as Report
  } catch {
    return `exited ${code ?? 'on a signal (timeout?)'} without a report`
  }
}

const rows: string[] = []
for (const nodes of (values.nodes as string).split(',').map(Number)) {
  const report = await run(nodes)
  rows.push(typeof report === 'string'
    ? `| ${nodes} | ${report} | | | | | | |`
    : `| ${nodes} | ${(report.wallMs / 1000).toFixed(1)} s | ${(report.simulatedMs / 1000).toFixed(1)} s | ${report.events ?? '-'} | ${report.events === undefined ? '-' : Math.round(report.events / (report.wallMs / 1000))} | ${report.peakRssMB} MB | ${report.verdict} | ${report.traceHash ?? '-'} |`)
  process.stderr.write(`${rows.at(-1) as string}\n`)
}
process.stdout.write(`engine ${values.engine}, seed ${values.seed}, ${values.scenario ?? 'the built-in demo'}\n`)
process.stdout.write('| nodes | wall | virtual | events | events/s | peak RSS | verdict | trace |\n|---|---|---|---|---|---|---|---|\n')
process.stdout.write(rows.join('\n') + '\n')
