// Digest sync (/shoal/<cluster>/sync/2.0.0): OSPF's database exchange. It repairs whatever gossip lost
// or a partition kept apart, and runs on every new connection (the dialler starts it) and periodically
// with a random neighbour.
//
//   initiator → responder: the hash of its whole digest (SUMMARY)
//   responder → initiator: its own SUMMARY; when the two are equal (the case at rest) both stop here
//   initiator → responder: its digest (chunks of key, version, hash), then DIGEST_END
//   responder → initiator: the records the initiator lacks, RECORDS_END, then its own digest, DIGEST_END
//   initiator → responder: the records the responder lacks, RECORDS_END
//
// Records travel as their original signed envelopes and go through the same validation as gossip.
// Every frame is bounded, every read and write has a deadline, and a peer whose frames or records are
// provably bad is reported to the caller, which drops it. A whole session is bounded too (issue 22
// item 4), in proportion to what the exchange can legitimately hold: the digest by our database's
// size (times a factor, above a floor, so a new node can still learn a large fleet), the records by
// that and by how many we already held (a peer resending what we have is wasting our CPU on
// signatures), and the session by a total deadline, so that a peer trickling one frame per step
// timeout cannot hold a sync open for ever.

import { z } from 'zod'
import type { Digest, DigestEntry, RecordDB, RecordKey } from '../core/index.ts'
import { recordKey } from '../core/index.ts'
import type { FramedStream } from './framed-stream.ts'

const frameTag = { digestChunk: 1, digestEnd: 2, record: 3, recordsEnd: 4, summary: 5 } as const

/** The peer broke the protocol in a way only a faulty or hostile peer does: it is dropped. */
export class SyncProtocolError extends Error {
  override readonly name = 'SyncProtocolError'
}

/** The peer closed the stream before the exchange ended: not proof of fault (it may be shutting down). */
export class SyncEndedEarlyError extends Error {
  override readonly name = 'SyncEndedEarlyError'
}

export interface SyncLimits {
  /** Digest entries per frame. */
  readonly chunkEntries: number
  /** A digest longer than this is refused (and the peer dropped). */
  readonly digestEntriesMax: number
  /** More records than this in one session are refused (and the peer dropped). */
  readonly recordsMax: number
  /** Records we already held (stale or duplicate) beyond this in one session: the peer is dropped. */
  readonly needlessRecordsMax: number
  /** The whole session must end by then (performance.now()), or the peer is dropped. */
  readonly deadlineMs: number
}

/** A session's limits for a database of `size` records (see the header). */
export function syncLimitsFor (size: number, options: { chunkEntries: number, sessionTimeoutMs: number, now: number }): SyncLimits {
  const entries = Math.max(20_000, 4 * size)
  return { chunkEntries: options.chunkEntries, digestEntriesMax: entries, recordsMax: entries, needlessRecordsMax: Math.max(64, Math.ceil(size / 10)), deadlineMs: options.now + options.sessionTimeoutMs }
}

/**
 * What the caller does with each received envelope: validate and merge it. 'reject': provably bad;
 * 'held': we already had it or a newer one (the peer sent what we did not lack); 'ignore': anything
 * else we do not take (a node not admitted yet, say: a new node learns admissions and node records in
 * the same sync).
 */
export type Ingest = (envelope: Uint8Array) => Promise<'accept' | 'held' | 'ignore' | 'reject'>

export interface SyncOutcome {
  /** The two databases were already equal: only summaries were exchanged. */
  readonly alreadyEqual: boolean
  readonly sent: number
  readonly received: number
  readonly accepted: number
}

const digestChunkSchema = z.array(z.tuple([
  z.string().max(512),
  z.union([
    z.strictObject({ generation: z.number().int().nonnegative(), seq: z.number().int().nonnegative() }),
    z.strictObject({ hlc: z.strictObject({ wallMs: z.number().int().nonnegative(), counter: z.number().int().nonnegative() }), signer: z.string().max(128) }),
  ]),
  z.string().max(64),
]))

export async function syncAsInitiator (stream: FramedStream, db: RecordDB, ingest: Ingest, limits: SyncLimits): Promise<SyncOutcome> {
  const ours = db.summaryHash()
  await stream.write(tagged(frameTag.summary, new TextEncoder().encode(ours)))
  if (await receiveSummary(stream, limits) === ours) {
    await stream.close()
    return { alreadyEqual: true, sent: 0, received: 0, accepted: 0 }
  }
  await sendDigest(stream, db, limits)
  const received = await receiveRecords(stream, ingest, limits)
  const theirDigest = await receiveDigest(stream, limits)
  const sent = await sendRecords(stream, db, theirDigest)
  await stream.close()
  return { alreadyEqual: false, sent, ...received }
}

