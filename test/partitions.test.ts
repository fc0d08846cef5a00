// Partition scenarios on a fleet (real libp2p, reconcilers, memory actuators), judged from outside per
// component: each side keeps serving, and after the network returns — unannounced — the fleet is one
// component again, with one database, the newest policy everywhere, and nothing running twice.

import { afterEach, describe, expect, it } from 'vitest'
import type { ServiceSpec } from '../src/core/index.ts'
import type { MeshNode } from '../src/net/index.ts'
import {
  components, converged, crashNode, cut, excessReplicas, heal, liveNodes, partition, runningResources, sameDatabases,
  stall, startFleet, stopFleet, waitFor, type Fleet,
} from '../src/testing/index.ts'

const web: ServiceSpec = { kind: 'Service', name: 'web', replicas: 3, selector: {}, slots: 1, workload: { kind: 'memory', app: 'web' } }
const agent: ServiceSpec = { kind: 'Service', name: 'agent', replicas: 'all', selector: {}, slots: 1, workload: { kind: 'memory', app: 'agent' } }

let fleet: Fleet | undefined
afterEach(async () => {
  if (fleet !== undefined) await stopFleet(fleet)
  fleet = undefined
})

async function convergedFleet (count: number, options: { stallable?: boolean } = {}): Promise<Fleet> {
  const started = await startFleet(count, (i) => ({ zone: ['a', 'b', 'c'][i % 3] as string }), 'memory', options)
  fleet = started
  await waitFor('one component', () => components(started).length === 1, 20_000)
  await started.mesh.nodes[0]!.publish((await started.mesh.operator.sign(web)).envelope)
  await started.mesh.nodes[0]!.publish((await started.mesh.operator.sign(agent)).envelope)
  await waitFor('converged after apply', () => converged(started), 20_000)
  return started
}

function webCount (fleet: Fleet, nodes: readonly MeshNode[]): number {
  const indices = nodes.map((node) => fleet.mesh.nodes.indexOf(node))
  return runningResources(fleet, indices).filter((id) => id.startsWith('web@')).length
}

async function expectOneHealthyComponent (fleet: Fleet, services: readonly ServiceSpec[]): Promise<void> {
  await waitFor('one component, converged, one database', () =>
    components(fleet).length === 1 && converged(fleet) && sameDatabases(liveNodes(fleet)), 30_000)
  expect(excessReplicas(fleet, services)).toEqual([])
}

