// Fault injection for tests and the simulator: a node that "stalls" stops reading and writing on every
// connection for a while, as a SIGSTOP'd process does, while its connections stay open. The network's
// view is the same as a paused process's: bytes to it wait, nothing comes from it, and pings to it go
// unanswered until it resumes. (Its own timers keep running, unlike a real pause.)
//
// It wraps a libp2p transport: every raw connection the transport makes or accepts is handed to the
// upgrader with its source and sink gated. Only nodes started with `stallable: true` pay for the gate.

import type { MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'

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

/**
 * The same iterator, each item held while stalled. Not an async generator: a generator cannot be
 * returned (closed) while it awaits, so a connection closed during a read would never finish closing.
 */
function gatedIterable<T> (inner: AsyncIterable<T>, stallGate: StallGate): AsyncGenerator<T> {
  const iterator = inner[Symbol.asyncIterator]()
  const gated: AsyncGenerator<T> = {
    async next () {
      const result = await iterator.next()
      if (result.done !== true) await stallGate.wait()
      return result
    },
    async return (value?: unknown) {
      return (await iterator.return?.(value)) ?? { done: true, value: undefined }
    },
    async throw (error?: unknown) {
      if (iterator.throw !== undefined) return await iterator.throw(error)
      throw error
    },
    [Symbol.asyncIterator] () {
      return gated
    },
  }
  return gated
}

/**
 * The connection with its source and sink gated. A proxy, not a copy: libp2p's upgrader replaces
 * `timeline` with a proxy of its own that notices when the transport sets `timeline.close`, and only
 * then reports the connection closed. On a copy, that assignment went to the copy, the transport set
 * `close` on the original, and closed connections were never reported closed (nor ever redialled).
 */
function gate (connection: MultiaddrConnection, stallGate: StallGate): MultiaddrConnection {
  const source = gatedIterable(connection.source, stallGate)
  const sink: MultiaddrConnection['sink'] = async (from) => { await connection.sink(gatedIterable(from, stallGate)) }
  return new Proxy(connection, {
    get: (target, property, receiver) => (property === 'source' ? source : property === 'sink' ? sink : Reflect.get(target, property, receiver)),
  })
}

function gatedUpgrader (upgrader: Upgrader, stallGate: StallGate): Upgrader {
  return Object.assign(Object.create(upgrader) as Upgrader, {
    upgradeInbound: async (connection: MultiaddrConnection, options?: Parameters<Upgrader['upgradeInbound']>[1]) =>
      await upgrader.upgradeInbound(gate(connection, stallGate), options),
    upgradeOutbound: async (connection: MultiaddrConnection, options?: Parameters<Upgrader['upgradeOutbound']>[1]) =>
      await upgrader.upgradeOutbound(gate(connection, stallGate), options),
  })
}

/** Wraps a transport factory so that every connection it carries obeys `stallGate`. */
export function stallable<C> (factory: (components: C) => Transport, stallGate: StallGate): (components: C) => Transport {
  return (components) => {
    const transport = factory(components)
    return Object.assign(Object.create(transport) as Transport, {
      dial: async (address: Parameters<Transport['dial']>[0], options: Parameters<Transport['dial']>[1]) =>
        await transport.dial(address, { ...options, upgrader: gatedUpgrader(options.upgrader, stallGate) }),
      createListener: (options: Parameters<Transport['createListener']>[0]) =>
        transport.createListener({ ...options, upgrader: gatedUpgrader(options.upgrader, stallGate) }),
    })
  }
}
