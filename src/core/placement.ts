// computeView: the target view (resource → node) that every node of a component computes alike.
//
// Inputs are only the RecordDB and which node is asking (that decides the component). For each
// service, in name order:
//   0. My component: the nodes reachable from me (reachability.ts), plus every *held* node: one that
//      stopped to restart and asked, in its last record, that its work be held until a time not yet
//      reached (`nowMs`). A held node keeps its incumbents and takes no new work (as if cordoned).
//      A crashed node asks nothing, so its work moves at once.
//   1. Eligible nodes: in my component, not drained, matching the selector, carrying the spread label.
//   2. Incumbents: eligible nodes whose record reports this service's resource running or starting,
//      not provisional. Incumbents stay where they are (up to `replicas`, best-ranked first), so work
//      that runs healthy is never pulled back by a node that returns, and a joining node takes nothing
//      from anyone. Capacity for every incumbent is reserved before any service is placed, so an
//      earlier service cannot take the slot of a later service's running replica. A node's claim to
//      run something counts only where the view could have put it — eligible, within capacity — and
//      its labels and slots are what an operator's Node policy pins, whatever the node says.
//   3. Vacancies are filled by rendezvous (highest-random-weight) hashing: each node's score for the
//      service is a hash of both; the highest-scoring nodes that are not cordoned and have free slots
//      win. A node leaving moves only its own work; a node joining only ever receives work.
//   4. With `spread`, replicas are first divided among the label's values by water-filling (each
//      replica goes to the value with the fewest so far that still has a node able to take it), so
//      per-value counts stay within one of each other unless capacity forbids. Spread outranks
//      incumbency: an incumbent beyond its value's share is let go.
//   5. A `partition: majority` service is placed only in a component that holds the quorum
//      (quorum.ts): elsewhere it gets no replica at all, and a shortfall says why.
//   6. A node that reports the service's current spec failed on it (`failedSpec`: never available
//      within healthyDeadline) is not eligible for the service while another node reports a replica
//      available on that spec: the fault is the host's, so the replica goes elsewhere. A spec that
//      fails everywhere is available nowhere, so it does not hop from host to host: it stays put and
//      its rollout reports it failed (rollout.ts). The failing node keeps reporting the failure for a
//      while after it stopped the replica (daemon/safe-change.ts), or it would be eligible again.
//   7. With `maxSurge: s`, while an eligible node runs a replica available on an older spec (a rollout
//      underway, not paused for canaries, not failed), s more replicas are placed, ranked as any
//      other (rollout.ts says why that keeps replicas - maxUnavailable available). The rollout ends
//      when no old replica is left available; then the excess incumbents are cut as after a heal.
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
import { describeQuorum, quorumOf, type Quorum } from './quorum.ts'
import { maxSurgeOf } from './rollout.ts'
import { componentOf, extendComponent, type NodeRecordSource } from './reachability.ts'
import {
  holdEndMs, policyKey, specStatusInputs, workloadHash,
  type Labels, type NodeId, type NodeRecord, type NodeSettingsSpec, type PolicyFragment, type ResourceStatus, type ServiceSpec, type WorkloadSpec,
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
  /** Set when the reason is not capacity: 'no-majority' for a majority service on a minority side. */
  readonly reason?: 'no-majority'
}

export type ChosenReason = 'incumbent' | 'ranked' | 'every-eligible-node'
export type RejectedReason =
  | 'drained' | 'not-in-selector' | 'no-spread-label' | 'cordoned' | 'no-capacity'
  | 'ranked-lower' | 'spread-value-full' | 'no-majority' | 'failed-here'

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
  /** Every node of my component (held nodes included), sorted. */
  readonly component: readonly NodeId[]
  /** Nodes held for a restart: in the component although unreachable; no new work. */
  readonly held: readonly NodeId[]
  /** Every resource, sorted by service name then node id. */
  readonly assignments: readonly Assignment[]
  readonly byNode: ReadonlyMap<NodeId, readonly Assignment[]>
  /** Services that got fewer replicas than they asked for. */
  readonly shortfalls: readonly Shortfall[]
  /** Explanations for the services asked for in `ViewOptions.explain`. */
  readonly explanations: ReadonlyMap<string, ServiceExplanation>
  /** Whether this component may run `partition: majority` services. */
  readonly quorum: Quorum
  readonly viewHash: string
}

