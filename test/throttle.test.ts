// The recompute throttle, driven on a virtual clock: no change is lost, runs are never closer than the
// hold time, the hold doubles under churn up to its ceiling, and falls back after a quiet spell.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { initialThrottleState, noteChange, runDue, validateThrottleConfig, type ThrottleConfig } from '../src/core/index.ts'

const config: ThrottleConfig = { initialDelayMs: 10, initialHoldMs: 50, maxHoldMs: 800 }

/** Feeds change times to the throttle and returns when it ran; a driver that wakes exactly on time. */
function drive (changeTimesMs: readonly number[]): number[] {
  let state = initialThrottleState(config)
  const runs: number[] = []
  const changes = [...changeTimesMs].sort((a, b) => a - b)
  let next = 0
  for (let steps = 0; steps < 10_000; steps++) {
    const nextChange = changes[next]
    const due = state.nextRunAtMs
    if (due !== null && (nextChange === undefined || due <= nextChange)) {
      const result = runDue(state, config, due)
      expect(result.run).toBe(true)
      state = result.state
      runs.push(due)
    } else if (nextChange !== undefined) {
      state = noteChange(state, config, nextChange)
      next++
    } else {
      return runs
    }
  }
  throw new Error('throttle did not settle in 10,000 steps')
}

describe('recompute throttle', () => {
  it('the first change after quiet runs after the initial delay', () => {
    expect(drive([1_000])).toEqual([1_010])
  })

  it('never loses a change, never runs closer than the initial hold, and waits at most the ceiling', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 20_000 }), { maxLength: 200 }), (changes) => {
      const runs = drive(changes)
      for (const change of changes) {
        const firstRunAfter = runs.find((run) => run >= change)
        expect(firstRunAfter).toBeDefined()
        expect((firstRunAfter as number) - change).toBeLessThanOrEqual(config.maxHoldMs + config.initialDelayMs)
      }
      for (let i = 1; i < runs.length; i++) expect((runs[i] as number) - (runs[i - 1] as number)).toBeGreaterThanOrEqual(config.initialHoldMs)
    }))
  })

  it('doubles the hold under continuous churn up to the ceiling, then falls back when quiet', () => {
    const churn = Array.from({ length: 400 }, (_, i) => i * 10) // a change every 10 ms for 4 s
    const runs = drive([...churn, 10_000])
    const gaps = runs.slice(1).map((run, i) => run - (runs[i] as number))
    expect(gaps.slice(0, 5)).toEqual([50, 100, 200, 400, 800])
    expect(Math.max(...gaps.slice(0, -1))).toBe(config.maxHoldMs)
    expect(runs.at(-1)).toBe(10_010) // quiet again: back to the initial delay
  })

  it('names the field when the configuration is inconsistent', () => {
    expect(validateThrottleConfig({ initialDelayMs: 10, initialHoldMs: 100, maxHoldMs: 50 })).toEqual(['maxHoldMs must be >= initialHoldMs'])
    expect(validateThrottleConfig(config)).toEqual([])
  })
})
