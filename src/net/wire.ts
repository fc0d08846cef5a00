// The wire: every raw connection a node makes or accepts passes through here, under libp2p's upgrader
// (so what is seen is what a network tap would see: encrypted bytes, everything included).
// - Liveness, as OSPF's dead interval: each link notes when it last received anything. Yamux keepalive
//   pings (a 12-byte frame answered by the peer's muxer, no stream, no protocol negotiation) keep a live
//   link from falling silent — sent by the dialling side only (`keepaliveFromDialer`): the ping keeps the
//   link alive for the listener, its answer for the dialer — and MeshNode aborts a link silent for `deadIntervalMs` (not counting time
//   the node's own event loop was held up: `forgiveOwnLag`). This replaced
//   libp2p's connection monitor, which opens a new stream per ping: at 50 nodes in one process its pings
//   alone took a third of a core at rest.
// - Traffic: bytes in and out, for the figures (traffic per node at rest and during a change).
// - Stall (fault injection, tests and the simulator): a stalled node stops reading and writing on every
//   connection, as a SIGSTOP'd process does, while its connections stay open. Bytes to it wait, nothing
//   comes from it, keepalives go unanswered until it resumes. (Its own timers keep running.)

import type { MultiaddrConnection, StreamMuxerFactory, StreamMuxerInit, Transport, Upgrader } from '@libp2p/interface'

export class StallGate {
  private resumed: Promise<void> | undefined
  private resume: (() => void) | undefined
  private timer: NodeJS.Timeout | undefined

  get stalled (): boolean {
    return this.resumed !== undefined
  }

  /** Stops all I/O for `ms` (extends a stall in progress). */
  stall (ms: number): void {
    if (this.resumed === undefined) this.resumed = new Promise((resolve) => { this.resume = resolve })
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      const resume = this.resume
      this.resumed = undefined
      this.resume = undefined
      resume?.()
    }, ms)
  }

  async wait (): Promise<void> {
    if (this.resumed !== undefined) await this.resumed
  }
}

/** One raw connection and when it last received anything. */
export interface Link {
  readonly connection: MultiaddrConnection
  lastReceivedMs: number
}

/** A node's links, its traffic counters and its stall gate. */
export class Wire {
  bytesIn = 0
  bytesOut = 0
  readonly stallGate = new StallGate()
  private readonly links = new Set<Link>()

  constructor (private readonly now: () => number, private readonly stallable: boolean) {}

  /** Links that received nothing for `deadIntervalMs`; closed links are forgotten on the way. */
  silentLinks (deadIntervalMs: number): Link[] {
    const nowMs = this.now()
    const silent: Link[] = []
    for (const link of this.links) {
      if (link.connection.timeline.close !== undefined) this.links.delete(link)
      else if (nowMs - link.lastReceivedMs > deadIntervalMs) silent.push(link)
    }
    return silent
  }

  /**
   * This node's own event loop was held up for `ms` (a check ran that much late): it could not have
   * heard anything meanwhile, so that time is not counted as any peer's silence. One daemon per process
   * rarely needs this (a long GC pause, a suspended laptop); many nodes in one process sharing a
   * saturated loop do — their keepalive timers run late together, and without it each late round
   * declared live links dead, and the reconnects fed the load that made the timers late.
   */
  forgiveOwnLag (ms: number): void {
    if (ms <= 0) return
    const nowMs = this.now()
    for (const link of this.links) link.lastReceivedMs = Math.min(nowMs, link.lastReceivedMs + ms)
  }

