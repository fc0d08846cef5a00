// The actuator contract (DESIGN.md §7, controller-runtime's reconcile contract): an actuator owns one
// kind of local resource and offers observe / ensure / remove, each idempotent, each keyed only by the
// resource id, so that a retry after a crash finds its own earlier effects.

import type { WorkloadSpec } from '../core/index.ts'

export interface ObservedWorkload {
  readonly resourceId: string
  readonly specHash: string
  readonly phase: 'starting' | 'running' | 'failed'
  readonly restarts: number
  readonly lastError?: string
  /** The fencing epoch it was started with (a `partition: majority` service), if any. */
  readonly epoch?: number
}

/** What else a start is told: the fencing epoch of a `partition: majority` service's replica. */
export interface EnsureContext {
  readonly epoch?: number
}

export interface Actuator {
  /** The workload kind it runs ('process', 'file', 'memory'). */
  readonly kind: string
  /** What runs now, as the world says (not as a journal says). */
  observe(): Promise<ObservedWorkload[]>
  /**
   * Makes `resourceId` run `workload` (spec `specHash`): starts it, or replaces an older spec. A
   * context epoch goes where the workload can read it (a process: SHOAL_EPOCH) and is observed back.
   */
  ensure(resourceId: string, workload: WorkloadSpec, specHash: string, context?: EnsureContext): Promise<void>
  /** Makes `resourceId` not run. Removing what is not there is not an error. */
  remove(resourceId: string): Promise<void>
}
