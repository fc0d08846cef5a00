// Runs a scenario (sim/scenario-file.ts) against a simulated fleet on either engine (sim/fleet.ts):
// real libp2p nodes in one process on wall-clock time, or the virtual network on virtual time. Each
// step is carried out, judged from outside, and reported (time until seen or converged, traffic, the
// share of nodes agreeing on the view every 50 ms); a failed step ends the run and names the seed.

import { performance } from 'node:perf_hooks'
import { workloadHash, type PolicyKind, type PolicySpec, type ServiceSpec } from '../src/core/index.ts'
import { InputError } from '../src/yaml-input.ts'
import { excessReplicasIn } from '../src/testing/fleet.ts'
import { seededRandom } from '../src/testing/random.ts'
import { agreementShare, originationsQuietFor, runningResources, type EngineName, type SimFleet } from './fleet.ts'
import { Libp2pSimFleet, libp2pMaxNodes } from './libp2p-fleet.ts'
import { virtualOnly, type NetworkOptions, type Scenario, type Step } from './scenario-file.ts'
import { VirtualFleet } from './virtual/fleet.ts'
import { drainStep, groupAround, rolloutStep, singletonStep } from './watch-steps.ts'

export { parseScenario, type Scenario, type Step } from './scenario-file.ts'

export interface StepReport {
  readonly index: number
  readonly step: string
  /** In the engine's time: wall for libp2p, virtual for the virtual engine. */
  readonly durationMs: number
  /** For `expect`: how long convergence took (null if not asked for). */
  readonly convergedMs: number | null
  /** For `expect`: how long until every node's database also said so (null if not asked for). */
  readonly confirmedMs: number | null
  /** For kill, partition and heal: how long until every node saw the change (null for other steps). */
  readonly effectMs: number | null
  readonly messages: number
  readonly bytes: number
  readonly ok: boolean
  readonly problem?: string
  /** What the step saw, when it has more to say (a stall: whether anyone dropped the node). */
  readonly note?: string
  /** Every 50 ms during the step: [ms since its start, share of live nodes publishing the most common view hash]. */
  readonly agreement: ReadonlyArray<readonly [number, number]>
}

export interface ScenarioReport {
  readonly engine: EngineName
  readonly seed: number
  readonly nodes: number
  readonly steps: StepReport[]
  readonly verdict: 'pass' | 'fail'
  readonly failure?: string
  /** Wall time of the whole run, forming included. */
  readonly wallMs: number
  /** The engine's time the run took (equal to wall time, roughly, on libp2p). */
  readonly simulatedMs: number
  /** The process's peak resident memory at the end of the run (MB): what the simulation needed. */
  readonly peakRssMB: number
  /** Virtual engine: events (timers and messages) run, and a hash of every origination (same seed, same hash). */
  readonly events?: number
  readonly traceHash?: string
}

export interface RunOptions {
  readonly nodes: number
  readonly seed: number
  readonly engine?: EngineName
  readonly transport?: 'memory' | 'tcp'
  /** Each node's labels (the fleet's shape); by default zone=a, b, c… in turn over the scenario's zones. */
  readonly labels?: ReadonlyArray<Readonly<Record<string, string>>>
  /** Each node's slots (10 where not given). */
  readonly slots?: ReadonlyArray<number>
  readonly onStep?: (report: StepReport) => void
}

/** The first live node (by index) running a replica of `service`. */
function firstRunning (fleet: SimFleet, service: string): number | undefined {
  return fleet.live().find((i) => fleet.workloads(i).some((w) => w.resourceId.startsWith(`${service}@`)))
}

/** Node indices a step names, so that a scenario written for more nodes fails before it starts. */
function namedNodes (step: Step): number[] {
  if ('kill' in step && typeof step.kill === 'number') return [step.kill]
  if ('restart' in step) return [step.restart]
  if ('drain' in step && typeof step.drain.node === 'number') return [step.drain.node]
  if ('stall' in step && typeof step.stall.node === 'number') return [step.stall.node]
  if ('clockSkew' in step && typeof step.clockSkew.node === 'number') return [step.clockSkew.node]
  if ('partition' in step && 'groups' in step.partition) return step.partition.groups.flat()
  if ('flap' in step) return step.flap.groups?.flat() ?? []
  if (('apply' in step || 'delete' in step) && step.at !== undefined) return [step.at]
  return []
}