  /** The connection, watched (and gated when stallable). */
  watch (connection: MultiaddrConnection): MultiaddrConnection {
    const link: Link = { connection, lastReceivedMs: this.now() }
    this.links.add(link)
    const gate = this.stallable ? this.stallGate : undefined
    let source = wrapIterable(connection.source, gate, (bytes) => {
      this.bytesIn += bytes
      link.lastReceivedMs = this.now()
    }, () => this.links.delete(link))
    let sink: MultiaddrConnection['sink'] = async (from) => {
      await connection.sink(wrapIterable(from, gate, (bytes) => { this.bytesOut += bytes }, () => {}))
    }
    // A proxy, not a copy: libp2p's upgrader replaces `timeline` with a proxy of its own that notices
    // when the transport sets `timeline.close`, and only then reports the connection closed. On a copy,
    // that assignment went to the copy, the transport set `close` on the original, and closed
    // connections were never reported closed (nor ever redialled). And a proxy that keeps what is
    // assigned to `source` and `sink`: the private-network handshake (it-byte-stream) replaces both,
    // and over TCP, where its nonce arrives together with the first bytes after it, the handshake
    // stalled while reads still went to the replaced source.
    return new Proxy(connection, {
      get: (target, property, receiver) => (property === 'source' ? source : property === 'sink' ? sink : Reflect.get(target, property, receiver)),
      set: (target, property, value, receiver) => {
        if (property === 'source') source = value
        else if (property === 'sink') sink = value
        else return Reflect.set(target, property, value, receiver)
        return true
      },
    })
  }
}

/**
 * The same iterator, each chunk counted, and held while stalled. Not an async generator: a generator
 * cannot be returned (closed) while it awaits, so a connection closed during a read would never finish
 * closing.
 */
function wrapIterable<T extends { byteLength: number }> (inner: AsyncIterable<T>, gate: StallGate | undefined, onChunk: (bytes: number) => void, onEnd: () => void): AsyncGenerator<T> {
  // Made on the first read: nothing is pulled from the transport before its consumer asks.
  let started: AsyncIterator<T> | undefined
  const iterator = (): AsyncIterator<T> => (started ??= inner[Symbol.asyncIterator]())
  const gated: AsyncGenerator<T> = {
    async next () {
      const result = await iterator().next()
      if (result.done === true) {
        onEnd()
        return result
      }
      if (gate?.stalled === true) await gate.wait()
      onChunk(result.value.byteLength)
      return result
    },
    async return (value?: unknown) {
      return (await started?.return?.(value)) ?? { done: true, value: undefined }
    },
    async throw (error?: unknown) {
      if (started?.throw !== undefined) return await started.throw(error)
      throw error
    },
    [Symbol.asyncIterator] () {
      return gated
    },
  }
  return gated
}

function watchingUpgrader (upgrader: Upgrader, wire: Wire): Upgrader {
  return Object.assign(Object.create(upgrader) as Upgrader, {
    upgradeInbound: async (connection: MultiaddrConnection, options?: Parameters<Upgrader['upgradeInbound']>[1]) =>
      await upgrader.upgradeInbound(wire.watch(connection), options),
    upgradeOutbound: async (connection: MultiaddrConnection, options?: Parameters<Upgrader['upgradeOutbound']>[1]) =>
      await upgrader.upgradeOutbound(wire.watch(connection), options),
  })
}

/** Wraps a transport factory so that every connection it carries goes through `wire`. */
export function onWire<C> (factory: (components: C) => Transport, wire: Wire): (components: C) => Transport {
  return (components) => {
    const transport = factory(components)
    return Object.assign(Object.create(transport) as Transport, {
      dial: async (address: Parameters<Transport['dial']>[0], options: Parameters<Transport['dial']>[1]) =>
        await transport.dial(address, { ...options, upgrader: watchingUpgrader(options.upgrader, wire) }),
      createListener: (options: Parameters<Transport['createListener']>[0]) =>
        transport.createListener({ ...options, upgrader: watchingUpgrader(options.upgrader, wire) }),
    })
  }
}

/**
 * A muxer factory whose keepalive pings go one way: muxers of outbound connections ping, those of
 * inbound ones only answer. Each end still receives a frame every interval (the ping, or the answer to
 * it), which is all the dead interval asks; with both ends pinging, each connection carried four
 * keepalive frames per interval where two do: at rest they were most of a node's traffic and of the
 * frames its loop handled (docs/benchmarks.md). A peer that pings from both ends is answered as before.
 */
export function keepaliveFromDialer<C> (factory: (components: C) => StreamMuxerFactory): (components: C) => StreamMuxerFactory {
  return (components) => {
    const muxers = factory(components)
    return Object.assign(Object.create(muxers) as StreamMuxerFactory, {
      // Yamux reads its settings from what it is created with, over the factory's own.
      createStreamMuxer: (init: StreamMuxerInit) => muxers.createStreamMuxer({ ...init, enableKeepAlive: init.direction === 'outbound' } as StreamMuxerInit),
    })
  }
}
