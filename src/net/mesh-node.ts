// MeshNode: one Shoal node on the libp2p v2 stack. It holds the RecordDB and keeps it equal to every
// reachable node's:
// - gossip: one gossipsub topic per cluster carries signed records (StrictNoSign, message id = SHA-256
//   of the data: our envelopes are already signed, and replay protection is ours, by version);
// - digest sync: on every new connection (the dialler starts it) and periodically with a random
//   neighbour; records it brings are re-published so they flood the rest of our side at once;
// - adjacency: our own NodeRecord lists the peers we hold a connection with *and* have completed a
//   digest sync with on it (OSPF's FULL state: the database exchange comes before the adjacency is
//   announced). Without that, a node back from a crash counted as reachable through its old record,
//   which still listed us and still claimed its old workloads, before its new record had arrived.
//   The record is re-originated on every change (coalesced) and refreshed periodically;
// - staying connected: dial known peers while below `minNeighbours`, and per `redialIntervalMs` a few
//   nodes of each component (`healProbesPerRound`) probe one known peer outside it, so that a healed
//   partition reconnects by itself;
// - admission and partitions through the connection gater (gater.ts).
//
// Every record, from gossip or sync, goes through `ingest`: size → decode → signature and domain →
// authorisation → version; it answers accept / ignore / reject and never throws. What to decide about
// a record is the engine's (engine/intake.ts, sans-IO: admission, limits, penalties, clock bounds);
// this adapter decodes and verifies it (codec.ts) and carries out what the engine asks (hang-ups).

import { EventEmitter } from 'node:events'
import { createHash } from 'node:crypto'
import { gossipsub, type GossipsubEvents } from '@chainsafe/libp2p-gossipsub'
import { createPeerScoreParams, createPeerScoreThresholds, createTopicScoreParams } from '@chainsafe/libp2p-gossipsub/score'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { TopicValidatorResult, type Libp2p, type PrivateKey, type PubSub, type Transport } from '@libp2p/interface'
import { memory } from '@libp2p/memory'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import {
  componentFrom, nextOwnVersion, RecordDB,
  type Labels, type NodeRecord, type NodeVersion, type ResourceStatus, type ShoalRecord,
} from '../core/index.ts'
import { RecordIntake, type IngestResult } from '../engine/intake.ts'
import { Originator } from '../engine/originator.ts'
import { planRedial } from '../engine/redial.ts'
import { systemClock } from '../clock.ts'
import { openRecord, sealRecord } from './codec.ts'
import { defaultNetConfig, validateNetConfig, type NetConfig } from './config.ts'
import { framedStream } from './framed-stream.ts'
import { createGater } from './gater.ts'
import { Wire, keepaliveFromDialer, onWire } from './wire.ts'
import { SyncProtocolError, syncAsInitiator, syncAsResponder, syncLimitsFor, type SyncLimits, type SyncOutcome } from './sync.ts'

export interface MeshNodeInit {
  readonly clusterName: string
  /** This node's identity (Ed25519). */
  readonly privateKey: PrivateKey
  /** The private-network key, in the format `@libp2p/pnet`'s generateKey writes. */
  readonly networkKey: Uint8Array
  /** Peer ids of the operator keys trusted to sign policy. */
  readonly operators: readonly string[]
  /** 'operator': only nodes an operator admitted take part. 'open': every holder of the network key. */
  readonly admission: 'operator' | 'open'
  readonly transport: 'tcp' | 'memory'
  readonly listen: readonly string[]
  readonly bootstrap?: readonly string[]
  readonly labels?: Labels
  readonly slots?: number
  /**
   * What runs here already, for our first record (a restarted daemon's adopted workloads): a first
   * record saying "nothing" would invite the others to start our work elsewhere.
   */
  readonly resources?: readonly ResourceStatus[]
  /** Back from a clean stop: our first records still ask for our work to be held, until then. */
  readonly holdUntilMs?: number
  /** Persisted counter bumped at every start (DESIGN.md §3). */
  readonly generation: number
  /** The Shoal release this node runs, stated in its record (the daemon's; the simulator states none). */
  readonly agentVersion?: string
  /** Signed records to start from (persisted ones, or admissions handed over by an operator). */
  readonly seedRecords?: readonly Uint8Array[]
  readonly config?: NetConfig
  readonly now?: () => number
  /**
   * Also join a probe topic that carries raw broadcasts with no validation: the floor that record
   * propagation is measured against (scripts/bench-mesh.ts). Off by default.
   */
  readonly probeTopic?: boolean
  /** Fault injection: let `stall(ms)` pause this node's connections (stall.ts). Off by default. */
  readonly stallable?: boolean
}

