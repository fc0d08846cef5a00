// computeView: the target view (resource → node) that every node of a component computes alike.
//
// Inputs are only the RecordDB and which node is asking (that decides the component). For each
// service, in name order:
//   1. Eligible nodes: in my component, not drained, matching the selector, carrying the spread label.
//   2. Incumbents: eligible nodes whose record reports this service's resource running or starting,
//      not provisional. Incumbents stay where they are (up to `replicas`, best-ranked first), so work
//      that runs healthy is never pulled back by a node that returns, and a joining node takes nothing
//      from anyone. Capacity for every incumbent is reserved before any service is placed, so an
//      earlier service cannot take the slot of a later service's running replica.
//   3. Vacancies are filled by rendezvous (highest-random-weight) hashing: each node's score for the
//      service is a hash of both; the highest-scoring nodes that are not cordoned and have free slots
//      win. A node leaving moves only its own work; a node joining only ever receives work.
//   4. With `spread`, replicas are first divided among the label's values by water-filling (each
//      replica goes to the value with the fewest so far that still has a node able to take it), so
//      per-value counts stay within one of each other unless capacity forbids. Spread outranks
//      incumbency: an incumbent beyond its value's share is let go.
// Equal scores are broken by node id, so the result never depends on arrival or iteration order.
//
// Why this cannot oscillate: the view changes only when its inputs change, and the only input the
// view itself causes is "running" statuses. Once the nodes the view chose report running, they are
// incumbents, and incumbents are exactly what the view keeps — a fixed point. Incumbents in excess
// (after a partition heals, both sides ran a replica) are cut by a fixed total order (score, node id),
// and the nodes cut stop and never regain incumbency unless a vacancy opens.
//
// A resource is one instance of a service on one node; its id is `service@nodeId`.

import { canonicalJson, compareStrings, Hasher64, hash32, pairScore } from './hash.ts'
import type { RecordDB } from './recorddb.ts'
import { componentOf } from './reachability.ts'
import {
  workloadHash,
  type Labels, type NodeId, type NodeSettingsSpec, type ResourceStatus, type ServiceSpec, type WorkloadSpec,
} from './records.ts'

export interface Assignment {
  readonly resourceId: string
  readonly service: string
  readonly nodeId: NodeId
  readonly slots: number
  readonly specHash: string
  readonly workload: WorkloadSpec
}

export interface Shortfall {
  readonly service: string
  readonly wanted: number
  readonly placed: number
}

export type ChosenReason = 'incumbent' | 'ranked' | 'every-eligible-node'
export type RejectedReason =
  | 'drained' | 'not-in-selector' | 'no-spread-label' | 'cordoned' | 'no-capacity'
  | 'ranked-lower' | 'spread-value-full'

export interface CandidateExplanation {
  readonly nodeId: NodeId
  /** 1-based rank among the service's eligible nodes by rendezvous score; null when not eligible. */
  readonly rank: number | null
  readonly score: number
  readonly chosen: boolean
  readonly reason: ChosenReason | RejectedReason
  readonly detail: string
}

export interface ServiceExplanation {
  readonly service: string
  readonly replicas: number | 'all'
  readonly placed: number
  /** With `spread`: how many replicas each label value was given. */
  readonly spreadQuotas?: Readonly<Record<string, number>>
  /** Every node of the component, best rank first, then the ineligible ones by id. */
  readonly candidates: readonly CandidateExplanation[]
}

export interface TargetView {
  readonly self: NodeId
  /** Every node of my component, sorted. */
  readonly component: readonly NodeId[]
  /** Every resource, sorted by service name then node id. */
  readonly assignments: readonly Assignment[]
  readonly byNode: ReadonlyMap<NodeId, readonly Assignment[]>
  /** Services that got fewer replicas than they asked for. */
  readonly shortfalls: readonly Shortfall[]
  /** Explanations for the services asked for in `ViewOptions.explain`. */
  readonly explanations: ReadonlyMap<string, ServiceExplanation>
  readonly viewHash: string
}