/** Checks what can be checked before a node starts: node indices in range, the engine able to run it. */
export function checkRunnable (scenario: Scenario, options: RunOptions, engine: EngineName = options.engine ?? 'libp2p'): void {
  for (const [index, step] of scenario.steps.entries()) {
    const beyond = namedNodes(step).find((node) => node >= options.nodes)
    if (beyond !== undefined) throw new InputError(`step ${index + 1} names node ${beyond}, but the run has ${options.nodes} nodes (0 to ${options.nodes - 1})`)
  }
  if (options.labels !== undefined && options.labels.length !== options.nodes) throw new InputError(`${options.labels.length} nodes have labels, but the run has ${options.nodes}`)
  if (engine !== 'libp2p') return
  const why = virtualOnly(scenario)
  if (why !== undefined) throw new InputError(`this scenario needs --engine virtual: ${why}`)
  if (options.nodes > libp2pMaxNodes) throw new InputError(`the libp2p engine runs at most ${libp2pMaxNodes} nodes in one process (asked for ${options.nodes}); use --engine virtual`)
}

/** Zone labels a, b, c, … in turn, as scenario files count zones. */
export function zoneLabels (nodes: number, zones: number): Array<Record<string, string>> {
  return Array.from({ length: nodes }, (_, i) => ({ zone: String.fromCharCode(97 + (i % zones)) }))
}

async function startEngine (scenario: Scenario, options: RunOptions, engine: EngineName, labels: ReadonlyArray<Readonly<Record<string, string>>>): Promise<SimFleet> {
  const slots = (index: number): number => options.slots?.[index] ?? 10
  if (engine === 'libp2p') {
    return await Libp2pSimFleet.start(labels, { transport: options.transport ?? 'memory', stallable: scenario.steps.some((step) => 'stall' in step), slots })
  }
  return await VirtualFleet.start({ nodes: options.nodes, seed: options.seed, labels: (i) => labels[i] ?? {}, slots, ...virtualNetwork(scenario.network) })
}

/** The scenario's network options as the virtual network's model (its defaults where not given). */
function virtualNetwork (network: NetworkOptions | undefined): Pick<Parameters<typeof VirtualFleet.start>[0], 'model'> {
  if (network === undefined) return {}
  return {
    model: {
      latencyFloorMs: network.latency?.floor ?? 0.5,
      latencyTailMs: network.latency?.tail ?? 1,
      loss: network.loss ?? 0,
      ...(network.betweenZones === undefined ? {} : { betweenZones: { latencyFloorMs: network.betweenZones.floor, latencyTailMs: network.betweenZones.tail } }),
      ...(network.processing === undefined ? {} : { processingMs: network.processing }),
      ...(network.bandwidth === undefined ? {} : { uplinkBitsPerSecond: network.bandwidth }),
    },
  }
}

