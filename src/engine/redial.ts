// Staying connected (issue 25's engine): what a node does each redial round, decided from what it
// knows, with no I/O. MeshNode (libp2p) and the virtual network's nodes both call `planRedial` and
// carry out the plan their own way (a libp2p dial, a simulated one).
//
// - A connection whose first digest sync failed is no adjacency yet: sync on it again.
// - When the connections whose sync completed differ from what our last record announced (a
//   connection closed without its event yet, say), originate again.
// - Below `minNeighbours` (connections and dials in flight), dial known peers, a random few, at most
//   `dialsPerRoundMax` at a time; with no connection and no dial at all, the bootstrap peers too.
// - At or above it, now and then probe one known peer outside our component: with chance
//   `healProbesPerRound / component size`, so that a component sends about `healProbesPerRound`
//   probes a round however large it is. One probe that connects heals a split (its sync carries the
//   other side's records, which then flood on both sides); every node probing every round made a
//   healed split N new connections and N re-originated records at once.
//
// Randomness is handed in (`random`), so the virtual network's runs replay from their seed.

export interface RedialSettings {
  readonly minNeighbours: number
  readonly healProbesPerRound: number
  readonly dialsPerRoundMax: number
}

export interface RedialState {
  readonly selfId: string
  /** Peers with an open connection, sorted. */
  readonly connected: readonly string[]
  /** Connected peers whose first digest sync completed (adjacencies). */
  readonly synced: ReadonlySet<string>
  /** Peers being dialled now. */
  readonly dialling: ReadonlySet<string>
  /** The adjacencies our last record announced, sorted. */
  readonly announced: readonly string[]
  readonly component: ReadonlySet<string>
  /** Every peer we know an address of; walked only in a round that dials. */
  readonly known: () => Iterable<string>
  /** Whether we may dial `peerId` now (not cut off, not refused as unadmitted). */
  readonly mayDial: (peerId: string) => boolean
}

export interface RedialPlan {
  /** Connected peers to run digest sync with again (their first one failed). */
  readonly resync: string[]
  /** Our record no longer says who our adjacencies are: originate. */
  readonly originate: boolean
  /** No connection, no dial: dial the bootstrap peers. */
  readonly dialBootstrap: boolean
  /** Known peers to dial. */
  readonly dial: string[]
}

export function planRedial (state: RedialState, settings: RedialSettings, random: () => number): RedialPlan {
  const { connected, synced, dialling, announced, component } = state
  const resync = connected.filter((peer) => !synced.has(peer))
  const adjacent = connected.filter((peer) => synced.has(peer))
  const originate = adjacent.length !== announced.length || adjacent.some((peer, i) => peer !== announced[i])
  const dialBootstrap = connected.length === 0 && dialling.size === 0
  const wanted = Math.max(0, settings.minNeighbours - connected.length - dialling.size)
  const probing = wanted === 0 && random() < settings.healProbesPerRound / component.size
  const budget = Math.max(0, settings.dialsPerRoundMax - dialling.size)
  // Most rounds of a formed node dial nothing: the peer book (every node known) is walked only when a
  // round dials. Walked every round, it was O(N) per node per round, O(N²) for a fleet in one process.
  if ((wanted === 0 && !probing) || budget === 0) return { resync, originate, dialBootstrap, dial: [] }
  const isConnected = new Set(connected)
  const candidates: string[] = []
  for (const id of state.known()) {
    if (id === state.selfId || isConnected.has(id) || dialling.has(id) || !state.mayDial(id)) continue
    if (probing && component.has(id)) continue // a probe looks outside our component
    candidates.push(id)
  }
  return { resync, originate, dialBootstrap, dial: shuffle(candidates, random).slice(0, Math.min(Math.max(wanted, 1), budget)) }
}

/** Fisher–Yates with the given random source. */
function shuffle<T> (items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = items[i] as T
    items[i] = items[j] as T
    items[j] = swap
  }
  return items
}
