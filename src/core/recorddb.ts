// RecordDB: a node's copy of every record (OSPF's link-state database).
//
// Merge keeps, per key, the newest record under `compareRecords`' total order. Keeping the maximum of
// a total order is commutative, associative and idempotent, so the same records in any order, any
// number of times, give the same database (test/recorddb.test.ts proves it with fast-check).
//
// Aging is separate from merge, so merge stays a pure join: `dropExpired(nowMs)` removes node records
// not re-originated for `maxAgeMs`, measured from the origination time the record carries (like OSPF's
// LS age), so all nodes drop a record at about the same moment and an expired record cannot bounce
// between peers forever. Policies never expire, tombstones included: a dropped tombstone let the signed
// envelope it deleted come back from any peer, a node back from a long absence, or the API, and a
// deleted Service ran again, a revoked Admission counted again (issue 22 item 3). A tombstone costs one
// small record per deleted name, for good; docs/security.md says so.
//
// The digest (key → version and content hash) and `recordsMissingFrom(peerDigest)` are the two halves
// of the digest-sync protocol that repairs what gossip lost.

import { compareStrings, Hasher64 } from './hash.ts'
import {
  compareRecords, compareVersions, contentHash, nodeRecordKey, recordKey, samePlacementInputs, sameTopologyInputs, shapesTopology,
  type NodeId, type NodeRecord, type NodeVersion, type PolicyFragment, type RecordKey, type RecordVersion, type ShoalRecord,
} from './records.ts'

export type MergeOutcome = 'added' | 'replaced' | 'duplicate' | 'stale'

export interface DigestEntry {
  readonly version: RecordVersion
  readonly hash: string
}

export type Digest = ReadonlyMap<RecordKey, DigestEntry>

export interface AgingLimits {
  /** A node record not re-originated for this long is dropped. */
  readonly maxAgeMs: number
}

interface Entry {
  readonly record: ShoalRecord
  /** The signed bytes the record arrived in, kept opaque here so that peers can be sent the original. */
  readonly envelope: Uint8Array | undefined
  hash: string | undefined
}

/** One topology revision's change (see RecordDB `topologyChangesSince`). */
export interface TopologyChange {
  readonly revision: number
  /** The node whose record changed; undefined for any other change (an Admission, an expiry). */
  readonly nodeId: NodeId | undefined
  /** Whether the change dropped an adjacency (or may have: any change not of one node's record). */
  readonly dropped: boolean
}

/** At least this many are kept (up to twice as many): enough for a component asked for every few changes; past it, it is walked again. */
const topologyLogKept = 256

function droppedAny (before: readonly NodeId[], after: readonly NodeId[]): boolean {
  return before.some((id) => !after.includes(id))
}

export class RecordDB {
  private readonly entries = new Map<RecordKey, Entry>()
  /** The keys of the policy records among `entries`: reading the policies need not walk every node record. */
  private readonly policyKeys = new Set<RecordKey>()
  /** Bumped on every change; lets callers cache what they derive from the database. */
  private changeCount = 0
  /** Bumped only by changes a component can see (`sameTopologyInputs`); implies a placement change. */
  private topologyChangeCount = 0
  /** Bumped only by policy changes. */
  private policyChangeCount = 0
  /** Bumped only by node-record changes placement can see (`samePlacementInputs`). */
  private nodePlacementChangeCount = 0
  /** Bumped only when the set of nodes with a record changes (a first record, an expiry). */
  private nodeSetChangeCount = 0
  private policyDigestCache: { readonly revision: number, readonly hash: string } | undefined
  private summaryCache: { readonly revision: number, readonly hash: string } | undefined
  private readonly derivedCaches = { placement: new DerivedValues(), topology: new DerivedValues(), policy: new DerivedValues(), nodes: new DerivedValues(), members: new DerivedValues() }
  /**
   * The last topology changes, one per topology revision: the node whose record changed and whether
   * it dropped an adjacency it listed (`undefined` node: anything else, an Admission or an expiry).
   * Lets a component be carried forward instead of walked again (reachability.ts `extendComponent`).
   */
  private readonly topologyLog: TopologyChange[] = []

  get revision (): number {
    return this.changeCount
  }

  /**
   * Bumped when a change can change a view: any policy, a node record whose placement inputs changed
   * (`samePlacementInputs`), a node's first record, anything dropped. Status updates leave it alone.
   */
  get placementRevision (): number {
    // Either part moves on every change placement can see, so their sum does, and never goes back.
    return this.policyChangeCount + this.nodePlacementChangeCount
  }

  /** Bumped by every change a component can see (see `derived`'s 'topology' scope). */
  get topologyRevision (): number {
    return this.topologyChangeCount
  }

