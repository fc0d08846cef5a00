// Safe change on one node: what the reconciler may do now, beyond what the view assigns (issue 24).
//
// The view says where replicas belong; these gates say when a change may happen, from the same records
// plus what only this node can time on its own monotonic clock:
//   - replace (a new spec): when the service's rollout lets this replica go (core/rollout.ts);
//   - stop (a replica let go by a drain or a move): when its replacement is available, for up to the
//     service's moveDeadlineMs (make-before-break, rollout.ts mayStopLeaver);
//   - start (a `partition: majority` service): not while a node that was running it left this node's
//     component less than `fenceMs` ago — the time that node needs to notice it is in a minority and
//     stop (its dead interval, a recompute, the actuator's stop grace, and a margin). The new replica
//     gets a fencing epoch one above any this node has seen for the service. And not until the view
//     has assigned it here for `settleMs`: during a heal two nodes may briefly both rank first.
// And it reports each replica `available` once running for the service's minHealthyForMs without a
// break, and a spec `failedSpec` on a replica that was not available on it within healthyDeadlineMs
// of its start, so that no node ever compares its clock with another's. A reverted rollout's replicas
// run the service's previous workload (`targets`). A failed spec stays reported for `failureMemoryMs`
// after its replica stopped here (`pastFailures`): the view moved the replica away because of it
// (placement.ts step 6), and forgetting it at once would make this node eligible again.

import {
  mayStopLeaver, resourceIdOf, rolloutOf, serviceOfResource, serviceSpecOf, workloadHash,
  type Action, type Assignment, type NodeId, type PlanGates, type ResourceStatus, type ServiceSpec, type TargetView,
} from '../core/index.ts'
import type { ObservedWorkload } from '../actuators/index.ts'
import type { ReconcilerMesh } from './reconciler.ts'

/** How long a replica let go waits for its replacement to be available, unless the service says. */
export const defaultMoveDeadlineMs = 5 * 60_000

/** How long a replica may take to become available on a new spec before the spec counts as failed. */
export const defaultHealthyDeadlineMs = 5 * 60_000

/** How long a spec that failed here stays reported after its replica stopped (then it may be tried again). */
export const failureMemoryMs = 60 * 60_000

export interface SafeChangeOptions {
  readonly mesh: ReconcilerMesh
  readonly monotonicNow: () => number
  /** How long after a holder of a majority service leaves this node's component it may start here. */
  readonly fenceMs: number
  /** How long a majority service's replica must stay assigned here before it starts (see `settled`). */
  readonly settleMs: number
  /** Asks for another look after `ms` (a replica will have been healthy long enough by then). */
  readonly lookAgainIn: (ms: number) => void
}

export class SafeChange {
  private readonly options: SafeChangeOptions
  /** Per local resource: the spec it runs and since when it has been running without a break. */
  private readonly runningSince = new Map<string, { specHash: string, sinceMs: number }>()
  /** Per local resource: the spec it was started on, since when, and whether it was ever available on it. */
  private readonly startedOn = new Map<string, { specHash: string, sinceMs: number, wasAvailable: boolean }>()
  /** Per local resource: a spec it did not become available on within the healthy deadline. */
  private readonly failedSpecs = new Map<string, string>()
  /** Per resource no longer running here: the spec that failed on it, reported until `untilMs`. */
  private readonly pastFailed = new Map<string, { specHash: string, untilMs: number }>()
  /** Per resource this node runs but is no longer assigned: since when. */
  private readonly letGoSince = new Map<string, number>()
  /** Nodes of the last view's component, and when each node last left it. */
  private lastComponent: ReadonlySet<NodeId> = new Set()
  private readonly leftAt = new Map<NodeId, number>()
  /** Per resource the view assigns me: since when, without a break. */
  private readonly assignedSince = new Map<string, number>()
  private readonly startedAtMs: number

  constructor (options: SafeChangeOptions) {
    this.options = options
    this.startedAtMs = options.monotonicNow()
    // Failures this node reported before a restart stay reported: its last record is restored with
    // the database, and a failure forgotten would try the failed spec again.
    for (const resource of options.mesh.restoredOwnRecord?.resources ?? []) {
      if (resource.failedSpec !== undefined) this.failedSpecs.set(resource.id, resource.failedSpec)
    }
  }

  /**
   * The gates for one plan, and whether any change is held back by other nodes (then any node's new
   * record may release it).
   */
  gates (
    view: TargetView, mine: readonly Assignment[], observed: readonly ObservedWorkload[], provisional: ReadonlySet<string>,
  ): { gates: Required<PlanGates>, waiting: boolean } {
    this.noteComponent(view)
    this.noteAssignments(mine)
    const now = this.options.monotonicNow()
    for (const id of this.letGoSince.keys()) if (mine.some((assignment) => assignment.resourceId === id)) this.letGoSince.delete(id)
    const gates: Required<PlanGates> = {
      mayStart: (resourceId) => this.fenced(view, resourceId, now) === undefined && this.settled(resourceId, now),
      mayReplace: (resourceId) => this.rolloutLetsGo(view, resourceId),
      mayStop: (resourceId) => this.mayStop(view, observed, provisional, resourceId, now),
    }
    const waiting = observed.some((workload) => {
      const assignment = mine.find((candidate) => candidate.resourceId === workload.resourceId)
      return assignment === undefined ? !gates.mayStop(workload.resourceId) : workload.specHash !== assignment.specHash && !gates.mayReplace(workload.resourceId)
    }) || mine.some((assignment) => !observed.some((workload) => workload.resourceId === assignment.resourceId) && !gates.mayStart(assignment.resourceId))
    return { gates, waiting }
  }

