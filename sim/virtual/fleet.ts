// A fleet on the virtual network (issue 25): N VirtualNodes, each with its reconciler and memory
// actuator, all on one VirtualClock, driven from a seed; the virtual engine behind `shoal sim --engine
// virtual` (sim/fleet.ts's SimFleet). Faults are the simulator's: crashes and restarts, two-way and
// one-way partitions, heals, stalls, and per-node clock offsets that may jump during a run.
//
// Determinism: the overlay, each node's timer phases and every message's latency come from seeded
// generators (one per subsystem), timers fire in (time, sequence) order, and nothing reads the wall
// clock or Math.random, so the same options give the same run, origination for origination
// (`traceHash`). The libp2p engine (sim/libp2p-fleet.ts) stays the realistic check.

import { MemoryActuator } from '../../src/actuators/memory.ts'
import type { Clock, Timer } from '../../src/clock.ts'
import { computeView, Hasher64, judgeConvergence, type Labels, type NodeRecord, type PolicyKind, type PolicySpec, type ResourceStatus, type ShoalRecord, type TargetView } from '../../src/core/index.ts'
import { defaultJoinTimeoutMs, Reconciler } from '../../src/daemon/reconciler.ts'
import { fastNetConfig, type NetConfig } from '../../src/net/config.ts'
import { agreedView, groupConverged } from '../../src/testing/fleet.ts'
import { seededRandom } from '../../src/testing/random.ts'
import type { RunningWorkload, SimFleet } from '../fleet.ts'
import { VirtualClock } from '../virtual-clock.ts'
import { defaultNetworkModel, VirtualNetwork, type NetworkModel } from './network.ts'
import { VirtualNode, type VirtualSurroundings } from './node.ts'

export interface VirtualFleetOptions {
  readonly nodes: number
  readonly seed: number
  /** Random bootstrap peers each node is given (besides its ring neighbours, which keep the start connected). */
  readonly degree?: number
  /** Each node's labels; by default zone=zone-(i mod zones). */
  readonly labels?: (index: number) => Labels
  /** Each node's slots (10 by default). */
  readonly slots?: (index: number) => number
  readonly zones?: number
  readonly model?: NetworkModel
  readonly net?: Partial<NetConfig>
  /** Per node, how far its wall clock is off (ms) from the start. */
  readonly clockOffsetMs?: (index: number) => number
  /** How often (virtual ms) a judge may look at least: by default 10 ms, and 1 ms more per 20 nodes past 200. */
  readonly judgeEveryMs?: number
}

/**
 * A judge computes every node's view (each an O(N) walk of its records), so a fleet of N judged every
 * 10 ms costs O(N^2) per poll. Past 200 nodes the poll slows with N: 50 ms at 1,000, 500 ms at 10,000 —
 * times are reported to that resolution.
 */
export function defaultJudgeEveryMs (nodes: number): number {
  return Math.max(10, Math.round(nodes / 20))
}

const operator = 'operator'

export class VirtualFleet implements VirtualSurroundings, SimFleet {
  readonly engine = 'virtual'
  /** Reconciler runs under way: the clock lets them finish before it fires the next timer. */
  private runsUnderWay = 0
  readonly clock = new VirtualClock(undefined, () => this.runsUnderWay > 0)
  readonly network: VirtualNetwork
  /** The mesh settings every node runs with: the simulator's (fastNetConfig), with the options' changes. */
  readonly config: NetConfig
  readonly nodes: VirtualNode[] = []
  readonly reconcilers: Reconciler[] = []
  readonly actuators: MemoryActuator[] = []
  private readonly clocks: Clock[] = []
  private readonly offsetsMs: number[] = []
  private readonly nodeLabels: Labels[] = []
  private readonly byId = new Map<string, VirtualNode>()
  private readonly trace = new Hasher64()
  private policyCounter = 0
  originated = 0

  private constructor (readonly options: VirtualFleetOptions) {
    this.config = { ...fastNetConfig, ...options.net }
    this.network = new VirtualNetwork(this.clock, options.seed, options.model ?? defaultNetworkModel, (id) => this.byId.get(id)?.localState.labels.zone)
  }

  static async start (options: VirtualFleetOptions): Promise<VirtualFleet> {
    const fleet = new VirtualFleet(options)
    await fleet.build()
    return fleet
  }

  get size (): number {
    return this.nodes.length
  }

