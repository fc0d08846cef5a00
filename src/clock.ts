// Where a node's time comes from: the wall clock, a monotonic clock, and timers, behind one interface.
//
// The reconciler, its safe-change gates and the memory actuator ask this, never Date.now, performance.now
// or setTimeout, so that a whole node's decisions can run under a virtual clock (sim/virtual-clock.ts:
// time jumps to the next timer, and the same timers fire in the same order every run) as well as under
// the system's. The protocol engine will take it the same way (issue 25). Timers are unref'd under the
// system clock: a pending look-again never keeps a process alive.

export interface Timer {
  cancel(): void
}

export interface Clock {
  /** Milliseconds since the epoch: record times, holds, the operator's HLC. May step. */
  wallNow(): number
  /** Milliseconds on a clock that never steps back: throttles, deadlines, intervals. */
  monotonicNow(): number
  /** Calls `fn` once, `ms` from now (at least 0). */
  setTimer(fn: () => void, ms: number): Timer
}

export const systemClock: Clock = Object.freeze({
  wallNow: () => Date.now(),
  monotonicNow: () => performance.now(),
  setTimer (fn: () => void, ms: number): Timer {
    const timeout = setTimeout(fn, Math.max(0, ms))
    timeout.unref()
    return { cancel: () => { clearTimeout(timeout) } }
  },
})

/** `clock` with its wall time shifted by `offsetMs` (a node whose clock is off), timers unchanged. */
export function skewed (clock: Clock, offsetMs: number): Clock {
  return { wallNow: () => clock.wallNow() + offsetMs, monotonicNow: () => clock.monotonicNow(), setTimer: (fn, ms) => clock.setTimer(fn, ms) }
}

/** Resolves after `ms` on `clock`. */
export async function sleepOn (clock: Clock, ms: number): Promise<void> {
  await new Promise<void>((resolve) => { clock.setTimer(resolve, ms) })
}