export interface ViewOptions {
  /** Services to explain: their names, or 'all'. Explaining costs a full ranking, so it is opt-in. */
  readonly explain?: 'all' | readonly string[]
}

/** The most nodes a component may hold: node indices are packed beside 32-bit scores in a double. */
export const maxComponentNodes = 1 << 20

interface PlacementNode {
  readonly id: NodeId
  readonly index: number
  readonly labels: Labels
  readonly slots: number
  freeSlots: number
  readonly drained: boolean
  readonly cordoned: boolean
  readonly hash: number
  /** Services this node runs as an incumbent (running or starting, not provisional). */
  readonly running: ReadonlySet<string>
}

interface Context {
  readonly nodes: readonly PlacementNode[]
  readonly eligibleBySelector: Map<string, number[]>
}

export function computeView (db: RecordDB, self: NodeId, options: ViewOptions = {}): TargetView {
  const componentIds = [...componentOf(db, self)].sort(compareStrings)
  if (componentIds.length > maxComponentNodes) throw new Error(`component has more than ${maxComponentNodes} nodes`)
  const policies = activePolicies(db)
  const nodes = placementNodes(db, componentIds, policies.nodeSettings)
  const context: Context = { nodes, eligibleBySelector: new Map() }
  const reserved = reserveIncumbents(context, policies.services)

  const assignments: Assignment[] = []
  const byNode = new Map<NodeId, Assignment[]>()
  const shortfalls: Shortfall[] = []
  const explanations = new Map<string, ServiceExplanation>()
  const hasher = new Hasher64()
  for (const node of nodes) hasher.update(`${node.id}|${canonicalJson(node.labels)}|${node.slots}|${node.drained}|${node.cordoned}`)
  hasher.update(db.policyDigestHash())

  for (const service of policies.services) {
    const explaining = options.explain === 'all' || (options.explain?.includes(service.name) ?? false)
    const recorder = explaining ? new Recorder(nodes.length) : undefined
    const chosen = placeService(context, service, reserved.get(service.name) ?? [], recorder)
    chosen.sort((a, b) => a - b)
    const specHash = workloadHash(service.workload)
    for (const index of chosen) {
      const node = nodes[index] as PlacementNode
      const assignment: Assignment = {
        resourceId: resourceIdOf(service.name, node.id), service: service.name, nodeId: node.id,
        slots: service.slots, specHash, workload: service.workload,
      }
      assignments.push(assignment)
      let list = byNode.get(node.id)
      if (list === undefined) byNode.set(node.id, list = [])
      list.push(assignment)
    }
    if (service.replicas !== 'all' && chosen.length < service.replicas) {
      shortfalls.push({ service: service.name, wanted: service.replicas, placed: chosen.length })
    }
    if (recorder !== undefined) explanations.set(service.name, recorder.explain(context, service, chosen.length))
    hasher.update(`${service.name}:${specHash}:${chosen.join(',')}`)
  }
  return { self, component: componentIds, assignments, byNode, shortfalls, explanations, viewHash: hasher.digestHex() }
}

export function resourceIdOf (service: string, nodeId: NodeId): string {
  return `${service}@${nodeId}`
}

/** The service name of a resource id, or undefined when the id is not `service@nodeId` for this node. */
export function serviceOfResource (resourceId: string, nodeId: NodeId): string | undefined {
  const suffix = `@${nodeId}`
  return resourceId.endsWith(suffix) && resourceId.length > suffix.length ? resourceId.slice(0, -suffix.length) : undefined
}

function activePolicies (db: RecordDB): { services: ServiceSpec[], nodeSettings: Map<NodeId, NodeSettingsSpec> } {
  const services: ServiceSpec[] = []
  const nodeSettings = new Map<NodeId, NodeSettingsSpec>()
  for (const policy of db.policies()) {
    if (policy.body?.kind === 'Service') services.push(policy.body)
    else if (policy.body?.kind === 'Node') nodeSettings.set(policy.body.name, policy.body)
  }
  services.sort((a, b) => compareStrings(a.name, b.name))
  return { services, nodeSettings }
}

