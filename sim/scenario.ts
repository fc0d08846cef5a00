// Simulator scenarios: a YAML file of steps run against a fleet of real libp2p nodes in one process.
//
//   nodes: 12                 # optional (the --nodes flag overrides it)
//   zones: 3                  # optional: nodes are labelled zone=a, b, c, … in turn
//   steps:
//     - apply: { kind: Service, name: web, replicas: 3, spread: zone }   # workload defaults to memory
//     - expect: { converged: 10s }
//     - kill: 4                                  # a node index, or { random: true } (seeded)
//     - partition: { groups: [[0, 1, 2], [3, 4, 5, 6, 7]], oneWay: false }
//     - expect: { converged: 10s, replicas: { web: 3 }, noDuplicates: true }
//     - heal: {}
//     - delete: Service/web
//     - sleep: 2s
//     - restart: 4                               # a crashed node starts again (next generation)
//     - churn: { count: 3, every: 1s }           # crash and restart random nodes, one at a time
//     - stall: { node: 2, for: 500ms, movesNothing: true }  # stops answering, connections left open
//     - stall: { node: { runs: web }, for: 8s }  # …or the first node running web (or node: random)
//     - rollout: { service: web, within: 30s, minAvailable: 5 }  # after an apply that changed the spec
//     - drain: { node: 3, within: 20s, minAvailable: { web: 3 } }   # an operator drains node 3
//     - drain: { node: { runs: web }, within: 20s }                  # …or the first node running web
//     - partition: { size: 4, holding: db }      # the node running db and 3 others, against the rest
//     - singleton: { service: db, for: 8s }      # never on two nodes at once; on one at the end
//
// A memory workload's spec may say `startMs: 300` (slow to come up) or `healthy: false` (never healthy),
// so that applying a changed spec rolls out a slow or a broken version. `rollout` samples the fleet
// every 50 ms from outside (the actuators themselves, not records): it waits until every replica runs
// the newest spec (and no more replicas than the service wants run: after a drain, until the replica let
// go has stopped), and fails if fewer than `minAvailable` replicas were running at any sample. With
// `finishes: false` it expects the rollout to stop (a broken spec) and watches for all of `within`;
// with `reverts: true`, that every replica ends on the previous spec (a failed rollout, autoRevert).
// `drain` publishes a Node policy draining a node, then samples likewise until the node runs nothing
// and each named service runs its replicas, failing if one had fewer than its minimum at any sample.
//
// `expect` checks, per component: converged within the time given (judged from outside, DESIGN.md §1),
// each named service running exactly that many replicas, and nothing running twice. A failed expect
// fails the run; the report names the step and the seed that reproduces it.

import { performance } from 'node:perf_hooks'
import { z } from 'zod'
import { workloadHash, type PolicySpec, type ServiceSpec } from '../src/core/index.ts'
import type { MeshNode } from '../src/net/index.ts'
import { InputError, parseYamlDocument } from '../src/yaml-input.ts'
import { seededRandom } from '../src/testing/random.ts'
import { drainStep, groupAround, rolloutStep, singletonStep } from './watch-steps.ts'
import { describeSchemaError, policySpecSchema } from '../src/net/index.ts'
import {
  components, confirmed, converged, crashNode, cut, excessReplicas, heal, liveNodes, originationsQuietFor, partition, restartNode, runningResources, stall as stallNode, startFleet, stopFleet, waitFor, waitForFleet,
  type Fleet,
} from '../src/testing/index.ts'

const duration = z.union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?(ms|s)$/, 'must be like 500ms or 2s')])
  .transform((value) => (typeof value === 'number' ? value : value.endsWith('ms') ? Number(value.slice(0, -2)) : Number(value.slice(0, -1)) * 1_000))

const policyInput = z.record(z.string(), z.unknown()).transform((value, context) => {
  const withDefaults = value.kind === 'Service' ? { selector: {}, slots: 1, workload: { kind: 'memory' }, ...value } : value
  const parsed = policySpecSchema.safeParse(withDefaults)
  if (!parsed.success) {
    context.addIssue({ code: 'custom', message: describeSchemaError(parsed.error) })
    return z.NEVER
  }
  return parsed.data as PolicySpec
})

