// The libp2p engine behind a scenario (issue 25): real libp2p nodes in one process, each with its
// reconciler and a memory actuator (src/testing/fleet.ts), on wall-clock time. The realistic check for
// small fleets; sim/virtual/fleet.ts is the scalable one. Both answer to sim/fleet.ts's SimFleet.

import { performance } from 'node:perf_hooks'
import type { PolicyKind, PolicySpec } from '../src/core/index.ts'
import type { MeshNode } from '../src/net/index.ts'
import {
  components, confirmed, converged, crashNode, cut, heal, liveNodes, partition, restartNode, stall, startFleet, stopFleet, waitForFleet,
  type Fleet,
} from '../src/testing/index.ts'
import type { RunningWorkload, SimFleet } from './fleet.ts'

/** The most nodes the libp2p engine runs in one process (every node a full libp2p stack). */
export const libp2pMaxNodes = 500

export class Libp2pSimFleet implements SimFleet {
  readonly engine = 'libp2p'

  private constructor (readonly fleet: Fleet, private readonly nodeLabels: ReadonlyArray<Readonly<Record<string, string>>>) {}

  static async start (labels: ReadonlyArray<Readonly<Record<string, string>>>, options: { transport?: 'memory' | 'tcp', stallable?: boolean, slots?: (index: number) => number } = {}): Promise<Libp2pSimFleet> {
    const fleet = await startFleet(labels.length, (i) => ({ ...labels[i] }), options.transport ?? 'memory', {
      stallable: options.stallable ?? false, ...(options.slots === undefined ? {} : { slots: options.slots }),
    })
    return new Libp2pSimFleet(fleet, labels)
  }

  get size (): number {
    return this.fleet.mesh.nodes.length
  }

  private node (index: number): MeshNode {
    return this.fleet.mesh.nodes[index] as MeshNode
  }

  live (): number[] {
    return [...this.fleet.live].sort((a, b) => a - b)
  }

  isLive (index: number): boolean {
    return this.fleet.live.has(index)
  }

  peerId (index: number): string {
    return this.node(index).peerId
  }

  labels (index: number): Readonly<Record<string, string>> {
    return this.nodeLabels[index] ?? {}
  }

  workloads (index: number): readonly RunningWorkload[] {
    return this.fleet.actuators[index]?.workloadsNow() ?? []
  }

  resources (index: number): ReturnType<SimFleet['resources']> {
    return this.node(index).localState.resources
  }

  viewHash (index: number): string {
    return this.node(index).localState.viewHash
  }

  componentOf (index: number): ReadonlySet<string> {
    return this.node(index).component()
  }

  components (): number[][] {
    return components(this.fleet)
  }

  converged (): boolean {
    return converged(this.fleet)
  }

  confirmed (): boolean {
    return confirmed(this.fleet)
  }

  traffic (): { messages: number, bytes: number } {
    return this.fleet.mesh.nodes.reduce((sum, node) => ({ messages: sum.messages + node.counters.gossipMessages, bytes: sum.bytes + node.counters.gossipBytes }), { messages: 0, bytes: 0 })
  }

  originations (): number {
    return liveNodes(this.fleet).reduce((sum, node) => sum + node.counters.originated, 0)
  }

  async publish (spec: PolicySpec, at: number): Promise<void> {
    await this.node(at).publish((await this.fleet.mesh.operator.sign(spec)).envelope)
  }

  async publishDeletion (kind: PolicyKind, name: string, at: number): Promise<void> {
    await this.node(at).publish((await this.fleet.mesh.operator.signDeletion(kind, name)).envelope)
  }

  async crash (index: number): Promise<void> {
    await crashNode(this.fleet, index)
  }

  async restart (index: number): Promise<void> {
    await restartNode(this.fleet, index)
  }

  async partition (groups: ReadonlyArray<readonly number[]>, options: { oneWay?: boolean } = {}): Promise<void> {
    const nodes = groups.map((group) => group.map((i) => this.node(i)))
    if (options.oneWay === true) await cut(nodes[0] ?? [], nodes.slice(1).flat(), { oneWay: true })
    else await partition(nodes)
  }

  async heal (): Promise<void> {
    heal(liveNodes(this.fleet))
  }

  stall (index: number, ms: number): void {
    stall(this.node(index), ms)
  }

  now (): number {
    return performance.now()
  }

  async sleep (ms: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms))
  }

  every (ms: number, fn: () => void): () => void {
    const timer = setInterval(fn, ms)
    return () => { clearInterval(timer) }
  }

  async waitUntil (condition: () => boolean, withinMs: number, options: { records?: boolean, pollMs?: number } = {}): Promise<number | undefined> {
    return await waitForFleet(this.fleet, 'a condition', condition, withinMs, options).catch(() => undefined)
  }

  events (): number {
    return 0
  }

  traceHash (): undefined {
    return undefined
  }

  async stop (): Promise<void> {
    await stopFleet(this.fleet)
  }
}