  /**
   * A value derived from what placement reads (policies and nodes' placement inputs), computed once
   * per placement revision under `key`. The reconciler's view, the node's own component and the
   * simulator's judge all ask for the same views, components and admitted set; at 200 nodes each was a
   * walk of the whole database, and every status record that followed a change made every node's
   * judge compute its view again. Callers must not mutate what they get.
   *
   * With `scope: 'topology'`, computed once per topology revision: for what reads only adjacencies and
   * admission (a node's component, the admitted set), which a new Service fragment does not change.
   * At 200 nodes every policy change made each node walk the whole graph again (0.15 s per change).
   * With `scope: 'policy'`, once per policy revision: for what reads only the policies; with 'nodes',
   * once per revision of what placement reads of node records alone; with 'members', once per change
   * to which nodes have a record.
   */
  derived<T> (key: string, compute: () => T, scope: 'placement' | 'topology' | 'policy' | 'nodes' | 'members' = 'placement'): T {
    const revisions = { placement: this.placementRevision, topology: this.topologyChangeCount, policy: this.policyChangeCount, nodes: this.nodePlacementChangeCount, members: this.nodeSetChangeCount }
    return this.derivedCaches[scope].get(revisions[scope], key, compute)
  }

  get size (): number {
    return this.entries.size
  }

  merge (record: ShoalRecord, envelope?: Uint8Array): MergeOutcome {
    const key = recordKey(record)
    const existing = this.entries.get(key)
    if (existing === undefined) {
      this.entries.set(key, { record, envelope, hash: undefined })
      this.changeCount++
      if (shapesTopology(record)) this.noteTopologyChange(record.kind === 'node' ? record.nodeId : undefined, false)
      if (record.kind === 'policy') {
        this.policyKeys.add(key)
        this.policyChangeCount++
      } else {
        this.nodePlacementChangeCount++
        this.nodeSetChangeCount++
      }
      return 'added'
    }
    if (record === existing.record) return 'duplicate' // the same object (nodes of one process share records)
    const order = compareRecords(record, existing.record)
    if (order === 0) return 'duplicate'
    if (order < 0) return 'stale'
    this.entries.set(key, { record, envelope, hash: undefined })
    this.changeCount++
    if (record.kind === 'policy' || existing.record.kind === 'policy') this.policyChangeCount++
    else if (!samePlacementInputs(record, existing.record)) this.nodePlacementChangeCount++
    if (!sameTopologyInputs(record, existing.record)) {
      const before = existing.record
      const nodeId = record.kind === 'node' && before.kind === 'node' ? record.nodeId : undefined
      this.noteTopologyChange(nodeId, nodeId === undefined || droppedAny((before as NodeRecord).adjacencies, (record as NodeRecord).adjacencies))
    }
    return 'replaced'
  }

  private noteTopologyChange (nodeId: NodeId | undefined, dropped: boolean): void {
    this.topologyChangeCount++
    this.topologyLog.push({ revision: this.topologyChangeCount, nodeId, dropped })
    // Trimmed in halves, not one entry per change: a shift of the whole log per change cost 9 % of a
    // 600-node formation.
    if (this.topologyLog.length >= 2 * topologyLogKept) this.topologyLog.splice(0, topologyLogKept)
  }

  /** The topology changes after revision `since`, oldest first; undefined when they are no longer all known. */
  topologyChangesSince (since: number): readonly TopologyChange[] | undefined {
    if (since === this.topologyChangeCount) return []
    const first = this.topologyLog[0]
    if (first === undefined || first.revision > since + 1) return undefined
    return this.topologyLog.slice(since + 1 - first.revision)
  }

  /** Merges every record of `other` into this database. */
  mergeFrom (other: RecordDB): void {
    for (const entry of other.entries.values()) this.merge(entry.record, entry.envelope)
  }

  /** The signed bytes of every record merged with them: what a node saves, or hands to a restarted self. */
  envelopes (): Uint8Array[] {
    const result: Uint8Array[] = []
    for (const { envelope } of this.entries.values()) if (envelope !== undefined) result.push(envelope)
    return result
  }

  /** The signed bytes a record arrived in, if it was merged with them. */
  envelope (key: RecordKey): Uint8Array | undefined {
    return this.entries.get(key)?.envelope
  }

  get (key: RecordKey): ShoalRecord | undefined {
    return this.entries.get(key)?.record
  }

  nodeRecord (nodeId: NodeId): NodeRecord | undefined {
    const record = this.entries.get(nodeRecordKey(nodeId))?.record
    return record?.kind === 'node' ? record : undefined
  }

  * records (): IterableIterator<ShoalRecord> {
    for (const entry of this.entries.values()) yield entry.record
  }

  nodeRecords (): NodeRecord[] {
    const result: NodeRecord[] = []
    for (const { record } of this.entries.values()) if (record.kind === 'node') result.push(record)
    return result
  }

