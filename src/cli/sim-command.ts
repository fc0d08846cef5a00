// `shoal sim`: runs a scenario against N simulated nodes in one process (sim/scenario.ts), on real
// libp2p or the virtual network, and prints one line per step, a verdict, and optionally a report.
// With --policies / --labels / --from-cluster it simulates the operator's own fleet (sim/fleet-shape.ts):
// their policies applied first, over nodes labelled like theirs.

import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describeRun, renderReportHtml } from '../../sim/report.ts'
import { loadFleetShape, withPolicies } from '../../sim/fleet-shape.ts'
import { checkRunnable, parseScenario, runScenario, type RunOptions, type StepReport } from '../../sim/scenario.ts'
import { InputError } from '../errors.ts'
import { packageFile } from '../package.ts'

export interface SimOptions {
  readonly engine: 'libp2p' | 'virtual'
  readonly nodes?: number
  readonly scenario?: string
  readonly seed?: number
  readonly transport: 'memory' | 'tcp'
  readonly policies?: string
  readonly labels?: string
  readonly fromCluster?: string
  readonly report?: string
  readonly json?: boolean
}

/** Runs the simulation; the exit code: 0 pass, 1 a failed expectation. */
export async function sim (options: SimOptions): Promise<number> {
  const file = options.scenario ?? packageFile('sim/scenarios/demo.yaml')
  const text = await readFile(file, 'utf8').catch((error: Error) => { throw new InputError(`cannot read ${file}: ${error.message}`) })
  const shape = await loadFleetShape(options)
  const scenario = withPolicies(parseScenario(text, file), shape.policies)
  const nodes = shape.labels?.length ?? options.nodes ?? scenario.nodes ?? 20
  if (shape.labels !== undefined && options.nodes !== undefined && options.nodes !== nodes) throw new InputError(`--nodes ${options.nodes} contradicts the ${nodes} nodes that have labels; leave --nodes out`)
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31)
  const out = options.json === true ? process.stderr : process.stdout
  const run: RunOptions = {
    nodes, seed, engine: options.engine, transport: options.transport,
    ...(shape.labels === undefined ? {} : { labels: shape.labels }), ...(shape.slots === undefined ? {} : { slots: shape.slots }),
  }
  checkRunnable(scenario, run) // before the first line: a refusal is the only output
  const engine = options.engine === 'virtual' ? 'the virtual network, virtual time' : `real libp2p, ${options.transport} transport`
  out.write(`shoal sim: ${nodes} nodes in one process (${engine}, memory actuators), seed ${seed}${shape.source === undefined ? '' : `, ${shape.source}`}\n`)
  const report = await runScenario(scenario, {
    ...run,
    onStep: (step: StepReport) => {
      const confirmed = step.confirmedMs !== null ? `, confirmed ${step.confirmedMs.toFixed(0)}` : ''
      const converged = step.convergedMs !== null ? `converged in ${step.convergedMs.toFixed(0)} ms${confirmed}` : step.effectMs !== null ? `seen in ${step.effectMs.toFixed(0)} ms` : ''
      out.write(`${String(step.index + 1).padStart(3)}. ${step.step.padEnd(60)} ${converged.padEnd(38)} ${String(step.messages).padStart(6)} msgs ${(step.bytes / 1024).toFixed(0).padStart(6)} KB  ${step.ok ? (step.note ?? '') : `FAILED: ${step.problem}`}\n`)
    },
  })
  out.write(`verdict: ${report.verdict === 'pass' ? 'PASS' : `FAIL — ${report.failure}`}\n`)
  out.write(`${describeRun(report)}\n`)
  if (options.report !== undefined) {
    await mkdir(options.report, { recursive: true })
    await writeFile(join(options.report, 'report.json'), JSON.stringify(report, null, 2))
    await writeFile(join(options.report, 'report.html'), renderReportHtml(report))
    out.write(`report written to ${join(options.report, 'report.json')} and report.html\n`)
  }
  if (options.json === true) process.stdout.write(JSON.stringify(report) + '\n')
  return report.verdict === 'pass' ? 0 : 1
}