export async function runScenario (scenario: Scenario, options: RunOptions): Promise<ScenarioReport> {
  const engine = options.engine ?? 'libp2p'
  checkRunnable(scenario, options, engine)
  const wallStart = performance.now()
  const labels = options.labels ?? zoneLabels(options.nodes, scenario.zones ?? 3)
  const fleet = await startEngine(scenario, options, engine, labels)
  const simulatedStart = fleet.now()
  const random = seededRandom(options.seed)
  const services = new Map<string, ServiceSpec>()
  const steps: StepReport[] = []
  let failure: string | undefined
  try {
    if (await fleet.waitUntil(() => fleet.components().length === 1, 60_000, { pollMs: 20 }) === undefined) throw new Error('the mesh did not form within 60 s')
    // And come to rest: forming ends with a wave of originations (nodes reaching minNeighbours), and a
    // first step timed inside it measured the wave (50 nodes: an apply "converged" in 5.5 s, not 0.2 s).
    if (await fleet.waitUntil(originationsQuietFor(fleet, settleQuietMs), 120_000, { pollMs: 50 }) === undefined) throw new Error('the mesh did not come to rest within 120 s')
    for (const [index, step] of scenario.steps.entries()) {
      const before = fleet.traffic()
      const start = fleet.now()
      const agreement: Array<[number, number]> = [[0, agreementShare(fleet)]]
      const stopSampling = fleet.every(50, () => { agreement.push([fleet.now() - start, agreementShare(fleet)]) })
      const outcome = await runStep(fleet, step, services, random).finally(stopSampling)
      agreement.push([fleet.now() - start, agreementShare(fleet)])
      const after = fleet.traffic()
      const report: StepReport = {
        index, step: describeStep(step), durationMs: fleet.now() - start, convergedMs: outcome.convergedMs, confirmedMs: outcome.confirmedMs ?? null, effectMs: outcome.effectMs ?? null,
        messages: after.messages - before.messages, bytes: after.bytes - before.bytes, ok: outcome.problem === undefined,
        ...(outcome.problem === undefined ? {} : { problem: outcome.problem }),
        ...(outcome.note === undefined ? {} : { note: outcome.note }),
        agreement: agreement.map(([ms, share]) => [Math.round(ms), Math.round(share * 1000) / 1000] as const),
      }
      steps.push(report)
      options.onStep?.(report)
      if (outcome.problem !== undefined) {
        failure = `step ${index + 1} (${report.step}) failed: ${outcome.problem}; reproduce with --seed ${options.seed}${engine === 'virtual' ? ' --engine virtual' : ''}`
        break
      }
    }
  } finally {
    await fleet.stop()
  }
  const traceHash = fleet.traceHash()
  return {
    engine, seed: options.seed, nodes: options.nodes, steps, verdict: failure === undefined ? 'pass' : 'fail', ...(failure === undefined ? {} : { failure }),
    wallMs: performance.now() - wallStart, simulatedMs: fleet.now() - simulatedStart, peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    ...(engine === 'virtual' ? { events: fleet.events() } : {}), ...(traceHash === undefined ? {} : { traceHash }),
  }
}

/** A formed mesh is at rest once no node has originated a record for this long. */
const settleQuietMs = 2_000

/** How long topology steps may take to be seen by every node before the step fails. */
const effectTimeoutMs = 60_000

export interface StepOutcome {
  readonly convergedMs: number | null
  readonly confirmedMs?: number | null
  readonly effectMs?: number
  readonly problem?: string
  readonly note?: string
}

