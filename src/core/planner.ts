// The planner: what this node must do so that what runs here is what the view assigns it.
//
// Level-triggered and idempotent, in controller-runtime's sense: it compares desired with observed
// and returns actions; applying them and planning again yields nothing. It never restarts a failed
// workload (the actuator's supervisor does that, with back-off); it starts what is missing, stops what
// is not assigned, and replaces what runs an old spec. A new policy version that changes only
// placement (replicas, selector) does not change the spec hash, so it restarts nothing. A replace waits
// until the service's rolling update lets this replica go (`mayReplace`, from rollout.ts); meanwhile
// the replica keeps running its old spec. Likewise a stop waits while `mayStop` says the replica's
// replacement is not available yet (make-before-break, rollout.ts mayStopLeaver), and a start of a
// majority service while `mayStart` says its old holder may not have stopped yet (the fence).

import type { Assignment } from './placement.ts'
import { compareStrings } from './hash.ts'
import type { WorkloadSpec } from './records.ts'

/** What an actuator reports about one local resource. */
export interface ObservedResource {
  readonly resourceId: string
  readonly specHash: string
}

export type Action =
  | { readonly kind: 'start', readonly resourceId: string, readonly specHash: string, readonly workload: WorkloadSpec }
  | { readonly kind: 'stop', readonly resourceId: string }
  | { readonly kind: 'replace', readonly resourceId: string, readonly specHash: string, readonly workload: WorkloadSpec }

/** What may happen now, per resource; an action a gate refuses waits for a later plan. All default to yes. */
export interface PlanGates {
  /** A start of a majority service waits for the fence (the reconciler's). */
  readonly mayStart?: (resourceId: string) => boolean
  /** A replace waits for its rollout (rollout.ts rolloutOf). */
  readonly mayReplace?: (resourceId: string) => boolean
  /** A stop of a replica let go waits for its replacement (rollout.ts mayStopLeaver). */
  readonly mayStop?: (resourceId: string) => boolean
}

/** Actions that turn `observed` into `assignedToMe`, sorted by resource id. */
export function plan (assignedToMe: readonly Assignment[], observed: readonly ObservedResource[], gates: PlanGates = {}): Action[] {
  const { mayStart = () => true, mayReplace = () => true, mayStop = () => true } = gates
  const actions: Action[] = []
  const observedById = new Map(observed.map((resource) => [resource.resourceId, resource]))
  const assignedIds = new Set<string>()
  for (const assignment of assignedToMe) {
    assignedIds.add(assignment.resourceId)
    const current = observedById.get(assignment.resourceId)
    const target = { resourceId: assignment.resourceId, specHash: assignment.specHash, workload: assignment.workload }
    if (current === undefined) {
      if (mayStart(assignment.resourceId)) actions.push({ kind: 'start', ...target })
    } else if (current.specHash !== assignment.specHash && mayReplace(assignment.resourceId)) {
      actions.push({ kind: 'replace', ...target })
    }
  }
  for (const resource of observedById.values()) {
    if (!assignedIds.has(resource.resourceId) && mayStop(resource.resourceId)) actions.push({ kind: 'stop', resourceId: resource.resourceId })
  }
  return actions.sort((a, b) => compareStrings(a.resourceId, b.resourceId))
}
