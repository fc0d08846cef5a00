// A hybrid logical clock (Kulkarni et al., 2014) for versioning policy fragments.
//
// A timestamp is (wallMs, counter). It never runs behind the physical clock it is given, never goes
// backwards, and after `receive` it is ahead of every timestamp seen. The physical time is an argument:
// the core reads no clock. A remote timestamp more than `maxClockSkewMs` ahead of our physical clock is
// refused, so a node with a wild clock cannot push every later version into the far future.

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

export type HlcReceiveResult =
  | { readonly kind: 'ok', readonly clock: HlcTimestamp }
  | { readonly kind: 'too-far-ahead', readonly aheadMs: number }

/** Folds a remote timestamp into the local clock, refusing one too far in the future. */
export function hlcReceive (
  last: HlcTimestamp,
  remote: HlcTimestamp,
  physicalNowMs: number,
  maxClockSkewMs: number,
): HlcReceiveResult {
  const aheadMs = remote.wallMs - physicalNowMs
  if (aheadMs > maxClockSkewMs) return { kind: 'too-far-ahead', aheadMs }
  const wallMs = Math.max(last.wallMs, remote.wallMs, physicalNowMs)
  let counter = 0
  if (wallMs === last.wallMs && wallMs === remote.wallMs) counter = Math.max(last.counter, remote.counter) + 1
  else if (wallMs === last.wallMs) counter = last.counter + 1
  else if (wallMs === remote.wallMs) counter = remote.counter + 1
  return { kind: 'ok', clock: { wallMs, counter } }
}

/** True when a timestamp is acceptable at `physicalNowMs`: not further ahead than the allowed skew. */
export function isWithinClockSkew (timestamp: HlcTimestamp, physicalNowMs: number, maxClockSkewMs: number): boolean {
  return timestamp.wallMs - physicalNowMs <= maxClockSkewMs
}

export function formatHlc (timestamp: HlcTimestamp): string {
  return `${timestamp.wallMs}.${timestamp.counter}`
}