  private async build (): Promise<void> {
    const { nodes: count, seed } = this.options
    const topology = seededRandom(seed ^ 0x746f70)
    const ids = Array.from({ length: count }, (_, i) => `node-${String(i).padStart(5, '0')}`)
    const links = ids.map(() => new Set<number>())
    const join = (a: number, b: number): void => {
      if (a === b) return
      links[a]?.add(b)
      links[b]?.add(a)
    }
    for (let i = 0; i < count; i++) {
      join(i, (i + 1) % count)
      for (let k = 0; k < (this.options.degree ?? 4); k++) join(i, Math.floor(topology() * count))
    }
    const zones = this.options.zones ?? 3
    for (const [i, id] of ids.entries()) {
      this.offsetsMs.push(this.options.clockOffsetMs?.(i) ?? 0)
      // Each node's clock: the fleet's, its wall time shifted by the node's offset (which may change).
      // Its timers run once its processor is free (network.ts `whenFree`; at once without a processing cost).
      this.clocks.push({
        wallNow: () => this.clock.wallNow() + (this.offsetsMs[i] as number),
        monotonicNow: () => this.clock.monotonicNow(),
        setTimer: (fn, ms) => {
          let cancelled = false
          const timer = this.clock.setTimer(() => { this.network.whenFree(id, () => { if (!cancelled) fn() }) }, ms)
          return { cancel: () => { cancelled = true; timer.cancel() } }
        },
      })
      this.nodeLabels.push(this.options.labels?.(i) ?? { zone: `zone-${i % zones}` })
      this.makeNode(i, id, [...(links[i] as Set<number>)].sort((a, b) => a - b).map((j) => ids[j] as string), 1)
    }
    const phases = seededRandom(seed ^ 0x706861)
    for (const node of this.nodes) node.start(phases() * this.config.redialIntervalMs)
    await Promise.all(this.reconcilers.map(async (reconciler) => { await reconciler.start() }))
  }

  /** Node `index`'s next life: a VirtualNode with its reconciler and a fresh memory actuator. */
  private makeNode (index: number, id: string, neighbours: readonly string[], generation: number): VirtualNode {
    const clock = this.clocks[index] as Clock
    const node = new VirtualNode(id, neighbours, clock, this.config, this, {
      labels: this.nodeLabels[index] as Labels, slots: this.options.slots?.(index) ?? 10, generation, operators: new Set([operator]),
    })
    this.nodes[index] = node
    this.byId.set(id, node)
    const actuator = new MemoryActuator({ clock })
    this.actuators[index] = actuator
    this.reconcilers[index] = new Reconciler({
      mesh: node, actuators: [actuator], admission: 'open', clock, onRunning: (running) => { this.runsUnderWay += running ? 1 : -1 },
    })
    return node
  }

  node (id: string): VirtualNode | undefined {
    return this.byId.get(id)
  }

  noteOrigination (record: NodeRecord): void {
    this.originated++
    this.trace.update(`${this.clock.monotonicNow()} ${record.nodeId} ${record.version.seq} ${record.adjacencies.length} ${record.resources.map((r) => `${r.id}:${r.phase}:${r.specHash}`).join(',')}`)
  }

  /** A hash of every origination so far (time, node, version, adjacencies, workloads): equal runs, equal hashes. */
  traceHash (): string {
    return this.trace.digestHex()
  }

  events (): number {
    return this.clock.fired
  }

  live (): number[] {
    const live: number[] = []
    for (const [i, node] of this.nodes.entries()) if (node.alive) live.push(i)
    return live
  }

  isLive (index: number): boolean {
    return this.nodes[index]?.alive === true
  }

  peerId (index: number): string {
    return (this.nodes[index] as VirtualNode).peerId
  }

  labels (index: number): Labels {
    return this.nodeLabels[index] ?? {}
  }

  workloads (index: number): readonly RunningWorkload[] {
    return this.actuators[index]?.workloadsNow() ?? []
  }

  resources (index: number): readonly ResourceStatus[] {
    return (this.nodes[index] as VirtualNode).localState.resources
  }

  viewHash (index: number): string {
    return (this.nodes[index] as VirtualNode).localState.viewHash
  }

  componentOf (index: number): ReadonlySet<string> {
    return (this.nodes[index] as VirtualNode).component()
  }

  traffic (): { messages: number, bytes: number } {
    return { messages: this.network.messages, bytes: this.network.bytes }
  }

  originations (): number {
    return this.originated
  }

  /** An operator's policy, handed to node `at` (the first live one if it is not), which floods it. */
  async publish (spec: PolicySpec, at?: number): Promise<void> {
    this.publishRecord(spec.kind, spec.name, spec, at)
  }

  async publishDeletion (kind: PolicyKind, name: string, at?: number): Promise<void> {
    this.publishRecord(kind, name, null, at)
  }

  private publishRecord (kind: PolicyKind, name: string, body: PolicySpec | null, at: number | undefined): void {
    const node = at !== undefined && this.isLive(at) ? this.nodes[at] : this.nodes.find((candidate) => candidate.alive)
    const record: ShoalRecord = { kind: 'policy', policyKind: kind, name, version: { hlc: { wallMs: this.clock.wallNow(), counter: this.policyCounter++ }, signer: operator }, body }
    node?.publish(record)
  }

  /** Kills a node as a crash would (its workloads with it); its neighbours see the links reset. */
  async crash (index: number): Promise<void> {
    const node = this.nodes[index]
    if (node === undefined || !node.alive) return
    await this.reconcilers[index]?.stop()
    this.actuators[index]?.crash()
    node.crash()
  }

