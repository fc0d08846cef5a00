// Rolling updates without a coordinator: which replicas of a service may move to its new spec now.
//
// Every node computes this from the same inputs — the view's replicas of the service (sorted by node
// id: the rollout order) and what each replica's node record says it runs — so every node reaches the
// same decision, and each acts only on its own replica. The rule, for a replica `n` still on an old
// spec, with `k` = maxUnavailable:
//
//     n may update  ⇔  #{m before n : m not yet updated}  +  #{m after n : m unavailable}  <  k
//
// where "updated" means: on the new spec and available (healthy for `minHealthyForMs`, as its own node
// measured and reported). A replica that is already down on its old spec (failed, starting) may always
// update: replacing it takes nothing more down.
//
// Why at most k replicas are down for the update, even when records reach nodes late: a node only ever
// learns that a replica finished *after* it did, so the set a node believes finished is a subset of the
// set that really is (finishing is monotone, barring a crash). Take the replicas updating at some
// instant and let n be the last of them in the order. Every other one is before n and not finished,
// so n counted it when it decided: there are fewer than k of them, hence at most k in all. Staleness only
// makes a node wait longer, never act sooner. Crashes are not bounded by any rule; the second term
// makes the rollout wait while other replicas are down for any reason, as far as the node knows.
//
// Surge (`maxSurge: s`, default 0): while a rollout is underway the view places s more replicas than
// the service asks for (placement.ts, surgeOf), on the next-ranked nodes, and the rule's budget grows
// by the surge replicas placed: k + s' over replicas + s' assignments. A surge replica starts on the new
// spec and counts as down until available, so with k = 0 an old replica goes only once one surges up:
// at least `replicas - k` stay available throughout, by the same argument. When no old replica is left
// available the surge ends; the view then keeps the best-ranked `replicas` and lets the rest go, make-
// before-break. The budget is never below 1: with k = 0 and no room for a surge replica, one goes.
//
// Moves (mayStopLeaver, at the end) use the same records the other way round: a replica let go for a
// reason other than a failure keeps running until the replicas that replace it are available.
//
// Liveness: once the replicas before n are updated and the ones after n are up, n may go; so the
// rollout advances one window of k at a time as new replicas become available. A new spec that never
// becomes available stops the rollout after k replicas, since every later replica waits for them.

import type { Assignment } from './placement.ts'
import type { RecordDB } from './recorddb.ts'
import { workloadHash, type NodeId, type NodeRecord, type ResourceStatus, type ServiceSpec, type WorkloadSpec } from './records.ts'

/** Where one replica stands in its service's rollout. */
export type ReplicaState =
  | 'updated' // on the new spec and available
  | 'updating' // on the new spec, not available yet (starting, failed, or not healthy long enough)
  | 'old' // on an older spec, available
  | 'old-down' // on an older spec, not available
  | 'missing' // assigned, not reported running (yet): it will start on the new spec

export interface ReplicaRollout {
  readonly nodeId: NodeId
  readonly resourceId: string
  readonly state: ReplicaState
  /** For a replica on an old spec: whether the rule lets it move to the new one now. */
  readonly mayUpdate: boolean
  /** The rule's two counts for it: replicas before it not yet updated, replicas after it down. */
  readonly notUpdatedBefore: number
  readonly downAfter: number
  /** Held whatever the counts: beyond the canaries (until promoted), or the rollout failed. */
  readonly held: boolean
}

export interface ServiceRollout {
  readonly service: string
  /** The spec replicas move to: the service's, or after a failed rollout with autoRevert, the previous one. */
  readonly specHash: string
  readonly workload: WorkloadSpec
  /**
   * 'rolling' (or done), 'canary' (the canaries may go, the rest wait for `shoal promote`), 'failed' (a
   * replica did not become available on the new spec within healthyDeadlineMs: the rollout stops), or
   * 'reverted' (failed, and going back to the previous spec, autoRevert).
   */
  readonly mode: 'rolling' | 'canary' | 'failed' | 'reverted'
  /** The rule's budget: maxUnavailable, plus the surge replicas the view placed (at least 1). */
  readonly maxUnavailable: number
  /** Replicas placed beyond the service's count for this rollout (maxSurge). */
  readonly surge: number
  /** The replicas of the view, in rollout order (node id). */
  readonly replicas: readonly ReplicaRollout[]
  readonly updated: number
  readonly available: number
  /** True when every replica is on the new spec and available. */
  readonly done: boolean
}

