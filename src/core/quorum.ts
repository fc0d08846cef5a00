// Quorum: whether a component may run `partition: majority` services.
//
// A component holds the quorum when it holds a strict majority of the voters — the admitted nodes (in
// operator admission), or every node the database has a record of (in open admission). An exact half
// holds it only if it contains the lowest voter id (corosync's auto_tie_breaker), so of two halves
// exactly one holds it. Two components cannot both hold it: two disjoint strict majorities of one set
// do not exist, and of two halves only one has the lowest id. That needs the voters to be the same on
// both sides, which they are while both hold the same Admission fragments: admitting or revoking nodes
// during a partition can change the count on one side only (say so to operators: admit when healed).
//
// A node whose component lacks the quorum runs no majority service, and one that gains it starts them
// only once the old holder must have stopped (the reconciler's fence); DESIGN notes in docs/safe-change.md.

import { compareStrings } from './hash.ts'
import type { RecordDB } from './recorddb.ts'
import type { NodeId } from './records.ts'

export interface Quorum {
  /** Whether this component may run majority services. */
  readonly holds: boolean
  /** Voters in the component. */
  readonly present: number
  /** Voters in all. */
  readonly voters: number
}

/** The voters: admitted nodes in operator admission, every node with a record in open admission. */
export function votersOf (db: RecordDB, admission: 'open' | 'operator'): readonly NodeId[] {
  return db.derived(`voters ${admission}`, () => {
    const ids: NodeId[] = []
    if (admission === 'operator') {
      for (const policy of db.policies()) if (policy.body?.kind === 'Admission') ids.push(policy.body.name)
    } else {
      for (const record of db.nodeRecords()) ids.push(record.nodeId)
    }
    return ids.sort(compareStrings)
    // Admissions are policies; in open admission the voters change only with the set of node records.
  }, admission === 'operator' ? 'policy' : 'members')
}

export function quorumOf (db: RecordDB, componentIds: readonly NodeId[], admission: 'open' | 'operator'): Quorum {
  const voters = votersOf(db, admission)
  // Kept per (component ids, voters) pair of arrays: both are derived once per topology revision, and
  // every view asks (a Set of the component per view was 4 % of a 400-node simulation).
  const known = quorums.get(componentIds)
  if (known?.voters === voters) return known.quorum
  const quorum = countQuorum(componentIds, voters)
  quorums.set(componentIds, { voters, quorum })
  return quorum
}

const quorums = new WeakMap<readonly NodeId[], { readonly voters: readonly NodeId[], readonly quorum: Quorum }>()

function countQuorum (componentIds: readonly NodeId[], voters: readonly NodeId[]): Quorum {
  const component = new Set(componentIds)
  const present = voters.filter((id) => component.has(id)).length
  const holds = 2 * present > voters.length || (2 * present === voters.length && present > 0 && component.has(voters[0] as NodeId))
  return { holds, present, voters: voters.length }
}

/** One line on a quorum, for status and explanations. */
export function describeQuorum (quorum: Quorum): string {
  return `${quorum.present} of ${quorum.voters} node(s) here${quorum.holds ? ': a majority' : ': not a majority, so `partition: majority` services do not run here'}`
}