  /** Every policy fragment, tombstones included. */
  policies (): PolicyFragment[] {
    const result: PolicyFragment[] = []
    for (const key of this.policyKeys) result.push((this.entries.get(key) as Entry).record as PolicyFragment)
    return result
  }

  /** Removes expired node records; returns the keys removed. */
  dropExpired (nowMs: number, limits: AgingLimits): RecordKey[] {
    const removed: RecordKey[] = []
    for (const [key, { record }] of this.entries) {
      if (isExpired(record, nowMs, limits)) removed.push(key)
    }
    for (const key of removed) {
      this.entries.delete(key)
      if (this.policyKeys.delete(key)) this.policyChangeCount++
    }
    if (removed.length > 0) {
      this.changeCount++
      this.noteTopologyChange(undefined, true)
      this.nodePlacementChangeCount++
      this.nodeSetChangeCount++
    }
    return removed
  }

  digest (): Map<RecordKey, DigestEntry> {
    const digest = new Map<RecordKey, DigestEntry>()
    for (const [key, entry] of this.entries) {
      entry.hash ??= contentHash(entry.record)
      digest.set(key, { version: entry.record.version, hash: entry.hash })
    }
    return digest
  }

  /** The records a peer holding `peerDigest` lacks or holds in an older version. */
  recordsMissingFrom (peerDigest: Digest): ShoalRecord[] {
    const missing: ShoalRecord[] = []
    for (const entry of this.entries.values()) {
      const theirs = peerDigest.get(recordKey(entry.record))
      if (theirs === undefined) {
        missing.push(entry.record)
        continue
      }
      const byVersion = compareVersions(entry.record.version, theirs.version)
      if (byVersion > 0) {
        missing.push(entry.record)
      } else if (byVersion === 0) {
        entry.hash ??= contentHash(entry.record)
        if (compareStrings(entry.hash, theirs.hash) > 0) missing.push(entry.record)
      }
    }
    return missing
  }

  /**
   * A short hash of the whole digest (every key and content hash): equal on two nodes iff, but for a
   * 64-bit collision, they hold the same records. Digest sync compares these first, so that two
   * databases already equal (the case at rest) exchange two short frames, not two whole digests.
   */
  summaryHash (): string {
    if (this.summaryCache?.revision === this.changeCount) return this.summaryCache.hash
    const keys = [...this.entries.keys()].sort(compareStrings)
    const hasher = new Hasher64()
    for (const key of keys) {
      const entry = this.entries.get(key) as Entry
      entry.hash ??= contentHash(entry.record)
      hasher.update(key)
      hasher.update(entry.hash)
    }
    this.summaryCache = { revision: this.changeCount, hash: hasher.digestHex() }
    return this.summaryCache.hash
  }

  /** A short hash of every policy key and version held: equal on two nodes iff they hold the same policies. */
  policyDigestHash (): string {
    // Cached per policy revision: node records, which change far more often, would otherwise make every
    // view and every record originated hash all policies again.
    if (this.policyDigestCache?.revision === this.policyChangeCount) return this.policyDigestCache.hash
    const lines = this.policies()
      .map((policy) => `${recordKey(policy)}@${policy.version.hlc.wallMs}.${policy.version.hlc.counter}.${policy.version.signer}`)
      .sort(compareStrings)
    const hasher = new Hasher64()
    for (const line of lines) hasher.update(line)
    this.policyDigestCache = { revision: this.policyChangeCount, hash: hasher.digestHex() }
    return this.policyDigestCache.hash
  }

  /** Every record sorted by key: a value to compare two databases by. */
  snapshot (): ShoalRecord[] {
    return [...this.entries.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, entry]) => entry.record)
  }
}

export function isExpired (record: ShoalRecord, nowMs: number, limits: AgingLimits): boolean {
  return record.kind === 'node' && nowMs - record.originatedAtMs > limits.maxAgeMs
}

/**
 * The version a node should originate next. `lastOwn` is the last version it originated in this
 * life; `seenOwn` the newest record of its own it finds in the database (flooded back to it, possibly
 * left over from before a restart). Like OSPF, it jumps past whatever it sees, so its next record
 * always wins.
 */
export function nextOwnVersion (lastOwn: NodeVersion, seenOwn: NodeVersion | undefined): NodeVersion {
  const base = seenOwn !== undefined && compareVersions(seenOwn, lastOwn) > 0 ? seenOwn : lastOwn
  return { generation: base.generation, seq: base.seq + 1 }
}

/** Values computed once per revision of one kind; all dropped when the revision moves. */
class DerivedValues {
  private readonly values = new Map<string, unknown>()
  private revision = -1

  get<T> (revision: number, key: string, compute: () => T): T {
    if (this.revision !== revision) {
      this.values.clear()
      this.revision = revision
    }
    if (this.values.has(key)) return this.values.get(key) as T
    const value = compute()
    this.values.set(key, value)
    return value
  }
}
