// A virtual clock for running a node's decisions without waiting: time stands still until the driver
// advances it, and then jumps from timer to timer. The groundwork of issue 25's deterministic
// simulator: timers due at the same time fire in the order they were set (a (time, sequence) priority
// queue), so a run is the same event for event, and a timer set while another fires runs in turn.
//
// Between timers the driver lets promise continuations run (`settle`), because the code under test is
// async (actuators return promises): a fired timer's consequences finish before the next one fires.
// Code that waits on real I/O does not belong under it: its continuation would land at some later
// virtual time, differently each run.
// Wall time starts at `wallStartMs` and moves with the monotonic time.

import TinyQueue from 'tinyqueue'
import type { Clock, Timer } from '../src/clock.ts'

interface Pending {
  readonly atMs: number
  readonly sequence: number
  readonly fn: () => void
  cancelled: boolean
}

export class VirtualClock implements Clock {
  private nowMs = 0
  private sequence = 0
  private readonly queue = new TinyQueue<Pending>([], (a, b) => a.atMs - b.atMs || a.sequence - b.sequence)
  /** Timers that fired, in order: (time, sequence), for comparing two runs. */
  fired = 0

  /**
   * `busy` says whether async work set off by a timer may still be under way (a reconciler run, which
   * awaits its actuators); while it is not, no turns are spent between timers.
   */
  constructor (private readonly wallStartMs = Date.UTC(2026, 0, 1), private readonly busy?: () => boolean) {}

  wallNow (): number {
    return this.wallStartMs + this.nowMs
  }

  monotonicNow (): number {
    return this.nowMs
  }

  setTimer (fn: () => void, ms: number): Timer {
    const pending: Pending = { atMs: this.nowMs + Math.max(0, ms), sequence: this.sequence++, fn, cancelled: false }
    this.queue.push(pending)
    return { cancel: () => { pending.cancelled = true } }
  }

  /** When the next live timer is due, or undefined when none is pending. */
  nextDueMs (): number | undefined {
    while (this.queue.length > 0 && (this.queue.peek() as Pending).cancelled) this.queue.pop()
    return this.queue.peek()?.atMs
  }

  /**
   * Runs every timer due up to `untilMs` (virtual), in (time, sequence) order, letting each one's
   * promise continuations settle before the next; time ends at `untilMs`. Returns how many fired.
   */
  async runUntil (untilMs: number): Promise<number> {
    let count = 0
    await this.settle()
    for (let due = this.nextDueMs(); due !== undefined && due <= untilMs; due = this.nextDueMs()) {
      const pending = this.queue.pop() as Pending
      this.nowMs = pending.atMs
      pending.fn()
      count++
      this.fired++
      await this.settle()
    }
    this.nowMs = Math.max(this.nowMs, untilMs)
    return count
  }

  private async settle (): Promise<void> {
    if (this.busy === undefined) {
      for (let turn = 0; turn < microtaskTurns; turn++) await Promise.resolve()
      return
    }
    // Nothing under way, nothing to wait for; and no more turns once what was under way has finished.
    for (let turn = 0; turn < microtaskTurns && this.busy(); turn++) await Promise.resolve()
  }

  /** Runs `ms` of virtual time from now. */
  async advance (ms: number): Promise<number> {
    return await this.runUntil(this.nowMs + ms)
  }
}

/**
 * Pending promise continuations run, and the ones they queue, without leaving the microtask queue: a
 * turn of the event loop (setImmediate) per timer cost 40 % of a 200-node run in libuv's loop. 32 turns
 * is twice the deepest await chain a timer sets off today (a reconciler run: observe, plan, ensure,
 * publish), measured by the trace: 16, 64, 256 turns and a full loop turn give the same run. With a
 * `busy` check the turns are skipped while nothing is under way (most timers deliver a message).
 */
const microtaskTurns = 32
