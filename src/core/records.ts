// The two kinds of record every node floods, their keys and versions, and the one total order that
// decides which of two records with the same key is newer.
//
// - NodeRecord: a fact a node states about itself. Versioned by (generation, seq): generation is a
//   persisted counter bumped at every daemon start, seq counts originations within a generation.
//   This avoids OSPF's restart trap (a restarted router reusing old sequence numbers).
// - PolicyFragment: one piece of desired state, signed by an operator. Versioned by a hybrid logical
//   clock timestamp plus the signer; `body: null` is a tombstone (a deletion that must propagate).
//
// The order is total: when two different records carry the same version (a bug, or a forged replay
// that passed signature checks), the one with the larger content hash wins, then the larger canonical
// encoding. So every node picks the same winner and merge stays commutative.

import { canonicalJson, compareStrings, hash64Hex, type JsonValue } from './hash.ts'
import { compareHlc, type HlcTimestamp } from './hlc.ts'

export type NodeId = string
export type Labels = Readonly<Record<string, string>>

export interface NodeVersion {
  readonly generation: number
  readonly seq: number
}

export interface PolicyVersion {
  readonly hlc: HlcTimestamp
  /** Public key (or its id) of the operator that signed the fragment. */
  readonly signer: string
}

/** What a node reports about one resource it runs. */
export interface ResourceStatus {
  readonly id: string
  readonly phase: 'starting' | 'running' | 'failed'
  /** Hash of the workload spec it runs (see `workloadHash`); a changed spec means replace. */
  readonly specHash: string
  readonly restarts: number
  readonly lastError?: string
  /**
   * True for a workload found still running after an unclean restart (crash, `kill -9`) and not yet
   * confirmed by a view computed since. Provisional workloads are not incumbents: placement does not
   * keep work where it is just because a crashed node came back holding it (see placement.ts).
   */
  readonly provisional?: boolean
  /**
   * Running, and healthy for the service's `update.minHealthyForMs` without a break, as this node
   * measured on its own clock: what a rolling update waits for (rollout.ts).
   */
  readonly available?: boolean
  /**
   * For a `partition: majority` service: the fencing epoch this replica was started with (SHOAL_EPOCH
   * in its environment), larger each time the service moves, so that an outside resource can refuse an
   * older holder that has not stopped yet (a paused host, say).
   */
  readonly epoch?: number
  /**
   * A spec hash this replica was started on and that did not become available within the service's
   * healthyDeadlineMs: the rollout to it failed here. Kept after the replica goes back to an older spec,
   * so that every node keeps seeing the failure (rollout.ts: failed, and with autoRevert, reverted).
   */
  readonly failedSpec?: string
}

export interface NodeRecord {
  readonly kind: 'node'
  readonly nodeId: NodeId
  readonly version: NodeVersion
  /** Origin's wall clock at origination; records age out `maxAgeMs` after it (the age travels with it). */
  readonly originatedAtMs: number
  readonly addresses: readonly string[]
  readonly labels: Labels
  /** Capacity: how many slots of work this node accepts. */
  readonly slots: number
  /** Nodes this node currently has a live connection with. */
  readonly adjacencies: readonly NodeId[]
  readonly resources: readonly ResourceStatus[]
  /** The hash of the view this node computed last ('' before its first computation). */
  readonly viewHash: string
  /** A hash of the policy digest this node holds (lets peers spot a missed policy cheaply). */
  readonly policyDigest: string
  /**
   * Set in the last record of a daemon that stops to restart (SIGTERM): until this time (origin's
   * wall clock) the others keep its work where it is although it is unreachable (placement.ts), and
   * never longer than `holdMaxMs` after the record's origination, whatever a node claims.
   */
  readonly holdUntilMs?: number
  /** The Shoal release the node runs (`shoal --version`), so that a mixed-version fleet is visible. */
  readonly agentVersion?: string
}

/**
 * The longest a restarting node's work is held for it, from its record's origination: a node cannot
 * keep its work from being placed elsewhere by claiming a hold of a year (or by a clock far ahead;
 * records from the future are refused at ingest, net/mesh-node.ts). A daemon's --grace is at most this.
 */
export const holdMaxMs = 10 * 60_000

/** When a node record's hold ends: what it asks, capped at holdMaxMs after its origination. */
export function holdEndMs (record: NodeRecord): number | undefined {
  return record.holdUntilMs === undefined ? undefined : Math.min(record.holdUntilMs, record.originatedAtMs + holdMaxMs)
}

