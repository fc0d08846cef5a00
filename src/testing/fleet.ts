// A fleet: an in-process mesh where every node also runs the reconciler with a memory actuator, so
// policies become (simulated) running workloads. Convergence is judged from outside, per component
// (DESIGN.md §1): every node of a component computes the same view, every resource runs where the view
// puts it, and nothing runs elsewhere (`converged`). That every node's database says so too — the
// changed nodes' records have reached everyone — is `confirmed`, one flood of each such record later.

import { computeView, judgeConvergence, judgeWorkloads, type ResourceStatus, type ServiceSpec, type TargetView } from '../core/index.ts'
import { MemoryActuator, type MemoryActuatorOptions } from '../actuators/index.ts'
import { defaultJoinTimeoutMs, Reconciler, waitToJoin } from '../daemon/index.ts'
import { MeshNode, type MeshNodeInit, type NetConfig } from '../net/index.ts'
import { startMesh, type TestMesh } from './mesh.ts'

export interface Fleet {
  readonly mesh: TestMesh
  readonly actuators: MemoryActuator[]
  readonly reconcilers: Reconciler[]
  /** Indices of the nodes still running. */
  readonly live: Set<number>
}

export async function startFleet (
  count: number, labels: (index: number) => Record<string, string>, transport: 'memory' | 'tcp' = 'memory',
  options: { stallable?: boolean, config?: NetConfig, probeTopic?: boolean, actuator?: (index: number) => MemoryActuatorOptions, slots?: (index: number) => number } = {},
): Promise<Fleet> {
  const mesh = await startMesh(count, {
    transport, labels, stallable: options.stallable ?? false, probeTopic: options.probeTopic ?? false, ...(options.config === undefined ? {} : { config: options.config }),
    ...(options.slots === undefined ? {} : { slots: options.slots }),
  })
  const actuators = mesh.nodes.map((_, i) => new MemoryActuator(options.actuator?.(i)))
  const reconcilers = mesh.nodes.map((node, i) => new Reconciler({ mesh: node, actuators: [actuators[i] as MemoryActuator], admission: 'operator' }))
  for (const reconciler of reconcilers) await reconciler.start()
  return { mesh, actuators, reconcilers, live: new Set(mesh.nodes.keys()) }
}

export async function stopFleet (fleet: Fleet): Promise<void> {
  await Promise.all(fleet.reconcilers.map(async (reconciler) => await reconciler.stop()))
  await fleet.mesh.stop()
}

/** Kills node `index` as a crash would: its workloads vanish with it. */
export async function crashNode (fleet: Fleet, index: number): Promise<void> {
  fleet.live.delete(index)
  await fleet.reconcilers[index]?.stop()
  fleet.actuators[index]?.crash()
  await fleet.mesh.nodes[index]?.stop()
}

/**
 * Starts a crashed node again, as a daemon restart would: same identity, the next generation, the
 * records it held restored, bootstrapped from live nodes. Its memory workloads died with it. Returns
 * once the node is up; its reconciler starts when it has joined.
 */
export async function restartNode (fleet: Fleet, index: number): Promise<void> {
  const old = fleet.mesh.nodes[index] as MeshNode
  const init = fleet.mesh.inits[index] as MeshNodeInit
  if (fleet.live.has(index)) throw new Error(`node ${index} is running`)
  const generation = init.generation + 1
  const restarted: MeshNodeInit = {
    ...init,
    generation,
    listen: init.transport === 'tcp' ? init.listen : [`/memory/${fleet.mesh.clusterName}-${index}-g${generation}`],
    bootstrap: liveNodes(fleet).slice(0, 3).flatMap((node) => node.addresses()),
    seedRecords: old.db.envelopes(),
  }
  const node = await MeshNode.create(restarted)
  const actuator = new MemoryActuator()
  const reconciler = new Reconciler({ mesh: node, actuators: [actuator], admission: 'operator' })
  fleet.mesh.nodes[index] = node
  fleet.mesh.inits[index] = restarted
  fleet.actuators[index] = actuator
  fleet.reconcilers[index] = reconciler
  fleet.live.add(index)
  // As the daemon does: act only once joined (or after the daemon's join timeout, alone), in the
  // background. Acting at once, a view computed from the records held before the crash started the
  // node's old work again beside its replacement, and then kept it as an incumbent.
  const replaced = (): boolean => fleet.reconcilers[index] !== reconciler || !fleet.live.has(index)
  void waitToJoin(node, defaultJoinTimeoutMs, replaced).then(async () => { if (!replaced()) await reconciler.start() })
}