export type { IgnoreReason, IngestResult } from '../engine/intake.ts'

export interface MeshCounters {
  gossipMessages: number
  gossipBytes: number
  accepted: number
  ignored: Record<string, number>
  rejected: Record<string, number>
  gaterRefusals: Record<string, number>
  originated: number
  syncRuns: number
  syncFailures: number
  /** Sync failures by error name (SyncProtocolError, StreamTimeoutError, …). */
  syncFailureReasons: Record<string, number>
  syncRecordsSent: number
  syncRecordsReceived: number
  /** Peers dropped and refused for a while (penalty-box.ts) for breaking the protocol. */
  peersDropped: number
  connectionsOpened: number
  connectionsClosed: number
  /** Connections dropped for silence (dead interval): hung or vanished peers. */
  linksDeclaredDead: number
}

export interface MeshNodeEvents {
  'record:merged': [record: ShoalRecord]
  'probe:message': [data: Uint8Array]
  'adjacency:changed': [adjacencies: readonly string[]]
  'peer:penalised': [peerId: string, reason: string, durationMs: number]
}

export interface LocalState {
  labels: Labels
  slots: number
  resources: readonly ResourceStatus[]
  viewHash: string
  /** Only around a restart: hold our work until then (placement.ts). */
  holdUntilMs?: number | undefined
}

export class MeshNode extends EventEmitter<MeshNodeEvents> {
  readonly peerId: string
  readonly db = new RecordDB()
  readonly counters: MeshCounters

  readonly config: NetConfig
  readonly topic: string
  readonly syncProtocol: string
  readonly probeTopic: string
  private readonly init: MeshNodeInit
  private readonly now: () => number
  /** What we decide about each record a peer sends (engine/intake.ts): admission, limits, penalties. */
  private readonly intake: RecordIntake
  /** Every address seen in records, by peer id: whom to redial. */
  readonly peerBook = new Map<string, readonly string[]>()
  private libp2p!: Libp2p<{ pubsub: PubSub<GossipsubEvents> }>
  /** Set once libp2p exists; seed records are ingested before that. */
  private networkUp = false
  private local: LocalState
  private lastVersion: NodeVersion
  /** When our record is re-originated (engine/originator.ts: the throttle, on the system clock). */
  private readonly originator: Originator
  private statusTimer: NodeJS.Timeout | undefined
  private originating: Promise<void> | undefined
  private readonly timers: NodeJS.Timeout[] = []
  private readonly syncing = new Set<string>()
  /** Connected peers with a completed digest sync on the current connection: our adjacencies. */
  private readonly synced = new Set<string>()
  private readonly dialling = new Set<string>()
  private stopped = false
  private wire!: Wire