export interface ViewOptions {
  /** Services to explain: their names, or 'all'. Explaining costs a full ranking, so it is opt-in. */
  readonly explain?: 'all' | readonly string[]
  /**
   * 'operator': only nodes with a live Admission fragment count (the cluster's setting, the same on
   * every node). 'open' (the default): every node whose record is held counts.
   */
  readonly admission?: 'open' | 'operator'
  /** The caller's clock, for holds (see step 0). Without it no node is held. */
  readonly nowMs?: number
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
  /** Per service: the spec that failed here (step 6), and the spec a replica here is available on. */
  readonly failedSpecs: ReadonlyMap<string, string>
  readonly availableSpecs: ReadonlyMap<string, string>
}

interface Eligibility {
  readonly list: readonly number[]
  /** 1 at the index of every eligible node. */
  readonly member: Uint8Array
  /** With `spread`: the eligible nodes grouped by the label's value, values sorted. */
  readonly byValue: ReadonlyArray<{ readonly value: string, readonly members: readonly number[] }>
}

interface Context {
  readonly nodes: readonly PlacementNode[]
  readonly eligibleBySelector: Map<string, Eligibility>
  /** Whether any node reports a failed spec at all (step 6 is skipped when none does). */
  readonly anyFailedSpec: boolean
  /** Scratch space, reused across services to spare the garbage collector. */
  readonly incumbentMark: Uint8Array
  readonly scratchKeys: Float64Array
  readonly scratchIndices: Int32Array
}

/**
 * The view `self` computes from `db`. Without holds in force and explanations asked for, the view
 * depends on the records alone, so it is computed once per placement revision and shared (do not mutate
 * it): in the simulator the node's reconciler and the outside judge ask for the same view, and at 200
 * nodes each computed it a second time on the event loop being timed. Databases that hold the same
 * placement inputs share one computation too (`sharedViews`).
 */
export function computeView (db: RecordDB, self: NodeId, options: ViewOptions = {}): TargetView {
  const held = heldNodeIds(db, options.admission ?? 'open', options.nowMs)
  if (options.explain !== undefined) return { self, ...placeComponent(db, componentIdsOf(db, self, options, held), held, options) }
  if (held.size > 0) return sharedView(db, self, options, held)
  return db.derived(`view ${options.admission ?? 'open'} ${self}`, () => sharedView(db, self, options, held))
}

/** A view without its `self`: what every node of a component computes alike. */
type ComponentView = Omit<TargetView, 'self'>

/**
 * Views by their inputs, written out in full: the component, the held nodes, each component node's
 * placement inputs and the active policies — everything placement reads, and not `self`. The nodes of
 * one process (the simulator runs 200 on one core) that hold the same records compute a view once, not
 * once each; a fleet of hosts computes it on each host's own core, at the same time. The key is the
 * inputs themselves, not a hash of them, so different inputs can never share a view. The few most
 * recently used are kept.
 */
const sharedViews = new Map<string, ComponentView>()
const sharedViewsKept = 8

function sharedView (db: RecordDB, self: NodeId, options: ViewOptions, held: ReadonlySet<NodeId>): TargetView {
  const componentIds = componentIdsOf(db, self, options, held)
  const key = viewInputsKey(db, `${options.admission ?? 'open'} ${self}`, componentIds, held, options.admission ?? 'open')
  let view = sharedViews.get(key)
  if (view === undefined) view = placeComponent(db, componentIds, held, options)
  sharedViews.delete(key)
  sharedViews.set(key, view)
  if (sharedViews.size > sharedViewsKept) sharedViews.delete(sharedViews.keys().next().value as string)
  return { self, ...view }
}