export function liveNodes (fleet: Fleet): MeshNode[] {
  return [...fleet.live].map((i) => fleet.mesh.nodes[i] as MeshNode)
}

/** The live nodes grouped by component, as each node's own records say. */
export function components (fleet: Fleet): number[][] {
  const groups = new Map<string, number[]>()
  for (const i of fleet.live) {
    const key = componentKey((fleet.mesh.nodes[i] as MeshNode).component())
    let group = groups.get(key)
    if (group === undefined) groups.set(key, group = [])
    group.push(i)
  }
  return [...groups.values()]
}

/** A component as a string, made once per component object (a node's component is cached per revision). */
const componentKeys = new WeakMap<ReadonlySet<string>, string>()
function componentKey (component: ReadonlySet<string>): string {
  let key = componentKeys.get(component)
  if (key === undefined) componentKeys.set(component, key = [...component].sort().join(','))
  return key
}

/**
 * True when every component has converged, judged from outside: its nodes compute the same view from
 * their databases (a view computed now — not the reconciler's last view, which lags a change until its
 * throttle fires and would call a fleet converged before it had noticed the change), and every node
 * runs exactly what that view puts on it, as the node itself reports now.
 */
export function converged (fleet: Fleet): boolean {
  return components(fleet).every((group) => groupConverged(group.map((i) => fleet.mesh.nodes[i] as MeshNode), viewOf))
}

/**
 * True when every component has converged and every node knows it: judged from each node's own
 * database, every node's record says it runs exactly what the view puts on it (what `shoal status`
 * reports as converged).
 */
export function confirmed (fleet: Fleet): boolean {
  return components(fleet).every((group) => {
    const nodes = group.map((i) => fleet.mesh.nodes[i] as MeshNode)
    return agreedView(nodes, viewOf) !== undefined && nodes.every(confirmedBy)
  })
}

/**
 * `converged` for one component of any fleet (the simulator's virtual one too): its nodes agree on one
 * view over all of them (`viewOf`: the view a node computes now), and each runs what it puts there.
 */
export function groupConverged<N extends { readonly peerId: string, readonly localState: { readonly resources: readonly ResourceStatus[] } }> (
  nodes: readonly N[], viewOf: (node: N) => TargetView,
): boolean {
  const view = agreedView(nodes, viewOf)
  if (view === undefined) return false
  const byId = new Map(nodes.map((node) => [node.peerId, node]))
  return judgeWorkloads(view, (nodeId) => byId.get(nodeId)?.localState.resources, 1).converged
}

/** The view every node of a component computes, if they all compute the same one over all of them. */
export function agreedView<N> (nodes: readonly N[], viewOf: (node: N) => TargetView): TargetView | undefined {
  let agreed: TargetView | undefined
  for (const node of nodes) {
    const view = viewOf(node)
    if (view.component.length !== nodes.length) return undefined
    if (agreed !== undefined && agreed.viewHash !== view.viewHash) return undefined
    agreed = view
  }
  return agreed
}

/**
 * The view a node computes now. computeView computes it once per placement revision of the node's
 * database and shares it with the node's reconciler; before, polling every few milliseconds computed
 * N views per poll, and every status record after a change made each view be computed again, on the
 * event loop whose convergence the judge was timing.
 */
function viewOf (node: MeshNode): TargetView {
  return computeView(node.db, node.peerId, { admission: 'operator', nowMs: Date.now() })
}

/** Whether a node's database says the fleet converged; judged again only when the database changed. */
const confirmations = new WeakMap<MeshNode, { revision: number, view: TargetView, confirmed: boolean }>()
function confirmedBy (node: MeshNode): boolean {
  const view = viewOf(node)
  const cached = confirmations.get(node)
  if (cached !== undefined && cached.revision === node.db.revision && cached.view === view) return cached.confirmed
  const confirmed = judgeConvergence(node.db, view).converged
  confirmations.set(node, { revision: node.db.revision, view, confirmed })
  return confirmed
}

/**
 * Waits until `condition` holds and returns how long that took, like `waitFor`, but the condition is
 * also checked the moment each reconciler finishes a run (when what a node computes and runs changes)
 * and, with `records`, as each node merges a record (what makes `confirmed` true). A poll alone saw a
 * change late: it runs when the shared event loop gets to its timer, and at 200 nodes that was after
 * the acting hosts' status floods, 0.3–0.5 s after the fleet had converged (npm run trace:apply).
 */