  /**
   * The fencing epoch to start `action`'s replica with: for a majority service, one above any this
   * node has seen for it (a replace keeps the replica's own); otherwise none.
   */
  epochFor (action: Action, observed: readonly ObservedWorkload[]): number | undefined {
    if (action.kind === 'stop') return undefined
    const service = this.serviceSpec(serviceOfResource(action.resourceId, this.options.mesh.peerId))
    if (service?.partition !== 'majority') return undefined
    const current = observed.find((workload) => workload.resourceId === action.resourceId)?.epoch
    if (action.kind === 'replace' && current !== undefined) return current
    let highest = 0
    for (const record of this.options.mesh.db.nodeRecords()) {
      for (const resource of record.resources) {
        if (resource.epoch !== undefined && resource.id === resourceIdOf(service.name, record.nodeId)) highest = Math.max(highest, resource.epoch)
      }
    }
    return highest + 1
  }

  /**
   * Whether a workload is available: running, confirmed (not `provisional`), and running for its
   * service's minHealthyForMs without a break (a new spec, a crash or a failed check starts over).
   */
  isAvailable (workload: ObservedWorkload, provisional: boolean): boolean {
    const id = workload.resourceId
    const now = this.options.monotonicNow()
    const service = this.serviceSpec(serviceOfResource(id, this.options.mesh.peerId))
    this.pastFailed.delete(id) // running here again: a new try, timed afresh
    let started = this.startedOn.get(id)
    if (started === undefined || started.specHash !== workload.specHash) this.startedOn.set(id, started = { specHash: workload.specHash, sinceMs: now, wasAvailable: false })
    const available = this.availableNow(workload, provisional, service, now)
    if (available) {
      started.wasAvailable = true
    } else if (!started.wasAvailable) {
      // Never available on this spec yet: past the healthy deadline, the spec failed here.
      const deadlineMs = service?.update?.healthyDeadlineMs ?? defaultHealthyDeadlineMs
      const waitedMs = now - started.sinceMs
      if (waitedMs >= deadlineMs) this.failedSpecs.set(id, workload.specHash)
      else this.options.lookAgainIn(deadlineMs - waitedMs + 1)
    }
    return available
  }

  /** The spec `resourceId` did not become available on in time, if any (reported in its status). */
  failedSpec (resourceId: string): string | undefined {
    return this.failedSpecs.get(resourceId)
  }

  /**
   * My assignments as they are to be carried out: a service whose rollout was reverted (autoRevert)
   * runs its previous workload, not the one the view names.
   */
  targets (view: TargetView, mine: readonly Assignment[]): Assignment[] {
    const db = this.options.mesh.db
    return mine.map((assignment) => {
      const service = this.serviceSpec(assignment.service)
      if (service?.previousWorkload === undefined || service.update?.autoRevert !== true) return assignment
      const rollout = rolloutOf(view.assignments, service, (nodeId) => db.nodeRecord(nodeId))
      return rollout.mode === 'reverted' ? { ...assignment, specHash: rollout.specHash, workload: rollout.workload } : assignment
    })
  }

  private availableNow (workload: ObservedWorkload, provisional: boolean, service: ServiceSpec | undefined, now: number): boolean {
    const id = workload.resourceId
    if (workload.phase !== 'running' || provisional) {
      this.runningSince.delete(id)
      return false
    }
    const since = this.runningSince.get(id)
    if (since === undefined || since.specHash !== workload.specHash) this.runningSince.set(id, { specHash: workload.specHash, sinceMs: now })
    const runningForMs = now - (this.runningSince.get(id) as { sinceMs: number }).sinceMs
    const wantedMs = service?.update?.minHealthyForMs ?? 0
    if (runningForMs >= wantedMs) return true
    this.options.lookAgainIn(wantedMs - runningForMs + 1)
    return false
  }

  /**
   * Statuses for replicas that stopped here after their spec failed, while that spec is still the
   * service's and for at most failureMemoryMs: phase `failed`, nothing running.
   */
  pastFailures (): ResourceStatus[] {
    const now = this.options.monotonicNow()
    const statuses: ResourceStatus[] = []
    for (const [id, failure] of this.pastFailed) {
      const service = this.serviceSpec(serviceOfResource(id, this.options.mesh.peerId))
      if (now >= failure.untilMs || service === undefined || workloadHash(service.workload) !== failure.specHash) {
        this.pastFailed.delete(id)
        continue
      }
      this.options.lookAgainIn(failure.untilMs - now + 1)
      statuses.push({ id, phase: 'failed', specHash: failure.specHash, restarts: 0, failedSpec: failure.specHash, lastError: 'stopped here: not available within healthyDeadline; placed elsewhere while it runs available on another node' })
    }
    return statuses
  }

