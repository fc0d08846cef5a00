// A hybrid logical clock (Kulkarni et al., 2014) for versioning policy fragments.
//
// A timestamp is (wallMs, counter). It never runs behind the physical clock it is given, never goes
// backwards, and after `hlcAdvancePast` its next tick is ahead of the timestamp seen. The physical time
// is an argument: the core reads no clock. Nodes refuse a fragment timestamped more than
// `maxClockSkewMs` ahead of their clock, so a signer with a wild clock cannot push every later version
// into the far future.

export interface HlcTimestamp {
  readonly wallMs: number
  readonly counter: number
}

export const zeroHlc: HlcTimestamp = Object.freeze({ wallMs: 0, counter: 0 })

export function compareHlc (a: HlcTimestamp, b: HlcTimestamp): number {
  return a.wallMs - b.wallMs || a.counter - b.counter
}

/** The timestamp for a local event (signing a fragment) at physical time `physicalNowMs`. */
export function hlcTick (last: HlcTimestamp, physicalNowMs: number): HlcTimestamp {
  if (physicalNowMs > last.wallMs) return { wallMs: physicalNowMs, counter: 0 }
  return { wallMs: last.wallMs, counter: last.counter + 1 }
}

/**
 * The clock moved past `seen` (the version of a fragment about to be replaced, signed elsewhere): the
 * next tick is then newer than it, even when our physical clock is behind its signer's. A `seen` from
 * too far in the future never gets here: nodes refuse such a fragment (isWithinClockSkew).
 */
export function hlcAdvancePast (last: HlcTimestamp, seen: HlcTimestamp): HlcTimestamp {
  return compareHlc(seen, last) > 0 ? seen : last
}

/** True when a timestamp is acceptable at `physicalNowMs`: not further ahead than the allowed skew. */
export function isWithinClockSkew (timestamp: HlcTimestamp, physicalNowMs: number, maxClockSkewMs: number): boolean {
  return timestamp.wallMs - physicalNowMs <= maxClockSkewMs
}

export function formatHlc (timestamp: HlcTimestamp): string {
  return `${timestamp.wallMs}.${timestamp.counter}`
}