async function runStep (fleet: SimFleet, step: Step, services: Map<string, ServiceSpec>, random: () => number): Promise<StepOutcome> {
  // A topology step ends when every node sees its effect; otherwise an `expect` right after it would
  // judge the old topology, which is still converged.
  const seen = async (what: string, condition: () => boolean): Promise<StepOutcome> => {
    const effectMs = await fleet.waitUntil(condition, effectTimeoutMs, { pollMs: 10 })
    return effectMs === undefined ? { convergedMs: null, problem: `${what}: not seen by every node within ${effectTimeoutMs / 1000} s` } : { convergedMs: null, effectMs }
  }
  /** The node that publishes: the one named by `at`, or the first live one. */
  const publisher = (at: number | undefined): number => (at !== undefined && fleet.isLive(at) ? at : fleet.live()[0] as number)
  const pick = (): number => { const live = fleet.live(); return live[Math.floor(random() * live.length)] as number }
  if ('apply' in step) {
    for (const given of step.apply) {
      // As `shoal apply` does: a Service remembers the workload it replaces (what autoRevert goes back to).
      const before = given.kind === 'Service' ? services.get(given.name) : undefined
      const previous = before === undefined || given.kind !== 'Service' ? undefined
        : workloadHash(before.workload) === workloadHash(given.workload) ? before.previousWorkload : before.workload
      const spec = given.kind === 'Service' && previous !== undefined ? { ...given, previousWorkload: previous } : given
      if (spec.kind === 'Service') services.set(spec.name, spec)
      await fleet.publish(spec, publisher(step.at))
    }
  } else if ('delete' in step) {
    const [kind, name] = step.delete.split('/') as [PolicyKind, string]
    if (kind === 'Service') services.delete(name)
    await fleet.publishDeletion(kind, name, publisher(step.at))
  } else if ('kill' in step) {
    const index = typeof step.kill === 'number' ? step.kill : pick()
    if (!fleet.isLive(index)) return { convergedMs: null, problem: `node ${index} is not running` }
    return await crashAndSee(fleet, [index], seen)
  } else if ('restart' in step) {
    if (fleet.isLive(step.restart)) return { convergedMs: null, problem: `node ${step.restart} is not a crashed node` }
    await fleet.restart(step.restart)
    return await seen(`node ${step.restart} back`, () => fleet.components().length === 1)
  } else if ('churn' in step) {
    // `count` times: crash a random node, wait, start it again, wait.
    for (let round = 0; round < step.churn.count; round++) {
      if (fleet.live().length < 2) break
      const index = pick()
      await fleet.crash(index)
      await fleet.sleep(step.churn.every)
      await fleet.restart(index)
      await fleet.sleep(step.churn.every)
    }
  } else if ('partition' in step) {
    const live = fleet.live()
    const indexGroups = 'halves' in step.partition
      ? halves(live)
      : 'holding' in step.partition ? groupAround(fleet, step.partition.holding, step.partition.size) : step.partition.groups
    if (indexGroups.length === 0) return { convergedMs: null, problem: `no live node runs ${JSON.stringify(step.partition)}` }
    return await splitAndSee(fleet, indexGroups, 'oneWay' in step.partition && step.partition.oneWay === true, seen)
  } else if ('heal' in step) {
    await fleet.heal()
    return await seen('the heal (one component)', () => fleet.components().length === 1)
  } else if ('outage' in step) {
    const zone = fleet.live().filter((i) => fleet.labels(i).zone === step.outage.zone)
    if (zone.length === 0) return { convergedMs: null, problem: `no live node in zone ${step.outage.zone}` }
    if (step.outage.power === true) return await crashAndSee(fleet, zone, seen)
    return await splitAndSee(fleet, [zone, fleet.live().filter((i) => !zone.includes(i))], false, seen)
  } else if ('flap' in step) {
    const groups = step.flap.groups ?? halves(fleet.live())
    for (let round = 0; round < step.flap.count; round++) {
      await fleet.partition(groups.map((group) => group.filter((i) => fleet.isLive(i))))
      await fleet.sleep(step.flap.every)
      await fleet.heal()
      await fleet.sleep(step.flap.every)
    }
    return await seen('the last heal (one component)', () => fleet.components().length === 1)
  } else if ('clockSkew' in step) {
    const index = step.clockSkew.node === 'random' ? pick() : step.clockSkew.node
    if (!fleet.isLive(index) || fleet.skewClock === undefined) return { convergedMs: null, problem: `node ${index} is not running` }
    fleet.skewClock(index, step.clockSkew.by)
  } else if ('stall' in step) {
    return await stallStep(fleet, step.stall, pick)
  } else if ('drain' in step) {
    const named = step.drain.node
    const index = typeof named === 'number' ? named : firstRunning(fleet, named.runs)
    if (index === undefined || !fleet.isLive(index)) return { convergedMs: null, problem: `no running node ${JSON.stringify(named)}` }
    await fleet.publish({ kind: 'Node', name: fleet.peerId(index), drain: true }, publisher(undefined))
    return await drainStep(fleet, index, step.drain, services)
  } else if ('singleton' in step) {
    return await singletonStep(fleet, step.singleton)
  } else if ('rollout' in step) {
    return await rolloutStep(fleet, step.rollout, services)
  } else if ('sleep' in step) {
    await fleet.sleep(step.sleep)
  } else {
    return await checkExpectations(fleet, step.expect, services)
  }
  return { convergedMs: null }
}

type Seen = (what: string, condition: () => boolean) => Promise<StepOutcome>

/** The live nodes in two halves by index. */
function halves (live: readonly number[]): number[][] {
  return [live.slice(0, Math.ceil(live.length / 2)), live.slice(Math.ceil(live.length / 2))]
}

/** Crashes the nodes; the step ends when no live node counts any of them in its component. */
async function crashAndSee (fleet: SimFleet, indices: readonly number[], seen: Seen): Promise<StepOutcome> {
  const peerIds = indices.map((i) => fleet.peerId(i))
  for (const index of indices) await fleet.crash(index)
  const what = indices.length === 1 ? `node ${indices[0]} gone` : `${indices.length} nodes gone`
  return await seen(what, () => fleet.live().every((i) => peerIds.every((peerId) => !fleet.componentOf(i).has(peerId))))
}