const at = z.number().int().nonnegative().optional()
const stepSchemas = {
  // One policy or a list; normalised to a list first, so an error names the policy's own field.
  apply: z.strictObject({ apply: z.preprocess((value) => (Array.isArray(value) ? value : [value]), z.array(policyInput).min(1)), at }),
  delete: z.strictObject({ delete: z.string().regex(/^(Service|Node|Admission)\/[^/]+$/, 'must be KIND/NAME, e.g. Service/web'), at }),
  kill: z.strictObject({ kill: z.union([z.number().int().nonnegative(), z.strictObject({ random: z.literal(true) })]) }),
  restart: z.strictObject({ restart: z.number().int().nonnegative() }),
  churn: z.strictObject({ churn: z.strictObject({ count: z.number().int().min(1).max(100), every: duration }) }),
  partition: z.strictObject({
    partition: z.union([
      z.strictObject({ groups: z.array(z.array(z.number().int().nonnegative()).min(1)).min(2), oneWay: z.boolean().optional() }),
      z.strictObject({ halves: z.literal(true) }), // the live nodes, split into two halves by index
      // `size` live nodes around the one running `holding` (it, then the lowest indexes), and the rest
      z.strictObject({ size: z.number().int().min(1), holding: z.string() }),
    ]),
  }),
  heal: z.strictObject({ heal: z.union([z.strictObject({}), z.literal(true), z.null()]) }),
  // A node stops reading and writing on every connection for a while (a paused process); with
  // movesNothing, the step fails if any node drops it or any workload starts or stops meanwhile.
  stall: z.strictObject({
    stall: z.strictObject({ node: z.union([z.number().int().nonnegative(), z.literal('random'), z.strictObject({ runs: z.string() })]), for: duration, movesNothing: z.boolean().optional() }),
  }),
  sleep: z.strictObject({ sleep: duration }),
  // Samples every 50 ms for `for`: the service must never run (starting or running) on two nodes at
  // once, and must run on exactly one, in the largest component, at the end.
  singleton: z.strictObject({ singleton: z.strictObject({ service: z.string(), for: duration }) }),
  drain: z.strictObject({
    drain: z.strictObject({ node: z.union([z.number().int().nonnegative(), z.strictObject({ runs: z.string() })]), within: duration, minAvailable: z.record(z.string(), z.number().int().nonnegative()).optional() }),
  }),
  rollout: z.strictObject({
    rollout: z.strictObject({
      service: z.string(), within: duration, minAvailable: z.number().int().nonnegative().optional(), finishes: z.boolean().optional(), reverts: z.boolean().optional(),
    }),
  }),
  expect: z.strictObject({
    expect: z.strictObject({
      converged: duration.optional(),
      replicas: z.record(z.string(), z.number().int().nonnegative()).optional(),
      noDuplicates: z.boolean().optional(),
    }),
  }),
}
type StepKind = keyof typeof stepSchemas
export type Step = z.output<(typeof stepSchemas)[StepKind]>

/** A step is chosen by its key, so that an error names the real field, not "no union member matched". */
const stepSchema = z.unknown().transform((value, context): Step => {
  const kind = typeof value === 'object' && value !== null ? Object.keys(value).find((key): key is StepKind => key in stepSchemas) : undefined
  if (kind === undefined) {
    context.addIssue({ code: 'custom', message: `a step must be one of: ${Object.keys(stepSchemas).join(', ')}` })
    return z.NEVER
  }
  const parsed = stepSchemas[kind].safeParse(value)
  if (!parsed.success) {
    for (const issue of parsed.error.issues) context.addIssue({ code: 'custom', message: issue.message, path: issue.path })
    return z.NEVER
  }
  return parsed.data
})

export const scenarioSchema = z.strictObject({
  nodes: z.number().int().min(1).max(500).optional(),
  zones: z.number().int().min(1).max(26).optional(),
  steps: z.array(stepSchema).min(1),
})

export type Scenario = z.infer<typeof scenarioSchema>

/** Parses scenario YAML; errors name the field and, where YAML knows it, the line. */
export function parseScenario (text: string, fileName: string): Scenario {
  return parseYamlDocument(scenarioSchema, text, fileName)
}

export interface StepReport {
  readonly index: number
  readonly step: string
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
  readonly seed: number
  readonly nodes: number
  readonly steps: StepReport[]
  readonly verdict: 'pass' | 'fail'
  readonly failure?: string
}

export interface RunOptions {
  readonly nodes: number
  readonly seed: number
  readonly transport?: 'memory' | 'tcp'
  readonly onStep?: (report: StepReport) => void
}