/**
 * maxUnavailable as a count for `replicaCount` replicas: a percentage rounds down. At least 1, unless the
 * service surges during rollouts (maxSurge above 0), where 0 means "never below `replicas`".
 */
export function maxUnavailableOf (service: ServiceSpec, replicaCount: number): number {
  const count = countOf(service.update?.maxUnavailable ?? 1, replicaCount, Math.floor)
  return count === 0 && maxSurgeOf(service, replicaCount) === 0 ? 1 : count
}

/**
 * The replicas a rollout of `service` may start beyond `replicaCount` before old ones stop: maxSurge as a
 * count, a percentage rounded up (as Kubernetes does). 0 unless set: a rollout replaces replicas in place.
 */
export function maxSurgeOf (service: ServiceSpec, replicaCount: number): number {
  return countOf(service.update?.maxSurge ?? 0, replicaCount, Math.ceil)
}

function countOf (setting: number | string, replicaCount: number, round: (x: number) => number): number {
  if (typeof setting === 'number') return setting
  return round(replicaCount * Number(setting.slice(0, -1)) / 100)
}

/**
 * The rollout of `service` among a view's `assignments` (in the view's order: by service, then node
 * id), from the records `nodeRecord` returns. Replicas that run no spec yet are 'missing' and start on
 * the target spec at once (a start takes nothing down).
 *
 * The target is the service's spec, unless an assigned replica reports that spec failed on it
 * (`failedSpec`): then the rollout is 'failed' and no replica moves on, or with autoRevert and a
 * previous workload, 'reverted' and the target is the previous spec — which rolls back by the same
 * rule, the failed replicas (down) first. With `canary: c`, until the spec is promoted only the first c
 * replicas may move.
 */
export function rolloutOf (
  assignments: readonly Assignment[], service: ServiceSpec, nodeRecord: (nodeId: NodeId) => NodeRecord | undefined,
): ServiceRollout {
  assignments = assignments.filter((assignment) => assignment.service === service.name)
  const newHash = workloadHash(service.workload)
  const failed = assignments.some((assignment) => nodeRecord(assignment.nodeId)?.resources.some((resource) =>
    resource.id === assignment.resourceId && resource.failedSpec === newHash) === true)
  const update = service.update ?? {}
  const reverted = failed && update.autoRevert === true && service.previousWorkload !== undefined
  const workload = reverted ? service.previousWorkload as WorkloadSpec : service.workload
  const specHash = reverted ? workloadHash(workload) : newHash
  const mode = reverted ? 'reverted' : failed ? 'failed' : (update.canary ?? 0) > 0 && update.promoted !== true ? 'canary' : 'rolling'
  const movable = mode === 'failed' ? 0 : mode === 'canary' ? update.canary as number : Infinity
  const states = assignments.map((assignment) => replicaState(assignment.resourceId, specHash, nodeRecord(assignment.nodeId)))
  const wanted = service.replicas === 'all' ? assignments.length : service.replicas
  const surge = Math.min(maxSurgeOf(service, wanted), Math.max(0, assignments.length - wanted))
  const maxUnavailable = Math.max(1, maxUnavailableOf(service, wanted) + surge)
  const notUpdatedBefore = new Array<number>(states.length)
  let count = 0
  for (let i = 0; i < states.length; i++) {
    notUpdatedBefore[i] = count
    if (states[i] !== 'updated') count++
  }
  const unavailableAfter = new Array<number>(states.length)
  count = 0
  for (let i = states.length - 1; i >= 0; i--) {
    unavailableAfter[i] = count
    if (!isAvailable(states[i] as ReplicaState)) count++
  }
  const replicas = assignments.map((assignment, i): ReplicaRollout => {
    const state = states[i] as ReplicaState
    const mayUpdate = i < movable && (state === 'old-down' ||
      (state === 'old' && (notUpdatedBefore[i] as number) + (unavailableAfter[i] as number) < maxUnavailable))
    return {
      nodeId: assignment.nodeId, resourceId: assignment.resourceId, state, mayUpdate,
      notUpdatedBefore: notUpdatedBefore[i] as number, downAfter: unavailableAfter[i] as number, held: i >= movable,
    }
  })
  const updated = states.filter((state) => state === 'updated').length
  return {
    service: service.name, specHash, workload, mode, maxUnavailable, surge, replicas, updated,
    available: states.filter(isAvailable).length,
    done: updated === states.length,
  }
}

function replicaState (resourceId: string, specHash: string, record: NodeRecord | undefined): ReplicaState {
  const resource: ResourceStatus | undefined = record?.resources.find((candidate) => candidate.id === resourceId)
  if (resource === undefined) return 'missing'
  const available = resource.available === true && resource.phase === 'running' && resource.provisional !== true
  if (resource.specHash === specHash) return available ? 'updated' : 'updating'
  return available ? 'old' : 'old-down'
}

