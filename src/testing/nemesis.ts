// A seeded nemesis for the fault lab (issue 23), in the manner of Jepsen's: for a while it applies a
// random schedule of faults and heals, and changes policies through the CLI, sampling the daemons' APIs
// and the host's real processes; then it heals everything and checks. The schedule comes from the seed
// alone (the same seed, the same faults in the same order; timing is the real machine's), and every
// fault, apply and sample goes to a history file (JSON lines) with the verdict.
//
// Checked throughout: a `partition: majority` singleton never runs (as an OS process) in two places at
// once; a 500 ms pause moves no work. Checked after the final heal, within `settleMs`: one component,
// one view, converged everywhere; each service running exactly its replicas; no workload process in the
// lab that no live daemon accounts for; every node holding the last version of each policy applied.

import { appendFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startLab, type Lab } from './lab.ts'
import { pidsWithArgument } from './processes.ts'
import { seededRandom } from './random.ts'
import type { StatusReport } from '../daemon/daemon.ts'

export type NemesisFault = 'partition' | 'one-way' | 'pause' | 'kill' | 'policy'
export const nemesisFaults: readonly NemesisFault[] = ['partition', 'one-way', 'pause', 'kill', 'policy']

export interface NemesisOptions {
  readonly nodes: number
  readonly seed: number
  readonly durationMs: number
  readonly faults?: readonly NemesisFault[]
  readonly dir?: string
  /** How long the fleet has after the final heal to pass the end checks (default 60 s). */
  readonly settleMs?: number
  /** Each line of the schedule as it happens (the CLI prints them). */
  readonly onEvent?: (line: string) => void
}