/** `component` names whose component `componentIds` is (the admission mode and the node asking). */
function viewInputsKey (db: RecordDB, component: string, componentIds: readonly NodeId[], held: ReadonlySet<NodeId>, admission: 'open' | 'operator'): string {
  const heldIds = [...held].sort(compareStrings).join(',')
  const quorum = quorumOf(db, componentIds, admission)
  const policies = db.derived('policy inputs', () => policyInputs(db), 'policy')
  // The component's node records change less often than the policies (a new policy is the common
  // change): their part is kept per node-record revision, for this component at this topology revision.
  // Each node's inputs appear as their number in `internedInputs` (the text itself made the key ~100
  // bytes a node, joined and hashed again on every change: 16 % of a 400-node simulation).
  const epoch = internedInputs.epoch
  const nodes = db.derived(`node inputs ${epoch} ${db.topologyRevision} ${component} ${heldIds}`, () => {
    const parts: string[] = []
    for (const id of componentIds) {
      const record = db.nodeRecord(id)
      parts.push(record === undefined ? `-${id}` : nodeInputsNumber(record))
    }
    return parts.join(',')
  }, 'nodes')
  // The table was emptied while this key was made: its numbers are of two epochs; make it again.
  if (internedInputs.epoch !== epoch) return viewInputsKey(db, component, componentIds, held, admission)
  return `${epoch} ${heldIds} ${quorum.holds} ${quorum.present}/${quorum.voters}\n${policies}\n${nodes}`
}

/**
 * What placement reads of a node record, as one string, numbered: equal inputs, equal numbers, so a
 * key of numbers is as exact as a key of the texts. The table is emptied when it grows past
 * `internedInputsMax` (a long-lived daemon sees ever new inputs); the epoch in every key made from it
 * moves then, and the views kept under old keys go too, so no number is ever read with two meanings.
 */
const internedInputs = { epoch: 0, numbers: new Map<string, string>() }
const internedInputsMax = 100_000
const nodeInputsNumbers = new WeakMap<NodeRecord, { readonly epoch: number, readonly number: string }>()
function nodeInputsNumber (record: NodeRecord): string {
  const known = nodeInputsNumbers.get(record)
  if (known?.epoch === internedInputs.epoch) return known.number
  const running = [...incumbentServices(record.nodeId, record.resources)].sort(compareStrings)
  const inputs = `${record.nodeId} ${record.slots} ${canonicalLabels(record.labels)} ${JSON.stringify(running)} ${specStatusInputs(record)}`
  if (internedInputs.numbers.size >= internedInputsMax) {
    internedInputs.epoch++
    internedInputs.numbers.clear()
    sharedViews.clear()
  }
  let number = internedInputs.numbers.get(inputs)
  if (number === undefined) internedInputs.numbers.set(inputs, number = String(internedInputs.numbers.size))
  nodeInputsNumbers.set(record, { epoch: internedInputs.epoch, number })
  return number
}

/** What placement reads of the policies (every Service and Node body), as one string. */
function policyInputs (db: RecordDB): string {
  const bodies: string[] = []
  for (const policy of db.policies()) {
    if (policy.body?.kind !== 'Service' && policy.body?.kind !== 'Node') continue
    let body = policyInputsCache.get(policy)
    if (body === undefined) policyInputsCache.set(policy, body = canonicalJson(policy.body))
    bodies.push(body)
  }
  // The digest too: the view's hash covers it (every policy's key and version, tombstones included).
  return [db.policyDigestHash(), ...bodies.sort(compareStrings)].join('\n')
}
const policyInputsCache = new WeakMap<PolicyFragment, string>()

/** A component's ids, sorted once per component set (componentFrom returns the same set while its members stay). */
const sortedComponents = new WeakMap<ReadonlySet<NodeId>, NodeId[]>()
function sortedIds (component: ReadonlySet<NodeId>): NodeId[] {
  let ids = sortedComponents.get(component)
  if (ids === undefined) sortedComponents.set(component, ids = [...component].sort(compareStrings))
  return ids
}

function componentIdsOf (db: RecordDB, self: NodeId, options: ViewOptions, held: ReadonlySet<NodeId>): NodeId[] {
  const admission = options.admission ?? 'open'
  // Without holds, the sorted ids change only with the topology: sorted once per topology revision,
  // not once per view (every status that changes a placement input recomputes every node's view).
  const componentIds = held.size === 0
    ? sortedIds(componentFrom(db, self, admission))
    : [...new Set([...componentFrom(db, self, admission), ...held])].sort(compareStrings)
  if (componentIds.length > maxComponentNodes) throw new Error(`component has more than ${maxComponentNodes} nodes`)
  return componentIds
}

