// The reconciler: DESIGN.md §2's loop on one node, shared by the daemon and the simulator.
//
//   record merged ──► throttle ──► computeView ──► plan(my share, observed) ──► actuators
//        ▲                                                                        │
//        └──── own NodeRecord (view hash, resource status) ◄──── observe ◄────────┘
//
// It recomputes when any record changes (OSPF's SPF timers, core/throttle.ts, bound the rate), acts
// only on what the view assigns to this node, and publishes what it then observes. Level-triggered:
// a run that changes nothing publishes nothing, so the loop comes to rest at the placement fixed point.
// While anything is still starting or has failed, it looks again after `retryDelayMs`.
//
// Adoption after a restart: workloads found running before this life's first view are reported as
// provisional (not incumbents), so the fleet places work as if this node had none; the view then
// either assigns them here (kept, confirmed) or elsewhere (stopped here). After a graceful restart the
// daemon passes `adoptAsIncumbents`, and they count as running at once, so nothing moves.
//
// Safe change (safe-change.ts): a replace waits for its rollout, a stop of a replica let go for its
// replacement, a start of a majority service for the fence; while one waits on other nodes, the node
// looks again whenever another node's record changes.

import { EventEmitter } from 'node:events'
import {
  canonicalJson, compareStrings, computeView, holdEndMs, initialThrottleState, noteChange, plan, runDue,
  type Action, type NodeRecord, type RecordDB, type ResourceStatus, type ShoalRecord, type TargetView, type ThrottleConfig, type ThrottleState,
} from '../core/index.ts'
import type { Actuator, ObservedWorkload } from '../actuators/index.ts'
import type { LocalState, MeshNode } from '../net/index.ts'
import { sleepOn, systemClock, type Clock, type Timer } from '../clock.ts'
import { SafeChange } from './safe-change.ts'

/**
 * For a daemon: one node per host, so a recompute (20 ms at 1,000 nodes × 1,000 services) may run
 * four times a second under churn (≤ 8% of a core). Measured with 5 daemons and the default throttle,
 * back-to-back applies waited out the escalated hold: apply → converged ~1.1 s, most of it waiting.
 */
export const daemonThrottle: ThrottleConfig = Object.freeze({
  initialDelayMs: 10,
  initialHoldMs: 50,
  maxHoldMs: 250,
})

/** For many nodes in one process (the simulator, tests): they share the cores, so recompute less. */
export const defaultThrottle: ThrottleConfig = Object.freeze({
  // No wait before the first run: in one process a burst of records (one flood) is delivered in the
  // microtasks of one turn of the loop, so a timer of 0 still runs after all of it. Measured with 10 ms
  // (`npm run bench:fleet -- --nodes 10|50 --rounds 7`, 2026-12-03): a 3-replica change converged in
  // 16 → 11 ms at 10 nodes (the floor: 6–8 ms) and 92 → 85 ms at 50; `replicas: all` at 50, p99 261 → 121 ms.
  initialDelayMs: 0,
  initialHoldMs: 100,
  maxHoldMs: 1_000, // under heavy churn, recompute at least every second
})

/**
 * What the reconciler (and its safe-change gates) needs of its node's mesh: the database, news of each
 * merge, and its own record to report in. A MeshNode is one; so is anything else that keeps a node's
 * database (issue 25's virtual network), which is why this is not simply MeshNode.
 */
export interface ReconcilerMesh {
  readonly peerId: string
  readonly db: RecordDB
  readonly config: { readonly deadIntervalMs: number }
  /** This node's record as it was before a restart, if it had one. */
  readonly restoredOwnRecord: NodeRecord | undefined
  readonly localState: Readonly<LocalState>
  updateLocalState(change: Partial<LocalState>, options?: { announce?: boolean, status?: boolean }): void
  on(event: 'record:merged', listener: (record: ShoalRecord) => void): unknown
  off(event: 'record:merged', listener: (record: ShoalRecord) => void): unknown
}