  private constructor (init: MeshNodeInit) {
    super()
    this.init = init
    this.config = init.config ?? defaultNetConfig
    const problems = validateNetConfig(this.config)
    if (problems.length > 0) throw new Error(`invalid network config: ${problems.join('; ')}`)
    this.now = init.now ?? Date.now
    this.peerId = peerIdFromPrivateKey(init.privateKey).toString()
    this.topic = `/shoal/${init.clusterName}/records/1`
    this.syncProtocol = `/shoal/${init.clusterName}/sync/2.0.0`
    this.probeTopic = `/shoal/${init.clusterName}/probe/1`
    this.local = { labels: init.labels ?? {}, slots: init.slots ?? 1, resources: init.resources ?? [], viewHash: '', holdUntilMs: init.holdUntilMs }
    this.lastVersion = { generation: init.generation, seq: 0 }
    this.originator = new Originator(systemClock, this.config, () => { void this.originate() })
    this.intake = new RecordIntake(this.db, {
      ...this.config,
      selfId: this.peerId,
      operators: new Set(init.operators),
      admission: init.admission,
      bootstrapPeers: new Set((init.bootstrap ?? []).flatMap((address) => {
        const peerId = multiaddr(address).getPeerId()
        return peerId === null ? [] : [peerId]
      })),
    })
    const intakeCounters = this.intake.counters
    this.counters = {
      gossipMessages: 0, gossipBytes: 0, ignored: intakeCounters.ignored, rejected: intakeCounters.rejected, gaterRefusals: {}, originated: 0,
      syncRuns: 0, syncFailures: 0, syncFailureReasons: {}, syncRecordsSent: 0, syncRecordsReceived: 0, connectionsOpened: 0, connectionsClosed: 0, linksDeclaredDead: 0,
      get accepted () { return intakeCounters.accepted },
      get peersDropped () { return intakeCounters.peersDropped },
    }
  }

  /** Our own last record from before a restart (from `seedRecords`), before this life's first replaced it. */
  restoredOwnRecord: NodeRecord | undefined

  static async create (init: MeshNodeInit): Promise<MeshNode> {
    const node = new MeshNode(init)
    await node.start()
    return node
  }

  private async start (): Promise<void> {
    for (const envelope of this.init.seedRecords ?? []) await this.ingest(envelope, this.peerId)
    this.restoredOwnRecord = this.db.nodeRecord(this.peerId)
    this.libp2p = await createLibp2p({
      privateKey: this.init.privateKey,
      addresses: { listen: [...this.init.listen] },
      transports: [this.transport()],
      connectionEncrypters: [noise()],
      streamMuxers: [keepaliveFromDialer(yamux({ enableKeepAlive: true, keepAliveInterval: this.config.helloIntervalMs }))],
      connectionProtector: preSharedKey({ psk: this.init.networkKey }),
      connectionGater: createGater(this.admissionView(), (id) => this.cutOff(id), (reason) => bump(this.counters.gaterRefusals, reason)),
      // Liveness comes from the wire (wire.ts): yamux keepalives and a dead interval.
      connectionMonitor: { enabled: false },
      connectionManager: { dialTimeout: this.config.dialTimeoutMs },
      services: {
        identify: identify(),
        pubsub: gossipsub(this.gossipOptions()),
      },
    })
    this.networkUp = true
    const pubsub = this.libp2p.services.pubsub
    pubsub.topicValidators.set(this.topic, async (peer, message) => {
      this.counters.gossipMessages++
      this.counters.gossipBytes += message.data.byteLength
      const result = await this.ingest(message.data, peer.toString())
      return result.verdict === 'accept' ? TopicValidatorResult.Accept : result.verdict === 'ignore' ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
    })
    pubsub.subscribe(this.topic)
    if (this.init.probeTopic === true) {
      pubsub.subscribe(this.probeTopic)
      pubsub.addEventListener('message', (event) => {
        if (event.detail.topic === this.probeTopic) this.emit('probe:message', event.detail.data)
      })
    }
    await this.libp2p.handle(this.syncProtocol, ({ stream, connection }) => {
      void this.respondToSync(stream, connection.remotePeer.toString())
    }, { maxInboundStreams: 4, maxOutboundStreams: 4 })
    this.libp2p.addEventListener('connection:open', (event) => {
      this.counters.connectionsOpened++
      this.scheduleOriginate()
      if (event.detail.direction === 'outbound') void this.syncWith(event.detail.remotePeer.toString())
    })
    this.libp2p.addEventListener('connection:close', (event) => {
      this.counters.connectionsClosed++
      const peer = event.detail.remotePeer.toString()
      if (this.libp2p.getConnections(event.detail.remotePeer).every((connection) => connection.status !== 'open')) this.synced.delete(peer)
      this.scheduleOriginate()
    })
    this.every(this.config.syncIntervalMs, () => this.syncWithRandomNeighbour())
    this.every(this.config.redialIntervalMs, () => this.redial())
    let lastCheckMs = monotonicNow()
    this.every(this.config.helloIntervalMs / 2, () => {
      const nowMs = monotonicNow()
      this.wire.forgiveOwnLag(nowMs - lastCheckMs - this.config.helloIntervalMs / 2)
      lastCheckMs = nowMs
      this.dropSilentLinks()
    })
    this.every(this.config.refreshIntervalMs, () => this.scheduleOriginate())
    this.every(Math.min(this.config.maxAgeMs / 4, 60_000), () => {
      this.db.dropExpired(this.now(), this.config)
      this.intake.prune(monotonicNow())
      // A node whose record aged out has left (or was never heard of again): stop dialling it.
      for (const id of this.peerBook.keys()) if (this.db.nodeRecord(id) === undefined) this.peerBook.delete(id)
    })
    await this.originate()
    for (const address of this.init.bootstrap ?? []) void this.dialAddress(address)
  }