function placeComponent (db: RecordDB, componentIds: readonly NodeId[], held: ReadonlySet<NodeId>, options: ViewOptions): ComponentView {
  const policies = activePolicies(db)
  const quorum = quorumOf(db, componentIds, options.admission ?? 'open')
  const nodes = placementNodes(db, componentIds, policies.nodeSettings, held)
  const context: Context = {
    nodes,
    eligibleBySelector: new Map(),
    anyFailedSpec: nodes.some((node) => node.failedSpecs.size > 0),
    incumbentMark: new Uint8Array(nodes.length),
    scratchKeys: new Float64Array(nodes.length),
    scratchIndices: new Int32Array(nodes.length),
  }
  const reserved = reserveIncumbents(context, policies.services)

  const assignments: Assignment[] = []
  const byNode = new Map<NodeId, Assignment[]>()
  const shortfalls: Shortfall[] = []
  const explanations = new Map<string, ServiceExplanation>()
  const hasher = new Hasher64()
  for (const node of nodes) hasher.update(`${node.id}|${canonicalLabels(node.labels)}|${node.slots}|${node.drained}|${node.cordoned}`)
  hasher.update(db.policyDigestHash())

  for (const service of policies.services) {
    const explaining = options.explain === 'all' || (options.explain?.includes(service.name) ?? false)
    const recorder = explaining ? new Recorder(nodes.length) : undefined
    const majorityOnly = service.partition === 'majority' && !quorum.holds
    if (majorityOnly) recorder?.rejectAll(context, 'no-majority', describeQuorum(quorum))
    const chosen = majorityOnly ? [] : placeService(context, service, reserved.get(service.name) ?? [], recorder)
    chosen.sort((a, b) => a - b)
    const specHash = specHashOf(service.workload)
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
      shortfalls.push({ service: service.name, wanted: service.replicas, placed: chosen.length, ...(majorityOnly ? { reason: 'no-majority' as const } : {}) })
    }
    if (recorder !== undefined) explanations.set(service.name, recorder.explain(context, service, chosen.length))
    hasher.update(`${service.name}:${specHash}:${chosen.join(',')}`)
  }
  hasher.update(`quorum ${quorum.holds}`)
  return { component: componentIds, held: [...held].sort(compareStrings), assignments, byNode, shortfalls, explanations, quorum, viewHash: hasher.digestHex() }
}

/**
 * Nodes whose record asks for their work to be held at `nowMs` (see step 0). Which nodes ask, and
 * until when, is found once per placement revision: this runs on every computeView, and the judge of
 * a 200-node fleet asks for 200 views each time a reconciler finishes a run.
 */
export function heldNodeIds (db: RecordDB, admission: 'open' | 'operator', nowMs: number | undefined): Set<NodeId> {
  const held = new Set<NodeId>()
  if (nowMs === undefined) return held
  const holds = db.derived(`holds ${admission}`, () => {
    const source = admission === 'operator' ? admittedOnly(db) : db
    return db.nodeRecords().filter((record) => record.holdUntilMs !== undefined && source.nodeRecord(record.nodeId) !== undefined)
  })
  for (const record of holds) if (nowMs < (holdEndMs(record) as number)) held.add(record.nodeId)
  return held
}

/** The ids of every node with a live Admission fragment (do not mutate: it is shared per revision). */
export function admittedNodeIds (db: RecordDB): ReadonlySet<NodeId> {
  return db.derived('admitted', () => {
    const admitted = new Set<NodeId>()
    for (const policy of db.policies()) if (policy.body?.kind === 'Admission') admitted.add(policy.body.name)
    return admitted
  }, 'topology')
}

/**
 * `self`'s component (two-way adjacencies, admitted nodes only in operator mode), once per topology
 * revision: carried forward from the last one asked for when the changes since allow it
 * (reachability.ts `extendComponent`), walked again otherwise. The same set object comes back while
 * the members are the same, so what is derived from it (sorted ids) is derived once.
 */
