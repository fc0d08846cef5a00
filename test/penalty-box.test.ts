// The penalty box (engine/penalty-box.ts): a peer that broke the protocol is refused for a while, longer
// with each offence up to a ceiling, and forgotten once it stays clean.

import { describe, expect, it } from 'vitest'
import { PenaltyBox } from '../src/engine/penalty-box.ts'

describe('penalty box', () => {
  it('refuses a peer for the first term, doubles it per offence up to the ceiling, and forgets a reformed peer', () => {
    const box = new PenaltyBox({ firstMs: 1_000, maxMs: 4_000 })
    expect(box.holds('p', 0)).toBe(false)
    expect(box.sentence('p', 0)).toBe(1_000)
    expect(box.holds('p', 999)).toBe(true)
    expect(box.holds('other', 500)).toBe(false)
    expect(box.sentence('p', 500)).toBe(500) // still boxed: the term does not grow while it serves it
    expect(box.holds('p', 1_000)).toBe(false)
    expect([box.sentence('p', 1_000), box.sentence('p', 3_000), box.sentence('p', 7_000), box.sentence('p', 11_000)]).toEqual([2_000, 4_000, 4_000, 4_000])
    box.prune(15_000 + 4_000) // released at 15,000, clean for the ceiling since
    expect(box.sentence('p', 19_000)).toBe(4_000)
    box.prune(23_000 + 4_001)
    expect(box.sentence('p', 30_000)).toBe(1_000) // forgotten: a first offence again
  })
})