  /**
   * Stops to restart: floods a last record asking the others to hold our work until `holdUntilMs`
   * (placement.ts), gives it a moment to leave, then stops.
   */
  async stopForRestart (holdUntilMs: number): Promise<void> {
    if (this.stopped) return
    this.local = { ...this.local, holdUntilMs }
    await this.originating
    await this.originate()
    await new Promise((resolve) => setTimeout(resolve, 100))
    await this.stop()
  }

  /** Fault injection (needs `stallable: true`): stop answering on every connection for `ms`. */
  stall (ms: number): void {
    if (this.init.stallable !== true) throw new Error('stall() needs a node started with stallable: true')
    this.wire.stallGate.stall(ms)
  }

  /** Bytes this node sent and received on all its connections, as on the wire (encrypted, everything). */
  traffic (): { bytesIn: number, bytesOut: number } {
    return { bytesIn: this.wire.bytesIn, bytesOut: this.wire.bytesOut }
  }

  private transport () {
    // libp2p hands every transport all components; the two factories just name different subsets.
    const transport = (this.init.transport === 'tcp' ? tcp({ dialOpts: { noDelay: true }, listenOpts: { noDelay: true } }) : memory()) as (components: unknown) => Transport
    this.wire = new Wire(monotonicNow, this.init.stallable === true)
    return onWire(transport, this.wire)
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const timer of this.timers) clearInterval(timer)
    this.originator.stop()
    clearTimeout(this.statusTimer)
    await this.libp2p.stop()
  }

  /** Our listen addresses, with /p2p/<peer id>, for others to dial. */
  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map((address) => address.toString())
  }

  /** Peers we hold an open connection with, sorted: the adjacencies our record lists. */
  connectedPeers (): string[] {
    return [...new Set(this.libp2p.getConnections().filter((c) => c.status === 'open').map((c) => c.remotePeer.toString()))].sort()
  }

  /** Connected peers whose database we have exchanged with: what our record lists, sorted. */
  adjacentPeers (): string[] {
    return this.connectedPeers().filter((peer) => this.synced.has(peer))
  }

  /** Nodes reachable from us over two-way adjacencies, ourselves included; as computeView counts them. */
  component (): ReadonlySet<string> {
    // Cached per database revision: redial asks every round, and tests and the simulator poll it.
    return componentFrom(this.db, this.peerId, this.init.admission === 'operator' ? 'operator' : 'open')
  }

  get localState (): Readonly<LocalState> {
    return this.local
  }

  /**
   * Changes what our record says about us; it is re-originated (coalesced) unless `announce` is false,
   * in which case the change rides on our next record. A change of workload status only (`status`)
   * is announced after `statusAnnounceDelayMs`: no node's view depends on it, so it waits for whatever
   * else the same change set going (every node's recompute, in one process).
   */
  updateLocalState (change: Partial<LocalState>, options: { announce?: boolean, status?: boolean } = {}): void {
    this.local = { ...this.local, ...change }
    if (options.announce === false) return
    if (options.status !== true) return this.scheduleOriginate()
    if (this.statusTimer !== undefined) return
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined
      this.scheduleOriginate()
    }, this.config.statusAnnounceDelayMs)
  }

  /** Validates and merges a signed record from `source` (a peer id, or our own for local input). */
  async ingest (envelope: Uint8Array, source: string): Promise<IngestResult> {
    try {
      return await this.ingestUnsafe(envelope, source)
    } catch (error) {
      return this.intake.ignore('internal-error', (error as Error).message)
    } finally {
      this.carryOut()
    }
  }

  /** Validates, merges and floods a signed record made here (a policy an operator submitted). */
  async publish (envelope: Uint8Array): Promise<IngestResult> {
    const result = await this.ingest(envelope, this.peerId)
    if (result.verdict === 'accept') void this.flood(envelope) // never wait on a slow or stalled peer
    return result
  }

  /**
   * Fault injection, for tests and the simulator: floods `bytes` on the records topic without
   * validating them, as a buggy or hostile node would.
   */
  async floodUnchecked (bytes: Uint8Array): Promise<void> {
    await this.flood(bytes)
  }

  /** Gossipsub's score of every connected peer: honest peers should never go below zero. */
  peerScores (): Map<string, number> {
    const pubsub = this.libp2p.services.pubsub as unknown as { getScore(peerId: string): number }
    return new Map(this.connectedPeers().map((peer) => [peer, pubsub.getScore(peer)]))
  }

  /** Broadcasts raw bytes on the probe topic (only with `probeTopic: true`). */
  async publishProbe (data: Uint8Array): Promise<void> {
    await this.libp2p.services.pubsub.publish(this.probeTopic, data)
  }

  /** Cuts us off from `peerIds`: existing connections are closed and new ones refused, both ways. */
  async block (peerIds: Iterable<string>): Promise<void> {
    const hangUps: Array<Promise<void>> = []
    for (const id of peerIds) {
      if (id === this.peerId) continue
      this.intake.blocked.add(id)
      // Bounded: a graceful close waits on the peer, which may not answer (a hung or stalled peer).
      hangUps.push(this.libp2p.hangUp(peerIdFromString(id), { signal: AbortSignal.timeout(1_000) }).catch(() => {}))
    }
    await Promise.all(hangUps)
  }

  /** Lifts a cut; redial and digest sync repair the rest, unprompted. */
  unblock (peerIds: Iterable<string>): void {
    for (const id of peerIds) this.intake.blocked.delete(id)
  }

  async dialAddress (address: string): Promise<boolean> {
    try {
      await this.libp2p.dial(multiaddr(address), { signal: AbortSignal.timeout(this.config.dialTimeoutMs) })
      return true
    } catch {
      return false
    }
  }

  /** Runs one digest sync with `peerId` as initiator; false when it failed (the peer is then dropped). */
  async syncWith (peerId: string): Promise<boolean> {
    if (this.syncing.has(peerId) || this.stopped) return true
    this.syncing.add(peerId)
    try {
      const stream = await this.libp2p.dialProtocol(peerIdFromString(peerId), this.syncProtocol, {
        signal: AbortSignal.timeout(this.config.syncStepTimeoutMs),
      })
      const outcome = await syncAsInitiator(this.framed(stream), this.db, this.ingestFromSync(peerId), this.syncLimits())
      this.noteSync(outcome, peerId)
      return true
    } catch (error) {
      this.onSyncFailure(peerId, error as Error)
      return false
    } finally {
      this.syncing.delete(peerId)
    }
  }

  // -------------------------------------------------------------------------------------------------

  private async ingestUnsafe (envelope: Uint8Array, source: string): Promise<IngestResult> {
    const arrivedAtMs = monotonicNow()
    const refused = this.intake.checkSender(source, arrivedAtMs)
    if (refused !== undefined) return refused
    const opened = await openRecord(envelope, this.config.recordBytesMax, (kind, signerId) => this.intake.authorise(kind, signerId, arrivedAtMs))
    if (!opened.ok) return this.intake.refused(opened.failure, source, opened.detail, arrivedAtMs)
    const result = this.intake.take(opened.record, envelope, source, arrivedAtMs, this.now())
    if (result.verdict === 'accept') this.afterMerge(opened.record)
    return result
  }

  private afterMerge (record: ShoalRecord): void {
    if (record.kind === 'node') {
      if (record.nodeId === this.peerId) {
        // Our own record from before a restart, flooded back: jump past it.
        if (record.version.generation !== this.lastVersion.generation || record.version.seq > this.lastVersion.seq) this.scheduleOriginate()
      } else if (record.addresses.length > 0) {
        this.peerBook.set(record.nodeId, record.addresses)
      }
    }
    this.emit('record:merged', record)
  }

  /** Does what the intake decided besides its answers: drop and refuse a peer, hang up on a revoked one. */
  private carryOut (): void {
    for (const effect of this.intake.takeEffects()) {
      if (this.stopped) return
      if (effect.kind === 'penalise') this.emit('peer:penalised', effect.peerId, effect.reason, effect.durationMs)
      void this.libp2p?.hangUp(peerIdFromString(effect.peerId), { signal: AbortSignal.timeout(1_000) }).catch(() => {})
    }
  }

  /** Drops `peerId` and refuses it for a while (engine/penalty-box.ts). */
  private penalise (peerId: string, reason: string): void {
    if (this.stopped) return
    this.intake.penalise(peerId, reason, monotonicNow())
    this.carryOut()
  }

  /** Why we refuse any traffic with `peerId` now, if we do: a test's cut, or a penalty. */
  private cutOff (peerId: string): 'blocked' | 'penalised' | undefined {
    return this.intake.cutOff(peerId, monotonicNow())
  }

  private refuses (peerId: string): boolean {
    return this.intake.refuses(peerId)
  }

  private admissionView () {
    return {
      refusesInbound: (peerId: string) => this.refuses(peerId),
      refusesOutbound: (peerId: string) => this.refuses(peerId),
    }
  }

  private gossipOptions (): Parameters<typeof gossipsub>[0] {
    // Scoring is set explicitly, because gossipsub's defaults graylist honest Shoal peers:
    // - IP colocation: many nodes per IP is normal here (several daemons per host, the simulator), and
    //   sybil resistance comes from operator admission instead. Measured: 14 nodes on 127.0.0.1, each
    //   connected to the 13 others, score about -220 within 6 s with the defaults (test/mesh.test.ts);
    // - mesh-delivery deficits (P3, P3b) punish peers for a quiet topic, and ours is quiet by design
    //   (a message per change); they are off.
    // What stays: one invalid message costs its sender enough to be graylisted (decaying over seconds),
    // and first deliveries earn a little credit.
    const topicScore = createTopicScoreParams({
      topicWeight: 1,
      timeInMeshWeight: 0,
      firstMessageDeliveriesWeight: 1,
      firstMessageDeliveriesDecay: 0.5,
      firstMessageDeliveriesCap: 10,
      meshMessageDeliveriesWeight: 0,
      meshFailurePenaltyWeight: 0,
      invalidMessageDeliveriesWeight: -1_000,
      invalidMessageDeliveriesDecay: 0.5,
    })
    const topics = this.init.probeTopic === true ? [this.topic, this.probeTopic] : [this.topic]
    return {
      globalSignaturePolicy: 'StrictNoSign',
      msgIdFn: (message) => createHash('sha256').update(message.data).digest(),
      allowedTopics: topics,
      maxInboundDataLength: this.config.recordBytesMax + 1_024,
      decodeRpcLimits: {
        maxSubscriptions: 4, maxMessages: 512, maxIhaveMessageIDs: 5_000, maxIwantMessageIDs: 5_000,
        maxIdontwantMessageIDs: 5_000, maxControlMessages: 1_000, maxPeerInfos: 0,
      },
      fallbackToFloodsub: false,
      doPX: false,
      emitSelf: false,
      allowPublishToZeroTopicPeers: true,
      ignoreDuplicatePublishError: true,
      heartbeatInterval: this.config.gossipHeartbeatMs,
      ...meshDegrees(this.config.gossipMeshDegree),
      Dlazy: this.config.gossipLazyDegree,
      mcacheGossip: this.config.gossipHistoryWindows,
      idontwantMinDataSize: this.config.gossipDontWantMinBytes,
      scoreParams: createPeerScoreParams({
        IPColocationFactorWeight: 0,
        topics: Object.fromEntries(topics.map((topic) => [topic, topicScore])),
      }),
      scoreThresholds: createPeerScoreThresholds({ gossipThreshold: -10, publishThreshold: -50, graylistThreshold: -80 }),
    }
  }

  private async flood (envelope: Uint8Array): Promise<void> {
    if (this.stopped) return
    try {
      await this.libp2p.services.pubsub.publish(this.topic, envelope)
    } catch {
      // Nobody to send to yet: digest sync delivers it when a neighbour appears.
    }
  }

  private scheduleOriginate (): void {
    if (!this.stopped) this.originator.noteChange()
  }

  private async originate (): Promise<void> {
    // Seed records (our own among them, after a restart) are ingested before libp2p exists; start()
    // originates once libp2p is up, jumping past whatever own record the seeds held.
    if (this.stopped || !this.networkUp) return
    if (this.originating !== undefined) {
      await this.originating
      this.scheduleOriginate()
      return
    }
    this.originating = (async () => {
      const adjacencies = this.adjacentPeers()
      const version = nextOwnVersion(this.lastVersion, this.db.nodeRecord(this.peerId)?.version)
      const nowMs = this.now()
      const record: NodeRecord = {
        kind: 'node',
        nodeId: this.peerId,
        version,
        originatedAtMs: nowMs,
        addresses: this.libp2p.getMultiaddrs().map((address) => address.toString()),
        labels: this.local.labels,
        slots: this.local.slots,
        adjacencies,
        resources: this.local.resources,
        viewHash: this.local.viewHash,
        policyDigest: this.db.policyDigestHash(),
        ...(this.local.holdUntilMs === undefined ? {} : { holdUntilMs: this.local.holdUntilMs }),
        ...(this.init.agentVersion === undefined ? {} : { agentVersion: this.init.agentVersion }),
      }
      const envelope = await sealRecord(record, this.init.privateKey)
      this.lastVersion = version
      this.counters.originated++
      this.db.merge(record, envelope)
      this.emit('record:merged', record)
      this.emit('adjacency:changed', adjacencies)
      // Not awaited: a publish can wait on a stalled peer's stream, and the next origination (the one
      // that drops that peer from our adjacencies) must not wait behind it.
      void this.flood(envelope)
    })()
    try {
      await this.originating
    } finally {
      this.originating = undefined
    }
  }

  private framed (stream: Parameters<typeof framedStream>[0]) {
    return framedStream(stream, { maxFrameBytes: this.config.syncFrameBytesMax, stepTimeoutMs: this.config.syncStepTimeoutMs })
  }

  private syncLimits (): SyncLimits {
    return syncLimitsFor(this.db.size, { chunkEntries: this.config.syncChunkRecords * 16, sessionTimeoutMs: this.config.syncSessionTimeoutMs, now: performance.now() })
  }

  private ingestFromSync (peerId: string) {
    return async (envelope: Uint8Array) => {
      const result = await this.ingest(envelope, peerId)
      if (result.verdict === 'accept') void this.flood(envelope) // carry it to the rest of our side now
      return result.verdict === 'ignore' && result.reason === 'stale' ? 'held' : result.verdict
    }
  }

  private async respondToSync (stream: Parameters<typeof framedStream>[0], peerId: string): Promise<void> {
    try {
      const outcome = await syncAsResponder(this.framed(stream), this.db, this.ingestFromSync(peerId), this.syncLimits())
      this.noteSync(outcome, peerId)
    } catch (error) {
      this.onSyncFailure(peerId, error as Error)
    }
  }

  private noteSync (outcome: SyncOutcome, peerId: string): void {
    if (!this.synced.has(peerId) && this.connectedPeers().includes(peerId)) {
      this.synced.add(peerId)
      this.scheduleOriginate() // a new adjacency
    }
    this.counters.syncRuns++
    this.counters.syncRecordsSent += outcome.sent
    this.counters.syncRecordsReceived += outcome.received
  }

  private onSyncFailure (peerId: string, error: Error): void {
    this.counters.syncFailures++
    // By kind, not by message: messages carry peer ids and addresses, and the map must not grow with them.
    const reasons = this.counters.syncFailureReasons
    bump(reasons, error.name in reasons || Object.keys(reasons).length < 32 ? error.name : 'other')
    // Only a peer that provably broke the protocol (bad frames, invalid records, an oversized digest or
    // frame) is dropped. A timeout or an early close is counted, not punished: under load (a burst of
    // Noise handshakes on a busy core) honest peers are slow, and dropping them only adds handshakes.
    // A peer that is truly hung falls silent and is dropped for it (wire.ts). The periodic sync retries.
    const provable = error instanceof SyncProtocolError || error.name === 'InvalidDataLengthError' || error.name === 'InvalidDataLengthLengthError'
    if (!provable) return
    this.penalise(peerId, `digest sync: ${error.message}`)
  }

  /** A connection silent for the dead interval is to a hung or vanished peer: drop it (wire.ts). */
  private dropSilentLinks (): void {
    for (const link of this.wire.silentLinks(this.config.deadIntervalMs)) {
      this.counters.linksDeclaredDead++
      link.connection.abort(new Error(`nothing received for ${this.config.deadIntervalMs} ms`))
    }
  }

  private syncWithRandomNeighbour (): void {
    const peers = this.connectedPeers()
    const peer = peers[Math.floor(Math.random() * peers.length)]
    if (peer !== undefined) void this.syncWith(peer)
  }

  /** A redial round: the engine's plan (engine/redial.ts), carried out over libp2p. */
  private redial (): void {
    if (this.stopped) return
    const plan = planRedial({
      selfId: this.peerId,
      connected: this.connectedPeers(),
      synced: this.synced,
      dialling: this.dialling,
      // A connection stuck closing (its graceful close waits on a peer that does not answer) fires no
      // close event for a long while, but it is no adjacency: the plan says so without waiting for it.
      announced: this.db.nodeRecord(this.peerId)?.adjacencies ?? [],
      component: this.component(),
      known: () => this.peerBook.keys(),
      mayDial: (id) => this.cutOff(id) === undefined && !this.refuses(id),
    }, this.config, Math.random)
    for (const peer of plan.resync) void this.syncWith(peer)
    if (plan.originate) this.scheduleOriginate()
    if (plan.dialBootstrap) for (const address of this.init.bootstrap ?? []) void this.dialAddress(address)
    for (const id of plan.dial) void this.dialKnown(id)
  }

  private async dialKnown (peerId: string): Promise<void> {
    const addresses: Multiaddr[] = (this.peerBook.get(peerId) ?? []).map((address) => multiaddr(address))
    if (addresses.length === 0) return
    this.dialling.add(peerId)
    try {
      await this.libp2p.dial(addresses, { signal: AbortSignal.timeout(this.config.dialTimeoutMs) })
    } catch {
      // Unreachable for now; tried again next round.
    } finally {
      this.dialling.delete(peerId)
    }
  }

  private every (intervalMs: number, task: () => void): void {
    const timer = setInterval(task, intervalMs)
    timer.unref()
    this.timers.push(timer)
  }
}

/**
 * Gossipsub's mesh degrees from its target D, in the proportions of its defaults (6: 5–12, 2 outbound,
 * 4 kept by score): every message reaches a node about D times, so D is what a flood costs.
 */
function meshDegrees (D: number): { D: number, Dlo: number, Dhi: number, Dout: number, Dscore: number } {
  const Dlo = Math.max(1, D - 1)
  return { D, Dlo, Dhi: 2 * D, Dout: Math.min(Math.floor(D / 2), Dlo - 1), Dscore: Math.floor((2 * D) / 3) }
}

/**
 * The clock for intervals (dead links, the origination throttle, the loop-lag check): it never steps.
 * `now` (the wall clock, injectable) is for what crosses the wire: record times, expiry, clock skew.
 * On the wall clock a step back froze the throttle for the step's length and hid dead links; a step
 * forward declared every link dead at once.
 */
function monotonicNow (): number {
  return performance.now()
}

function bump (counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1
}
