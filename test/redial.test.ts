// The engine's redial plan (src/engine/redial.ts), with no network: what a node does each round given
// its connections, dials in flight, component and peer book.

import { describe, expect, it } from 'vitest'
import { planRedial, type RedialState } from '../src/engine/redial.ts'

const settings = { minNeighbours: 3, healProbesPerRound: 2, dialsPerRoundMax: 2 }
const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']

function state (change: Partial<RedialState> = {}): RedialState {
  return {
    selfId: 'a',
    connected: [],
    synced: new Set(),
    dialling: new Set(),
    announced: [],
    component: new Set(['a']),
    known: () => ids,
    mayDial: () => true,
    ...change,
  }
}

/** A random source that returns the given values in turn (then the last one). */
function draws (...values: number[]): () => number {
  let i = 0
  return () => values[Math.min(i++, values.length - 1)] as number
}

describe('a redial round', () => {
  it('with no connection and no dial, dials the bootstrap peers and known peers up to the round budget', () => {
    const plan = planRedial(state(), settings, draws(0.5))
    expect(plan.dialBootstrap).toBe(true)
    expect(plan.dial).toHaveLength(2) // wanted 3, but at most dialsPerRoundMax a round
    expect(plan.dial.every((id) => id !== 'a')).toBe(true)
  })

  it('below minNeighbours dials only peers it may dial and is not connected to or dialling', () => {
    const plan = planRedial(state({
      connected: ['b'], synced: new Set(['b']), announced: ['b'], dialling: new Set(['c']), mayDial: (id) => id !== 'd',
    }), settings, draws(0.1, 0.9))
    expect(plan.dialBootstrap).toBe(false)
    expect(plan.dial).toHaveLength(1) // wanted 3 − 1 − 1, budget 2 − 1
    expect(['a', 'b', 'c', 'd']).not.toContain(plan.dial[0])
  })

  it('resyncs connections whose first sync failed, and re-originates when the record names other adjacencies', () => {
    const connected = ['b', 'c', 'd']
    const plan = planRedial(state({ connected, synced: new Set(['b', 'c']), announced: ['b', 'c', 'd'] }), settings, draws(0.99))
    expect(plan.resync).toEqual(['d'])
    expect(plan.originate).toBe(true) // d is announced but not (yet) an adjacency
    expect(planRedial(state({ connected, synced: new Set(connected), announced: connected }), settings, draws(0.99)).originate).toBe(false)
  })

  it('at minNeighbours probes now and then, and only outside its component', () => {
    const formed = { connected: ['b', 'c', 'd'], synced: new Set(['b', 'c', 'd']), announced: ['b', 'c', 'd'], component: new Set(['a', 'b', 'c', 'd', 'e']) }
    // The chance is healProbesPerRound / component size = 2 / 5.
    expect(planRedial(state(formed), settings, draws(0.5)).dial).toEqual([])
    const probe = planRedial(state(formed), settings, draws(0.1, 0))
    expect(probe.dial).toHaveLength(1)
    expect(['f', 'g', 'h']).toContain(probe.dial[0])
    // Nothing outside: nothing to probe.
    expect(planRedial(state({ ...formed, component: new Set(ids) }), settings, draws(0.01)).dial).toEqual([])
  })

  it('does not walk the peer book in a round that dials nothing', () => {
    let walked = false
    const formed = { connected: ['b', 'c', 'd'], synced: new Set(['b', 'c', 'd']), announced: ['b', 'c', 'd'], component: new Set(ids) }
    planRedial(state({ ...formed, known: () => { walked = true; return ids } }), settings, draws(0.9))
    expect(walked).toBe(false)
  })
})
