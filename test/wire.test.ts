// The wire's dead interval, with a hand-moved clock: a silent link is declared dead, and time the node's
// own loop was held up is not counted as its peers' silence; and keepalives go from the dialling side only.
import { describe, expect, it } from 'vitest'
import type { MultiaddrConnection, StreamMuxer } from '@libp2p/interface'
import { yamux } from '@chainsafe/libp2p-yamux'
import { pipe } from 'it-pipe'
import { Wire, keepaliveFromDialer } from '../src/net/wire.ts'

function openConnection (chunks: Uint8Array[]): MultiaddrConnection {
  return {
    source: (async function * () { yield * chunks })(),
    sink: async () => {},
    timeline: { open: 0 },
  } as unknown as MultiaddrConnection
}

describe('wire liveness', () => {
  it('declares a link dead after the dead interval without a byte, and a byte keeps it alive', async () => {
    let nowMs = 0
    const wire = new Wire(() => nowMs, false)
    const connection = wire.watch(openConnection([new Uint8Array(12)]))
    nowMs = 1_500
    await (connection.source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]().next() // a keepalive arrives
    nowMs = 3_000
    expect(wire.silentLinks(2_000)).toHaveLength(0)
    nowMs = 3_501
    expect(wire.silentLinks(2_000)).toHaveLength(1)
    expect(wire.bytesIn).toBe(12)
  })

  it("forgives a link the time the node's own loop was held up, and only that", () => {
    let nowMs = 0
    const wire = new Wire(() => nowMs, false)
    wire.watch(openConnection([]))
    nowMs = 2_500 // the check meant for 250 ms ran 2,250 ms late
    wire.forgiveOwnLag(2_250)
    expect(wire.silentLinks(2_000)).toHaveLength(0)
    nowMs = 4_251 // 2,001 ms of silence counted since the lag
    expect(wire.silentLinks(2_000)).toHaveLength(1)
  })

  it('never moves a link past now, however long the lag', () => {
    let nowMs = 1_000
    const wire = new Wire(() => nowMs, false)
    wire.watch(openConnection([]))
    wire.forgiveOwnLag(60_000)
    nowMs = 3_001
    expect(wire.silentLinks(2_000)).toHaveLength(1)
  })
})

describe('keepalives from the dialling side only', () => {
  // Yamux frame headers (version, type, flags, stream id, length); a ping is type 2 with SYN or ACK.
  const pingType = 2
  const [syn, ack] = [1, 2]
  const silentLog = Object.assign(() => {}, { enabled: false, trace: () => {}, error: () => {} })
  const components = { logger: { forComponent: () => silentLog } } as unknown as Parameters<ReturnType<typeof yamux>>[0]

  /** Counts the ping frames passing one way, by flag. */
  type Chunk = StreamMuxer['source'] extends AsyncIterable<infer T> ? T : never
  function tap (counts: Map<number, number>) {
    return async function * (source: AsyncIterable<Chunk>): AsyncGenerator<Chunk> {
      for await (const chunk of source) {
        const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
        for (let at = 0; at + 12 <= bytes.length;) {
          const view = new DataView(bytes.buffer, bytes.byteOffset + at)
          const [type, flags, length] = [view.getUint8(1), view.getUint16(2), view.getUint32(8)]
          if (type === pingType) counts.set(flags, (counts.get(flags) ?? 0) + 1)
          at += 12 + (type === 0 ? length : 0)
        }
        yield chunk
      }
    }
  }

  it('pings from the outbound muxer; the inbound one only answers, so each end still hears one frame per interval', async () => {
    const factory = keepaliveFromDialer(yamux({ enableKeepAlive: true, keepAliveInterval: 40 }))(components)
    const dialer = factory.createStreamMuxer({ direction: 'outbound' })
    const listener = factory.createStreamMuxer({ direction: 'inbound' })
    const fromDialer = new Map<number, number>()
    const fromListener = new Map<number, number>()
    void pipe(dialer, tap(fromDialer), listener, tap(fromListener), dialer)
    await new Promise((resolve) => setTimeout(resolve, 450))
    await Promise.all([dialer.close(), listener.close()])
    // Both send one ping when created (yamux measures the round trip); after that only the dialer pings.
    expect(fromDialer.get(syn) ?? 0).toBeGreaterThanOrEqual(3)
    expect(fromListener.get(syn) ?? 0).toBe(1)
    expect(fromListener.get(ack) ?? 0).toBeGreaterThanOrEqual(3)
    expect(fromDialer.get(ack) ?? 0).toBe(1)
  })
})
