// Network settings: one frozen defaults object, each field with its unit and why; a fast profile for
// tests and the simulator; and a check of the relations between fields that names the field.

export interface NetConfig {
  /** Largest record envelope accepted, in bytes: gossip messages, sync frames and decode all stop here. */
  readonly recordBytesMax: number
  /** Records per digest-sync frame; a frame stays well under `syncFrameBytesMax`. */
  readonly syncChunkRecords: number
  /** Largest digest-sync frame, in bytes. */
  readonly syncFrameBytesMax: number
  /** Every read or write of a sync stream must finish within this, or the peer is dropped. */
  readonly syncStepTimeoutMs: number
  /** A whole sync session must finish within this, or the peer is dropped (a peer trickling frames). */
  readonly syncSessionTimeoutMs: number
  /** Digest sync with one random neighbour this often, to repair what gossip lost. */
  readonly syncIntervalMs: number
  /**
   * When our record's content changes, re-originate after originateDelayMs; while changes keep coming,
   * wait originateHoldMs after the previous origination, doubling up to originateMaxHoldMs (core's SPF
   * throttle). Each origination is verified by every node, so a burst of connection changes (a cluster
   * forming) must not become a burst of records: N nodes × k changes × N verifications.
   */
  readonly originateDelayMs: number
  readonly originateHoldMs: number
  readonly originateMaxHoldMs: number
  /**
   * New versions of one record taken in back to back, then per second (core/arrival-limit.ts, OSPF's
   * MinLSArrival): a signer originating faster has the rest ignored until it slows down, and digest
   * sync brings its newest version then. Well above what the origination throttle lets an honest node
   * send (about six in its first two seconds of change, then one a second).
   */
  readonly recordArrivalBurst: number
  readonly recordArrivalsPerSecond: number
  /**
   * A peer that provably broke the protocol (its own records over the arrival limit, a broken digest
   * sync) is dropped and refused for penaltyMs, doubling with each offence up to penaltyMaxMs.
   */
  readonly penaltyMs: number
  readonly penaltyMaxMs: number
  /**
   * A change of workload status alone (started, stopped, failed) is announced this long after it, not
   * originateDelayMs: no view depends on it (convergence does not wait for it; `shoal status` does),
   * so it need not compete with the recomputes and floods the same change set going.
   */
  readonly statusAnnounceDelayMs: number
  /** Re-originate our record at least this often even when nothing changed (ages out after maxAgeMs). */
  readonly refreshIntervalMs: number
  /** A record not refreshed for this long is dropped; must exceed refreshIntervalMs several times. */
  readonly maxAgeMs: number
  /** A policy timestamped further ahead of our clock than this is refused. */
  readonly maxClockSkewMs: number
  /** Keep at least this many connections; below it, dial known peers. */
  readonly minNeighbours: number
  /** Try one known but unconnected peer this often, so that a healed partition reconnects unprompted. */
  readonly redialIntervalMs: number
  /**
   * How many nodes of a component probe a known peer outside it per redial round, on average (each
   * probes with chance healProbesPerRound / component size). One probe that connects heals a partition:
   * its digest sync brings the other side's records, which then flood on both sides. When every node
   * probed every round, a healed split became N new cross connections and N re-originated records at
   * once, each flooded everywhere: the heal's cost grew as N², not N.
   */
  readonly healProbesPerRound: number
  /**
   * New dials started per redial round, at most. Each dial costs a Noise handshake on both ends; an
   * unbounded burst (a whole cluster starting at once) saturates the CPU, pings time out, connections
   * drop, and the redials make it worse.
   */
  readonly dialsPerRoundMax: number
  /** Dial timeout, per attempt. */
  readonly dialTimeoutMs: number
  /** Keepalive on every connection this often (a yamux ping frame: OSPF's hello interval)... */
  readonly helloIntervalMs: number
  /**
   * ...and a connection that received nothing for this long is dropped (OSPF's dead interval, wire.ts).
   * It is what keeps a short stall (a GC pause, 500 ms of CPU starvation) from dropping a live peer,
   * and it bounds how long a hung peer stays: about deadIntervalMs + helloIntervalMs / 2.
   */
  readonly deadIntervalMs: number
  /**
   * Gossipsub's mesh degree D: each message reaches a node about D times (the rest are duplicates), so
   * a flood costs about N × D message handlings. Larger D: fewer hops and more redundancy.
   */
  readonly gossipMeshDegree: number
  /** Gossipsub heartbeat; governs mesh repair and lazy gossip (IHAVE) pace. */
  readonly gossipHeartbeatMs: number
  /**
   * Lazy gossip: each heartbeat, a node tells this many peers outside its mesh (at least) the ids of
   * messages it saw in the last `gossipHistoryWindows` heartbeats (IHAVE), so a message the mesh lost
   * is fetched (IWANT). Every change thus costs about N × gossipLazyDegree × gossipHistoryWindows
   * extra messages; digest sync is the other repair.
   */
  readonly gossipLazyDegree: number
  readonly gossipHistoryWindows: number
  /**
   * Gossipsub 1.2: on a message's first arrival a node tells its other mesh peers it has it (IDONTWANT),
   * for messages of at least this many bytes, so they skip sending their copy.
   */
  readonly gossipDontWantMinBytes: number
}

