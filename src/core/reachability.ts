// Reachability: which nodes are alive for me (DESIGN.md §4).
//
// Two nodes are adjacent only when each lists the other in its NodeRecord: the two-way check of OSPF.
// A one-way listing (A lists B, B does not list A) is no adjacency, so a half-broken link, or a stale
// record of a dead node still listing its old neighbours, cannot keep anything reachable. My component
// is every node reachable from me over adjacencies. A node always belongs to its own component, even
// before its first record is in the database.

import type { NodeId, NodeRecord } from './records.ts'

export interface NodeRecordSource {
  nodeRecord (nodeId: NodeId): NodeRecord | undefined
}

/** True when both nodes' records list each other. */
export function isAdjacent (source: NodeRecordSource, a: NodeId, b: NodeId): boolean {
  if (a === b) return false
  const aRecord = source.nodeRecord(a)
  const bRecord = source.nodeRecord(b)
  return aRecord !== undefined && bRecord !== undefined &&
    aRecord.adjacencies.includes(b) && bRecord.adjacencies.includes(a)
}

/** The set of nodes reachable from `self` over two-way adjacencies, `self` included. */
export function componentOf (source: NodeRecordSource, self: NodeId): Set<NodeId> {
  const component = new Set<NodeId>([self])
  const frontier: NodeId[] = [self]
  while (frontier.length > 0) {
    const current = frontier.pop() as NodeId
    const record = source.nodeRecord(current)
    if (record === undefined) continue
    for (const neighbour of record.adjacencies) {
      if (component.has(neighbour)) continue
      if (!source.nodeRecord(neighbour)?.adjacencies.includes(current)) continue
      component.add(neighbour)
      frontier.push(neighbour)
    }
  }
  return component
}
