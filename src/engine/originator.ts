// When a node originates a new version of its own record: OSPF's rule, driven on a Clock.
//
// Every change to what the record says (an adjacency, a workload's status, labels, a hold) asks for a
// new version; the throttle (core/throttle.ts) coalesces them: the first change after a quiet spell goes
// out after `initialDelayMs`, changes that keep coming wait for a hold that doubles up to `maxHoldMs`
// (OSPF's MinLSInterval, bounded). What goes in the record, and how it is signed and flooded, is the
// adapter's `originate` (net/mesh-node.ts on libp2p, sim/virtual/node.ts on the virtual network).
// Time and timers come from the Clock, so the same decisions run under virtual time.

import { initialThrottleState, noteChange, runDue, type ThrottleConfig, type ThrottleState } from '../core/index.ts'
import type { Clock, Timer } from '../clock.ts'

/** The network config's origination settings (net/config.ts names them). */
export interface OriginationSettings {
  readonly originateDelayMs: number
  readonly originateHoldMs: number
  readonly originateMaxHoldMs: number
}

export class Originator {
  private readonly config: ThrottleConfig
  private state: ThrottleState
  private timer: Timer | undefined
  private stopped = false

  constructor (private readonly clock: Clock, settings: OriginationSettings, private readonly originate: () => void) {
    this.config = { initialDelayMs: settings.originateDelayMs, initialHoldMs: settings.originateHoldMs, maxHoldMs: settings.originateMaxHoldMs }
    this.state = initialThrottleState(this.config)
  }

  /** What our record says changed: a new version goes out when the throttle lets it. */
  noteChange (): void {
    if (this.stopped) return
    this.state = noteChange(this.state, this.config, this.clock.monotonicNow())
    this.arm()
  }

  stop (): void {
    this.stopped = true
    this.timer?.cancel()
  }

  private arm (): void {
    const dueAtMs = this.state.nextRunAtMs
    if (this.timer !== undefined || dueAtMs === null || this.stopped) return
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined
      const due = runDue(this.state, this.config, this.clock.monotonicNow())
      this.state = due.state
      if (due.run) this.originate()
      else this.arm()
    }, Math.max(0, dueAtMs - this.clock.monotonicNow()))
  }
}