export async function syncAsResponder (stream: FramedStream, db: RecordDB, ingest: Ingest, limits: SyncLimits): Promise<SyncOutcome> {
  const theirs = await receiveSummary(stream, limits)
  const ours = db.summaryHash()
  await stream.write(tagged(frameTag.summary, new TextEncoder().encode(ours)))
  if (theirs === ours) {
    await stream.close()
    return { alreadyEqual: true, sent: 0, received: 0, accepted: 0 }
  }
  const theirDigest = await receiveDigest(stream, limits)
  const sent = await sendRecords(stream, db, theirDigest)
  await sendDigest(stream, db, limits)
  const received = await receiveRecords(stream, ingest, limits)
  await stream.close()
  return { alreadyEqual: false, sent, ...received }
}

async function receiveSummary (stream: FramedStream, limits: SyncLimits): Promise<string> {
  const frame = await readFrame(stream, limits)
  if (frame[0] !== frameTag.summary || frame.byteLength > 65) throw new SyncProtocolError(`expected a summary frame, got tag ${frame[0]}`)
  return new TextDecoder().decode(frame.subarray(1))
}

async function sendDigest (stream: FramedStream, db: RecordDB, limits: SyncLimits): Promise<void> {
  let chunk: Array<[RecordKey, DigestEntry['version'], string]> = []
  for (const [key, entry] of db.digest()) {
    chunk.push([key, entry.version, entry.hash])
    if (chunk.length >= limits.chunkEntries) {
      await stream.write(tagged(frameTag.digestChunk, new TextEncoder().encode(JSON.stringify(chunk))))
      chunk = []
    }
  }
  if (chunk.length > 0) await stream.write(tagged(frameTag.digestChunk, new TextEncoder().encode(JSON.stringify(chunk))))
  await stream.write(Uint8Array.of(frameTag.digestEnd))
}

async function receiveDigest (stream: FramedStream, limits: SyncLimits): Promise<Digest> {
  const digest = new Map<RecordKey, DigestEntry>()
  for (;;) {
    const frame = await readFrame(stream, limits)
    if (frame[0] === frameTag.digestEnd) return digest
    if (frame[0] !== frameTag.digestChunk) throw new SyncProtocolError(`expected a digest frame, got tag ${frame[0]}`)
    let entries: z.infer<typeof digestChunkSchema>
    try {
      entries = digestChunkSchema.parse(JSON.parse(new TextDecoder().decode(frame.subarray(1))))
    } catch {
      throw new SyncProtocolError('malformed digest chunk')
    }
    for (const [key, version, hash] of entries) digest.set(key, { version, hash })
    if (digest.size > limits.digestEntriesMax) throw new SyncProtocolError(`digest longer than ${limits.digestEntriesMax} entries`)
  }
}

async function sendRecords (stream: FramedStream, db: RecordDB, theirDigest: Digest): Promise<number> {
  let sent = 0
  for (const record of db.recordsMissingFrom(theirDigest)) {
    const envelope = db.envelope(recordKey(record))
    if (envelope === undefined) continue // merged without its signed form (never the case on a live node)
    await stream.write(tagged(frameTag.record, envelope))
    sent++
  }
  await stream.write(Uint8Array.of(frameTag.recordsEnd))
  return sent
}

async function receiveRecords (stream: FramedStream, ingest: Ingest, limits: SyncLimits): Promise<{ received: number, accepted: number }> {
  let received = 0
  let accepted = 0
  let held = 0
  for (;;) {
    const frame = await readFrame(stream, limits)
    if (frame[0] === frameTag.recordsEnd) return { received, accepted }
    if (frame[0] !== frameTag.record) throw new SyncProtocolError(`expected a record frame, got tag ${frame[0]}`)
    received++
    if (received > limits.recordsMax) throw new SyncProtocolError(`more than ${limits.recordsMax} records in one sync`)
    const verdict = await ingest(frame.subarray(1))
    if (verdict === 'reject') throw new SyncProtocolError('peer sent an invalid record')
    if (verdict === 'accept') accepted++
    if (verdict === 'held' && ++held > limits.needlessRecordsMax) throw new SyncProtocolError(`more than ${limits.needlessRecordsMax} records we already held, in one sync`)
  }
}

async function readFrame (stream: FramedStream, limits: SyncLimits): Promise<Uint8Array> {
  if (performance.now() > limits.deadlineMs) throw new SyncProtocolError('sync session past its deadline (a peer trickling frames)')
  const frame = await stream.read()
  if (frame === undefined) throw new SyncEndedEarlyError('stream ended mid-exchange')
  if (frame.byteLength === 0) throw new SyncProtocolError('empty frame')
  return frame
}

function tagged (tag: number, body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(body.byteLength + 1)
  frame[0] = tag
  frame.set(body, 1)
  return frame
}