/** The first live node (by index) running a replica of `service`. */
function firstRunning (fleet: Fleet, service: string): number | undefined {
  return [...fleet.live].sort((a, b) => a - b).find((i) => fleet.actuators[i]?.workloadsNow().some((w) => w.resourceId.startsWith(`${service}@`)))
}

/** Node indices a step names, so that a scenario written for more nodes fails before it starts. */
function namedNodes (step: Step): number[] {
  if ('kill' in step && typeof step.kill === 'number') return [step.kill]
  if ('restart' in step) return [step.restart]
  if ('drain' in step && typeof step.drain.node === 'number') return [step.drain.node]
  if ('stall' in step && typeof step.stall.node === 'number') return [step.stall.node]
  if ('partition' in step && 'groups' in step.partition) return step.partition.groups.flat()
  if (('apply' in step || 'delete' in step) && step.at !== undefined) return [step.at]
  return []
}

export async function runScenario (scenario: Scenario, options: RunOptions): Promise<ScenarioReport> {
  for (const [index, step] of scenario.steps.entries()) {
    const beyond = namedNodes(step).find((node) => node >= options.nodes)
    if (beyond !== undefined) throw new InputError(`step ${index + 1} names node ${beyond}, but the run has ${options.nodes} nodes (0 to ${options.nodes - 1})`)
  }
  const zones = scenario.zones ?? 3
  const stallable = scenario.steps.some((step) => 'stall' in step)
  const fleet = await startFleet(options.nodes, (i) => ({ zone: String.fromCharCode(97 + (i % zones)) }), options.transport ?? 'memory', { stallable })
  const random = seededRandom(options.seed)
  const services = new Map<string, ServiceSpec>()
  const steps: StepReport[] = []
  let failure: string | undefined
  try {
    await waitFor('the mesh to form', () => components(fleet).length === 1, 60_000, 20)
    // And come to rest: forming ends with a wave of originations (nodes reaching minNeighbours), and a
    // first step timed inside it measured the wave (50 nodes: an apply "converged" in 5.5 s, not 0.2 s).
    await waitFor('the mesh to come to rest', originationsQuietFor(fleet, settleQuietMs), 120_000, 50)
    for (const [index, step] of scenario.steps.entries()) {
      const before = traffic(fleet)
      const start = performance.now()
      const agreement: Array<[number, number]> = [[0, agreementShare(fleet)]]
      const sampler = setInterval(() => { agreement.push([performance.now() - start, agreementShare(fleet)]) }, 50)
      const outcome = await runStep(fleet, step, services, random).finally(() => { clearInterval(sampler) })
      agreement.push([performance.now() - start, agreementShare(fleet)])
      const after = traffic(fleet)
      const report: StepReport = {
        index, step: describeStep(step), durationMs: performance.now() - start, convergedMs: outcome.convergedMs, confirmedMs: outcome.confirmedMs ?? null, effectMs: outcome.effectMs ?? null,
        messages: after.messages - before.messages, bytes: after.bytes - before.bytes, ok: outcome.problem === undefined,
        ...(outcome.problem === undefined ? {} : { problem: outcome.problem }),
        ...(outcome.note === undefined ? {} : { note: outcome.note }),
        agreement: agreement.map(([ms, share]) => [Math.round(ms), Math.round(share * 1000) / 1000] as const),
      }
      steps.push(report)
      options.onStep?.(report)
      if (outcome.problem !== undefined) {
        failure = `step ${index + 1} (${report.step}) failed: ${outcome.problem}; reproduce with --seed ${options.seed}`
        break
      }
    }
  } finally {
    await stopFleet(fleet)
  }
  return { seed: options.seed, nodes: options.nodes, steps, verdict: failure === undefined ? 'pass' : 'fail', ...(failure === undefined ? {} : { failure }) }
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

async function runStep (fleet: Fleet, step: Step, services: Map<string, ServiceSpec>, random: () => number): Promise<StepOutcome> {
  // A topology step ends when every node sees its effect; otherwise an `expect` right after it would
  // judge the old topology, which is still converged.
  const seen = async (what: string, condition: () => boolean): Promise<{ convergedMs: null, effectMs?: number, problem?: string }> => {
    try {
      return { convergedMs: null, effectMs: await waitFor(what, condition, effectTimeoutMs, 10) }
    } catch {
      return { convergedMs: null, problem: `${what}: not seen by every node within ${effectTimeoutMs / 1000} s` }
    }
  }
  const operator = fleet.mesh.operator
  /** The node that publishes: the one named by `at`, or the first live one. */
  const publisher = (at: number | undefined): number => (at !== undefined && fleet.live.has(at) ? at : [...fleet.live][0] as number)
  if ('apply' in step) {
    for (const given of Array.isArray(step.apply) ? step.apply : [step.apply]) {
      // As `shoal apply` does: a Service remembers the workload it replaces (what autoRevert goes back to).
      const before = given.kind === 'Service' ? services.get(given.name) : undefined
      const previous = before === undefined || given.kind !== 'Service' ? undefined
        : workloadHash(before.workload) === workloadHash(given.workload) ? before.previousWorkload : before.workload
      const spec = given.kind === 'Service' && previous !== undefined ? { ...given, previousWorkload: previous } : given
      if (spec.kind === 'Service') services.set(spec.name, spec)
      await fleet.mesh.nodes[publisher(step.at)]!.publish((await operator.sign(spec)).envelope)
    }
  } else if ('delete' in step) {
    const [kind, name] = step.delete.split('/') as ['Service' | 'Node' | 'Admission', string]
    if (kind === 'Service') services.delete(name)
    await fleet.mesh.nodes[publisher(step.at)]!.publish((await operator.signDeletion(kind, name)).envelope)
  } else if ('kill' in step) {
    const live = [...fleet.live]
    const index = typeof step.kill === 'number' ? step.kill : live[Math.floor(random() * live.length)] as number
    if (!fleet.live.has(index)) return { convergedMs: null, problem: `node ${index} is not running` }
    const peerId = fleet.mesh.nodes[index]!.peerId
    await crashNode(fleet, index)
    return await seen(`node ${index} gone`, () => liveNodes(fleet).every((node) => !node.component().has(peerId)))
  } else if ('restart' in step) {
    if (fleet.live.has(step.restart) || step.restart >= fleet.mesh.nodes.length) return { convergedMs: null, problem: `node ${step.restart} is not a crashed node` }
    await restartNode(fleet, step.restart)
    return await seen(`node ${step.restart} back`, () => components(fleet).length === 1)
  } else if ('churn' in step) {
    // `count` times: crash a random node, wait, start it again, wait.
    for (let round = 0; round < step.churn.count; round++) {
      const live = [...fleet.live]
      if (live.length < 2) break
      const index = live[Math.floor(random() * live.length)] as number
      await crashNode(fleet, index)
      await new Promise((resolve) => setTimeout(resolve, step.churn.every))
      await restartNode(fleet, index)
      await new Promise((resolve) => setTimeout(resolve, step.churn.every))
    }
  } else if ('partition' in step) {
    const live = [...fleet.live]
    const indexGroups = 'halves' in step.partition
      ? [live.slice(0, Math.ceil(live.length / 2)), live.slice(Math.ceil(live.length / 2))]
      : 'holding' in step.partition ? groupAround(fleet, step.partition.holding, step.partition.size) : step.partition.groups
    if (indexGroups.length === 0) return { convergedMs: null, problem: `no live node runs ${JSON.stringify(step.partition)}` }
    const groups = indexGroups.map((group) => group.filter((i) => fleet.live.has(i)).map((i) => fleet.mesh.nodes[i]!))
    if ('oneWay' in step.partition && step.partition.oneWay === true) await cut(groups[0] ?? [], groups.slice(1).flat(), { oneWay: true })
    else await partition(groups)
    const wanted = groups.filter((group) => group.length > 0).length
    return await seen('the split', () => components(fleet).length >= wanted)
  } else if ('heal' in step) {
    heal(liveNodes(fleet))
    return await seen('the heal (one component)', () => components(fleet).length === 1)
  } else if ('stall' in step) {
    return await stallStep(fleet, step.stall, random)
  } else if ('drain' in step) {
    const named = step.drain.node
    const index = typeof named === 'number' ? named : firstRunning(fleet, named.runs)
    if (index === undefined || !fleet.live.has(index)) return { convergedMs: null, problem: `no running node ${JSON.stringify(named)}` }
    const spec: PolicySpec = { kind: 'Node', name: fleet.mesh.nodes[index]!.peerId, drain: true }
    await fleet.mesh.nodes[publisher(undefined)]!.publish((await operator.sign(spec)).envelope)
    return await drainStep(fleet, index, step.drain, services)
  } else if ('singleton' in step) {
    return await singletonStep(fleet, step.singleton)
  } else if ('rollout' in step) {
    return await rolloutStep(fleet, step.rollout, services)
  } else if ('sleep' in step) {
    await new Promise((resolve) => setTimeout(resolve, step.sleep))
  } else {
    return await checkExpectations(fleet, step.expect, services)
  }
  return { convergedMs: null }
}

/**
 * Stalls a node, then watches for the stall and a second after it: how many nodes dropped it from
 * their component at worst, and whether any workload started or stopped anywhere.
 */
async function stallStep (fleet: Fleet, stall: Extract<Step, { stall: unknown }>['stall'], random: () => number): Promise<StepOutcome> {
  const live = [...fleet.live]
  const index = stall.node === 'random' ? live[Math.floor(random() * live.length)] as number : typeof stall.node === 'number' ? stall.node : firstRunning(fleet, stall.node.runs)
  if (index === undefined) return { convergedMs: null, problem: `no running node ${JSON.stringify(stall.node)}` }
  if (!fleet.live.has(index)) return { convergedMs: null, problem: `node ${index} is not running` }
  const node = fleet.mesh.nodes[index] as MeshNode
  const placement = (): string => runningResources(fleet, [...fleet.live]).sort().join(',')
  const placed = placement()
  let droppedBy = 0
  let moved = false
  stallNode(node, stall.for)
  const until = performance.now() + stall.for + 1_000
  while (performance.now() < until) {
    droppedBy = Math.max(droppedBy, liveNodes(fleet).filter((other) => other !== node && !other.component().has(node.peerId)).length)
    moved ||= placement() !== placed
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  const note = droppedBy === 0 && !moved ? 'nobody dropped the node; nothing moved' : `dropped by ${droppedBy} node(s); work ${moved ? 'moved' : 'did not move'}`
  return { convergedMs: null, note, ...(stall.movesNothing === true && (droppedBy > 0 || moved) ? { problem: note } : {}) }
}

/** Share of live nodes whose record publishes the most common view hash. */
function agreementShare (fleet: Fleet): number {
  const counts = new Map<string, number>()
  const live = liveNodes(fleet)
  for (const node of live) counts.set(node.localState.viewHash, (counts.get(node.localState.viewHash) ?? 0) + 1)
  return live.length === 0 ? 0 : Math.max(...counts.values()) / live.length
}

/**
 * Converged (judged from outside: same view everywhere, everything running where it puts it) within the
 * time given, and then confirmed within the same time (every node's database says so): the next step
 * starts from a fleet at rest, not one whose status records are still flooding.
 */
async function checkExpectations (fleet: Fleet, expectation: Extract<Step, { expect: unknown }>['expect'], services: Map<string, ServiceSpec>): Promise<StepOutcome> {
  let convergedMs: number | null = null
  let confirmedMs: number | null = null
  if (expectation.converged !== undefined) {
    const start = performance.now()
    try {
      convergedMs = await waitForFleet(fleet, 'convergence', () => converged(fleet), expectation.converged)
    } catch {
      return { convergedMs: null, problem: `not converged within ${expectation.converged} ms` }
    }
    try {
      const afterMs = performance.now() - start
      confirmedMs = afterMs + await waitForFleet(fleet, 'confirmation', () => converged(fleet) && confirmed(fleet), expectation.converged, { records: true })
    } catch {
      return { convergedMs, problem: `converged in ${convergedMs.toFixed(0)} ms, but not every node's database said so within ${expectation.converged} ms` }
    }
  }
  const outcome = { convergedMs, confirmedMs }
  for (const [name, wanted] of Object.entries(expectation.replicas ?? {})) {
    for (const group of components(fleet)) {
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

function describeStep (step: Step): string {
  const [kind, value] = Object.entries(step)[0] as [string, unknown]
  return `${kind} ${JSON.stringify(value)}`.slice(0, 80)
}

function traffic (fleet: Fleet): { messages: number, bytes: number } {
  return fleet.mesh.nodes.reduce((sum, node) => ({ messages: sum.messages + node.counters.gossipMessages, bytes: sum.bytes + node.counters.gossipBytes }), { messages: 0, bytes: 0 })
}