export function componentFrom (db: RecordDB, self: NodeId, admission: 'open' | 'operator'): ReadonlySet<NodeId> {
  const key = `component ${admission} ${self}`
  return db.derived(key, () => {
    const source = admission === 'operator' ? admittedOnly(db) : db
    const last = lastComponents.get(db)?.get(key)
    const changes = last === undefined ? undefined : db.topologyChangesSince(last.revision)
    const component = (last === undefined || changes === undefined ? undefined : extendComponent(source, last.component, changes)) ?? componentOf(source, self)
    let byKey = lastComponents.get(db)
    if (byKey === undefined) lastComponents.set(db, byKey = new Map())
    byKey.set(key, { revision: db.topologyRevision, component })
    return component
  }, 'topology')
}

/** Each database's last components, by `componentFrom`'s key: where the next one is carried forward from. */
const lastComponents = new WeakMap<RecordDB, Map<string, { revision: number, component: ReadonlySet<NodeId> }>>()

/** A view of the database in which only admitted nodes have records. */
export function admittedOnly (db: RecordDB): NodeRecordSource {
  const admitted = admittedNodeIds(db)
  return { nodeRecord: (nodeId) => (admitted.has(nodeId) ? db.nodeRecord(nodeId) : undefined) }
}

export function resourceIdOf (service: string, nodeId: NodeId): string {
  return `${service}@${nodeId}`
}

/** The service name of a resource id, or undefined when the id is not `service@nodeId` for this node. */
export function serviceOfResource (resourceId: string, nodeId: NodeId): string | undefined {
  const suffix = `@${nodeId}`
  return resourceId.endsWith(suffix) && resourceId.length > suffix.length ? resourceId.slice(0, -suffix.length) : undefined
}

