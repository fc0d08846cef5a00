// Reachability: which nodes are alive for me (DESIGN.md §4).
//
// Two nodes are adjacent only when each lists the other in its NodeRecord: the two-way check of OSPF.
// A one-way listing (A lists B, B does not list A) is no adjacency, so a half-broken link, or a stale
// record of a dead node still listing its old neighbours, cannot keep anything reachable. My component
// is every node reachable from me over adjacencies. A node always belongs to its own component, even
// before its first record is in the database.
//
// A component can also be carried forward from the last one (`extendComponent`) when the records that
// changed since only added adjacencies at its members, or changed nodes outside it: every two-way edge
// inside the old component is still there, so the new one is the old one plus whatever the changed
// nodes' new edges reach. A member that dropped an adjacency may have split it: then it is walked again.

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
  return grow(source, new Set<NodeId>([self]), [self])
}

/** A change to one node's record: whether it dropped an adjacency it listed. */
export interface AdjacencyChange {
  readonly nodeId: NodeId | undefined
  readonly dropped: boolean
}

/**
 * The component after `changes`, from the component before them (`previous`, not modified): the same
 * set when nothing joined, a larger one when changed nodes' new edges reach further, or undefined when
 * it must be walked again (a member dropped an adjacency, or a change was not one node's record).
 */
export function extendComponent (source: NodeRecordSource, previous: ReadonlySet<NodeId>, changes: readonly AdjacencyChange[]): ReadonlySet<NodeId> | undefined {
  const starts: NodeId[] = []
  for (const { nodeId, dropped } of changes) {
    if (nodeId === undefined || (dropped && previous.has(nodeId))) return undefined
    if (previous.has(nodeId)) {
      // A member with new edges: its new neighbours outside may join.
      for (const neighbour of source.nodeRecord(nodeId)?.adjacencies ?? []) {
        if (!previous.has(neighbour) && isAdjacent(source, nodeId, neighbour)) starts.push(neighbour)
      }
    } else if (source.nodeRecord(nodeId)?.adjacencies.some((neighbour) => previous.has(neighbour) && isAdjacent(source, nodeId, neighbour)) === true) {
      starts.push(nodeId) // an outsider now adjacent to a member
    }
  }
  if (starts.length === 0) return previous
  const component = new Set(previous)
  for (const start of starts) component.add(start)
  return grow(source, component, starts)
}

/** Adds to `component` everything reachable from `frontier` (already in it) over two-way adjacencies. */
function grow (source: NodeRecordSource, component: Set<NodeId>, frontier: NodeId[]): Set<NodeId> {
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