export const defaultNetConfig: NetConfig = Object.freeze({
  recordBytesMax: 64 * 1024, // a node with ~500 resources fits; a policy fragment is far smaller
  syncChunkRecords: 64,
  syncFrameBytesMax: 64 * (64 * 1024 + 64), // syncChunkRecords envelopes of recordBytesMax, plus framing
  syncStepTimeoutMs: 5_000,
  syncSessionTimeoutMs: 120_000,
  syncIntervalMs: 10_000,
  originateDelayMs: 20, // a crash is announced at once
  originateHoldMs: 100,
  // OSPF uses 5 s (MinLSInterval); measured with 5 daemons, back-to-back applies then waited out the
  // whole 5 s hold (apply → converged 5.0 s). 1 s still bounds a flapping node to one record a second.
  originateMaxHoldMs: 1_000,
  recordArrivalBurst: 20,
  recordArrivalsPerSecond: 4,
  penaltyMs: 60_000,
  penaltyMaxMs: 60 * 60_000,
  statusAnnounceDelayMs: 20, // one daemon per host: nothing to wait for
  refreshIntervalMs: 30 * 60_000, // like OSPF: liveness comes from adjacencies, not refreshes
  maxAgeMs: 2 * 60 * 60_000, // four missed refreshes
  maxClockSkewMs: 30_000,
  minNeighbours: 6,
  redialIntervalMs: 2_000,
  healProbesPerRound: 2, // a split heals within a round or two of the network's return
  dialsPerRoundMax: 2,
  dialTimeoutMs: 2_000,
  helloIntervalMs: 500, // each end hears one ~30-byte frame per interval per link (wire.ts): ~0.5 KB/s per node at 8 neighbours
  deadIntervalMs: 2_000, // a hung peer is dropped after ~2–2.5 s (DESIGN.md §5)
  gossipMeshDegree: 6, // gossipsub's default
  gossipHeartbeatMs: 700,
  gossipLazyDegree: 6, // gossipsub's defaults
  gossipHistoryWindows: 3,
  gossipDontWantMinBytes: 512, // gossipsub's default
})

/**
 * For tests and the simulator: same protocol, shorter periods — and a more tolerant dead interval.
 * Many nodes in one process share one event loop, which lags behind under load; the earlier ping-based
 * monitor with a 1–2 s ceiling tore healthy connections down there (measured: 30 nodes over TCP
 * loopback, 300 of 400 connections aborted in 10 s). A hung node is then dropped after ~3–3.5 s.
 */
export const fastNetConfig: NetConfig = Object.freeze({
  ...defaultNetConfig,
  helloIntervalMs: 1_000,
  deadIntervalMs: 3_000,
  // Periodic digest sync (anti-entropy: gossip rarely loses a record, and every new connection syncs
  // at once) opens a stream and negotiates its protocol each time, several framed, encrypted messages.
  // Measured at rest, 100 nodes in one process: every 1 s it took 3.3 s of each 20 s of the shared loop
  // (busy 8.8 s → 5.5 s at every 5 s), time every change then waited behind.
  syncIntervalMs: 5_000,
  // Refreshes keep the daemon's 30 minutes. Once a minute, 200 nodes in one process re-flooded 200
  // records a minute, which alone kept the shared loop busy: the fleet never came to rest.
  redialIntervalMs: 500,
  dialTimeoutMs: 1_000,
  syncStepTimeoutMs: 2_000,
  // The daemon's 700 ms: every node's heartbeat (mesh upkeep, scores, lazy gossip) runs on the shared
  // loop. Measured at rest, 100 nodes: 200 ms took 1.4 s more of each 20 s than 700 ms.
  // In one process every duplicate is CPU taken from every other node. Measured, 50 nodes each
  // flooding one 1.1 KB message (scripts/bench-fleet.ts's floor): 10.9 s with D = 6, 4.2 s with D = 3.
  gossipMeshDegree: 3,
  // In one process, every node's recompute after a policy runs on the same loop; a host's status flood
  // started in the middle of them (each flood runs to its end in microtasks) held back the next host's
  // recompute, so the three hosts of a change acted one flood apart (scripts/trace-apply.ts).
  statusAnnounceDelayMs: 250,
  // Lazy gossip stays as gossipsub has it, with D_lazy = D. Tried: 1 and 1 window (a third and a ninth
  // of the IHAVEs per change): 200 nodes gained nothing measurable, and at 50 a crash took 0.8–1.7 s to
  // re-place (0.4–0.6 s before) and a 3-replica change 0.9 s to be confirmed (0.4 s): the mesh of
  // degree 3 misses some nodes, and IHAVE/IWANT is what reaches them before the next digest sync.
  gossipLazyDegree: 3,
  // IDONTWANT stays on (gossipsub's 512 bytes). Tried off: 50 nodes, one broadcast 113 → 65 ms; but at
  // 200 nodes a 3-replica change converged in 1.9–4.0 s against 1.3–1.7 s with it (trace:apply).
})

export function validateNetConfig (config: NetConfig): string[] {
  const problems: string[] = []
  for (const [field, value] of Object.entries(config)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) problems.push(`${field} must be a positive number (got ${String(value)})`)
  }
  if (!Number.isInteger(config.gossipMeshDegree) || config.gossipMeshDegree < 2) problems.push('gossipMeshDegree must be a whole number, at least 2')
  if (config.maxAgeMs < 2 * config.refreshIntervalMs) problems.push('maxAgeMs must be at least twice refreshIntervalMs, or live records age out')
  if (config.syncFrameBytesMax < config.recordBytesMax) problems.push('syncFrameBytesMax must be at least recordBytesMax, or a record cannot be synced')
  if (config.deadIntervalMs < 2 * config.helloIntervalMs) problems.push('deadIntervalMs must be at least twice helloIntervalMs, or one late keepalive drops a live peer')
  return problems
}
