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
// provably bad is reported to the caller, which drops it.

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
}

/** What the caller does with each received envelope: validate and merge it; 'reject' means provably bad. */
export type Ingest = (envelope: Uint8Array) => Promise<'accept' | 'ignore' | 'reject'>

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
  if (await receiveSummary(stream) === ours) {
    await stream.close()
    return { alreadyEqual: true, sent: 0, received: 0, accepted: 0 }
  }
  await sendDigest(stream, db, limits)
  const received = await receiveRecords(stream, ingest)
  const theirDigest = await receiveDigest(stream, limits)
  const sent = await sendRecords(stream, db, theirDigest)
  await stream.close()
  return { alreadyEqual: false, sent, ...received }
}

export async function syncAsResponder (stream: FramedStream, db: RecordDB, ingest: Ingest, limits: SyncLimits): Promise<SyncOutcome> {
  const theirs = await receiveSummary(stream)
  const ours = db.summaryHash()
  await stream.write(tagged(frameTag.summary, new TextEncoder().encode(ours)))
  if (theirs === ours) {
    await stream.close()
    return { alreadyEqual: true, sent: 0, received: 0, accepted: 0 }
  }
  const theirDigest = await receiveDigest(stream, limits)
  const sent = await sendRecords(stream, db, theirDigest)
  await sendDigest(stream, db, limits)
  const received = await receiveRecords(stream, ingest)
  await stream.close()
  return { alreadyEqual: false, sent, ...received }
}

async function receiveSummary (stream: FramedStream): Promise<string> {
  const frame = await readFrame(stream)
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
    const frame = await readFrame(stream)
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

async function receiveRecords (stream: FramedStream, ingest: Ingest): Promise<{ received: number, accepted: number }> {
  let received = 0
  let accepted = 0
  for (;;) {
    const frame = await readFrame(stream)
    if (frame[0] === frameTag.recordsEnd) return { received, accepted }
    if (frame[0] !== frameTag.record) throw new SyncProtocolError(`expected a record frame, got tag ${frame[0]}`)
    received++
    const verdict = await ingest(frame.subarray(1))
    if (verdict === 'reject') throw new SyncProtocolError('peer sent an invalid record')
    if (verdict === 'accept') accepted++
  }
}

async function readFrame (stream: FramedStream): Promise<Uint8Array> {
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