export async function waitForFleet (fleet: Fleet, what: string, condition: () => boolean, timeoutMs: number, options: { records?: boolean, pollMs?: number } = {}): Promise<number> {
  const start = performance.now()
  if (condition()) return 0
  const reconcilers = [...fleet.reconcilers]
  const nodes = options.records === true ? [...fleet.mesh.nodes] : []
  return await new Promise((resolve, reject) => {
    let settled = false
    const finish = (error?: Error): void => {
      if (settled) return
      settled = true
      const elapsedMs = performance.now() - start
      clearInterval(poll)
      clearTimeout(deadline)
      for (const reconciler of reconcilers) reconciler.off('run:finished', check)
      for (const node of nodes) node.off('record:merged', check)
      if (error === undefined) resolve(elapsedMs)
      else reject(error)
    }
    const check = (): void => { if (!settled && condition()) finish() }
    const poll = setInterval(check, options.pollMs ?? 10)
    const deadline = setTimeout(() => { check(); finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)) }, timeoutMs)
    for (const reconciler of reconcilers) reconciler.on('run:finished', check)
    for (const node of nodes) node.on('record:merged', check)
  })
}

/**
 * A condition for `waitFor` that holds once no live node has originated a record for `ms`: a formed
 * fleet at rest (forming ends with a wave of originations, as nodes dial up to minNeighbours).
 */
export function originationsQuietFor (fleet: Fleet, ms: number): () => boolean {
  return quietFor(() => liveNodes(fleet).reduce((sum, node) => sum + node.counters.originated, 0), () => performance.now(), ms)
}

/** A condition that holds once `count()` has not moved for `ms` of `now()`'s time (any fleet, any clock). */
export function quietFor (count: () => number, now: () => number, ms: number): () => boolean {
  let last = count()
  let quietSince = now()
  return () => {
    const current = count()
    if (current !== last) [last, quietSince] = [current, now()]
    return now() - quietSince >= ms
  }
}

/**
 * Waits until the fleet is at rest and returns how long that took: for two windows of `windowMs` in a
 * row, no node originated a record, no node merged a record new to it (nothing still spreading: every
 * database holds the same records, so digest syncs are two short frames), and the shared event loop ran
 * its timers within `maxLagMs` of time. "No origination for 5 s" alone was not rest: 200 nodes then
 * still received 3.7 KB/s each, and ~0.6 KB/s once at rest (npm run watch:rest).
 */
export async function waitForRest (fleet: Fleet, timeoutMs: number, options: { windowMs?: number, maxLagMs?: number } = {}): Promise<number> {
  const windowMs = options.windowMs ?? 2_000
  const maxLagMs = options.maxLagMs ?? 250
  const started = performance.now()
  const activity = (): number => liveNodes(fleet).reduce((sum, node) => sum + node.counters.originated + node.counters.accepted, 0)
  let quietWindows = 0
  while (performance.now() - started < timeoutMs) {
    const before = activity()
    let longestLagMs = 0
    let tick = performance.now()
    const lag = setInterval(() => { const now = performance.now(); longestLagMs = Math.max(longestLagMs, now - tick - 50); tick = now }, 50)
    await new Promise((resolve) => setTimeout(resolve, windowMs))
    clearInterval(lag)
    quietWindows = activity() === before && longestLagMs <= maxLagMs ? quietWindows + 1 : 0
    if (quietWindows === 2) return performance.now() - started
  }
  throw new Error(`the fleet did not come to rest within ${timeoutMs} ms`)
}

/** Resource ids running on live nodes. */
export function runningResources (fleet: Fleet, nodes: Iterable<number> = fleet.live): string[] {
  return [...nodes].flatMap((i) => (fleet.mesh.nodes[i] as MeshNode).localState.resources.filter((r) => r.phase === 'running').map((r) => r.id)).sort()
}

/** Services running more replicas than they ask for within one component: what must never stay. */
export function excessReplicas (fleet: Fleet, services: readonly ServiceSpec[]): string[] {
  return excessReplicasIn(components(fleet), (group) => runningResources(fleet, group), services)
}

/** `excessReplicas` over any fleet: its components, and the resource ids running in each. */
export function excessReplicasIn (groups: readonly number[][], running: (group: readonly number[]) => readonly string[], services: readonly ServiceSpec[]): string[] {
  const problems: string[] = []
  for (const group of groups) {
    const ids = running(group)
    for (const service of services) {
      if (service.replicas === 'all') continue
      const count = ids.filter((id) => id.startsWith(`${service.name}@`)).length
      if (count > service.replicas) problems.push(`${service.name}: ${count} running, ${service.replicas} wanted, in a component of ${group.length}`)
    }
  }
  return problems
}