/** Splits the live nodes of `groups`; the step ends when the fleet computes as many components. */
async function splitAndSee (fleet: SimFleet, indexGroups: ReadonlyArray<readonly number[]>, oneWay: boolean, seen: Seen): Promise<StepOutcome> {
  const groups = indexGroups.map((group) => group.filter((i) => fleet.isLive(i)))
  await fleet.partition(groups, { oneWay })
  const wanted = groups.filter((group) => group.length > 0).length
  return await seen('the split', () => fleet.components().length >= wanted)
}

/**
 * Stalls a node, then watches for the stall and a second after it: how many nodes dropped it from
 * their component at worst, and whether any workload started or stopped anywhere.
 */
async function stallStep (fleet: SimFleet, stall: Extract<Step, { stall: unknown }>['stall'], pick: () => number): Promise<StepOutcome> {
  const index = stall.node === 'random' ? pick() : typeof stall.node === 'number' ? stall.node : firstRunning(fleet, stall.node.runs)
  if (index === undefined) return { convergedMs: null, problem: `no running node ${JSON.stringify(stall.node)}` }
  if (!fleet.isLive(index)) return { convergedMs: null, problem: `node ${index} is not running` }
  const peerId = fleet.peerId(index)
  const placement = (): string => runningResources(fleet).join(',')
  const placed = placement()
  let droppedBy = 0
  let moved = false
  fleet.stall(index, stall.for)
  const until = fleet.now() + stall.for + 1_000
  while (fleet.now() < until) {
    droppedBy = Math.max(droppedBy, fleet.live().filter((other) => other !== index && !fleet.componentOf(other).has(peerId)).length)
    moved ||= placement() !== placed
    await fleet.sleep(10)
  }
  const note = droppedBy === 0 && !moved ? 'nobody dropped the node; nothing moved' : `dropped by ${droppedBy} node(s); work ${moved ? 'moved' : 'did not move'}`
  return { convergedMs: null, note, ...(stall.movesNothing === true && (droppedBy > 0 || moved) ? { problem: note } : {}) }
}

/**
 * Converged (judged from outside: same view everywhere, everything running where it puts it) within the
 * time given, and then confirmed within the same time (every node's database says so): the next step
 * starts from a fleet at rest, not one whose status records are still flooding.
 */
async function checkExpectations (fleet: SimFleet, expectation: Extract<Step, { expect: unknown }>['expect'], services: Map<string, ServiceSpec>): Promise<StepOutcome> {
  let convergedMs: number | null = null
  let confirmedMs: number | null = null
  if (expectation.converged !== undefined) {
    const start = fleet.now()
    convergedMs = await fleet.waitUntil(() => fleet.converged(), expectation.converged) ?? null
    if (convergedMs === null) return { convergedMs: null, problem: `not converged within ${expectation.converged} ms` }
    const afterMs = fleet.now() - start
    const confirmingMs = await fleet.waitUntil(() => fleet.converged() && fleet.confirmed(), expectation.converged, { records: true })
    if (confirmingMs === undefined) return { convergedMs, problem: `converged in ${convergedMs.toFixed(0)} ms, but not every node's database said so within ${expectation.converged} ms` }
    confirmedMs = afterMs + confirmingMs
  }
  const outcome = { convergedMs, confirmedMs }
  for (const [name, wanted] of Object.entries(expectation.replicas ?? {})) {
    for (const group of fleet.components()) {
      const count = runningResources(fleet, group).filter((id) => id.startsWith(`${name}@`)).length
      if (count !== wanted) return { ...outcome, problem: `${name}: ${count} running in a component of ${group.length}, expected ${wanted}` }
    }
  }
  if (expectation.noDuplicates === true) {
    const excess = excessReplicas(fleet, [...services.values()])
    if (excess.length > 0) return { ...outcome, problem: `runs twice: ${excess.join('; ')}` }
  }
  return outcome
}

/** Services running more replicas than they ask for within one component: what must never stay. */
function excessReplicas (fleet: SimFleet, services: readonly ServiceSpec[]): string[] {
  return excessReplicasIn(fleet.components(), (group) => runningResources(fleet, group), services)
}

function describeStep (step: Step): string {
  const [kind, value] = Object.entries(step)[0] as [string, unknown]
  return `${kind} ${JSON.stringify(value)}`.slice(0, 80)
}