export interface WorkloadSpec {
  /** 'process', 'file', 'memory', …: interpreted by actuators, opaque to placement. */
  readonly kind: string
  readonly [field: string]: JsonValue
}

export interface ServiceSpec {
  readonly kind: 'Service'
  readonly name: string
  /** A number of replicas, or 'all' for one on every eligible node. */
  readonly replicas: number | 'all'
  /** Labels a node must carry, all of them, with these values. */
  readonly selector: Labels
  /** A label key: replicas are spread evenly across the values of this label. */
  readonly spread?: string
  /** Capacity one replica takes on its node. */
  readonly slots: number
  readonly workload: WorkloadSpec
  /** How a change of `workload` rolls out (rollout.ts); absent fields take their defaults. */
  readonly update?: UpdateSettings
  /**
   * During a partition: 'available' (the default) runs the service on every side; 'majority' only on
   * the side holding a strict majority of the nodes (quorum.ts), so a singleton never runs twice.
   */
  readonly partition?: 'available' | 'majority'
  /** The workload this spec replaced (set by `shoal apply`): what a failed rollout reverts to. */
  readonly previousWorkload?: WorkloadSpec
}

export interface UpdateSettings {
  /**
   * Replicas that may be down for the update at once: a count, or a percentage like "25%" rounded down
   * (default 1; at least 1, unless maxSurge is above 0, where 0 keeps every replica up).
   */
  readonly maxUnavailable?: number | string
  /** A new replica counts as available only once healthy this long (default 0). */
  readonly minHealthyForMs?: number
  /**
   * During a rollout: replicas started beyond `replicas` on the new spec before old ones stop, a count
   * or a percentage rounded up (default 0: replicas are replaced in place). When work moves for a
   * reason other than a failure (a drain, a label or spread change): 0 stops a replica let go at once;
   * otherwise (the default) it keeps running until its replacement is available.
   */
  readonly maxSurge?: number | string
  /** How long a replica let go waits for its replacement at most (default 5 min). */
  readonly moveDeadlineMs?: number
  /** A new replica not available this long after it started counts as failed (default 5 min). */
  readonly healthyDeadlineMs?: number
  /** A failed rollout goes back to `previousWorkload` (default false: it stops where it is). */
  readonly autoRevert?: boolean
  /** Replicas updated first; the rest wait until an operator promotes the spec (`shoal promote`). */
  readonly canary?: number
  /** Set by `shoal promote`: the canaries were good, the rest may follow. A new `apply` clears it. */
  readonly promoted?: boolean
}

/** Operator settings for one node; `name` is the node id. */
export interface NodeSettingsSpec {
  readonly kind: 'Node'
  readonly name: NodeId
  /** Move all work away from this node. */
  readonly drain?: boolean
  /** Place no new work on this node; what runs there stays. */
  readonly cordon?: boolean
  /** Labels that add to (and override) the node's own: what the node says of itself cannot change them. */
  readonly labels?: Labels
  /** Capacity that overrides what the node declares (a node may claim any number of slots). */
  readonly slots?: number
}

/** An operator's word that a node may take part: its records count, and peers accept its connections. */
export interface AdmissionSpec {
  readonly kind: 'Admission'
  /** The admitted node's id. */
  readonly name: NodeId
}

export type PolicySpec = ServiceSpec | NodeSettingsSpec | AdmissionSpec
export type PolicyKind = PolicySpec['kind']

export interface PolicyFragment {
  readonly kind: 'policy'
  readonly policyKind: PolicyKind
  readonly name: string
  readonly version: PolicyVersion
  /** The desired state, or null for a tombstone. */
  readonly body: PolicySpec | null
}

export type ShoalRecord = NodeRecord | PolicyFragment
export type RecordKey = string
export type RecordVersion = NodeVersion | PolicyVersion

export function nodeRecordKey (nodeId: NodeId): RecordKey {
  let key = nodeRecordKeys.get(nodeId)
  if (key === undefined) {
    if (nodeRecordKeys.size >= 100_000) nodeRecordKeys.clear()
    nodeRecordKeys.set(nodeId, key = `node:${nodeId}`)
  }
  return key
}
/**
 * The key strings, one per node id: a string made afresh for every lookup had to be hashed each time,
 * and placement looks up every node's record per view (a seventh of a 300-node virtual run). Bounded.
 */
const nodeRecordKeys = new Map<NodeId, RecordKey>()

export function policyKey (policyKind: PolicyKind, name: string): RecordKey {
  return `policy:${policyKind}/${name}`
}

