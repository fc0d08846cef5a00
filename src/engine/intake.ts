// Record intake: what a node decides about a record a peer sent it, apart from how the bytes arrived.
//
// The checks, cheapest first (issue 22): is the sender one we talk to (a test's cut, the penalty box,
// admission) → may the envelope's signer speak for its kind of record at all (an operator for a policy,
// an admitted node for its own record, within the arrival limit) — asked before the adapter verifies
// the signature or parses the payload → is the record's time within the clock-skew bound, not expired
// → is it newer than what we hold. Each answer is accept, ignore (not the sender's fault, or harmless)
// or reject (provably bad: gossipsub scores the sender down, digest sync drops it).
//
// Sans-IO, as issue 25's engine: time is passed in, nothing here sends, dials or hangs up. What the
// node must do about a record is returned as effects for the adapter (net/mesh-node.ts) to carry out:
// box a peer (the penalty box refuses it for a while), hang up on a node whose admission was revoked.
// Signature checks and decoding stay with the adapter: they are the codec's, and a virtual network may
// check each record once for all its nodes.

import {
  admittedNodeIds, ArrivalLimiter, isExpired, isWithinClockSkew, nodeRecordKey, recordKey,
  type NodeId, type RecordDB, type ShoalRecord,
} from '../core/index.ts'
import { PenaltyBox } from './penalty-box.ts'

export type IgnoreReason = 'stale' | 'node-not-admitted' | 'from-the-future' | 'expired' | 'blocked-sender' | 'sender-not-admitted' | 'over-rate' | 'internal-error'

export interface IngestResult {
  readonly verdict: 'accept' | 'ignore' | 'reject'
  /** Why a record was ignored or rejected: an IgnoreReason, or the codec's name for what was wrong. */
  readonly reason?: string
  readonly detail?: string
}

/** What the adapter must do besides answering: drop and refuse a peer, or hang up on a revoked one. */
export type IntakeEffect =
  | { readonly kind: 'penalise', readonly peerId: NodeId, readonly reason: string, readonly durationMs: number }
  | { readonly kind: 'hang-up', readonly peerId: NodeId }

export interface IntakeSettings {
  readonly selfId: NodeId
  readonly operators: ReadonlySet<string>
  readonly admission: 'open' | 'operator'
  /** Peers named in the operator's bootstrap addresses: trusted until we know who is admitted. */
  readonly bootstrapPeers: ReadonlySet<string>
  readonly maxClockSkewMs: number
  readonly maxAgeMs: number
  readonly recordArrivalBurst: number
  readonly recordArrivalsPerSecond: number
  readonly penaltyMs: number
  readonly penaltyMaxMs: number
}

export interface IntakeCounters {
  accepted: number
  ignored: Record<string, number>
  rejected: Record<string, number>
  peersDropped: number
}

export class RecordIntake {
  /** Peers cut off by a test or the simulator, both ways. */
  readonly blocked = new Set<string>()
  readonly counters: IntakeCounters = { accepted: 0, ignored: {}, rejected: {}, peersDropped: 0 }
  private readonly arrivals: ArrivalLimiter
  /** Versions of its own record a peer sent us over the arrival limit, since we last took one in. */
  private readonly overRateFrom = new Map<string, number>()
  private readonly penalties: PenaltyBox
  /** Effects decided since the adapter last took them. */
  private effects: IntakeEffect[] = []

  constructor (private readonly db: RecordDB, private readonly settings: IntakeSettings) {
    this.arrivals = new ArrivalLimiter({ burst: settings.recordArrivalBurst, perSecond: settings.recordArrivalsPerSecond })
    this.penalties = new PenaltyBox({ firstMs: settings.penaltyMs, maxMs: settings.penaltyMaxMs })
  }

  /** The effects decided since the last call, for the adapter to carry out. */
  takeEffects (): IntakeEffect[] {
    const effects = this.effects
    this.effects = []
    return effects
  }

  /** Before anything else: a record from `source` is not even looked at when we refuse the sender. */
  checkSender (source: string, nowMs: number): IngestResult | undefined {
    if (source === this.settings.selfId) return undefined
    if (this.cutOff(source, nowMs) !== undefined) return this.ignore('blocked-sender')
    // Not proof of anything: a node that has just learnt its first admissions refuses its other
    // bootstrap peers until theirs arrive too (a sync with one of them may be under way). Rejecting
    // scored them down and, in a sync, boxed them for 60 s: a joining node cut itself off from the
    // peers it joined through. A revoked peer is hung up on when its revocation arrives.
    if (this.refuses(source)) return this.ignore('sender-not-admitted', source)
    return undefined
  }

  /**
   * Before the signature is verified or the payload parsed: whether `signerId` may speak for a record
   * of `kind` (a failure name), or undefined. A node signs one key, its record: a signer over its rate
   * costs no signature check. Only versions taken in use up the budget, so a forger cannot spend an
   * honest node's.
   */
  authorise (kind: 'policy' | 'node', signerId: string, nowMs: number): 'not-an-operator' | 'node-not-admitted' | 'over-rate' | undefined {
    if (kind === 'policy') return this.settings.operators.has(signerId) ? undefined : 'not-an-operator'
    // Not the sender's fault: the admission may simply not have reached us yet. Sync brings it again.
    if (signerId !== this.settings.selfId && this.refuses(signerId)) return 'node-not-admitted'
    return this.arrivals.allows(nodeRecordKey(signerId), nowMs) ? undefined : 'over-rate'
  }

