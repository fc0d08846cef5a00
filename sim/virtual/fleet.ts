// A fleet on the virtual network (issue 25): N VirtualNodes, each with its reconciler and memory
// actuator, all on one VirtualClock, driven from a seed. Faults are the simulator's: crashes, two-way
// and one-way partitions, heals, and per-node clock offsets.
//
// Determinism: the overlay, each node's timer phases and every message's latency come from seeded
// generators (one per subsystem), timers fire in (time, sequence) order, and nothing reads the wall
// clock or Math.random, so the same options give the same run, origination for origination
// (`traceHash`). The libp2p engine (sim/scenario.ts over src/testing/fleet.ts) stays the realistic check.

import { MemoryActuator } from '../../src/actuators/memory.ts'
import { skewed, type Clock } from '../../src/clock.ts'
import { computeView, Hasher64, judgeWorkloads, type NodeRecord, type PolicySpec, type TargetView } from '../../src/core/index.ts'
import { Reconciler } from '../../src/daemon/reconciler.ts'
import { fastNetConfig, type NetConfig } from '../../src/net/config.ts'
import { seededRandom } from '../../src/testing/random.ts'
import { VirtualClock } from '../virtual-clock.ts'
import { defaultNetworkModel, VirtualNetwork, type NetworkModel } from './network.ts'
import { VirtualNode, type VirtualSurroundings } from './node.ts'

export interface VirtualFleetOptions {
  readonly nodes: number
  readonly seed: number
  /** Random overlay links each node starts (besides a ring that keeps the overlay connected). */
  readonly degree?: number
  /** Nodes are labelled zone=zone-(i mod zones). */
  readonly zones?: number
  readonly model?: NetworkModel
  readonly net?: Partial<NetConfig>
  /** Per node, how far its wall clock is off (ms). */
  readonly clockOffsetMs?: (index: number) => number
}

const operator = 'operator'

export class VirtualFleet implements VirtualSurroundings {
  /** Reconciler runs under way: the clock lets them finish before it fires the next timer. */
  private runsUnderWay = 0
  readonly clock = new VirtualClock(undefined, () => this.runsUnderWay > 0)
  readonly network: VirtualNetwork
  /** The mesh settings every node runs with: the simulator's (fastNetConfig), with the options' changes. */
  readonly config: NetConfig
  readonly nodes: VirtualNode[] = []
  readonly reconcilers: Reconciler[] = []
  private readonly byId = new Map<string, VirtualNode>()
  private readonly trace = new Hasher64()
  private policyCounter = 0
  originations = 0

  private constructor (readonly options: VirtualFleetOptions) {
    this.network = new VirtualNetwork(this.clock, options.seed, options.model ?? defaultNetworkModel)
    this.config = { ...fastNetConfig, ...options.net }
  }

  static async start (options: VirtualFleetOptions): Promise<VirtualFleet> {
    const fleet = new VirtualFleet(options)
    await fleet.build()
    return fleet
  }