export interface ReconcilerOptions {
  readonly mesh: ReconcilerMesh
  readonly actuators: readonly Actuator[]
  readonly admission: 'open' | 'operator'
  readonly throttle?: ThrottleConfig
  /** Look again this soon while a workload is starting or failed. */
  readonly retryDelayMs?: number
  /** Count workloads found at start as running incumbents (after a graceful restart). */
  readonly adoptAsIncumbents?: boolean
  /**
   * Wall time (views: holds are wall times), monotonic time (the throttle, safe-change timing) and
   * timers, from one place (default: the system's), so that a node can run under virtual time.
   */
  readonly clock?: Clock
  /**
   * How long after a node running a `partition: majority` service leaves this node's component this
   * node may start it (default: the dead interval + 1 s; the daemon adds its actuators' stop grace).
   */
  readonly fenceMs?: number
  /** Told when a run starts (true) and ends (false): a virtual clock waits for runs to finish. */
  readonly onRunning?: (running: boolean) => void
}

export interface ReconcilerEvents {
  'view:computed': [view: TargetView]
  'actions:applied': [actions: readonly Action[], failures: readonly string[]]
  /** A run ended: the view it computed is `view`, and the node's local state reports what it runs. */
  'run:finished': [view: TargetView]
  /** A run threw (an actuator's observe failed, say): the loop tries again after retryDelayMs. */
  'run:failed': [error: Error]
}

export class Reconciler extends EventEmitter<ReconcilerEvents> {
  private readonly options: ReconcilerOptions
  private readonly throttle: ThrottleConfig
  private readonly clock: Clock
  private state: ThrottleState
  private timer: Timer | undefined
  private running: Promise<void> | undefined
  private stopped = false
  private lastView: TargetView | undefined
  /** Resources found at start and not yet assigned here by a view of this life. */
  private readonly provisional = new Set<string>()
  /** Which actuator reported each resource at the last observe. */
  private readonly resourceOwners = new Map<string, Actuator>()
  /** The database's placement revision when a change was last noted. */
  private notedPlacementRevision: number | undefined
  /** One timer per hold end (a node re-floods its record with the same hold many times). */
  private readonly holdTimers = new Map<number, Timer>()
  /** When changes may happen (rollouts, make-before-break, the majority fence): safe-change.ts. */
  private readonly safeChange: SafeChange
  /** A change held back by other nodes' state: any node's new record may let it go. */
  private waitingOnOthers = false
  /** The one timer for a later look (a replica will have been healthy long enough by then). */
  private lookAgainTimer: Timer | undefined
  /** The one timer for a run after a failure or while something is unsettled. */
  private retryTimer: Timer | undefined
  private lookAgainAtMs = Infinity
  private readonly onRecord = (record: ShoalRecord): void => {
    if (this.affectsView() || (this.waitingOnOthers && record.kind === 'node')) this.noteChange()
    const holdEnd = record.kind === 'node' ? holdEndMs(record) : undefined
    if (holdEnd !== undefined) this.recomputeAt(holdEnd)
  }

  constructor (options: ReconcilerOptions) {
    super()
    this.options = options
    this.throttle = options.throttle ?? defaultThrottle
    this.clock = options.clock ?? systemClock
    this.state = initialThrottleState(this.throttle)
    this.safeChange = new SafeChange({
      mesh: options.mesh,
      monotonicNow: () => this.clock.monotonicNow(),
      fenceMs: options.fenceMs ?? options.mesh.config.deadIntervalMs + 1_000,
      settleMs: options.mesh.config.deadIntervalMs,
      lookAgainIn: (ms) => { this.lookAgainIn(ms) },
    })
  }

  get view (): TargetView | undefined {
    return this.lastView
  }

  async start (): Promise<void> {
    if (this.stopped) return
    // What runs here before our first view is provisional; until we can tell (an observe that fails,
    // say EMFILE), acting would treat it as confirmed, so we wait and look again.
    while (this.options.adoptAsIncumbents !== true && !this.stopped) {
      try {
        for (const workload of await this.observeAll()) this.provisional.add(workload.resourceId)
        break
      } catch (error) {
        this.emit('run:failed', error instanceof Error ? error : new Error(String(error)))
        await sleepOn(this.clock, this.options.retryDelayMs ?? 1_000)
      }
    }
    if (this.stopped) return
    this.options.mesh.on('record:merged', this.onRecord)
    this.noteChange()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.options.mesh.off('record:merged', this.onRecord)
    this.timer?.cancel()
    for (const timer of this.holdTimers.values()) timer.cancel()
    this.lookAgainTimer?.cancel()
    this.retryTimer?.cancel()
    await this.running
  }

