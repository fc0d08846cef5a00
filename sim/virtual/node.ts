// A node on the virtual network (issue 25): the same decisions as a MeshNode, carried by simulated
// messages instead of libp2p.
//
// Shared with the libp2p adapter (net/mesh-node.ts), not copied: what to decide about each record
// (engine/intake.ts), when to originate our own (engine/originator.ts on the throttle), the database and
// its digest halves (core/recorddb.ts), the view (core/placement.ts), and the whole reconciler with its
// safe-change gates and the memory actuator, all on this node's Clock.
//
// Modelled here, in place of the transport: links between nodes. Whom to dial is the engine's redial
// plan (engine/redial.ts, as MeshNode's: known peers up to minNeighbours, heal probes outside the
// component); a dial connects after a round trip when the way is open both ways (a connection needs
// both directions) and the peer answers, and fails after the dial timeout otherwise. A link goes down
// when the way closes: at once for a crash
// (the peer's socket resets), after the dead interval for a silent cut (a partition: nothing more is
// heard). On a new link the two ends run digest sync as net/sync.ts does (summaries; when they differ,
// digests, and each sends what the other's digest lacks) and only then count it as an adjacency, as
// MeshNode does. Records spread as gossipsub spreads them (gossip.ts: what a node originates to every
// link, what it forwards over a mesh of degree D, IHAVE/IWANT each heartbeat); the periodic digest sync
// repairs the rest. Records are shared objects, not signed envelopes: a virtual run checks no
// signatures, and the intake's decisions do not depend on them. A message goes to the node object that
// was the peer when it was sent: a restarted peer's new life never gets the old life's traffic (its
// connections were reset).
//
// Liveness is modelled, not sent: every hello interval a node checks whether anything could have been
// heard on each link, and drops one silent for the dead interval (a silent cut, a stalled peer, a crash
// whose reset was lost). A stall (a paused process) holds everything the node would read or write
// until it ends, then lets it through in order.

import { EventEmitter } from 'node:events'
import { componentFrom, nextOwnVersion, RecordDB, recordKey, type Digest, type Labels, type NodeRecord, type NodeVersion, type ShoalRecord } from '../../src/core/index.ts'
import { RecordIntake } from '../../src/engine/intake.ts'
import { Originator } from '../../src/engine/originator.ts'
import { planRedial } from '../../src/engine/redial.ts'
import type { Clock, Timer } from '../../src/clock.ts'
import type { NetConfig } from '../../src/net/config.ts'
import type { LocalState } from '../../src/net/mesh-node.ts'
import type { ReconcilerMesh } from '../../src/daemon/reconciler.ts'
import { GossipMesh, gossipDegrees } from './gossip.ts'
import type { MessageKind, VirtualNetwork } from './network.ts'

/** What a node needs of the fleet around it: the network, and its peers by id. */
export interface VirtualSurroundings {
  readonly network: VirtualNetwork
  node(id: string): VirtualNode | undefined
  /** Called on every origination: the run's trace. */
  noteOrigination(record: NodeRecord): void
}

export class VirtualNode extends EventEmitter<{ 'record:merged': [record: ShoalRecord] }> implements ReconcilerMesh {
  readonly db = new RecordDB()
  restoredOwnRecord: NodeRecord | undefined = undefined
  localState: LocalState
  alive = true
  /** While stalled (monotonic ms), what the node would read or write waits here, in order. */
  private stalledUntil = -Infinity
  private backlog: Array<() => void> = []
  /** Neighbours with a live link; `synced` once the first digest sync on it completed (an adjacency). */
  private readonly links = new Map<string, Link>()
  /** Peers being dialled. */
  private readonly dialling = new Set<string>()
  private readonly intake: RecordIntake
  private readonly gossip: GossipMesh
  private readonly originator: Originator
  private lastVersion: NodeVersion
  /** This life's generation (a restart is the next). */
  readonly generation: number
  private statusTimer: Timer | undefined
  private readonly timers: Timer[] = []

