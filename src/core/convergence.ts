// The convergence judgement, from one node's RecordDB (DESIGN.md §1): my component has converged when
// every node of it reports running exactly the resources my view assigns it, with the assigned spec —
// nothing missing, nothing extra, nothing stale. That every node computes the same view is judged
// beside it, from the view hashes the nodes report (`shoal status`, the simulator's own check): a
// record's view hash is the one its node had when it made the record, and a change of view alone is
// not announced (reconciler.ts), so records are not where views are compared.
// The same function judges from outside (the simulator) and from inside (`shoal status`).

import type { TargetView } from './placement.ts'
import type { RecordDB } from './recorddb.ts'

export interface ConvergenceJudgement {
  readonly converged: boolean
  /** Why not, one line per problem, at most `maxProblems` of them. */
  readonly problems: readonly string[]
}

export function judgeConvergence (db: RecordDB, view: TargetView, maxProblems = 20): ConvergenceJudgement {
  const problems: string[] = []
  const note = (problem: string): boolean => {
    if (problems.length < maxProblems) problems.push(problem)
    return problems.length < maxProblems
  }
  for (const nodeId of view.component) {
    const record = db.nodeRecord(nodeId)
    if (record === undefined) {
      if (!note(`${nodeId}: no record`)) break
      continue
    }
    const running = new Map(record.resources.filter((resource) => resource.phase === 'running').map((resource) => [resource.id, resource]))
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