export interface NemesisReport {
  readonly verdict: 'pass' | 'fail'
  readonly seed: number
  readonly problems: readonly string[]
  readonly history: string
  readonly faults: number
  readonly applies: number
  readonly samples: number
  /** From the final heal to the end checks passing (NaN if they did not). */
  readonly settledMs: number
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export async function runNemesis (options: NemesisOptions): Promise<NemesisReport> {
  const faults = options.faults ?? nemesisFaults
  const random = seededRandom(options.seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
  const lab = await startLab({ nodes: options.nodes, grace: '5s', net: { helloIntervalMs: 500, deadIntervalMs: 2_000 }, ...(options.dir === undefined ? {} : { dir: options.dir }) })
  const history = join(lab.state.dir, 'history.jsonl')
  const marker = `shoal-nemesis-${lab.state.id}`
  const started = Date.now()
  const problems: string[] = []
  let faultCount = 0
  let applies = 0
  let samples = 0
  const record = async (entry: Record<string, unknown>): Promise<void> => { await appendFile(history, JSON.stringify({ t: Date.now() - started, ...entry }) + '\n') }
  const say = async (kind: string, detail: Record<string, unknown>): Promise<void> => {
    options.onEvent?.(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s  ${kind} ${JSON.stringify(detail)}`)
    await record({ kind, ...detail })
  }
  const all = lab.nodes.map((node) => node.index)
  const wanted = { web: Math.ceil(options.nodes / 2), version: 1 }
  const down = new Set<number>()

  const applyServices = async (): Promise<void> => {
    const file = join(lab.state.dir, `services-${applies}.yaml`)
    const process = (name: string): string[] => ['process:', `  command: ${globalThis.process.execPath}`, `  args: ["-e", "setInterval(() => {}, 1000)", "${marker}", "${name}", "v${wanted.version}"]`]
    await writeFile(file, [
      'kind: Service', 'name: web', `replicas: ${wanted.web}`, ...process('web'),
      '---', 'kind: Service', 'name: db', 'replicas: 1', 'partition: majority', ...process('db'), '',
    ].join('\n'))
    const at = pick(all.filter((i) => !down.has(i)))
    await lab.shoal('apply', '-f', file, '--data', lab.node(at).dataDir)
    applies++
    await say('apply', { at, web: wanted.web, version: wanted.version })
  }

  /** The lab's workload processes by service name, as the OS sees them. */
  const processesOf = async (service: string): Promise<number[]> => pidsWithArgument(service, await lab.workloadPids())

  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      const db = await processesOf('db')
      samples++
      await record({ kind: 'sample', db: db.length, workloads: (await lab.workloadPids()).length })
      if (db.length > 1) problems.push(`sample ${samples} (t=${Date.now() - started} ms): db ran ${db.length} times at once (pids ${db.join(', ')})`)
      await sleep(250)
    }
  })()

  try {
    await applyServices()
    await sleep(5_000)
    await say('schedule', { seed: options.seed, faults })
    while (Date.now() - started < options.durationMs) {
      const fault = pick(faults)
      const live = all.filter((i) => !down.has(i))
      faultCount++
      if (fault === 'partition' || fault === 'one-way') {
        const shuffled = [...all].sort(() => random() - 0.5)
        const cut = 1 + Math.floor(random() * (options.nodes - 1))
        const groups = [shuffled.slice(0, cut).sort(), shuffled.slice(cut).sort()]
        await lab.partition(groups, { oneWay: fault === 'one-way' })
        await say(fault, { groups })
        await sleep(2_000 + random() * 6_000)
        await lab.heal()
        await say('heal', {})
      } else if (fault === 'pause') {
        const node = pick(live)
        const short = random() < 0.5
        const before = JSON.stringify(await lab.workloadPids())
        await say('pause', { node, ms: short ? 500 : 4_000 })
        await lab.pause(node, short ? 500 : 4_000)
        if (short) {
          await sleep(1_000)
          const after = JSON.stringify(await lab.workloadPids())
          if (after !== before) problems.push(`a 500 ms pause of node ${node} moved work: processes ${before} → ${after}`)
        }
      } else if (fault === 'kill') {
        if (live.length <= Math.floor(options.nodes / 2) + 1) continue
        const node = pick(live)
        down.add(node)
        await lab.kill(node)
        await say('kill', { node })
        await sleep(1_000 + random() * 4_000)
        await lab.start(node)
        down.delete(node)
        await say('start', { node })
      } else {
        wanted.web = 1 + Math.floor(random() * options.nodes)
        wanted.version++
        await applyServices()
      }
      await sleep(1_000 + random() * 3_000)
    }
  } finally {
    await lab.heal()
    for (const node of all) await lab.resume(node).catch(() => undefined)
    for (const node of down) await lab.start(node).catch(() => undefined)
  }
  await say('final heal', {})
  const healedAt = Date.now()
  const settleMs = options.settleMs ?? 60_000
  let endProblems: string[] = []
  let settledMs = Number.NaN
  while (Date.now() - healedAt < settleMs) {
    endProblems = await endChecks(lab, wanted, processesOf)
    if (endProblems.length === 0) {
      settledMs = Date.now() - healedAt
      break
    }
    await sleep(500)
  }
  sampling = false
  await sampler
  problems.push(...endProblems.map((problem) => `${settleMs / 1000} s after the final heal: ${problem}`))
  const verdict = problems.length === 0 ? 'pass' : 'fail'
  await record({ kind: 'verdict', verdict, problems, settledMs, seed: options.seed })
  await lab.stop({ keep: true })
  return { verdict, seed: options.seed, problems, history, faults: faultCount, applies, samples, settledMs }
}

async function endChecks (lab: Lab, wanted: { web: number, version: number }, processesOf: (service: string) => Promise<number[]>): Promise<string[]> {
  const statuses = await Promise.all(lab.nodes.map(async (node) => await lab.status(node.index)))
  const problems: string[] = []
  const answering = statuses.filter((status): status is StatusReport => status !== undefined)
  if (answering.length < lab.nodes.length) problems.push(`${lab.nodes.length - answering.length} node(s) do not answer`)
  if (new Set(answering.map((status) => status.viewHash)).size > 1) problems.push('not one view')
  const apart = answering.filter((status) => status.reachable.length !== lab.nodes.length || !status.converged)
  if (apart.length > 0) problems.push(`${apart.length} node(s) not converged over all`)
  const web = (await processesOf('web')).length
  const webWanted = Math.min(wanted.web, lab.nodes.length)
  if (web !== webWanted) problems.push(`web runs ${web} times, wanted ${webWanted}`)
  const db = (await processesOf('db')).length
  if (db !== 1) problems.push(`db runs ${db} times, wanted 1`)
  const stray = (await lab.workloadPids()).filter((pid) => !lab.accountedPids().includes(pid))
  if (stray.length > 0) problems.push(`workload processes no daemon accounts for: ${stray.join(', ')}`)
  for (const node of lab.nodes) {
    const policies = JSON.parse((await lab.shoal('get', 'policies', '--json', '--data', node.dataDir).catch(() => ({ stdout: '[]' }))).stdout) as Array<{ name: string, body: { replicas?: number, workload?: { args?: string[] } } | null }>
    const webPolicy = policies.find((policy) => policy.name === 'web')?.body
    if (webPolicy?.replicas !== wanted.web || webPolicy.workload?.args?.includes(`v${wanted.version}`) !== true) problems.push(`node ${node.index} does not hold the last web policy`)
  }
  return problems
}
