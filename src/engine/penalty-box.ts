// Peers this node refuses for a while because they provably broke the protocol: a peer that kept
// sending its own record faster than the arrival limit (an honest node's throttle never does), or one
// that broke digest sync (bad frames, invalid records, an oversized digest, a trickle past the session
// deadline). Dropping such a peer only to take its next connection let it cost us again at once; the
// box refuses it (in the connection gater, both ways) for `firstMs`, doubling with each offence up to
// `maxMs`, and forgets a peer that stayed clean for `maxMs` after its last release.
//
// What it does not bound: the Noise handshake a refused peer can still make us run on each dial (the
// gater answers after the handshake). A host firewall or rate limit on new connections bounds that.
// Time is passed in (a monotonic clock).

export interface PenaltyLimits {
  readonly firstMs: number
  readonly maxMs: number
}

interface Sentence {
  untilMs: number
  lastMs: number
}

export class PenaltyBox {
  private readonly sentences = new Map<string, Sentence>()

  constructor (private readonly limits: PenaltyLimits) {}

  /** Boxes `peerId` from `nowMs`; returns for how long. A peer still boxed is not sentenced again. */
  sentence (peerId: string, nowMs: number): number {
    const previous = this.sentences.get(peerId)
    if (previous !== undefined && nowMs < previous.untilMs) return previous.untilMs - nowMs
    const durationMs = previous === undefined ? this.limits.firstMs : Math.min(this.limits.maxMs, 2 * previous.lastMs)
    this.sentences.set(peerId, { untilMs: nowMs + durationMs, lastMs: durationMs })
    return durationMs
  }

  holds (peerId: string, nowMs: number): boolean {
    const sentence = this.sentences.get(peerId)
    return sentence !== undefined && nowMs < sentence.untilMs
  }

  /** Forgets peers clean for `maxMs` since their release: the map holds recent offenders only. */
  prune (nowMs: number): void {
    for (const [peerId, sentence] of [...this.sentences]) {
      if (nowMs - sentence.untilMs > this.limits.maxMs) this.sentences.delete(peerId)
    }
  }
}
