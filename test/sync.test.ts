// Digest sync's session bounds (issue 22 item 4), against a scripted hostile peer over an in-memory
// pair of framed streams: a digest longer than the database could justify, a peer that trickles
// frames past the session's deadline, and one that resends records we already hold. Each is a
// SyncProtocolError, which the mesh answers by dropping the peer.

import { describe, expect, it } from 'vitest'
import { RecordDB } from '../src/core/index.ts'
import type { FramedStream } from '../src/net/framed-stream.ts'
import { SyncProtocolError, syncAsInitiator, syncAsResponder, syncLimitsFor, type SyncLimits } from '../src/net/sync.ts'

/** Two framed streams joined back to back: what one writes, the other reads. */
function streamPair (): [FramedStream, FramedStream] {
  const queues: Array<Array<Uint8Array | undefined>> = [[], []]
  const waiters: Array<((frame: Uint8Array | undefined) => void) | undefined> = [undefined, undefined]
  const side = (me: number): FramedStream => ({
    async read () {
      const queued = queues[me] as Array<Uint8Array | undefined>
      if (queued.length > 0) return queued.shift()
      return await new Promise((resolve) => { waiters[me] = resolve })
    },
    async write (frame) {
      const other = 1 - me
      const waiter = waiters[other]
      if (waiter !== undefined) {
        waiters[other] = undefined
        waiter(frame)
      } else {
        queues[other]?.push(frame)
      }
    },
    async close () { await this.write(undefined as unknown as Uint8Array) },
    abort () {},
  })
  return [side(0), side(1)]
}

const tagged = (tag: number, text = ''): Uint8Array => Uint8Array.from([tag, ...new TextEncoder().encode(text)])
const limits = (overrides: Partial<SyncLimits> = {}): SyncLimits => ({ ...syncLimitsFor(0, { chunkEntries: 1_024, sessionTimeoutMs: 60_000, now: performance.now() }), ...overrides })

describe('digest sync bounds', () => {
  it('scale with the database: a floor for a new node, four times the records above it', () => {
    expect(syncLimitsFor(10, { chunkEntries: 1, sessionTimeoutMs: 1, now: 0 })).toMatchObject({ digestEntriesMax: 20_000, recordsMax: 20_000, needlessRecordsMax: 64 })
    expect(syncLimitsFor(100_000, { chunkEntries: 1, sessionTimeoutMs: 1, now: 0 })).toMatchObject({ digestEntriesMax: 400_000, needlessRecordsMax: 10_000 })
  })

  it('a digest longer than the limit is a protocol error', async () => {
    const [ours, theirs] = streamPair()
    const responding = syncAsResponder(ours, new RecordDB(), async () => 'accept', limits({ digestEntriesMax: 100 }))
    await theirs.write(tagged(5, 'not-our-summary'))
    await theirs.read() // our summary
    const entries = Array.from({ length: 60 }, (_, i) => [`node:fake-${i}`, { generation: 1, seq: 1 }, 'h'])
    await theirs.write(tagged(1, JSON.stringify(entries)))
    await theirs.write(tagged(1, JSON.stringify(entries.map(([key, ...rest]) => [`${key as string}-b`, ...rest]))))
    await expect(responding).rejects.toThrow(new SyncProtocolError('digest longer than 100 entries'))
  })

  it('a peer that trickles frames (each within the step timeout) is cut at the session deadline', async () => {
    const [ours, theirs] = streamPair()
    const responding = syncAsResponder(ours, new RecordDB(), async () => 'accept', limits({ deadlineMs: performance.now() + 300 }))
    await theirs.write(tagged(5, 'not-our-summary'))
    await theirs.read()
    const trickle = setInterval(() => { void theirs.write(tagged(1, '[]')) }, 100) // an empty digest chunk, over and over
    try {
      await expect(responding).rejects.toThrow(/past its deadline/)
    } finally {
      clearInterval(trickle)
    }
  })

  it('a peer that resends records we already hold is cut after needlessRecordsMax of them', async () => {
    const [ours, theirs] = streamPair()
    let ingested = 0
    const initiating = syncAsInitiator(ours, new RecordDB(), async () => { ingested++; return 'held' }, limits({ needlessRecordsMax: 5 }))
    await theirs.read() // their summary
    await theirs.write(tagged(5, 'different'))
    for (let frame = await theirs.read(); frame !== undefined && frame[0] !== 2; frame = await theirs.read()) { /* their digest */ }
    for (let i = 0; i < 20; i++) await theirs.write(tagged(3, 'an-envelope-we-have'))
    await expect(initiating).rejects.toThrow('more than 5 records we already held, in one sync')
    expect(ingested).toBe(6)
  })

  it('records we did not hold yet, or cannot take yet (a node not admitted yet), do not count against it', async () => {
    const [ours, theirs] = streamPair()
    const verdicts: Array<'accept' | 'ignore'> = [...Array(50).fill('ignore'), ...Array(50).fill('accept')]
    const initiating = syncAsInitiator(ours, new RecordDB(), async () => verdicts.shift() ?? 'accept', limits({ needlessRecordsMax: 5 }))
    await theirs.read()
    await theirs.write(tagged(5, 'different'))
    for (let frame = await theirs.read(); frame !== undefined && frame[0] !== 2; frame = await theirs.read()) { /* their digest */ }
    for (let i = 0; i < 100; i++) await theirs.write(tagged(3, 'an-envelope'))
    await theirs.write(Uint8Array.of(4)) // records end
    await theirs.write(Uint8Array.of(2)) // their (empty) digest
    for (let frame = await theirs.read(); frame !== undefined && frame[0] !== 4; frame = await theirs.read()) { /* our records for them */ }
    await expect(initiating).resolves.toMatchObject({ received: 100, accepted: 50 })
  })
})
