// How often a node takes in a new version of one record: OSPF's MinLSArrival, as a token bucket per
// record key.
//
// Every version a node accepts it also re-floods, verifies on every other node, and writes to disk. A
// signer that originates versions as fast as it can (a bug, or an admitted node turned hostile) would
// make the whole fleet pay that per version. Each key holds `burst` tokens, refilled at `perSecond`;
// an accepted version takes one, and a version that arrives while its key has none is ignored — not
// flooded on, not stored. Nothing is lost for good: once the signer slows down, the newest version
// arrives by digest sync, which offers it again every sync interval.
//
// Per key rather than per signer: a non-operator signer has exactly one key (its node record), so for
// what an admitted node can sign the two are the same; an operator signs many keys, and a node joining
// or a healed partition receives all of them at once by sync, which a per-signer budget would refuse.
//
// The limit must never bite an honest node: its origination throttle (originateHoldMs doubling to
// originateMaxHoldMs) sends about six versions in its first two seconds of change, then one a second.
// Time is passed in (a monotonic clock), so a step of the wall clock can neither freeze nor refill it.

export interface ArrivalLimits {
  /** Versions of one key taken in back to back before the rate applies. */
  readonly burst: number
  /** Versions of one key taken in per second, sustained. */
  readonly perSecond: number
}

interface Bucket {
  tokens: number
  atMs: number
}

export class ArrivalLimiter {
  private readonly buckets = new Map<string, Bucket>()

  constructor (private readonly limits: ArrivalLimits) {}

  /** Whether a new version of `key` may be taken in at `nowMs` (nothing is taken yet). */
  allows (key: string, nowMs: number): boolean {
    return this.refilled(key, nowMs) >= 1
  }

  /** A new version of `key` was taken in at `nowMs`. */
  take (key: string, nowMs: number): void {
    this.buckets.set(key, { tokens: Math.max(0, this.refilled(key, nowMs) - 1), atMs: nowMs })
  }

  /** Forgets keys whose bucket is full again (they are as if never seen): memory follows the active keys. */
  prune (nowMs: number): void {
    for (const key of [...this.buckets.keys()]) {
      if (this.refilled(key, nowMs) >= this.limits.burst) this.buckets.delete(key)
    }
  }

  get size (): number {
    return this.buckets.size
  }

  private refilled (key: string, nowMs: number): number {
    const bucket = this.buckets.get(key)
    if (bucket === undefined) return this.limits.burst
    const elapsedMs = Math.max(0, nowMs - bucket.atMs)
    return Math.min(this.limits.burst, bucket.tokens + elapsedMs * this.limits.perSecond / 1_000)
  }
}