describe('partitions', () => {
  it('a 50/50 split: each side runs every service on its own, and after heal nothing runs twice', async () => {
    const f = await convergedFleet(8)
    const [left, right] = [f.mesh.nodes.slice(0, 4), f.mesh.nodes.slice(4)]
    await partition([left, right])
    await waitFor('two converged sides', () => components(f).length === 2 && converged(f), 20_000)
    expect(webCount(f, left)).toBe(3)
    expect(webCount(f, right)).toBe(3)
    heal(f.mesh.nodes)
    await expectOneHealthyComponent(f, [web])
    expect(webCount(f, f.mesh.nodes)).toBe(3)
  })

  it('an isolated minority of one keeps its own share; the majority re-places the rest', async () => {
    const f = await convergedFleet(6)
    const loner = f.mesh.nodes[5]!
    await partition([[loner], f.mesh.nodes.slice(0, 5)])
    await waitFor('two converged sides', () => components(f).length === 2 && converged(f), 20_000)
    expect(webCount(f, [loner])).toBe(1) // alone, it can hold only one replica of web
    expect(webCount(f, f.mesh.nodes.slice(0, 5))).toBe(3)
    heal(f.mesh.nodes)
    await expectOneHealthyComponent(f, [web])
  })

  it('a one-way cut separates as a symmetric one does, and heals', async () => {
    const f = await convergedFleet(6)
    await cut(f.mesh.nodes.slice(0, 3), f.mesh.nodes.slice(3), { oneWay: true })
    await waitFor('two converged sides', () => components(f).length === 2 && converged(f), 20_000)
    heal(f.mesh.nodes)
    await expectOneHealthyComponent(f, [web])
  })

  it('a flapping link (cut and healed five times in quick succession) settles into one converged fleet', async () => {
    const f = await convergedFleet(6)
    const [left, right] = [f.mesh.nodes.slice(0, 3), f.mesh.nodes.slice(3)]
    for (let flap = 0; flap < 5; flap++) {
      await partition([left, right])
      await new Promise((resolve) => setTimeout(resolve, 300))
      heal(f.mesh.nodes)
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
    await expectOneHealthyComponent(f, [web])
  })

  it('a crash during a partition: the crashed node’s side re-places its work, and the heal leaves no duplicate', async () => {
    const f = await convergedFleet(8)
    const [left, right] = [f.mesh.nodes.slice(0, 4), f.mesh.nodes.slice(4)]
    await partition([left, right])
    await waitFor('two converged sides', () => components(f).length === 2 && converged(f), 20_000)
    const victim = [4, 5, 6, 7].find((i) => runningResources(f, [i]).some((id) => id.startsWith('web@'))) as number
    await crashNode(f, victim)
    await waitFor('the right side re-places', () => converged(f) && webCount(f, right.filter((node) => node !== f.mesh.nodes[victim])) === 3, 20_000)
    heal(liveNodes(f))
    await expectOneHealthyComponent(f, [web])
    expect(webCount(f, liveNodes(f))).toBe(3)
  })

  it('a policy changed on both sides during a split: after heal the newest wins everywhere', async () => {
    const f = await convergedFleet(6)
    const [left, right] = [f.mesh.nodes.slice(0, 3), f.mesh.nodes.slice(3)]
    await partition([left, right])
    await waitFor('two sides', () => components(f).length === 2, 20_000)
    await left[0]!.publish((await f.mesh.operator.sign({ ...web, replicas: 1 })).envelope)
    const newest = await f.mesh.operator.sign({ ...web, replicas: 2 })
    await right[0]!.publish(newest.envelope)
    await waitFor('two converged sides', () => converged(f), 20_000)
    heal(f.mesh.nodes)
    await expectOneHealthyComponent(f, [{ ...web, replicas: 2 }])
    for (const node of f.mesh.nodes) expect(node.db.get('policy:Service/web')).toEqual(newest.fragment)
    expect(webCount(f, f.mesh.nodes)).toBe(2)
  })

  it('a 500 ms stall moves nothing: the node never leaves anyone\'s component, and nothing starts or stops', async () => {
    const f = await convergedFleet(6, { stallable: true })
    const host = f.mesh.nodes.find((node) => node.localState.resources.some((r) => r.id.startsWith('web@'))) as MeshNode
    const placed = runningResources(f, [...f.mesh.nodes.keys()]).sort()
    stall(host, 500)
    let lostBy = 0
    const sampleUntil = Date.now() + 3_000 // the stall, and what its end may set off
    while (Date.now() < sampleUntil) {
      lostBy = Math.max(lostBy, f.mesh.nodes.filter((node) => !node.component().has(host.peerId)).length)
      expect(runningResources(f, [...f.mesh.nodes.keys()]).sort()).toEqual(placed)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    expect(lostBy).toBe(0)
    expect(converged(f)).toBe(true)
  })

  it('a long stall is a hang: the others drop the node and re-place its work', async () => {
    const f = await convergedFleet(6, { stallable: true })
    const host = f.mesh.nodes.find((node) => node.localState.resources.some((r) => r.id.startsWith('web@'))) as MeshNode
    stall(host, 15_000)
    const others = f.mesh.nodes.filter((node) => node !== host)
    await waitFor('the others drop it', () => others.every((node) => !node.component().has(host.peerId)), 12_000)
    await waitFor('web re-placed among the others', () => webCount(f, others) === 3, 10_000)
  })
})
