// The virtual network (issue 25): messages between simulated nodes, delivered on a virtual clock.
//
// A message from a to b arrives after a latency drawn from a floor plus an exponential tail, unless it
// is lost (probability `loss`) or the pair is cut (a partition, two-way or one-way), and is then handled
// once its receiver is free: each message costs `processingMs` of the receiver's processor, and handling
// queues behind what came before. With `sharedProcessor`, every node shares one processor, as the
// libp2p engine's nodes share one event loop (that is what calibration compares with); otherwise each
// node has its own, as hosts do. Between zones a message may take a latency of its own (per-zone
// latency), and with an uplink bandwidth a message leaves its sender only once the ones before it have
// (size / bandwidth each, queued per sender). Every draw comes from the network's own seeded generator,
// in the order messages are sent, so a run replays from its seed.

import { seededRandom } from '../../src/testing/random.ts'
import type { VirtualClock } from '../virtual-clock.ts'

/** What a message is: a record pushed or fetched by gossip, gossip control, digest sync, a connection reset. */
export type MessageKind = 'gossip' | 'ihave' | 'iwant' | 'graft' | 'prune' | 'sync' | 'reset'

export interface NetworkModel {
  /** Every message takes at least this long. */
  readonly latencyFloorMs: number
  /** The mean of the exponential part of a message's latency on top of the floor. */
  readonly latencyTailMs: number
  /** The chance that a message is lost (0 to 1). */
  readonly loss: number
  /** What handling one message costs its receiver, in ms of its processor (0: nothing). */
  readonly processingMs?: number
  /** One processor for every node (the libp2p engine in one process) instead of one each. */
  readonly sharedProcessor?: boolean
  /** Latency between nodes of different zones, instead of the one above (same-zone messages keep it). */
  readonly betweenZones?: { readonly latencyFloorMs: number, readonly latencyTailMs: number }
  /** Each node's uplink in bits per second (unlimited when not given). */
  readonly uplinkBitsPerSecond?: number
}

/** Loopback-like: what the libp2p engine's in-process fleets see, roughly. */
export const defaultNetworkModel: NetworkModel = Object.freeze({ latencyFloorMs: 0.5, latencyTailMs: 1, loss: 0 })

export class VirtualNetwork {
  /** Pairs `from>to` whose messages are dropped. */
  private readonly cuts = new Set<string>()
  private split: { readonly groupOf: ReadonlyMap<string, number>, readonly oneWay: boolean } | undefined
  private readonly random: () => number
  /** When each node's processor (or the shared one, under '') is free again. */
  private readonly busyUntil = new Map<string, number>()
  /** When each node's uplink is free again. */
  private readonly sendingUntil = new Map<string, number>()
  messages = 0
  bytes = 0
  /** Messages sent, by kind. */
  readonly byKind = new Map<MessageKind, number>()

  /** `zoneOf` places nodes in zones, for `betweenZones` latency. */
  constructor (readonly clock: VirtualClock, seed: number, readonly model: NetworkModel = defaultNetworkModel, private readonly zoneOf: (node: string) => string | undefined = () => undefined) {
    this.random = seededRandom(seed ^ 0x6e6574) // the network's own stream
  }

  /**
   * Sends a message of `bytes`: `deliver` runs at the receiver after the latency (and the sender's
   * uplink queue), unless the message is lost or cut.
   */
  send (kind: MessageKind, from: string, to: string, bytes: number, deliver: () => void): void {
    if (!this.canSend(from, to) || (this.model.loss > 0 && this.random() < this.model.loss)) return
    this.messages++
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1)
    this.bytes += bytes
    const arrivesAt = this.departsAt(from, bytes) + this.latencyMs(from, to)
    const handledAt = this.handledAt(to, arrivesAt)
    this.clock.setTimer(() => {
      // A cut made while the message was in flight drops it too: it was on the wire being cut.
      if (this.canSend(from, to)) deliver()
    }, handledAt - this.clock.monotonicNow())
  }

  /** When a message arriving at `to` at `arrivesAt` has been handled (its processor's queue, in send order). */
  private handledAt (to: string, arrivesAt: number): number {
    const costMs = this.model.processingMs ?? 0
    if (costMs === 0) return arrivesAt
    const processor = this.model.sharedProcessor === true ? '' : to
    const done = Math.max(arrivesAt, this.busyUntil.get(processor) ?? 0) + costMs
    this.busyUntil.set(processor, done)
    return done
  }

  /**
   * Runs one of `node`'s own tasks (a timer that came due) once its processor has handled the messages
   * queued before it, as an event loop runs a due timer after the I/O already waiting. Without this a
   * node's rounds fired on time however far behind its messages were, and nothing slowed a flood down:
   * at 50 nodes on a shared processor the queue grew without end (docs/benchmarks.md, calibration).
   */
  whenFree (node: string, task: () => void): void {
    const costMs = this.model.processingMs ?? 0
    if (costMs === 0) return task()
    // The task occupies the processor as a message does (a round, a flood, a reconciler run: none free).
    const processor = this.model.sharedProcessor === true ? '' : node
    const now = this.clock.monotonicNow()
    const startsAt = Math.max(now, this.busyUntil.get(processor) ?? 0)
    this.busyUntil.set(processor, startsAt + costMs)
    if (startsAt <= now) return task()
    this.clock.setTimer(task, startsAt - now)
  }

  /** When a message of `bytes` sent now has left `from` (its uplink's queue, in send order). */
  private departsAt (from: string, bytes: number): number {
    const now = this.clock.monotonicNow()
    const bitsPerSecond = this.model.uplinkBitsPerSecond
    if (bitsPerSecond === undefined) return now
    const done = Math.max(now, this.sendingUntil.get(from) ?? 0) + (bytes * 8 * 1_000) / bitsPerSecond
    this.sendingUntil.set(from, done)
    return done
  }

  /** A draw of one message's latency from `from` to `to` (between zones, their latency if the model has one). */
  latencyMs (from: string, to: string): number {
    const between = this.model.betweenZones
    const { latencyFloorMs, latencyTailMs } = between !== undefined && this.zoneOf(from) !== this.zoneOf(to) ? between : this.model
    return latencyFloorMs - Math.log(1 - this.random()) * latencyTailMs
  }

  /** A number in [0, 1) from the network's stream (connection timing, jitter). */
  readonly draw = (): number => this.random()

  canSend (from: string, to: string): boolean {
    if (this.split !== undefined) {
      const a = this.split.groupOf.get(from)
      const b = this.split.groupOf.get(to)
      if (a !== undefined && b !== undefined && a !== b && (!this.split.oneWay || a === 0)) return false
    }
    return !this.cuts.has(`${from}>${to}`)
  }

  /**
   * Splits nodes into groups (by id): nothing passes between groups (`oneWay`: only what group 0 sends
   * to the others is dropped). Nodes in no group are not cut. Replaces the previous split.
   */
  splitInto (groupOf: ReadonlyMap<string, number>, oneWay: boolean): void {
    this.split = { groupOf, oneWay }
  }

  /** Drops what `from` sends to `to`, and with `oneWay` false the other way too. */
  cut (from: string, to: string, oneWay = false): void {
    this.cuts.add(`${from}>${to}`)
    if (!oneWay) this.cuts.add(`${to}>${from}`)
  }

  healAll (): void {
    this.cuts.clear()
    this.split = undefined
  }
}