export function recordKey (record: ShoalRecord): RecordKey {
  switch (record.kind) {
    case 'node': return nodeRecordKey(record.nodeId)
    case 'policy': return policyKey(record.policyKind, record.name)
    default: return assertNever(record)
  }
}

export function compareNodeVersions (a: NodeVersion, b: NodeVersion): number {
  return a.generation - b.generation || a.seq - b.seq
}

export function comparePolicyVersions (a: PolicyVersion, b: PolicyVersion): number {
  return compareHlc(a.hlc, b.hlc) || compareStrings(a.signer, b.signer)
}

/** Compares two versions of the same kind of record. */
export function compareVersions (a: RecordVersion, b: RecordVersion): number {
  if ('generation' in a && 'generation' in b) return compareNodeVersions(a, b)
  if ('hlc' in a && 'hlc' in b) return comparePolicyVersions(a, b)
  throw new Error('compareVersions: versions of different record kinds')
}

/** Hash of a record's whole content; the tie-break between equal versions. */
export function contentHash (record: ShoalRecord): string {
  let hash = contentHashes.get(record)
  if (hash === undefined) contentHashes.set(record, hash = hash64Hex(canonicalJson(record)))
  return hash
}
/** Per record object (records are immutable): nodes of one process that share a record hash it once. */
const contentHashes = new WeakMap<ShoalRecord, string>()

/**
 * The total "newer than" order for two records with the same key: positive when `a` is newer.
 * Version first; equal versions fall back to content hash, then canonical encoding.
 */
export function compareRecords (a: ShoalRecord, b: ShoalRecord): number {
  const byVersion = compareVersions(a.version, b.version)
  if (byVersion !== 0) return byVersion
  if (a === b) return 0
  const aCanonical = canonicalJson(a)
  const bCanonical = canonicalJson(b)
  if (aCanonical === bCanonical) return 0
  return compareStrings(hash64Hex(aCanonical), hash64Hex(bCanonical)) || compareStrings(aCanonical, bCanonical)
}

/** Hash of what a workload runs: equal specs hash equally, whatever their key order. */
export function workloadHash (workload: WorkloadSpec): string {
  return hash64Hex(canonicalJson(workload))
}

/**
 * True when two records of one node give placement the same inputs: labels, slots, adjacencies, the
 * workloads it runs as an incumbent (not failed, not provisional) and its hold. What else a record
 * says (phases, restarts, its view hash, its version) changes with every status update and cannot
 * change any node's view.
 */
export function samePlacementInputs (a: NodeRecord, b: NodeRecord): boolean {
  return a.slots === b.slots && a.holdUntilMs === b.holdUntilMs &&
    sameList(a.adjacencies, b.adjacencies) && sameList(incumbentIds(a), incumbentIds(b)) &&
    specStatusInputs(a) === specStatusInputs(b) && canonicalJson(a.labels) === canonicalJson(b.labels)
}

/**
 * What placement reads of a record's resources besides incumbency (placement.ts step 6): each failed
 * spec, and the spec of each replica available on it — as one string, once per record object.
 */
export function specStatusInputs (record: NodeRecord): string {
  let inputs = specStatusCache.get(record)
  if (inputs === undefined) {
    inputs = record.resources
      .filter((resource) => resource.failedSpec !== undefined || resource.available === true)
      .map((resource) => `${resource.id} ${resource.failedSpec ?? '-'} ${resource.available === true ? resource.specHash : '-'}`)
      .join(',')
    specStatusCache.set(record, inputs)
  }
  return inputs
}
const specStatusCache = new WeakMap<NodeRecord, string>()

/**
 * True when replacing `b` by `a` leaves every component as it was: for a node, the same adjacencies;
 * for a policy, neither is an Admission fragment (operator-mode components hold admitted nodes only).
 */
export function sameTopologyInputs (a: ShoalRecord, b: ShoalRecord): boolean {
  if (a.kind === 'node' && b.kind === 'node') return sameList(a.adjacencies, b.adjacencies)
  return !shapesTopology(a) && !shapesTopology(b)
}

/** Whether a record can shape a component at all: a node's record, or an Admission fragment. */
export function shapesTopology (record: ShoalRecord): boolean {
  return record.kind === 'node' || record.body?.kind === 'Admission'
}

function incumbentIds (record: NodeRecord): string[] {
  return record.resources.filter((resource) => resource.phase !== 'failed' && resource.provisional !== true).map((resource) => resource.id)
}

function sameList (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i])
}

export function isTombstone (record: ShoalRecord): boolean {
  return record.kind === 'policy' && record.body === null
}

export function assertNever (value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`)
}