  constructor (
    readonly peerId: string,
    /** The peers it starts from (a daemon's bootstrap addresses); it learns the rest from records. */
    readonly bootstrap: readonly string[],
    readonly clock: Clock,
    readonly config: NetConfig,
    private readonly around: VirtualSurroundings,
    init: { labels: Labels, slots: number, generation: number, operators: ReadonlySet<string> },
  ) {
    super()
    this.setMaxListeners(0)
    this.localState = { labels: init.labels, slots: init.slots, resources: [], viewHash: '' }
    this.lastVersion = { generation: init.generation, seq: 0 }
    this.generation = init.generation
    this.intake = new RecordIntake(this.db, { ...config, selfId: peerId, operators: init.operators, admission: 'open', bootstrapPeers: new Set() })
    this.originator = new Originator(clock, config, () => { this.originate() })
    this.gossip = new GossipMesh(gossipDegrees(config.gossipMeshDegree, config.gossipLazyDegree, config.gossipHistoryWindows))
  }

  /** Starts the node's rounds (redial, periodic sync) at a phase of its own, and originates. */
  start (phaseMs: number): void {
    this.every(this.config.redialIntervalMs, phaseMs, () => { this.redial() })
    this.every(this.config.syncIntervalMs, phaseMs, () => { this.syncWithOne() })
    this.every(this.config.gossipHeartbeatMs, phaseMs, () => { this.heartbeat() })
    this.every(this.config.helloIntervalMs, phaseMs, () => { this.checkLiveness() })
    this.originate()
  }

  /** Everything stops at once, as when the host dies; the peers' links reset. */
  crash (): void {
    this.alive = false
    this.originator.stop()
    this.statusTimer?.cancel()
    for (const timer of this.timers) timer.cancel()
    this.backlog = []
    this.stalledUntil = -Infinity // the kernel resets the connections of a dead process, paused or not
    for (const peer of this.links.keys()) this.sendTo('reset', peer, resetBytes, (other) => { other.linkDown(this.peerId) })
    this.links.clear()
  }

  /** Records from before a restart (the data dir's), taken in before the node starts. */
  restore (records: RecordDB): void {
    this.db.mergeFrom(records)
    this.restoredOwnRecord = this.db.nodeRecord(this.peerId)
  }

  /**
   * Stops reading and writing for `ms` (connections left open); each peer drops the link if it hears
   * nothing for its dead interval meanwhile.
   */
  stall (ms: number): void {
    const now = this.clock.monotonicNow()
    this.stalledUntil = Math.max(this.stalledUntil, now + ms)
    this.clock.setTimer(() => { this.resume() }, ms)
  }

  /**
   * Liveness, every hello interval: a link on which nothing can have been heard (its peer dead, stalled,
   * or cut off from us) since a check one hello interval short of the dead interval ago is dropped, at
   * both ends (the connection closes). Keepalives themselves are not sent: they would only say that.
   * This is what drops a link across a silent cut, to a stalled node, or to a crashed one whose reset
   * was lost.
   */
  private checkLiveness (): void {
    const now = this.clock.monotonicNow()
    const { deadIntervalMs, helloIntervalMs } = this.config
    for (const [peer, link] of this.links) {
      const heard = link.node.alive && !link.node.stalled && this.around.network.canSend(peer, this.peerId)
      if (heard) link.silentSinceMs = undefined
      else if (link.silentSinceMs === undefined) link.silentSinceMs = now
      else if (now - link.silentSinceMs >= deadIntervalMs - helloIntervalMs) this.dropLink(peer)
    }
  }

  private resume (): void {
    if (!this.alive || this.stalled) return
    const backlog = this.backlog
    this.backlog = []
    for (const held of backlog) held()
  }

  get stalled (): boolean {
    return this.clock.monotonicNow() < this.stalledUntil
  }

  /** Runs `io` now, or when the stall ends. */
  private whenAwake (io: () => void): void {
    if (this.stalled) this.backlog.push(io)
    else io()
  }