  /**
   * Starts a crashed node again, as a daemon restart would: same identity, the next generation, the
   * records it held restored; it acts once a sync has brought it the fleet's records (or after the
   * daemon's join timeout, alone).
   */
  async restart (index: number): Promise<void> {
    const old = this.nodes[index]
    if (old === undefined || old.alive) throw new Error(`node ${index} is running`)
    const node = this.makeNode(index, old.peerId, old.bootstrap, old.generation + 1)
    node.restore(old.db)
    node.start(0)
    const reconciler = this.reconcilers[index] as Reconciler
    const deadline = this.clock.monotonicNow() + defaultJoinTimeoutMs
    const startWhenJoined = (): void => {
      if (!node.alive) return
      if (node.component().size <= 1 && this.clock.monotonicNow() < deadline) {
        this.clock.setTimer(startWhenJoined, 20)
        return
      }
      this.runsUnderWay++
      void reconciler.start().finally(() => { this.runsUnderWay-- })
    }
    startWhenJoined()
  }

  /**
   * Splits the live nodes into `groups` (indices): messages between groups are dropped (`oneWay`: only
   * from the first group to the others), and a link across the cut is dropped once an end has heard
   * nothing on it for the dead interval.
   */
  async partition (groups: ReadonlyArray<readonly number[]>, options: { oneWay?: boolean } = {}): Promise<void> {
    const groupOf = new Map<string, number>()
    groups.forEach((group, g) => { for (const index of group) groupOf.set(this.nodes[index]?.peerId ?? '', g) })
    this.network.splitInto(groupOf, options.oneWay === true)
    // Links across the cut stay up until each end's liveness finds them silent for the dead interval.
  }

  /** Lifts every cut: the next redial rounds bring the links back, digest sync repairs the rest. */
  async heal (): Promise<void> {
    this.network.healAll()
  }

  stall (index: number, ms: number): void {
    this.nodes[index]?.stall(ms)
  }

  /** Node `index`'s wall clock jumps by `byMs` (its timers and monotonic time do not). */
  skewClock (index: number, byMs: number): void {
    this.offsetsMs[index] = (this.offsetsMs[index] ?? 0) + byMs
  }

  /** How many groups the live nodes form (1: one component of every live node). */
  componentCount (): number {
    return this.groups().length
  }

  components (): number[][] {
    return this.groups().map((group) => group.map((node) => this.nodes.indexOf(node)))
  }

  /** The live nodes in groups that each see the same component. */
  private groups (): VirtualNode[][] {
    const seen = new Set<string>()
    const groups: VirtualNode[][] = []
    for (const node of this.nodes) {
      if (!node.alive || seen.has(node.peerId)) continue
      const component = node.component()
      const group = this.nodes.filter((other) => other.alive && component.has(other.peerId))
      for (const member of group) seen.add(member.peerId)
      groups.push(group)
    }
    return groups
  }

  private viewOf (node: VirtualNode): TargetView {
    return computeView(node.db, node.peerId, { admission: 'open', nowMs: node.clock.wallNow() })
  }

  /**
   * True when every group of live nodes computes one view over exactly its live members, and every
   * node runs what that view assigns it (its own report: the simulator's outside view).
   */
  converged (): boolean {
    return this.groups().every((group) => groupConverged(group, (node) => this.viewOf(node)))
  }

  /** Converged, and every node's own database says every node runs what the view puts on it. */
  confirmed (): boolean {
    return this.groups().every((group) => agreedView(group, (node) => this.viewOf(node)) !== undefined &&
      group.every((node) => judgeConvergence(node.db, this.viewOf(node)).converged))
  }

  /** How many replicas of `service` run on live nodes. */
  running (service: string): number {
    return this.nodes.filter((node) => node.alive)
      .flatMap((node) => node.localState.resources)
      .filter((resource) => resource.id.startsWith(`${service}@`) && resource.phase === 'running').length
  }

  now (): number {
    return this.clock.monotonicNow()
  }

  async sleep (ms: number): Promise<void> {
    await this.clock.advance(ms)
  }

  every (ms: number, fn: () => void): () => void {
    let timer: Timer | undefined
    const arm = (): void => { timer = this.clock.setTimer(() => { fn(); arm() }, ms) }
    arm()
    return () => { timer?.cancel() }
  }

  /**
   * Advances virtual time in steps of `pollMs` (10 by default) until `condition` holds; the virtual
   * time it took, or undefined if it did not hold within `withinMs`.
   */
  /** How often (virtual ms) judges look at least. */
  get judgeEveryMs (): number {
    return this.options.judgeEveryMs ?? defaultJudgeEveryMs(this.options.nodes)
  }

  async waitUntil (condition: () => boolean, withinMs: number, options: { pollMs?: number } = {}): Promise<number | undefined> {
    return await this.runUntil(condition, withinMs, Math.max(options.pollMs ?? 10, this.judgeEveryMs))
  }

  async runUntil (condition: () => boolean, withinMs: number, stepMs = 10): Promise<number | undefined> {
    const start = this.clock.monotonicNow()
    while (this.clock.monotonicNow() - start <= withinMs) {
      if (condition()) return this.clock.monotonicNow() - start
      await this.clock.advance(stepMs)
    }
    return undefined
  }

  async stop (): Promise<void> {
    await Promise.all(this.reconcilers.map(async (reconciler) => { await reconciler.stop() }))
    for (const node of this.nodes) if (node.alive) node.crash()
  }
}
