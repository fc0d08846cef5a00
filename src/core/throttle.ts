// The recompute throttle: OSPF's SPF timers as a pure state machine over time inputs.
//
// The first change after a quiet spell is acted on after `initialDelayMs` (short, to batch a burst).
// Changes that keep coming within the hold time of the last run are batched into one run at the end
// of the hold, and the hold doubles after each such run, up to `maxHoldMs`. A change arriving after the
// hold has elapsed counts as quiet: the hold falls back to `initialHoldMs`. No change is ever lost:
// while one run is pending, further changes simply join it.
//
// Use: call `noteChange` when the inputs change; when `nextRunAtMs` is due, call `runDue`, recompute,
// and keep the state it returns. The driver owns the timer; this module owns the decisions.

export interface ThrottleConfig {
  /** Delay before the first run after a quiet spell. */
  readonly initialDelayMs: number
  /** Minimum gap between runs when changes keep coming; doubles on each busy run. */
  readonly initialHoldMs: number
  /** Ceiling of the hold time. */
  readonly maxHoldMs: number
}

export interface ThrottleState {
  /** When the pending run is due, or null when nothing is pending. */
  readonly nextRunAtMs: number | null
  readonly lastRunAtMs: number | null
  readonly holdMs: number
  /** True when the pending run was scheduled by a change inside the hold time (churn). */
  readonly pendingUnderChurn: boolean
}

export function initialThrottleState (config: ThrottleConfig): ThrottleState {
  return { nextRunAtMs: null, lastRunAtMs: null, holdMs: config.initialHoldMs, pendingUnderChurn: false }
}

export function validateThrottleConfig (config: ThrottleConfig): string[] {
  const problems: string[] = []
  if (!(config.initialDelayMs >= 0)) problems.push('initialDelayMs must be >= 0')
  if (!(config.initialHoldMs > 0)) problems.push('initialHoldMs must be > 0')
  if (!(config.maxHoldMs >= config.initialHoldMs)) problems.push('maxHoldMs must be >= initialHoldMs')
  return problems
}

export function noteChange (state: ThrottleState, config: ThrottleConfig, nowMs: number): ThrottleState {
  if (state.nextRunAtMs !== null) return state
  const quiet = state.lastRunAtMs === null || nowMs - state.lastRunAtMs >= state.holdMs
  if (quiet) return { ...state, holdMs: config.initialHoldMs, nextRunAtMs: nowMs + config.initialDelayMs, pendingUnderChurn: false }
  return { ...state, nextRunAtMs: (state.lastRunAtMs as number) + state.holdMs, pendingUnderChurn: true }
}

/** If a run is due at `nowMs`, returns `run: true` and the state after it; otherwise the state unchanged. */
export function runDue (state: ThrottleState, config: ThrottleConfig, nowMs: number): { run: boolean, state: ThrottleState } {
  if (state.nextRunAtMs === null || nowMs < state.nextRunAtMs) return { run: false, state }
  const holdMs = state.pendingUnderChurn ? Math.min(state.holdMs * 2, config.maxHoldMs) : state.holdMs
  return { run: true, state: { nextRunAtMs: null, lastRunAtMs: nowMs, holdMs, pendingUnderChurn: false } }
}