  /** A message of `kind` to `peer`: `act` runs at that node (the one that is `peer` now) when it arrives and is read. */
  private sendTo (kind: MessageKind, peer: string, bytes: number, act: (node: VirtualNode) => void): void {
    const target = this.around.node(peer)
    if (target === undefined) return
    this.whenAwake(() => {
      this.around.network.send(kind, this.peerId, peer, bytes, () => {
        if (target.alive) target.whenAwake(() => { if (target.alive) act(target) })
      })
    })
  }

  component (): ReadonlySet<string> {
    return componentFrom(this.db, this.peerId, 'open')
  }

  adjacentPeers (): string[] {
    return [...this.links].filter(([, link]) => link.synced).map(([peer]) => peer).sort()
  }

  updateLocalState (change: Partial<LocalState>, options: { announce?: boolean, status?: boolean } = {}): void {
    this.localState = { ...this.localState, ...change }
    if (options.announce === false || !this.alive) return
    if (options.status !== true) return this.originator.noteChange()
    if (this.statusTimer !== undefined) return
    this.statusTimer = this.clock.setTimer(() => {
      this.statusTimer = undefined
      this.originator.noteChange()
    }, this.config.statusAnnounceDelayMs)
  }

  /** A record made here (an operator's policy handed to this node): taken in and flooded. */
  publish (record: ShoalRecord): boolean {
    return this.receive(record, this.peerId)
  }

  /** A link to `peer` is up (both ends call this): sync on it, then it is an adjacency. */
  linkUp (peer: string): void {
    if (!this.alive || this.links.has(peer) || this.intake.cutOff(peer, this.clock.monotonicNow()) !== undefined) return
    const node = this.around.node(peer)
    if (node === undefined) return
    this.links.set(peer, { synced: false, node, silentSinceMs: undefined })
    for (const graft of this.gossip.topUp([peer], this.around.network.draw)) this.graft(graft)
    this.originator.noteChange()
    if (peer < this.peerId) this.syncWith(peer) // one end starts it, as the dialler does
  }

  linkDown (peer: string): void {
    this.gossip.drop(peer)
    if (this.links.delete(peer)) this.originator.noteChange()
  }

  /** Gossip mesh upkeep, and IHAVE to a few peers outside the mesh with what we saw lately. */
  private heartbeat (): void {
    const plan = this.gossip.heartbeat([...this.links.keys()], this.around.network.draw)
    for (const peer of plan.graft) this.graft(peer)
    for (const peer of plan.prune) {
      this.gossip.drop(peer)
      this.sendTo('prune', peer, controlBytes, (other) => { other.gossip.drop(this.peerId) })
    }
    const offered = plan.offered
    for (const peer of plan.lazy) this.sendTo('ihave', peer, controlBytes + idBytes * offered.length, (other) => { other.answerIhave(this.peerId, offered) })
  }

  private graft (peer: string): void {
    this.gossip.peers.add(peer)
    this.sendTo('graft', peer, controlBytes, (other) => { if (other.links.has(this.peerId)) other.gossip.peers.add(this.peerId) })
  }

  /** IHAVE: asks for (IWANT) what we do not hold; the records come back a round trip later. */
  private answerIhave (from: string, offered: readonly ShoalRecord[]): void {
    if (!this.links.has(from)) return
    const wanted = offered.filter((record) => this.db.get(recordKey(record)) !== record)
    if (wanted.length === 0) return
    this.sendTo('iwant', from, controlBytes + idBytes * wanted.length, (peer) => {
      peer.sendTo('gossip', this.peerId, recordsBytes(wanted), (self) => { for (const record of wanted) self.receive(record, from, true) })
    })
  }

  /** Digest sync, as net/sync.ts runs it: summaries first; digests and records only when they differ. */
  private syncWith (peer: string): void {
    const summary = this.db.summaryHash()
    this.sendTo('sync', peer, summaryBytes, (other) => { other.answerSummary(this.peerId, summary) })
  }

  /** Responder: our summary goes back; equal databases end the sync here (the case at rest). */
  private answerSummary (from: string, theirs: string): void {
    if (!this.alive || !this.links.has(from)) return
    const mine = this.db.summaryHash()
    if (mine === theirs) this.synced(from)
    this.sendTo('sync', from, summaryBytes, (other) => { other.sendDigest(this.peerId, mine) })
  }

