// `shoal sim`: runs a scenario against N real libp2p nodes in one process (sim/scenario.ts) and
// prints one line per step, a verdict, and optionally a report.

import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { renderReportHtml } from '../../sim/report.ts'
import { parseScenario, runScenario, type StepReport } from '../../sim/scenario.ts'
import { InputError } from '../errors.ts'
import { packageFile } from '../package.ts'

export interface SimOptions {
  readonly nodes?: number
  readonly scenario?: string
  readonly seed?: number
  readonly transport: 'memory' | 'tcp'
  readonly report?: string
  readonly json?: boolean
}

/** Runs the simulation; the exit code: 0 pass, 1 a failed expectation. */
export async function sim (options: SimOptions): Promise<number> {
  const file = options.scenario ?? packageFile('sim/scenarios/demo.yaml')
  const text = await readFile(file, 'utf8').catch((error: Error) => { throw new InputError(`cannot read ${file}: ${error.message}`) })
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
      const confirmed = step.confirmedMs !== null ? `, confirmed ${step.confirmedMs.toFixed(0)}` : ''
      const converged = step.convergedMs !== null ? `converged in ${step.convergedMs.toFixed(0)} ms${confirmed}` : step.effectMs !== null ? `seen in ${step.effectMs.toFixed(0)} ms` : ''
      out.write(`${String(step.index + 1).padStart(3)}. ${step.step.padEnd(60)} ${converged.padEnd(38)} ${String(step.messages).padStart(6)} msgs ${(step.bytes / 1024).toFixed(0).padStart(6)} KB  ${step.ok ? (step.note ?? '') : `FAILED: ${step.problem}`}\n`)
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
