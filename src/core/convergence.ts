// The convergence judgement (DESIGN.md §1): a component has converged when every node of it runs
// exactly the resources the view assigns it, with the assigned spec — nothing missing, nothing extra,
// nothing stale. Where "what a node runs" comes from is the caller's choice:
// - from one node's RecordDB (`judgeConvergence`): what the others' records say, as far as this node
//   knows. `shoal status` uses it; it lags the truth by one flood of each changed node's record.
// - from each node's own report of itself (`judgeWorkloads`): the simulator's outside view, which sees
//   every node at once.
// That every node computes the same view is judged beside it, from the view hashes the nodes report: a
// record's view hash is the one its node had when it made the record, and a change of view alone is
// not announced (reconciler.ts), so records are not where views are compared.

import type { TargetView } from './placement.ts'
import type { RecordDB } from './recorddb.ts'
import type { NodeId, ResourceStatus } from './records.ts'

export interface ConvergenceJudgement {
  readonly converged: boolean
  /** Why not, one line per problem, at most `maxProblems` of them. */
  readonly problems: readonly string[]
}

/** Judged from one node's database: what every node's record says it runs. */
export function judgeConvergence (db: RecordDB, view: TargetView, maxProblems = 20): ConvergenceJudgement {
  return judgeWorkloads(view, (nodeId) => db.nodeRecord(nodeId)?.resources, maxProblems)
}

/** Judged from what each node of the view's component runs (undefined: nothing known of that node). */
export function judgeWorkloads (view: TargetView, resourcesOf: (nodeId: NodeId) => readonly ResourceStatus[] | undefined, maxProblems = 20): ConvergenceJudgement {
  const problems: string[] = []
  const note = (problem: string): boolean => {
    if (problems.length < maxProblems) problems.push(problem)
    return problems.length < maxProblems
  }
  for (const nodeId of view.component) {
    const resources = resourcesOf(nodeId)
    if (resources === undefined) {
      if (!note(`${nodeId}: no record`)) break
      continue
    }
    const running = new Map(resources.filter((resource) => resource.phase === 'running').map((resource) => [resource.id, resource]))
    for (const assignment of view.byNode.get(nodeId) ?? []) {
      const resource = running.get(assignment.resourceId)
      running.delete(assignment.resourceId)
      if (resource === undefined) {
        if (!note(`${nodeId}: ${assignment.resourceId} assigned but not running`)) break
      } else if (resource.specHash !== assignment.specHash) {
        if (!note(`${nodeId}: ${assignment.resourceId} runs spec ${resource.specHash}, view wants ${assignment.specHash}`)) break
      }
    }
    for (const extra of running.keys()) if (!note(`${nodeId}: ${extra} runs but is not assigned there`)) break
  }
  return { converged: problems.length === 0, problems }
}
