// The recompute throttle, driven on a virtual clock: no change is lost, runs are never closer than the
// hold time, the hold doubles under churn up to its ceiling, and falls back after a quiet spell.
// And the arrival limit on the receiving end (core/arrival-limit.ts): it bounds what any signer gets
// taken in, and never refuses what the origination throttle lets an honest node send.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ArrivalLimiter, initialThrottleState, noteChange, runDue, validateThrottleConfig, type ThrottleConfig } from '../src/core/index.ts'
import { defaultNetConfig } from '../src/net/index.ts'

const testConfig: ThrottleConfig = { initialDelayMs: 10, initialHoldMs: 50, maxHoldMs: 800 }
const config = testConfig

/** Feeds change times to the throttle and returns when it ran; a driver that wakes exactly on time. */
function drive (changeTimesMs: readonly number[], config: ThrottleConfig = testConfig): number[] {
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

describe('arrival limit', () => {
  const limits = { burst: defaultNetConfig.recordArrivalBurst, perSecond: defaultNetConfig.recordArrivalsPerSecond }

  /** Offers versions of one key at the given times; returns the times taken in. */
  function offer (timesMs: readonly number[]): number[] {
    const limiter = new ArrivalLimiter(limits)
    const taken: number[] = []
    for (const atMs of [...timesMs].sort((a, b) => a - b)) {
      if (!limiter.allows('node:x', atMs)) continue
      limiter.take('node:x', atMs)
      taken.push(atMs)
    }
    return taken
  }

  it('takes in at most burst + rate × window versions of one key in any window, however fast they come', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 2_000 }), fc.integer({ min: 1, max: 10_000 }), (offered, windowMs) => {
      const taken = offer(offered)
      for (const start of taken) {
        const inWindow = taken.filter((atMs) => atMs >= start && atMs < start + windowMs).length
        expect(inWindow).toBeLessThanOrEqual(limits.burst + Math.ceil(windowMs * limits.perSecond / 1_000))
      }
    }), { numRuns: 50 })
    // A flood of 1,000 versions a second for 10 s: 20 + 4 a second get through, not 10,000.
    expect(offer(Array.from({ length: 10_000 }, (_, i) => i)).length).toBeLessThanOrEqual(limits.burst + 40)
  })

  it('never refuses what an honest node’s origination throttle sends, however its record churns', () => {
    const originate: ThrottleConfig = { initialDelayMs: defaultNetConfig.originateDelayMs, initialHoldMs: defaultNetConfig.originateHoldMs, maxHoldMs: defaultNetConfig.originateMaxHoldMs }
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 60_000 }), { maxLength: 500 }), (changes) => {
      const sent = drive(changes, originate)
      expect(offer(sent)).toEqual(sent)
    }))
  })

  it('forgets a key once its bucket is full again, so memory follows the keys in use', () => {
    const limiter = new ArrivalLimiter(limits)
    for (let i = 0; i < 100; i++) limiter.take(`node:${i}`, 0)
    limiter.take('node:busy', 10_000)
    limiter.prune(10_000)
    expect(limiter.size).toBe(1)
  })
})