function placementNodes (db: RecordDB, componentIds: readonly NodeId[], settings: Map<NodeId, NodeSettingsSpec>): PlacementNode[] {
  const nodes: PlacementNode[] = []
  for (const id of componentIds) {
    const record = db.nodeRecord(id)
    if (record === undefined) continue // myself, before my first record: nothing known to place on
    const nodeSettings = settings.get(id)
    nodes.push({
      id,
      index: nodes.length,
      labels: nodeSettings?.labels === undefined ? record.labels : { ...record.labels, ...nodeSettings.labels },
      slots: record.slots,
      freeSlots: record.slots,
      drained: nodeSettings?.drain === true,
      cordoned: nodeSettings?.cordon === true,
      hash: hash32(id),
      running: incumbentServices(id, record.resources),
    })
  }
  return nodes
}

function incumbentServices (nodeId: NodeId, resources: readonly ResourceStatus[]): Set<string> {
  const services = new Set<string>()
  for (const resource of resources) {
    if (resource.phase === 'failed' || resource.provisional === true) continue
    const service = serviceOfResource(resource.id, nodeId)
    if (service !== undefined) services.add(service)
  }
  return services
}

/** Reserves capacity for every eligible incumbent, in service order, before any placement. */
function reserveIncumbents (context: Context, services: readonly ServiceSpec[]): Map<string, number[]> {
  const reserved = new Map<string, number[]>()
  for (const service of services) {
    const incumbents: number[] = []
    for (const index of eligibleNodes(context, service)) {
      const node = context.nodes[index] as PlacementNode
      if (!node.running.has(service.name) || node.freeSlots < service.slots) continue
      node.freeSlots -= service.slots
      incumbents.push(index)
    }
    reserved.set(service.name, incumbents)
  }
  return reserved
}

function placeService (context: Context, service: ServiceSpec, incumbents: readonly number[], recorder?: Recorder): number[] {
  for (const index of incumbents) (context.nodes[index] as PlacementNode).freeSlots += service.slots
  const incumbentSet = new Set(incumbents)
  const eligible = eligibleNodes(context, service)
  recorder?.noteIneligible(context, service, eligible)
  let chosen: number[]
  if (service.replicas === 'all') chosen = placeOnEveryNode(context, service, eligible, incumbentSet, recorder)
  else if (service.spread !== undefined) chosen = placeSpread(context, service, service.spread, service.replicas, eligible, incumbentSet, recorder)
  else chosen = placeRanked(context, service, service.replicas, eligible, incumbentSet, 'ranked-lower', recorder)
  for (const index of chosen) (context.nodes[index] as PlacementNode).freeSlots -= service.slots
  return chosen
}

/** Indices of nodes that are not drained, match the selector, and carry the spread label. */
function eligibleNodes (context: Context, service: ServiceSpec): number[] {
  const cacheKey = canonicalJson(service.selector) + '\u0000' + (service.spread ?? '')
  let eligible = context.eligibleBySelector.get(cacheKey)
  if (eligible === undefined) {
    eligible = []
    for (const node of context.nodes) {
      if (ineligibility(node, service) === undefined) eligible.push(node.index)
    }
    context.eligibleBySelector.set(cacheKey, eligible)
  }
  return eligible
}

function ineligibility (node: PlacementNode, service: ServiceSpec): { reason: RejectedReason, detail: string } | undefined {
  if (node.drained) return { reason: 'drained', detail: 'drained by an operator' }
  for (const key in service.selector) {
    if (node.labels[key] !== service.selector[key]) {
      return { reason: 'not-in-selector', detail: `selector wants ${key}=${service.selector[key]}, node has ${key}=${node.labels[key] ?? '(none)'}` }
    }
  }
  if (service.spread !== undefined && node.labels[service.spread] === undefined) {
    return { reason: 'no-spread-label', detail: `service spreads over label '${service.spread}', which the node lacks` }
  }
  return undefined
}

