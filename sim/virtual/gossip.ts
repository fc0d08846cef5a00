// A model of gossipsub for the virtual network (issue 25): a mesh of degree D per node, eager push
// over it, and heartbeat-paced lazy repair. Not a copy of gossipsub; what it keeps is what shapes a
// record's spread:
//
// - Each node keeps between Dlo and Dhi mesh peers among its links (D − 1 and 2D, as MeshNode
//   configures gossipsub), topped up to D at each heartbeat and when a link comes up, pruned back
//   to D past Dhi. A graft or prune is mutual: the peer adds or drops us too.
// - A record a node originates goes to every link (gossipsub's floodPublish); one it forwards goes to
//   its mesh peers only.
// - Each heartbeat, a node offers the records it saw in the last `historyWindows` heartbeats to Dlazy
//   linked peers outside its mesh (IHAVE); a peer fetches those it lacks (IWANT), so a record the
//   mesh missed arrives a round trip later rather than at the next digest sync.
//
// Choices (which peers to graft, prune, or offer to) are drawn from the network's seeded stream.

import type { ShoalRecord } from '../../src/core/index.ts'

export interface GossipDegrees {
  readonly D: number
  readonly Dlo: number
  readonly Dhi: number
  readonly Dlazy: number
  readonly historyWindows: number
}

export function gossipDegrees (meshDegree: number, lazyDegree: number, historyWindows: number): GossipDegrees {
  return { D: meshDegree, Dlo: Math.max(1, meshDegree - 1), Dhi: 2 * meshDegree, Dlazy: lazyDegree, historyWindows }
}

export interface HeartbeatPlan {
  readonly graft: string[]
  readonly prune: string[]
  /** Peers outside the mesh to offer `offered` to. */
  readonly lazy: string[]
  readonly offered: ShoalRecord[]
}

export class GossipMesh {
  readonly peers = new Set<string>()
  /** Records seen in each of the last heartbeats, newest first (gossipsub's message cache). */
  private windows: ShoalRecord[][] = [[]]

  constructor (readonly degrees: GossipDegrees) {}

  seen (record: ShoalRecord): void {
    (this.windows[0] as ShoalRecord[]).push(record)
  }

  drop (peer: string): void {
    this.peers.delete(peer)
  }

  /** Peers to graft now that `linked` are the links: enough to reach D, if below it. */
  topUp (linked: readonly string[], draw: () => number): string[] {
    if (this.peers.size >= this.degrees.D) return []
    return pick(linked.filter((peer) => !this.peers.has(peer)), this.degrees.D - this.peers.size, draw)
  }

  /** A heartbeat: mesh upkeep, the peers to offer recent records to, and the next history window. */
  heartbeat (linked: readonly string[], draw: () => number): HeartbeatPlan {
    const { D, Dlo, Dhi, Dlazy, historyWindows } = this.degrees
    const graft = this.peers.size < Dlo ? this.topUp(linked, draw) : []
    const prune = this.peers.size > Dhi ? pick([...this.peers].sort(), this.peers.size - D, draw) : []
    const offered = this.windows.flat()
    const lazy = offered.length === 0 ? [] : pick(linked.filter((peer) => !this.peers.has(peer) && !graft.includes(peer)), Dlazy, draw)
    this.windows.unshift([])
    if (this.windows.length > historyWindows) this.windows.length = historyWindows
    return { graft, prune, lazy, offered }
  }
}

/** Up to `count` of `candidates`, chosen by `draw` (a partial Fisher–Yates shuffle, in candidate order). */
function pick (candidates: string[], count: number, draw: () => number): string[] {
  const chosen: string[] = []
  for (let i = 0; i < candidates.length && chosen.length < count; i++) {
    const j = i + Math.floor(draw() * (candidates.length - i))
    ;[candidates[i], candidates[j]] = [candidates[j] as string, candidates[i] as string]
    chosen.push(candidates[i] as string)
  }
  return chosen
}