  /** Initiator: equal summaries end the sync; otherwise our digest goes over. */
  private sendDigest (from: string, theirs: string): void {
    if (!this.alive || !this.links.has(from)) return
    if (theirs === this.db.summaryHash()) return this.synced(from)
    const digest = this.db.digest()
    this.sendTo('sync', from, digestBytes(digest), (other) => { other.answerSync(this.peerId, digest) })
  }

  /** Responder: what the initiator lacks goes back, with our digest. */
  private answerSync (from: string, theirDigest: Digest): void {
    if (!this.alive || !this.links.has(from)) return
    const records = this.db.recordsMissingFrom(theirDigest)
    const digest = this.db.digest()
    this.sendTo('sync', from, recordsBytes(records) + digestBytes(digest), (other) => { other.finishSync(this.peerId, records, digest) })
  }

  /** Initiator: takes what the responder sent, sends what the responder's digest lacks. */
  private finishSync (from: string, records: readonly ShoalRecord[], theirDigest: Digest): void {
    if (!this.alive || !this.links.has(from)) return
    for (const record of records) this.receive(record, from)
    this.synced(from)
    const missing = this.db.recordsMissingFrom(theirDigest)
    this.sendTo('sync', from, recordsBytes(missing), (peer) => {
      if (!peer.links.has(this.peerId)) return
      for (const record of missing) peer.receive(record, this.peerId)
      peer.synced(this.peerId)
    })
  }

  private synced (peer: string): void {
    const link = this.links.get(peer)
    if (link === undefined || link.synced) return
    link.synced = true
    this.originator.noteChange() // a new adjacency
  }

  /**
   * A record from `source` (ourselves for local input): the engine's checks, then merge and flood. A
   * flooded copy of a record this node already holds is dropped first, as gossipsub's seen-cache drops
   * a message it has seen before it reaches MeshNode's validator.
   */
  receive (record: ShoalRecord, source: string, flooded = false): boolean {
    if (!this.alive) return false
    if (flooded && this.db.get(recordKey(record)) === record) return false
    const nowMs = this.clock.monotonicNow()
    const intake = this.intake
    const refusedSender = intake.checkSender(source, nowMs)
    if (refusedSender !== undefined) return false
    const signer = record.kind === 'node' ? record.nodeId : record.version.signer
    const failure = intake.authorise(record.kind, signer, nowMs)
    const result = failure !== undefined
      ? intake.refused(failure, source, signer, nowMs)
      : intake.take(record, undefined, source, nowMs, this.clock.wallNow())
    for (const effect of intake.takeEffects()) this.dropLink(effect.peerId)
    if (result.verdict !== 'accept') return false
    if (record.kind === 'node' && record.nodeId === this.peerId && (record.version.generation !== this.lastVersion.generation || record.version.seq > this.lastVersion.seq)) {
      this.originator.noteChange() // our record from before a restart, flooded back: jump past it
    }
    this.emit('record:merged', record)
    this.gossip.seen(record)
    // Our own to every link (floodPublish), a forwarded one over the mesh.
    for (const peer of source === this.peerId ? this.links.keys() : this.gossip.peers) {
      if (peer === source) continue
      this.sendTo('gossip', peer, recordBytes(record), (other) => { other.receive(record, this.peerId, true) })
    }
    return true
  }

  private dropLink (peer: string): void {
    this.linkDown(peer)
    this.around.node(peer)?.linkDown(this.peerId)
  }

  private originate (): void {
    if (!this.alive) return
    const version = nextOwnVersion(this.lastVersion, this.db.nodeRecord(this.peerId)?.version)
    const record: NodeRecord = {
      kind: 'node',
      nodeId: this.peerId,
      version,
      originatedAtMs: this.clock.wallNow(),
      addresses: [],
      labels: this.localState.labels,
      slots: this.localState.slots,
      adjacencies: this.adjacentPeers(),
      resources: this.localState.resources,
      viewHash: this.localState.viewHash,
      policyDigest: this.db.policyDigestHash(),
      ...(this.localState.holdUntilMs === undefined ? {} : { holdUntilMs: this.localState.holdUntilMs }),
    }
    this.lastVersion = version
    this.around.noteOrigination(record)
    this.receive(record, this.peerId)
  }

