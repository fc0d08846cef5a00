// What a daemon keeps in its data directory, written crash-safely (DESIGN.md §9): every file is
// replaced atomically (temp file, fsync, rename, fsync dir), so a `kill -9` at any instant leaves the
// old version or the new one, never a torn one.
//
//   identity.key     the node's Ed25519 key (protobuf), mode 0600, created once
//   generation       a counter bumped at every start: the first half of every record version
//   records.bin      the signed envelopes of every record held when it was written, length-prefixed
//   records.log      envelopes merged since, appended in batches (same framing); both re-validated on load
//   shutdown.json    written on a clean stop: a restart within the grace time adopts workloads as running
//
// Records are saved incrementally (issue 22 item 6): each second the daemon appends what changed to
// records.log (one write, one fdatasync), and rewrites records.bin only once the log has grown past it,
// so a stream of new versions costs disk in proportion to the versions, not to the database. A crash
// mid-append leaves a torn tail, cut off at the next load; a crash between a new records.bin and the
// emptied log replays older versions over newer ones, which merge ignores.
//
// Loading never trusts these files blindly: records go through the same validation as gossip, and a
// damaged file is reported and set aside, so a node can always start and converge from its peers.

import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { mkdir, open, readFile, rename, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { writeFileAtomically } from '../actuators/file.ts'

export interface LoadProblem {
  readonly file: string
  readonly problem: string
}

export class DataStore {
  /** Problems met while loading (damaged files set aside), for the daemon to log. */
  readonly problems: LoadProblem[] = []

  constructor (readonly dataDir: string) {}

  async prepare (): Promise<void> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 })
  }

  async loadOrCreateIdentity (): Promise<PrivateKey> {
    const path = join(this.dataDir, 'identity.key')
    const existing = await readFile(path).catch(() => undefined)
    if (existing !== undefined) {
      try {
        return privateKeyFromProtobuf(existing)
      } catch (error) {
        // Refuse to invent a new identity over a damaged one: the operator admitted this node's key.
        throw new Error(`${path} is damaged (${(error as Error).message}); restore it from a backup, or remove it to start as a new node that must be admitted again`)
      }
    }
    const key = await generateKeyPair('Ed25519')
    await writeFileAtomically(path, privateKeyToProtobuf(key), 0o600)
    return key
  }

  /** Reads, bumps and persists the generation counter; returns the new generation. */
  async nextGeneration (): Promise<number> {
    const path = join(this.dataDir, 'generation')
    const text = await readFile(path, 'utf8').catch(() => '0')
    const previous = Number.parseInt(text.trim(), 10)
    if (!Number.isSafeInteger(previous) || previous < 0) await this.setAside(path, `not a generation number: ${JSON.stringify(text.slice(0, 40))}`)
    // A lost counter is survivable: the node jumps past its own old records when it sees them.
    const generation = (Number.isSafeInteger(previous) && previous >= 0 ? previous : 0) + 1
    await writeFileAtomically(path, Buffer.from(`${generation}\n`), 0o600)
    return generation
  }

  /** Bytes in records.bin and records.log as last written (by this store). */
  readonly recordBytes = { snapshot: 0, log: 0 }

  /** Writes every record to records.bin and empties records.log (the log's content is in it). */
  async saveRecords (envelopes: Iterable<Uint8Array>): Promise<void> {
    const snapshot = frame(envelopes)
    await writeFileAtomically(join(this.dataDir, 'records.bin'), snapshot, 0o600)
    this.recordBytes.snapshot = snapshot.byteLength
    await writeFileAtomically(join(this.dataDir, 'records.log'), Buffer.alloc(0), 0o600)
    this.recordBytes.log = 0
  }

  /** Appends records to records.log: one write, one fdatasync. A failure may leave a torn tail. */
  async appendRecords (envelopes: Iterable<Uint8Array>): Promise<void> {
    const batch = frame(envelopes)
    const file = await open(join(this.dataDir, 'records.log'), 'a', 0o600)
    try {
      await file.writeFile(batch)
      await file.datasync()
    } finally {
      await file.close()
    }
    this.recordBytes.log += batch.byteLength
  }

  /** The records of records.bin, then those appended to records.log since (newer versions last). */
  async loadRecords (recordBytesMax: number): Promise<Uint8Array[]> {
    const snapshot = await this.readFramed(join(this.dataDir, 'records.bin'), recordBytesMax)
    const log = await this.readFramed(join(this.dataDir, 'records.log'), recordBytesMax)
    this.recordBytes.snapshot = snapshot.bytes
    this.recordBytes.log = log.bytes
    return [...snapshot.envelopes, ...log.envelopes]
  }

  private async readFramed (path: string, recordBytesMax: number): Promise<{ envelopes: Uint8Array[], bytes: number }> {
    const data = await readFile(path).catch(() => undefined)
    if (data === undefined) return { envelopes: [], bytes: 0 }
    const envelopes: Uint8Array[] = []
    let offset = 0
    while (offset < data.byteLength) {
      const length = offset + 4 <= data.byteLength ? data.readUInt32BE(offset) : -1
      if (length < 0 || length > recordBytesMax || offset + 4 + length > data.byteLength) {
        if (path.endsWith('.log')) {
          // A crash mid-append: cut the torn tail off, or the next append would land behind it.
          this.problems.push({ file: path, problem: `torn at byte ${offset} (an append cut short); kept the ${envelopes.length} records before it` })
          await truncate(path, offset).catch(() => {})
        } else {
          await this.setAside(path, `damaged at byte ${offset}; kept the ${envelopes.length} records before it`)
        }
        break
      }
      envelopes.push(data.subarray(offset + 4, offset + 4 + length))
      offset += 4 + length
    }
    return { envelopes, bytes: offset }
  }

  /** Records a clean stop: a restart before `graceUntilMs` adopts the workloads as running. */
  async markCleanShutdown (graceUntilMs: number): Promise<void> {
    await writeFileAtomically(join(this.dataDir, 'shutdown.json'), Buffer.from(JSON.stringify({ graceUntilMs })), 0o600)
  }

  /**
   * When the last stop was clean and we are back within its grace time: the end of that grace time
   * (our work is held until then). Otherwise undefined. The marker stays until `consumeCleanShutdown`,
   * which the daemon calls once it has started: a start that fails half-way is followed by one that
   * still knows the last stop was clean.
   */
  async readCleanShutdown (nowMs: number): Promise<number | undefined> {
    const text = await readFile(join(this.dataDir, 'shutdown.json'), 'utf8').catch(() => undefined)
    if (text === undefined) return undefined
    const parsed = z.object({ graceUntilMs: z.number() }).safeParse(safeJson(text))
    return parsed.success && nowMs <= parsed.data.graceUntilMs ? parsed.data.graceUntilMs : undefined
  }

  /** The clean-stop marker has served: the next start without a clean stop before it is a crash's. */
  async consumeCleanShutdown (): Promise<void> {
    const path = join(this.dataDir, 'shutdown.json')
    await rename(path, `${path}.used`).catch(() => {})
  }

  /** Moves a damaged file out of the way (kept for inspection) and notes the problem. */
  private async setAside (path: string, problem: string): Promise<void> {
    this.problems.push({ file: path, problem })
    await rename(path, `${path}.damaged-${Date.now()}`).catch(() => {})
  }
}

/** Envelopes, each after its length (4 bytes, big-endian). */
function frame (envelopes: Iterable<Uint8Array>): Buffer {
  const parts: Buffer[] = []
  for (const envelope of envelopes) {
    const length = Buffer.alloc(4)
    length.writeUInt32BE(envelope.byteLength)
    parts.push(length, Buffer.from(envelope))
  }
  return Buffer.concat(parts)
}

function safeJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