  /** Something the view depends on may have changed. */
  noteChange (): void {
    if (this.stopped) return
    this.state = noteChange(this.state, this.throttle, this.clock.monotonicNow())
    this.arm()
  }

  /**
   * Whether a merged record can change the view: the database's placement revision moved (a policy, or
   * a node's labels, slots, adjacencies, incumbent workloads or hold). Not a node's view hash, policy
   * digest or version, which change on every status update: without this filter the status records
   * that follow every change keep the throttle's hold doubling, and the next real change waits for it.
   */
  private affectsView (): boolean {
    const revision = this.options.mesh.db.placementRevision
    if (revision === this.notedPlacementRevision) return false
    this.notedPlacementRevision = revision
    return true
  }

  /** A hold ends at a time, not with a record: look again then. */
  private recomputeAt (atMs: number): void {
    const delayMs = atMs - this.clock.wallNow()
    if (delayMs < 0 || delayMs > 24 * 3_600_000 || this.holdTimers.has(atMs)) return
    this.holdTimers.set(atMs, this.clock.setTimer(() => {
      this.holdTimers.delete(atMs)
      this.noteChange()
    }, delayMs + 1))
  }

  private arm (): void {
    if (this.timer !== undefined || this.running !== undefined || this.state.nextRunAtMs === null) return
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined
      const due = runDue(this.state, this.throttle, this.clock.monotonicNow())
      this.state = due.state
      if (!due.run) return this.arm()
      this.options.onRunning?.(true)
      this.running = this.run().catch((error: unknown) => {
        this.emit('run:failed', error instanceof Error ? error : new Error(String(error)))
        this.retryLater()
      }).finally(() => {
        this.running = undefined
        this.options.onRunning?.(false)
        this.arm()
      })
    }, Math.max(0, this.state.nextRunAtMs - this.clock.monotonicNow()))
  }

  private async run (): Promise<void> {
    if (this.stopped) return
    const mesh = this.options.mesh
    const view = computeView(mesh.db, mesh.peerId, { admission: this.options.admission, nowMs: this.clock.wallNow() })
    this.lastView = view
    this.emit('view:computed', view)
    const mine = view.byNode.get(mesh.peerId) ?? []
    for (const assignment of mine) this.provisional.delete(assignment.resourceId)
    const before = await this.observeAll()
    const targets = this.safeChange.targets(view, mine)
    const { gates, waiting } = this.safeChange.gates(view, targets, before, this.provisional)
    const actions = plan(targets, before, gates)
    this.waitingOnOthers = waiting
    const failures = await this.apply(actions, before)
    if (actions.length > 0) this.emit('actions:applied', actions, failures)
    const after = actions.length > 0 ? await this.observeAll() : before
    for (const provisionalId of this.provisional) if (!after.some((w) => w.resourceId === provisionalId)) this.provisional.delete(provisionalId)
    this.publish(view, after)
    this.emit('run:finished', view)
    const unsettled = failures.length > 0 || this.waitingOnOthers || after.some((workload) => workload.phase !== 'running')
    if (unsettled) this.retryLater()
  }

  /** Looks again after retryDelayMs (a failure, or something still starting or waiting). */
  private retryLater (): void {
    if (this.stopped || this.retryTimer !== undefined) return // the one pending comes sooner
    this.retryTimer = this.clock.setTimer(() => {
      this.retryTimer = undefined
      this.noteChange()
    }, this.options.retryDelayMs ?? 1_000)
  }

  /** Looks again in `ms` (one timer: the earliest asked for). */
  private lookAgainIn (ms: number): void {
    const atMs = this.clock.monotonicNow() + ms
    if (this.lookAgainTimer !== undefined && this.lookAgainAtMs <= atMs) return
    this.lookAgainTimer?.cancel()
    this.lookAgainAtMs = atMs
    this.lookAgainTimer = this.clock.setTimer(() => {
      this.lookAgainTimer = undefined
      this.lookAgainAtMs = Infinity
      this.noteChange()
    }, ms)
  }

  /** Applies actions in order; `resourceOwners` (from the last observe) says which actuator stops what. */
  private async apply (actions: readonly Action[], observed: readonly ObservedWorkload[]): Promise<string[]> {
    const failures: string[] = []
    for (const action of actions) {
      try {
        if (action.kind === 'stop') {
          await this.resourceOwners.get(action.resourceId)?.remove(action.resourceId)
        } else {
          const actuator = this.options.actuators.find((candidate) => candidate.kind === action.workload.kind)
          if (actuator === undefined) throw new Error(`no actuator for workload kind '${action.workload.kind}'`)
          const epoch = this.safeChange.epochFor(action, observed)
          await actuator.ensure(action.resourceId, action.workload, action.specHash, epoch === undefined ? {} : { epoch })
        }
      } catch (error) {
        failures.push(`${action.kind} ${action.resourceId}: ${(error as Error).message}`)
      }
    }
    return failures
  }

  private async observeAll (): Promise<ObservedWorkload[]> {
    const all: ObservedWorkload[] = []
    this.resourceOwners.clear()
    for (const actuator of this.options.actuators) {
      for (const workload of await actuator.observe()) {
        this.resourceOwners.set(workload.resourceId, actuator)
        all.push(workload)
      }
    }
    return all.sort((a, b) => compareStrings(a.resourceId, b.resourceId))
  }

  /**
   * Updates our record only when what it says about us changed: the loop must come to rest. A new view
   * alone is not announced (it rides on our next record): every node's view changes with every change,
   * and announcing it cost N floods per change, where only the nodes whose workloads change need to
   * flood (docs/benchmarks.md). Our view hash is still reported (status, API) at once.
   */
  private publish (view: TargetView, observed: readonly ObservedWorkload[]): void {
    const resources: ResourceStatus[] = observed.map((workload) => ({
      id: workload.resourceId,
      phase: workload.phase,
      specHash: workload.specHash,
      restarts: workload.restarts,
      ...(workload.lastError === undefined ? {} : { lastError: workload.lastError }),
      ...(this.provisional.has(workload.resourceId) ? { provisional: true } : {}),
      ...(this.safeChange.isAvailable(workload, this.provisional.has(workload.resourceId)) ? { available: true } : {}),
      ...(workload.epoch === undefined ? {} : { epoch: workload.epoch }),
      ...(this.safeChange.failedSpec(workload.resourceId) === undefined ? {} : { failedSpec: this.safeChange.failedSpec(workload.resourceId) as string }),
    }))
    this.safeChange.forgetAllBut(observed)
    resources.push(...this.safeChange.pastFailures())
    resources.sort((a, b) => compareStrings(a.id, b.id))
    const current = this.options.mesh.localState
    if (canonicalJson(current.resources) === canonicalJson(resources)) {
      if (current.viewHash !== view.viewHash) this.options.mesh.updateLocalState({ viewHash: view.viewHash }, { announce: false })
      return
    }
    this.options.mesh.updateLocalState({ viewHash: view.viewHash, resources }, { status: true })
  }
}

/** How long a starting node waits to join before it acts on what it knows alone. */
export const defaultJoinTimeoutMs = 10_000

/**
 * Waits until some other node is in our component (two-way adjacent), the timeout, or `cancelled`;
 * true if joined. A node that restarts starts its reconciler only after this (the daemon, and the
 * harness's restartNode): one completed sync brings the whole database, while a view computed alone
 * from the records held before the restart starts work here that the fleet already re-placed.
 */
export async function waitToJoin (mesh: MeshNode, timeoutMs: number, cancelled: () => boolean, clock: Clock = systemClock): Promise<boolean> {
  const deadline = clock.monotonicNow() + timeoutMs
  while (mesh.component().size <= 1) {
    if (clock.monotonicNow() > deadline || cancelled()) return false
    await sleepOn(clock, 20)
  }
  return true
}