/** The live Service policy named `name`, if the database holds one. */
export function serviceSpecOf (db: RecordDB, name: string): ServiceSpec | undefined {
  const policy = db.get(policyKey('Service', name))
  return policy?.kind === 'policy' && policy.body?.kind === 'Service' ? policy.body : undefined
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

function placementNodes (db: RecordDB, componentIds: readonly NodeId[], settings: Map<NodeId, NodeSettingsSpec>, held: ReadonlySet<NodeId>): PlacementNode[] {
  const nodes: PlacementNode[] = []
  for (const id of componentIds) {
    const record = db.nodeRecord(id)
    if (record === undefined) continue // myself, before my first record: nothing known to place on
    const nodeSettings = settings.get(id)
    nodes.push({
      id,
      index: nodes.length,
      labels: nodeSettings?.labels === undefined ? record.labels : { ...record.labels, ...nodeSettings.labels },
      slots: nodeSettings?.slots ?? record.slots,
      freeSlots: nodeSettings?.slots ?? record.slots,
      drained: nodeSettings?.drain === true,
      cordoned: nodeSettings?.cordon === true || held.has(id),
      hash: hash32(id),
      running: incumbentServices(id, record.resources),
      ...specStatuses(id, record.resources),
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

const noSpecs: ReadonlyMap<string, string> = new Map()

/** Per service, the spec that failed on this node and the spec a replica here is available on. */
function specStatuses (nodeId: NodeId, resources: readonly ResourceStatus[]): Pick<PlacementNode, 'failedSpecs' | 'availableSpecs'> {
  let failedSpecs = noSpecs
  let availableSpecs = noSpecs
  for (const resource of resources) {
    if (resource.failedSpec === undefined && resource.available !== true) continue
    const service = serviceOfResource(resource.id, nodeId)
    if (service === undefined) continue
    if (resource.failedSpec !== undefined) (failedSpecs = failedSpecs === noSpecs ? new Map() : failedSpecs as Map<string, string>).set(service, resource.failedSpec)
    if (resource.available === true) (availableSpecs = availableSpecs === noSpecs ? new Map() : availableSpecs as Map<string, string>).set(service, resource.specHash)
  }
  return { failedSpecs, availableSpecs }
}

/** Reserves capacity for every eligible incumbent, in service order, before any placement. */
function reserveIncumbents (context: Context, services: readonly ServiceSpec[]): Map<string, number[]> {
  const runningOn = new Map<string, number[]>()
  for (const node of context.nodes) {
    for (const name of node.running) {
      let list = runningOn.get(name)
      if (list === undefined) runningOn.set(name, list = [])
      list.push(node.index)
    }
  }
  const reserved = new Map<string, number[]>()
  for (const service of services) {
    const candidates = runningOn.get(service.name)
    if (candidates === undefined) continue
    const eligible = eligibleNodes(context, service).member
    const incumbents: number[] = []
    for (const index of candidates) {
      const node = context.nodes[index] as PlacementNode
      if (eligible[index] === 0 || node.freeSlots < service.slots) continue
      node.freeSlots -= service.slots
      incumbents.push(index)
    }
    reserved.set(service.name, incumbents)
  }
  return reserved
}

function placeService (context: Context, service: ServiceSpec, incumbents: readonly number[], recorder?: Recorder): number[] {
  for (const index of incumbents) {
    (context.nodes[index] as PlacementNode).freeSlots += service.slots
    context.incumbentMark[index] = 1
  }
  const eligible = eligibleNodes(context, service).list
  recorder?.noteIneligible(context, service, eligible)
  let chosen: number[]
  if (service.replicas === 'all') chosen = placeOnEveryNode(context, service, eligible, recorder)
  else {
    const wanted = service.replicas + surgeOf(context, service, service.replicas, eligible)
    if (service.spread !== undefined) chosen = placeSpread(context, service, service.spread, wanted, incumbents, recorder)
    else chosen = placeRanked(context, service, wanted, eligible, incumbents, 'ranked-lower', recorder)
  }
  for (const index of chosen) (context.nodes[index] as PlacementNode).freeSlots -= service.slots
  for (const index of incumbents) context.incumbentMark[index] = 0
  return chosen
}

/**
 * Indices of nodes that are not drained, match the selector, and carry the spread label; and, when some
 * node failed the service's current spec while another runs it available (step 6), not that node.
 */
function eligibleNodes (context: Context, service: ServiceSpec): Eligibility {
  const failed = failedHere(context, service)
  const cacheKey = canonicalLabels(service.selector) + '\u0000' + (service.spread ?? '') + (failed.size === 0 ? '' : `\u0000${service.name}`)
  let eligibility = context.eligibleBySelector.get(cacheKey)
  if (eligibility === undefined) {
    const list: number[] = []
    const member = new Uint8Array(context.nodes.length)
    const groups = new Map<string, number[]>()
    for (const node of context.nodes) {
      if (ineligibility(node, service) !== undefined || failed.has(node.index)) continue
      list.push(node.index)
      member[node.index] = 1
      if (service.spread === undefined) continue
      const value = node.labels[service.spread] as string
      let members = groups.get(value)
      if (members === undefined) groups.set(value, members = [])
      members.push(node.index)
    }
    const byValue = [...groups.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([value, members]) => ({ value, members }))
    context.eligibleBySelector.set(cacheKey, eligibility = { list, member, byValue })
  }
  return eligibility
}

/**
 * Step 7: the replicas placed beyond `replicas` while the service rolls out with `maxSurge` (rollout.ts):
 * while an eligible node still runs a replica available on another spec than the service's, and the
 * rollout is neither paused for canaries nor failed (a node reports the current spec failed).
 */
function surgeOf (context: Context, service: ServiceSpec, replicas: number, eligible: readonly number[]): number {
  const surge = maxSurgeOf(service, replicas)
  if (surge === 0 || ((service.update?.canary ?? 0) > 0 && service.update?.promoted !== true)) return 0
  const specHash = specHashOf(service.workload)
  if (context.nodes.some((node) => node.failedSpecs.get(service.name) === specHash)) return 0
  const rolling = eligible.some((index) => {
    const available = (context.nodes[index] as PlacementNode).availableSpecs.get(service.name)
    return available !== undefined && available !== specHash
  })
  return rolling ? surge : 0
}

/** Step 6: the nodes where the service's current spec failed, when another node runs it available. */
function failedHere (context: Context, service: ServiceSpec): ReadonlySet<number> {
  if (!context.anyFailedSpec) return noNodes
  const specHash = specHashOf(service.workload)
  const failed = context.nodes.filter((node) => node.failedSpecs.get(service.name) === specHash)
  if (failed.length === 0) return noNodes
  const availableElsewhere = context.nodes.some((node) => node.availableSpecs.get(service.name) === specHash && node.failedSpecs.get(service.name) !== specHash)
  return availableElsewhere ? new Set(failed.map((node) => node.index)) : noNodes
}
const noNodes: ReadonlySet<number> = new Set()

const specHashCache = new WeakMap<WorkloadSpec, string>()

/** workloadHash, remembered per workload object: a policy's body is immutable once merged. */
function specHashOf (workload: WorkloadSpec): string {
  let hash = specHashCache.get(workload)
  if (hash === undefined) specHashCache.set(workload, hash = workloadHash(workload))
  return hash
}

const canonicalLabelsCache = new WeakMap<Labels, string>()

/** canonicalJson of a labels object, remembered per object: records are immutable and reused. */
function canonicalLabels (labels: Labels): string {
  let text = canonicalLabelsCache.get(labels)
  if (text === undefined) canonicalLabelsCache.set(labels, text = canonicalJson(labels))
  return text
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

/** Why a node cannot take a new replica of the service, or undefined when it can. */
function cannotTakeNew (node: PlacementNode, service: ServiceSpec): 'cordoned' | 'no-capacity' | undefined {
  if (node.cordoned) return 'cordoned'
  if (node.freeSlots < service.slots) return 'no-capacity'
  return undefined
}

function refusalDetail (reason: 'cordoned' | 'no-capacity', node: PlacementNode, service: ServiceSpec): string {
  return reason === 'cordoned' ? 'cordoned: no new work' : `needs ${service.slots} slot(s), ${node.freeSlots} of ${node.slots} free`
}

function placeOnEveryNode (context: Context, service: ServiceSpec, eligible: readonly number[], recorder?: Recorder): number[] {
  const chosen: number[] = []
  for (const index of eligible) {
    const node = context.nodes[index] as PlacementNode
    if (context.incumbentMark[index] === 1) {
      chosen.push(index)
      recorder?.choose(index, 'every-eligible-node', 'already runs here')
      continue
    }
    const refusal = cannotTakeNew(node, service)
    if (refusal === undefined) {
      chosen.push(index)
      recorder?.choose(index, 'every-eligible-node', 'eligible, with room')
    } else {
      recorder?.reject(index, refusal, refusalDetail(refusal, node, service))
    }
  }
  return chosen
}

/**
 * Up to `wanted` of `candidates`: its incumbents (`incumbents`, all among `candidates`) best-ranked
 * first, then the best-ranked other candidates that can take a new replica.
 */
function placeRanked (
  context: Context, service: ServiceSpec, wanted: number, candidates: readonly number[], incumbents: readonly number[],
  surplusReason: RejectedReason, recorder?: Recorder,
): number[] {
  const serviceHash = hash32(service.name)
  const chosen: number[] = []
  const keptIncumbents = [...incumbents].sort((a, b) => placementKey(context, b, serviceHash) - placementKey(context, a, serviceHash))
  for (const index of keptIncumbents) {
    if (chosen.length < wanted) {
      chosen.push(index)
      recorder?.choose(index, 'incumbent', 'already runs here; kept so that nothing moves')
    } else {
      recorder?.reject(index, surplusReason, `runs here too, but ${wanted} better-ranked replica(s) are kept`)
    }
  }
  if (chosen.length >= wanted && recorder === undefined) return chosen
  for (const index of descendingByKey(context, candidates, serviceHash)) {
    if (context.incumbentMark[index] === 1) continue
    if (chosen.length >= wanted && recorder === undefined) break
    const node = context.nodes[index] as PlacementNode
    const refusal = cannotTakeNew(node, service)
    if (refusal !== undefined) {
      recorder?.reject(index, refusal, refusalDetail(refusal, node, service))
    } else if (chosen.length >= wanted) {
      recorder?.reject(index, surplusReason, `eligible, but ${wanted} replica(s) went to better-ranked nodes`)
    } else {
      chosen.push(index)
      recorder?.choose(index, 'ranked', 'best-ranked eligible node with room')
    }
  }
  return chosen
}

function placeSpread (
  context: Context, service: ServiceSpec, label: string, wanted: number, incumbents: readonly number[], recorder?: Recorder,
): number[] {
  const serviceHash = hash32(service.name)
  const domains = eligibleNodes(context, service).byValue.map(({ value, members }) => {
    let capacity = 0
    for (const index of members) {
      if (context.incumbentMark[index] === 1 || cannotTakeNew(context.nodes[index] as PlacementNode, service) === undefined) capacity++
    }
    return {
      value,
      members,
      capacity,
      incumbents: incumbents.filter((index) => (context.nodes[index] as PlacementNode).labels[label] === value),
      score: pairScore(hash32(value), serviceHash),
      quota: 0,
    }
  })
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
  return domains.flatMap((domain) => placeRanked(context, service, domain.quota, domain.members, domain.incumbents, 'spread-value-full', recorder))
}

/** Water-filling order: fewest replicas so far, then where replicas already run, then by score and value. */
function fillsBefore (
  a: { quota: number, incumbents: readonly number[], score: number, value: string },
  b: { quota: number, incumbents: readonly number[], score: number, value: string },
): boolean {
  if (a.quota !== b.quota) return a.quota < b.quota
  const aHolds = a.incumbents.length > a.quota
  const bHolds = b.incumbents.length > b.quota
  if (aHolds !== bHolds) return aHolds
  if (a.score !== b.score) return a.score > b.score
  return a.value < b.value
}

/** A node's rank key for a service: its rendezvous score, ties broken towards the smaller node id. */
function placementKey (context: Context, index: number, serviceHash: number): number {
  const node = context.nodes[index] as PlacementNode
  return pairScore(node.hash, serviceHash) * maxComponentNodes + (maxComponentNodes - 1 - index)
}

/**
 * `candidates` in descending rank for the service, lazily. Usually only the first few are wanted, so it
 * first keeps the best `firstBatch` in one pass (a small insertion buffer), and sorts everything only
 * if the caller reads past them (many nodes full or cordoned, or an explanation).
 */
function * descendingByKey (context: Context, candidates: readonly number[], serviceHash: number): Generator<number> {
  const firstBatch = 8
  const count = candidates.length
  const keys = context.scratchKeys
  const best = context.scratchIndices // positions into candidates, best first
  let kept = 0
  for (let position = 0; position < count; position++) {
    const key = placementKey(context, candidates[position] as number, serviceHash)
    keys[position] = key
    if (kept === firstBatch && key <= (keys[best[kept - 1] as number] as number)) continue
    let slot = kept < firstBatch ? kept++ : kept - 1
    while (slot > 0 && (keys[best[slot - 1] as number] as number) < key) {
      best[slot] = best[slot - 1] as number
      slot--
    }
    best[slot] = position
  }
  const firstBatchIndices: number[] = []
  for (let i = 0; i < kept; i++) firstBatchIndices.push(candidates[best[i] as number] as number)
  const floor = kept === 0 ? Infinity : keys[best[kept - 1] as number] as number
  for (const index of firstBatchIndices) yield index
  if (kept === count) return
  // Past the first batch: rank the rest by key (recomputed: the scratch space may have been reused).
  const rest = candidates.filter((index) => placementKey(context, index, serviceHash) < floor)
    .sort((a, b) => placementKey(context, b, serviceHash) - placementKey(context, a, serviceHash))
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

  rejectAll (context: Context, reason: RejectedReason, detail: string): void {
    for (const node of context.nodes) this.reject(node.index, reason, detail)
  }

  noteQuotas (quotas: Record<string, number>): void {
    this.quotas = quotas
  }

  noteIneligible (context: Context, service: ServiceSpec, eligible: readonly number[]): void {
    const eligibleSet = new Set(eligible)
    const failed = failedHere(context, service)
    for (const node of context.nodes) {
      if (eligibleSet.has(node.index)) continue
      const why = ineligibility(node, service)
      if (why !== undefined) this.reject(node.index, why.reason, why.detail)
      else if (failed.has(node.index)) this.reject(node.index, 'failed-here', 'its current spec was not available here within healthyDeadline, and runs available elsewhere')
    }
  }

  explain (context: Context, service: ServiceSpec, placed: number): ServiceExplanation {
    const serviceHash = hash32(service.name)
    const eligible = [...eligibleNodes(context, service).list]
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
