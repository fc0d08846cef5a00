// The virtual network (sim/virtual/): the engine's decisions and whole reconcilers on simulated links and
// a virtual clock. A fleet forms, places work, re-places a crashed node's share, runs each side of a
// partition on its own and comes back to one view after the heal — and the same seed gives the same run.

import { describe, expect, it } from 'vitest'
import type { ServiceSpec } from '../src/core/index.ts'
import { VirtualFleet } from '../sim/virtual/fleet.ts'

const web: ServiceSpec = { kind: 'Service', name: 'web', replicas: 3, selector: {}, spread: 'zone', slots: 1, workload: { kind: 'memory', startMs: 200 } }
const db: ServiceSpec = { kind: 'Service', name: 'db', replicas: 1, selector: {}, slots: 2, workload: { kind: 'memory' } }

/** Form, apply, crash a host of web, split in halves, heal: the virtual time each took, and the trace. */
async function scenario (seed: number): Promise<{ steps: Array<number | undefined>, trace: string, webDuringSplit: number, webAfter: number }> {
  const fleet = await VirtualFleet.start({ nodes: 30, seed })
  try {
    const steps: Array<number | undefined> = []
    steps.push(await fleet.runUntil(() => fleet.componentCount() === 1 && fleet.converged(), 60_000, 50))
    await fleet.publish(web)
    await fleet.publish(db)
    steps.push(await fleet.runUntil(() => fleet.converged() && fleet.running('web') === 3 && fleet.running('db') === 1, 30_000))
    const host = fleet.nodes.findIndex((node) => node.localState.resources.some((resource) => resource.id.startsWith('web@')))
    await fleet.crash(host)
    steps.push(await fleet.runUntil(() => fleet.converged() && fleet.running('web') === 3, 30_000))
    const live = fleet.nodes.map((_, i) => i).filter((i) => i !== host)
    await fleet.partition([live.slice(0, 15), live.slice(15)])
    steps.push(await fleet.runUntil(() => fleet.componentCount() === 2 && fleet.converged(), 30_000))
    const webDuringSplit = fleet.running('web')
    await fleet.heal()
    steps.push(await fleet.runUntil(() => fleet.componentCount() === 1 && fleet.converged(), 60_000))
    return { steps, trace: fleet.traceHash(), webDuringSplit, webAfter: fleet.running('web') }
  } finally {
    await fleet.stop()
  }
}

describe('a fleet on the virtual network', () => {
  it('forms, places, re-places a crashed node\'s work, runs both sides of a split, heals — the same run from the same seed', async () => {
    const first = await scenario(7)
    expect(first.steps.every((ms) => ms !== undefined)).toBe(true)
    expect(first.webDuringSplit).toBe(6) // each side runs all of web on its own (partition: available)
    expect(first.webAfter).toBe(3) // after the heal, the duplicates are cut
    // The split is seen only after the dead interval (3 s here) less a hello interval: nothing is announced.
    expect(first.steps[3] as number).toBeGreaterThanOrEqual(2_000)
    const again = await scenario(7)
    expect(again).toEqual(first)
    expect((await scenario(8)).trace).not.toBe(first.trace)
  })
})