  /**
   * The record could not be opened: `failure` as the codec or `authorise` named it, `detail` the
   * codec's (for a refusal by `authorise`, the signer's id).
   */
  refused (failure: string, source: string, detail: string, nowMs: number): IngestResult {
    if (failure === 'over-rate') return this.overRate(source, detail, nowMs)
    if (failure === 'node-not-admitted') return this.ignore(failure)
    return this.reject(failure, detail)
  }

  /**
   * An opened, correctly signed record: merged if it is new, in time and from an admitted node.
   * `nowMs` is monotonic (the arrival limit), `wallNowMs` the wall clock (record times).
   */
  take (record: ShoalRecord, envelope: Uint8Array | undefined, source: string, nowMs: number, wallNowMs: number): IngestResult {
    const key = recordKey(record)
    if (!this.arrivals.allows(key, nowMs)) return this.ignore('over-rate')
    const settings = this.settings
    if (record.kind === 'policy') {
      if (!isWithinClockSkew(record.version.hlc, wallNowMs, settings.maxClockSkewMs)) return this.ignore('from-the-future')
    } else if (record.originatedAtMs > wallNowMs + settings.maxClockSkewMs) {
      // A record from the future would never age out, and its hold would last past holdMaxMs.
      return this.ignore('from-the-future')
    } else if (this.refuses(record.nodeId) && record.nodeId !== settings.selfId) {
      // Not the sender's fault: the admission may simply not have reached us yet. Sync brings it again.
      return this.ignore('node-not-admitted')
    }
    if (isExpired(record, wallNowMs, settings)) return this.ignore('expired')
    const outcome = this.db.merge(record, envelope)
    if (outcome === 'stale' || outcome === 'duplicate') return this.ignore('stale')
    if (source !== settings.selfId) {
      this.arrivals.take(key, nowMs)
      this.overRateFrom.delete(source)
    }
    this.counters.accepted++
    if (record.kind === 'policy' && record.policyKind === 'Admission' && record.body === null && record.name !== settings.selfId) {
      // Revoked: its records are refused from now on (authorise), and so is its connection.
      this.effects.push({ kind: 'hang-up', peerId: record.name })
    }
    return { verdict: 'accept' }
  }

  /** Drops `peerId` and refuses it for a while (penalty-box.ts): a peer that broke the protocol. */
  penalise (peerId: string, reason: string, nowMs: number): void {
    if (peerId === this.settings.selfId) return
    const durationMs = this.penalties.sentence(peerId, nowMs)
    this.counters.peersDropped++
    this.effects.push({ kind: 'penalise', peerId, reason, durationMs })
  }

  /** Why we refuse any traffic with `peerId` now, if we do: a test's cut, or a penalty. */
  cutOff (peerId: string, nowMs: number): 'blocked' | 'penalised' | undefined {
    if (this.blocked.has(peerId)) return 'blocked'
    return this.penalties.holds(peerId, nowMs) ? 'penalised' : undefined
  }

  /**
   * True when admission is required and `peerId` is not admitted. A node that knows no other node's
   * admission yet (a fresh node) trusts the bootstrap peers its operator named, and only them: from
   * them it learns who is admitted, and from then on the plain rule applies.
   */
  refuses (peerId: string): boolean {
    if (this.settings.admission === 'open') return false
    const admitted = admittedNodeIds(this.db)
    if (admitted.has(peerId)) return false
    const knowsOthers = admitted.size > (admitted.has(this.settings.selfId) ? 1 : 0)
    return knowsOthers || !this.settings.bootstrapPeers.has(peerId)
  }

  /** Forgets arrival counts and penalties that no longer matter. */
  prune (nowMs: number): void {
    this.arrivals.prune(nowMs)
    this.penalties.prune(nowMs)
  }

  ignore (reason: string, detail?: string): IngestResult {
    bump(this.counters.ignored, reason)
    return { verdict: 'ignore', reason, ...(detail === undefined ? {} : { detail }) }
  }

  private reject (reason: string, detail: string): IngestResult {
    bump(this.counters.rejected, reason)
    return { verdict: 'reject', reason, detail }
  }

  /**
   * A version over the arrival limit: ignored. When the signer itself sent it to us, once more than a
   * burst of them came since we last took one in, the peer is dropped and boxed: an honest node's
   * throttle never goes over (test/throttle.test.ts), and each message costs us ~0.7 ms of transport
   * before we can ignore it (scripts/bench-record-flood.ts: 40 % of a core at 570 a second).
   */
  private overRate (source: string, signerId: string, nowMs: number): IngestResult {
    if (source === signerId) {
      const count = (this.overRateFrom.get(source) ?? 0) + 1
      this.overRateFrom.set(source, count)
      if (count > this.settings.recordArrivalBurst) {
        this.overRateFrom.delete(source)
        this.penalise(source, 'records over the arrival limit', nowMs)
      }
    }
    return this.ignore('over-rate')
  }
}

function bump (counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1
}