function canTakeNew (node: PlacementNode, service: ServiceSpec): { reason: RejectedReason, detail: string } | undefined {
  if (node.cordoned) return { reason: 'cordoned', detail: 'cordoned: no new work' }
  if (node.freeSlots < service.slots) return { reason: 'no-capacity', detail: `needs ${service.slots} slot(s), ${node.freeSlots} of ${node.slots} free` }
  return undefined
}

function placeOnEveryNode (context: Context, service: ServiceSpec, eligible: readonly number[], incumbents: ReadonlySet<number>, recorder?: Recorder): number[] {
  const chosen: number[] = []
  for (const index of eligible) {
    const node = context.nodes[index] as PlacementNode
    if (incumbents.has(index)) {
      chosen.push(index)
      recorder?.choose(index, 'every-eligible-node', 'already runs here')
      continue
    }
    const refusal = canTakeNew(node, service)
    if (refusal === undefined) {
      chosen.push(index)
      recorder?.choose(index, 'every-eligible-node', 'eligible, with room')
    } else {
      recorder?.reject(index, refusal.reason, refusal.detail)
    }
  }
  return chosen
}

/** Up to `wanted` of `candidates`: incumbents best-ranked first, then the best-ranked nodes with room. */
function placeRanked (
  context: Context, service: ServiceSpec, wanted: number, candidates: readonly number[], incumbents: ReadonlySet<number>,
  surplusReason: RejectedReason, recorder?: Recorder,
): number[] {
  const serviceHash = hash32(service.name)
  const chosen: number[] = []
  const keptIncumbents = candidates.filter((index) => incumbents.has(index))
    .sort((a, b) => placementKey(context, b, serviceHash) - placementKey(context, a, serviceHash))
  for (const index of keptIncumbents) {
    if (chosen.length < wanted) {
      chosen.push(index)
      recorder?.choose(index, 'incumbent', 'already runs here; kept so that nothing moves')
    } else {
      recorder?.reject(index, surplusReason, `runs here too, but ${wanted} better-ranked replica(s) are kept`)
    }
  }
  if (chosen.length >= wanted && recorder === undefined) return chosen
  const others = candidates.filter((index) => !incumbents.has(index))
  const keys = new Float64Array(others.length)
  for (let i = 0; i < others.length; i++) keys[i] = placementKey(context, others[i] as number, serviceHash)
  for (const position of descendingOrder(keys)) {
    const index = others[position] as number
    if (chosen.length >= wanted && recorder === undefined) break
    const refusal = canTakeNew(context.nodes[index] as PlacementNode, service)
    if (chosen.length >= wanted && refusal === undefined) {
      recorder?.reject(index, surplusReason, `eligible, but ${wanted} replica(s) went to better-ranked nodes`)
    } else if (refusal === undefined) {
      chosen.push(index)
      recorder?.choose(index, 'ranked', 'best-ranked eligible node with room')
    } else {
      recorder?.reject(index, refusal.reason, refusal.detail)
    }
  }
  return chosen
}

function placeSpread (
  context: Context, service: ServiceSpec, label: string, wanted: number, eligible: readonly number[],
  incumbents: ReadonlySet<number>, recorder?: Recorder,
): number[] {
  const byValue = new Map<string, number[]>()
  for (const index of eligible) {
    const value = (context.nodes[index] as PlacementNode).labels[label] as string
    let members = byValue.get(value)
    if (members === undefined) byValue.set(value, members = [])
    members.push(index)
  }
  const domains = [...byValue.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([value, members]) => ({
    value,
    members,
    capacity: members.filter((index) => incumbents.has(index) || canTakeNew(context.nodes[index] as PlacementNode, service) === undefined).length,
    incumbents: members.filter((index) => incumbents.has(index)).length,
    score: pairScore(hash32(value), hash32(service.name)),
    quota: 0,
  }))
  const totalCapacity = domains.reduce((sum, domain) => sum + domain.capacity, 0)
  for (let placed = 0; placed < Math.min(wanted, totalCapacity); placed++) {
    let best: typeof domains[number] | undefined
    for (const domain of domains) {
      if (domain.quota >= domain.capacity) continue
      if (best === undefined || fillsBefore(domain, best)) best = domain
    }
    if (best !== undefined) best.quota++
  }
  recorder?.noteQuotas(Object.fromEntries(domains.map((domain) => [domain.value, domain.quota])))
  return domains.flatMap((domain) => placeRanked(context, service, domain.quota, domain.members, incumbents, 'spread-value-full', recorder))
}