function isAvailable (state: ReplicaState): boolean {
  return state === 'updated' || state === 'old'
}

/** One line on a replica's place in its rollout, for `shoal explain`. */
export function describeReplica (replica: ReplicaRollout, rollout: ServiceRollout): string {
  const maxUnavailable = rollout.maxUnavailable
  if (replica.held && (replica.state === 'old' || replica.state === 'old-down')) {
    return rollout.mode === 'canary' ? 'on an old spec, waiting for `shoal promote` (not a canary)' : 'on an old spec, kept: the rollout failed'
  }
  switch (replica.state) {
    case 'updated': return 'on the new spec, available'
    case 'updating': return 'on the new spec, not available yet'
    case 'missing': return 'starts on the new spec'
    case 'old-down': return 'down on an old spec: replaced now'
    case 'old': return replica.mayUpdate
      ? 'on an old spec: being replaced'
      : `on an old spec, waiting: ${replica.notUpdatedBefore} replica(s) before it not updated, ${replica.downAfter} after it down (maxUnavailable ${maxUnavailable})`
  }
}

/** Why replicas beyond the rule's counts wait, when the rollout's mode says so. */
function modeNote (rollout: ServiceRollout): string {
  switch (rollout.mode) {
    case 'rolling': return ''
    case 'canary': return '; canaries first: `shoal promote Service/' + rollout.service + '` lets the rest follow'
    case 'failed': return '; FAILED: a new replica was not available within healthyDeadline, so the rest stay (apply a fixed spec)'
    case 'reverted': return '; FAILED and reverting to the previous spec (autoRevert)'
  }
}

/** One line on a rollout's progress, for `shoal status`. */
export function describeRollout (rollout: ServiceRollout): string {
  const moving = rollout.replicas.filter((replica) => replica.state === 'updating' || (replica.state !== 'updated' && replica.mayUpdate)).length
  return `${rollout.service}: ${rollout.updated} of ${rollout.replicas.length} on the ${rollout.mode === 'reverted' ? 'previous' : 'new'} spec, ` +
    `${rollout.available} available, ${moving} moving now (maxUnavailable ${rollout.maxUnavailable}` +
    `${rollout.surge > 0 ? `, counting ${rollout.surge} surge replica(s)` : ''})${modeNote(rollout)}`
}

/**
 * The services of `db` whose replicas do not all run their newest spec yet (some on an older one, or
 * still coming up on the new one after a change), with their rollouts, by service name.
 */
export function rolloutsUnderway (db: RecordDB, assignments: readonly Assignment[], underwayBefore: { has: (service: string) => boolean } = new Set()): Map<string, ServiceRollout> {
  const underway = new Map<string, ServiceRollout>()
  for (const policy of db.policies()) {
    if (policy.body?.kind !== 'Service') continue
    const rollout = rolloutOf(assignments, policy.body, (nodeId) => db.nodeRecord(nodeId))
    const onOldSpec = rollout.replicas.some((replica) => replica.state === 'old' || replica.state === 'old-down')
    const stopped = rollout.mode === 'failed' || rollout.mode === 'reverted'
    if (onOldSpec || stopped || (underwayBefore.has(rollout.service) && !rollout.done)) underway.set(rollout.service, rollout)
  }
  return underway
}

/**
 * Make-before-break: whether a replica this node runs but the view no longer assigns it (drained, a
 * label or spread change moved it, the service shrank) may stop now. It stays while the service's
 * assigned replicas are not all available yet — its replacement is still coming up — for at most
 * `moveDeadlineMs` after it was let go (the caller measures that). `maxSurge: 0` turns this off. A
 * replica whose service is gone stops at once; a crashed node's work is re-placed at once by
 * placement, not here.
 *
 * Each replica let go decides alone; their number is not capped by maxSurge. A cap needs every leaver
 * to know the others, and a leaver's record that still said "running" just after it stopped made the
 * next one stop early (measured: two drains in a row, 6 replicas, one fell to 5 every time).
 */
export function mayStopLeaver (service: ServiceSpec | undefined, assignments: readonly Assignment[], nodeRecord: (nodeId: NodeId) => NodeRecord | undefined): boolean {
  if (service === undefined || service.update?.maxSurge === 0) return true
  const rollout = rolloutOf(assignments, service, nodeRecord)
  return rollout.available >= rollout.replicas.length
}
