// The wire's dead interval, with a hand-moved clock: a silent link is declared dead, and time the node's
// own loop was held up is not counted as its peers' silence.
import { describe, expect, it } from 'vitest'
import type { MultiaddrConnection } from '@libp2p/interface'
import { Wire } from '../src/net/wire.ts'

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