/** Water-filling order: fewest replicas so far, then where replicas already run, then by score and value. */
function fillsBefore (
  a: { quota: number, incumbents: number, score: number, value: string },
  b: { quota: number, incumbents: number, score: number, value: string },
): boolean {
  if (a.quota !== b.quota) return a.quota < b.quota
  const aHolds = a.incumbents > a.quota
  const bHolds = b.incumbents > b.quota
  if (aHolds !== bHolds) return aHolds
  if (a.score !== b.score) return a.score > b.score
  return a.value < b.value
}

/** A node's rank key for a service: its rendezvous score, ties broken towards the smaller node id. */
function placementKey (context: Context, index: number, serviceHash: number): number {
  const node = context.nodes[index] as PlacementNode
  return pairScore(node.hash, serviceHash) * maxComponentNodes + (maxComponentNodes - 1 - index)
}

/** Positions of `keys` in descending order; a few selection passes first, since usually few are wanted. */
function * descendingOrder (keys: Float64Array): Generator<number> {
  const selectionPasses = Math.min(8, keys.length)
  const taken = new Uint8Array(keys.length)
  for (let pass = 0; pass < selectionPasses; pass++) {
    let best = -1
    for (let i = 0; i < keys.length; i++) {
      if (taken[i] === 0 && (best < 0 || (keys[i] as number) > (keys[best] as number))) best = i
    }
    taken[best] = 1
    yield best
  }
  if (selectionPasses === keys.length) return
  const rest: number[] = []
  for (let i = 0; i < keys.length; i++) if (taken[i] === 0) rest.push(i)
  rest.sort((a, b) => (keys[b] as number) - (keys[a] as number))
  yield * rest
}

/** Collects, for one service, the verdict on every node; only used when an explanation is asked for. */
class Recorder {
  private readonly verdicts: Array<{ chosen: boolean, reason: ChosenReason | RejectedReason, detail: string } | undefined>
  private quotas: Record<string, number> | undefined

  constructor (nodeCount: number) {
    this.verdicts = new Array(nodeCount).fill(undefined)
  }

  choose (index: number, reason: ChosenReason, detail: string): void {
    this.verdicts[index] = { chosen: true, reason, detail }
  }

  reject (index: number, reason: RejectedReason, detail: string): void {
    this.verdicts[index] = { chosen: false, reason, detail }
  }

  noteQuotas (quotas: Record<string, number>): void {
    this.quotas = quotas
  }

  noteIneligible (context: Context, service: ServiceSpec, eligible: readonly number[]): void {
    const eligibleSet = new Set(eligible)
    for (const node of context.nodes) {
      if (eligibleSet.has(node.index)) continue
      const why = ineligibility(node, service)
      if (why !== undefined) this.reject(node.index, why.reason, why.detail)
    }
  }

  explain (context: Context, service: ServiceSpec, placed: number): ServiceExplanation {
    const serviceHash = hash32(service.name)
    const eligible = [...eligibleNodes(context, service)]
      .sort((a, b) => placementKey(context, b, serviceHash) - placementKey(context, a, serviceHash))
    const rankOf = new Map(eligible.map((index, position) => [index, position + 1]))
    const candidates = context.nodes.map((node): CandidateExplanation => {
      const verdict = this.verdicts[node.index] ?? { chosen: false, reason: 'ranked-lower' as const, detail: 'not reached' }
      return {
        nodeId: node.id, rank: rankOf.get(node.index) ?? null, score: pairScore(node.hash, serviceHash), ...verdict,
      }
    }).sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity) || compareStrings(a.nodeId, b.nodeId))
    return {
      service: service.name, replicas: service.replicas, placed, candidates,
      ...(this.quotas === undefined ? {} : { spreadQuotas: this.quotas }),
    }
  }
}