  /** Forgets what it timed for resources no longer observed (a failed spec is kept: pastFailures). */
  forgetAllBut (observed: readonly ObservedWorkload[]): void {
    const ids = new Set(observed.map((workload) => workload.resourceId))
    const now = this.options.monotonicNow()
    for (const id of this.runningSince.keys()) if (!ids.has(id)) this.runningSince.delete(id)
    for (const id of this.startedOn.keys()) if (!ids.has(id)) this.startedOn.delete(id)
    for (const [id, specHash] of this.failedSpecs) {
      if (ids.has(id)) continue
      this.failedSpecs.delete(id)
      this.pastFailed.set(id, { specHash, untilMs: now + failureMemoryMs })
    }
    for (const id of this.letGoSince.keys()) if (!ids.has(id)) this.letGoSince.delete(id)
  }

  /**
   * For a majority service's replica: the node still possibly running it elsewhere, if one left this
   * node's component (or was never in it since this node started) less than fenceMs ago.
   */
  fenced (view: TargetView, resourceId: string, now: number = this.options.monotonicNow()): NodeId | undefined {
    const me = this.options.mesh.peerId
    const service = this.serviceSpec(serviceOfResource(resourceId, me))
    if (service?.partition !== 'majority') return undefined
    const component = new Set(view.component)
    for (const record of this.options.mesh.db.nodeRecords()) {
      if (component.has(record.nodeId)) continue
      const runs = record.resources.some((resource) => resource.id === resourceIdOf(service.name, record.nodeId) && resource.phase !== 'failed')
      if (runs && now - (this.leftAt.get(record.nodeId) ?? this.startedAtMs) < this.options.fenceMs) return record.nodeId
    }
    return undefined
  }

  /**
   * For a majority service's replica: whether the view has assigned it to me for `settleMs` without a
   * break. While a partition heals, two nodes can each see a component in which they rank first (each
   * not yet seeing the other), and both would start the singleton; views agree again within a flood
   * or two, so waiting a little lets the one that is not assigned any more not start at all. Measured
   * by the lab's nemesis (seed 42, 7 nodes): without it, db ran twice for a moment after a heal.
   */
  private settled (resourceId: string, now: number): boolean {
    const service = this.serviceSpec(serviceOfResource(resourceId, this.options.mesh.peerId))
    if (service?.partition !== 'majority') return true
    const waitedMs = now - (this.assignedSince.get(resourceId) ?? now)
    if (waitedMs >= this.options.settleMs) return true
    this.options.lookAgainIn(this.options.settleMs - waitedMs + 1)
    return false
  }

  private noteAssignments (mine: readonly Assignment[]): void {
    const now = this.options.monotonicNow()
    for (const id of this.assignedSince.keys()) if (!mine.some((assignment) => assignment.resourceId === id)) this.assignedSince.delete(id)
    for (const assignment of mine) if (!this.assignedSince.has(assignment.resourceId)) this.assignedSince.set(assignment.resourceId, now)
  }

  private noteComponent (view: TargetView): void {
    const now = this.options.monotonicNow()
    const component = new Set(view.component)
    for (const id of this.lastComponent) if (!component.has(id)) this.leftAt.set(id, now)
    for (const id of component) this.leftAt.delete(id)
    this.lastComponent = component
  }

  private rolloutLetsGo (view: TargetView, resourceId: string): boolean {
    const service = this.serviceSpec(serviceOfResource(resourceId, this.options.mesh.peerId))
    if (service === undefined) return true
    const db = this.options.mesh.db
    return rolloutOf(view.assignments, service, (nodeId) => db.nodeRecord(nodeId)).replicas.find((replica) => replica.resourceId === resourceId)?.mayUpdate ?? true
  }

  /** A replica found after a crash (provisional) or not running stops at once; see mayStopLeaver. */
  private mayStop (view: TargetView, observed: readonly ObservedWorkload[], provisional: ReadonlySet<string>, resourceId: string, now: number): boolean {
    const workload = observed.find((candidate) => candidate.resourceId === resourceId)
    const me = this.options.mesh.peerId
    if (workload === undefined || workload.phase !== 'running' || provisional.has(resourceId)) return true
    const service = this.serviceSpec(serviceOfResource(resourceId, me))
    if (!this.letGoSince.has(resourceId)) this.letGoSince.set(resourceId, now)
    if (now - (this.letGoSince.get(resourceId) as number) >= (service?.update?.moveDeadlineMs ?? defaultMoveDeadlineMs)) return true
    const db = this.options.mesh.db
    return mayStopLeaver(service, view.assignments, (nodeId) => db.nodeRecord(nodeId))
  }

  private serviceSpec (name: string | undefined): ServiceSpec | undefined {
    return name === undefined ? undefined : serviceSpecOf(this.options.mesh.db, name)
  }
}