  private async build (): Promise<void> {
    const { nodes: count, seed } = this.options
    const config = this.config
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
      const offsetMs = this.options.clockOffsetMs?.(i) ?? 0
      const clock: Clock = offsetMs === 0 ? this.clock : skewed(this.clock, offsetMs)
      const node = new VirtualNode(id, [...(links[i] as Set<number>)].sort((a, b) => a - b).map((j) => ids[j] as string), clock, config, this, {
        labels: { zone: `zone-${i % zones}` }, slots: 10, generation: 1, operators: new Set([operator]),
      })
      this.nodes.push(node)
      this.byId.set(id, node)
      const actuator = new MemoryActuator({ clock })
      this.reconcilers.push(new Reconciler({
        mesh: node, actuators: [actuator], admission: 'open', clock, onRunning: (running) => { this.runsUnderWay += running ? 1 : -1 },
      }))
    }
    const phases = seededRandom(seed ^ 0x706861)
    for (const node of this.nodes) node.start(phases() * config.redialIntervalMs)
    await Promise.all(this.reconcilers.map(async (reconciler) => { await reconciler.start() }))
  }

  node (id: string): VirtualNode | undefined {
    return this.byId.get(id)
  }

  noteOrigination (record: NodeRecord): void {
    this.originations++
    this.trace.update(`${this.clock.monotonicNow()} ${record.nodeId} ${record.version.seq} ${record.adjacencies.length} ${record.resources.map((r) => `${r.id}:${r.phase}:${r.specHash}`).join(',')}`)
  }

  /** A hash of every origination so far (time, node, version, adjacencies, workloads): equal runs, equal hashes. */
  traceHash (): string {
    return this.trace.digestHex()
  }

  /** An operator's policy, handed to the first live node, which floods it. */
  apply (spec: PolicySpec): void {
    const first = this.nodes.find((node) => node.alive)
    first?.publish({ kind: 'policy', policyKind: spec.kind, name: spec.name, version: { hlc: { wallMs: this.clock.wallNow(), counter: this.policyCounter++ }, signer: operator }, body: spec })
  }

  /** Kills nodes at once (their workloads with them); their neighbours see the links reset. */
  async crash (indices: readonly number[]): Promise<void> {
    for (const index of indices) {
      const node = this.nodes[index]
      if (node === undefined || !node.alive) continue
      await this.reconcilers[index]?.stop()
      node.crash()
    }
  }

  /**
   * Splits the live nodes into `groups` (indices): messages between groups are dropped (`oneWay`: only
   * from the first group to the others), and each end of a link across the cut drops it once it has
   * heard nothing for the dead interval.
   */
  partition (groups: ReadonlyArray<readonly number[]>, options: { oneWay?: boolean } = {}): void {
    const groupOf = new Map<string, number>()
    groups.forEach((group, g) => { for (const index of group) groupOf.set(this.nodes[index]?.peerId ?? '', g) })
    for (const node of this.nodes) {
      for (const peer of node.neighbours) {
        const gi = groupOf.get(node.peerId)
        const gj = groupOf.get(peer)
        if (gi === undefined || gj === undefined || gi === gj) continue
        if (options.oneWay === true && gi !== 0) continue
        this.network.cut(node.peerId, peer, true)
        if (node.linked(peer)) this.dropWhenSilent(node, peer)
      }
    }
  }

  /** Lifts every cut: the next redial rounds bring the links back, digest sync repairs the rest. */
  heal (): void {
    this.network.healAll()
  }

  private dropWhenSilent (node: VirtualNode, peer: string): void {
    const { deadIntervalMs, helloIntervalMs } = this.config
    this.clock.setTimer(() => {
      if (this.network.canSend(node.peerId, peer) && this.network.canSend(peer, node.peerId)) return
      node.linkDown(peer)
      this.byId.get(peer)?.linkDown(node.peerId)
    }, deadIntervalMs + this.network.draw() * helloIntervalMs)
  }

  /** How many groups the live nodes form (1: one component of every live node). */
  componentCount (): number {
    return this.groups().length
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

  /**
   * True when every group of live nodes computes one view over exactly its live members, and every
   * node runs what that view assigns it (its own report: the simulator's outside view).
   */
  converged (): boolean {
    return this.groups().every((group) => {
      let agreed: TargetView | undefined
      for (const node of group) {
        const view = computeView(node.db, node.peerId, { admission: 'open', nowMs: node.clock.wallNow() })
        if (view.component.length !== group.length) return false
        if (agreed !== undefined && agreed.viewHash !== view.viewHash) return false
        agreed = view
      }
      if (agreed === undefined) return false
      const byId = new Map(group.map((node) => [node.peerId, node]))
      return judgeWorkloads(agreed, (nodeId) => byId.get(nodeId)?.localState.resources, 1).converged
    })
  }

  /** How many replicas of `service` run on live nodes. */
  running (service: string): number {
    return this.nodes.filter((node) => node.alive)
      .flatMap((node) => node.localState.resources)
      .filter((resource) => resource.id.startsWith(`${service}@`) && resource.phase === 'running').length
  }

  /**
   * Advances virtual time in steps of `stepMs` until `condition` holds; returns the virtual time it took,
   * or undefined if it did not hold within `withinMs`.
   */
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
