// A fleet: an in-process mesh where every node also runs the reconciler with a memory actuator, so
// policies become (simulated) running workloads. Convergence is judged from outside, per component
// (DESIGN.md §1): every node of a component computes the same view, every resource runs where the view
// puts it, and nothing runs elsewhere (`converged`). That every node's database says so too — the
// changed nodes' records have reached everyone — is `confirmed`, one flood of each such record later.

import { computeView, judgeConvergence, judgeWorkloads, type ServiceSpec, type TargetView } from '../core/index.ts'
import { MemoryActuator } from '../actuators/index.ts'
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

export async function startFleet (count: number, labels: (index: number) => Record<string, string>, transport: 'memory' | 'tcp' = 'memory', options: { stallable?: boolean, config?: NetConfig, probeTopic?: boolean } = {}): Promise<Fleet> {
  const mesh = await startMesh(count, {
    transport, labels, stallable: options.stallable ?? false, probeTopic: options.probeTopic ?? false, ...(options.config === undefined ? {} : { config: options.config }),
  })
  const actuators = mesh.nodes.map(() => new MemoryActuator())
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
  return components(fleet).every((group) => {
    const nodes = group.map((i) => fleet.mesh.nodes[i] as MeshNode)
    const view = agreedView(nodes)
    if (view === undefined) return false
    const byId = new Map(nodes.map((node) => [node.peerId, node]))
    return judgeWorkloads(view, (nodeId) => byId.get(nodeId)?.localState.resources, 1).converged
  })
}

/**
 * True when every component has converged and every node knows it: judged from each node's own
 * database, every node's record says it runs exactly what the view puts on it (what `shoal status`
 * reports as converged).
 */
export function confirmed (fleet: Fleet): boolean {
  return components(fleet).every((group) => {
    const nodes = group.map((i) => fleet.mesh.nodes[i] as MeshNode)
    return agreedView(nodes) !== undefined && nodes.every(confirmedBy)
  })
}

/** The view every node of a component computes, if they all compute the same one over all of them. */
function agreedView (nodes: readonly MeshNode[]): TargetView | undefined {
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
 * A condition for `waitFor` that holds once no live node has originated a record for `ms`: a formed
 * fleet at rest (forming ends with a wave of originations, as nodes dial up to minNeighbours).
 */
export function originationsQuietFor (fleet: Fleet, ms: number): () => boolean {
  const originations = (): number => liveNodes(fleet).reduce((sum, node) => sum + node.counters.originated, 0)
  let last = originations()
  let quietSince = performance.now()
  return () => {
    const count = originations()
    if (count !== last) [last, quietSince] = [count, performance.now()]
    return performance.now() - quietSince >= ms
  }
}

/** Resource ids running on live nodes. */
export function runningResources (fleet: Fleet, nodes: Iterable<number> = fleet.live): string[] {
  return [...nodes].flatMap((i) => (fleet.mesh.nodes[i] as MeshNode).localState.resources.filter((r) => r.phase === 'running').map((r) => r.id)).sort()
}

/** Services running more replicas than they ask for within one component: what must never stay. */
export function excessReplicas (fleet: Fleet, services: readonly ServiceSpec[]): string[] {
  const problems: string[] = []
  for (const group of components(fleet)) {
    const running = runningResources(fleet, group)
    for (const service of services) {
      if (service.replicas === 'all') continue
      const count = running.filter((id) => id.startsWith(`${service.name}@`)).length
      if (count > service.replicas) problems.push(`${service.name}: ${count} running, ${service.replicas} wanted, in a component of ${group.length}`)
    }
  }
  return problems
}