  /** A redial round: the engine's plan (engine/redial.ts), as MeshNode makes it, carried out here. */
  private redial (): void {
    const intake = this.intake
    const plan = planRedial({
      selfId: this.peerId,
      connected: [...this.links.keys()].sort(),
      synced: new Set(this.adjacentPeers()),
      dialling: this.dialling,
      announced: this.db.nodeRecord(this.peerId)?.adjacencies ?? [],
      component: this.component(),
      known: () => this.knownPeers(),
      mayDial: (id) => intake.cutOff(id, this.clock.monotonicNow()) === undefined && !intake.refuses(id),
    }, this.config, this.around.network.draw)
    for (const peer of plan.resync) this.syncWith(peer)
    if (plan.originate) this.originator.noteChange()
    if (plan.dialBootstrap) for (const peer of this.bootstrap) this.dial(peer)
    for (const peer of plan.dial) this.dial(peer)
  }

  /** The peer book: the bootstrap peers and every node with a record. */
  private * knownPeers (): Iterable<string> {
    yield * this.bootstrap
    for (const record of this.db.nodeRecords()) yield record.nodeId
  }

  /** A dial: one round trip when the way is open both ways and the peer answers; else a timeout. */
  private dial (peer: string): void {
    if (this.dialling.has(peer) || this.links.has(peer) || peer === this.peerId) return
    const network = this.around.network
    const other = this.around.node(peer)
    const answers = (): boolean => other !== undefined && other.alive && !other.stalled && this.alive && !this.stalled &&
      network.canSend(this.peerId, peer) && network.canSend(peer, this.peerId)
    this.dialling.add(peer)
    const connects = answers()
    this.clock.setTimer(() => {
      this.dialling.delete(peer)
      if (!connects || !answers() || other === undefined) return
      this.linkUp(peer)
      other.linkUp(this.peerId)
    }, connects ? network.latencyMs(this.peerId, peer) + network.latencyMs(peer, this.peerId) : this.config.dialTimeoutMs)
  }

  /** Anti-entropy: a digest sync with one linked neighbour, chosen by the network's stream. */
  private syncWithOne (): void {
    const peers = [...this.links.keys()]
    const peer = peers[Math.floor(this.around.network.draw() * peers.length)]
    if (peer !== undefined) this.syncWith(peer)
  }

  /** Runs `task` every `intervalMs` from `phaseMs`, while the node is alive (one pending timer per task). */
  private every (intervalMs: number, phaseMs: number, task: () => void): void {
    const slot = this.timers.length
    const run = (): void => {
      if (!this.alive) return
      if (!this.stalled) task() // a stalled node's rounds would only queue I/O
      this.timers[slot] = this.clock.setTimer(run, intervalMs)
    }
    this.timers.push(this.clock.setTimer(run, phaseMs % intervalMs))
  }
}

/** A connection to a peer: to the node that was the peer when it came up (a restart is a new node). */
interface Link {
  synced: boolean
  readonly node: VirtualNode
  /** Since when (a liveness check) nothing can have been heard on it; undefined while it is heard. */
  silentSinceMs: number | undefined
}

/** Message sizes for the traffic counters and the uplink model: roughly what the libp2p engine sends. */
const summaryBytes = 64
const controlBytes = 40
const idBytes = 34
const resetBytes = 40
const recordSizes = new WeakMap<ShoalRecord, number>()
function recordBytes (record: ShoalRecord): number {
  let size = recordSizes.get(record)
  if (size === undefined) recordSizes.set(record, size = JSON.stringify(record).length + 100) // + signature and framing
  return size
}
function recordsBytes (records: readonly ShoalRecord[]): number {
  let sum = 0
  for (const record of records) sum += recordBytes(record)
  return sum
}
function digestBytes (digest: Digest): number {
  return summaryBytes + digest.size * 48
}
