// The whole loop on every node (DESIGN.md §2) with real libp2p and memory actuators: a policy becomes
// running workloads, the fleet converges, and a lost node's work is placed again with no duplicate.

import { afterEach, describe, expect, it } from 'vitest'
import { computeView, RecordDB, workloadHash, type ServiceSpec } from '../src/core/index.ts'
import { confirmed, converged, crashNode, excessReplicas, runningResources, startFleet, startMesh, stopFleet, waitFor, waitForFleet, waitForRest, type Fleet } from '../src/testing/index.ts'
import { MemoryActuator, type Actuator } from '../src/actuators/index.ts'
import { Reconciler } from '../src/daemon/reconciler.ts'
import { skewed, systemClock } from '../src/clock.ts'

let fleet: Fleet | undefined
afterEach(async () => {
  if (fleet !== undefined) await stopFleet(fleet)
  fleet = undefined
})

const web: ServiceSpec = { kind: 'Service', name: 'web', replicas: 3, selector: {}, spread: 'zone', slots: 1, workload: { kind: 'memory', app: 'web' } }
const agent: ServiceSpec = { kind: 'Service', name: 'agent', replicas: 'all', selector: { role: 'web' }, slots: 1, workload: { kind: 'memory', app: 'agent' } }

describe('reconciler', () => {
  it('applies a policy, converges, re-places a lost node’s work, and keeps nothing twice', async () => {
    fleet = await startFleet(8, (i) => ({ zone: `zone-${i % 3}`, role: i % 2 === 0 ? 'web' : 'db' }))
    const all = [0, 1, 2, 3, 4, 5, 6, 7]
    await waitFor('one component of 8', () => fleet!.mesh.nodes.every((node) => node.component().size === 8), 15_000)
    await fleet.mesh.nodes[0]!.publish((await fleet.mesh.operator.sign(web)).envelope)
    await fleet.mesh.nodes[5]!.publish((await fleet.mesh.operator.sign(agent)).envelope)
    const applyMs = await waitFor('converged after apply', () => converged(fleet!), 15_000)
    const webRunning = runningResources(fleet).filter((id) => id.startsWith('web@'))
    expect(webRunning).toHaveLength(3)
    expect(runningResources(fleet).filter((id) => id.startsWith('agent@'))).toHaveLength(4) // nodes 0, 2, 4, 6
    const zones = new Set(webRunning.map((id) => fleet!.mesh.nodes.findIndex((node) => id === `web@${node.peerId}`) % 3))
    expect(zones.size).toBe(3) // spread across the three zones

    // Stop a node that runs a web replica: its work is placed again among the rest, once.
    const victim = all.find((i) => webRunning.includes(`web@${fleet!.mesh.nodes[i]!.peerId}`)) as number
    await crashNode(fleet, victim)
    const live = all.filter((i) => i !== victim)
    const recoverMs = await waitFor('converged after a node is lost', () => converged(fleet!) && fleet!.mesh.nodes[live[0]!]!.component().size === 7, 15_000)
    const after = runningResources(fleet)
    expect(excessReplicas(fleet, [web, agent])).toEqual([])
    expect(after.filter((id) => id.startsWith('web@'))).toHaveLength(3)
    expect(new Set(after).size).toBe(after.length)
    // Replicas on surviving nodes did not move or restart.
    for (const id of webRunning.filter((id) => id !== `web@${fleet!.mesh.nodes[victim]!.peerId}`)) expect(after).toContain(id)
    for (const i of live) expect(new Set(fleet.actuators[i]!.starts).size).toBe(fleet.actuators[i]!.starts.length)
    console.log(`apply → converged in ${applyMs.toFixed(0)} ms; node lost → converged in ${recoverMs.toFixed(0)} ms`)
  })
  it('a replica that cannot start on one host (never available within healthyDeadline) is placed on another, and stays there', async () => {
    const badHosts = new Set<string>()
    fleet = await startFleet(4, () => ({}), 'memory', { actuator: () => ({ failStart: (id) => badHosts.has(id) ? 'binary missing on this host' : undefined }) })
    await waitFor('one component of 4', () => fleet!.mesh.nodes.every((node) => node.component().size === 4), 15_000)
    const pair: ServiceSpec = { kind: 'Service', name: 'pair', replicas: 2, selector: {}, slots: 1, workload: { kind: 'memory', app: 'pair' }, update: { healthyDeadlineMs: 1_000 } }
    const signed = await fleet.mesh.operator.sign(pair)
    // Where the view will put it: make the first of those hosts unable to run it.
    const preview = new RecordDB()
    preview.mergeFrom(fleet.mesh.nodes[0]!.db)
    preview.merge(signed.fragment)
    const [bad, good] = computeView(preview, fleet.mesh.nodes[0]!.peerId, { admission: 'operator' }).assignments.map((assignment) => assignment.nodeId) as [string, string]
    badHosts.add(`pair@${bad}`)
    await fleet.mesh.nodes[0]!.publish(signed.envelope)

    const pairHosts = (): string[] => runningResources(fleet!).filter((id) => id.startsWith('pair@')).map((id) => id.slice('pair@'.length)).sort()
    await waitFor('two replicas running, none on the bad host', () => pairHosts().length === 2 && !pairHosts().includes(bad), 20_000)
    expect(pairHosts()).toContain(good)
    const elsewhere = pairHosts()
    // Every node's view agrees, the bad host says why, and nothing moves back.
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(pairHosts()).toEqual(elsewhere)
    const badIndex = fleet.mesh.nodes.findIndex((node) => node.peerId === bad)
    expect(fleet.actuators[badIndex]!.workloadsNow().map((workload) => workload.resourceId)).toEqual([])
    const reported = fleet.mesh.nodes[0]!.db.nodeRecord(bad)?.resources.find((resource) => resource.id === `pair@${bad}`)
    expect(reported).toMatchObject({ phase: 'failed', failedSpec: workloadHash(pair.workload) })
    expect(excessReplicas(fleet, [pair])).toEqual([])
  })

  it('waitForFleet sees convergence as a reconciler finishes its run, not at the next poll', async () => {
    fleet = await startFleet(4, (i) => ({ zone: `zone-${i % 3}`, role: 'web' }))
    await waitFor('one component of 4', () => fleet!.mesh.nodes.every((node) => node.component().size === 4), 15_000)
    await fleet.mesh.nodes[0]!.publish((await fleet.mesh.operator.sign(web)).envelope)
    // Polls an hour apart: only the reconcilers' runs and the merged records can end these waits.
    const convergedMs = await waitForFleet(fleet, 'converged', () => converged(fleet!), 15_000, { pollMs: 3_600_000 })
    expect(runningResources(fleet).filter((id) => id.startsWith('web@'))).toHaveLength(3)
    expect(converged(fleet)).toBe(true)
    const confirmedMs = await waitForFleet(fleet, 'confirmed', () => confirmed(fleet!), 15_000, { records: true, pollMs: 3_600_000 })
    expect(confirmed(fleet)).toBe(true)
    expect(convergedMs + confirmedMs).toBeLessThan(15_000)
    await expect(waitForFleet(fleet, 'the impossible', () => false, 50, { pollMs: 3_600_000 })).rejects.toThrow('timed out after 50 ms waiting for the impossible')
  })
  it('waitForRest waits out a fleet that keeps changing, and returns once it is quiet', async () => {
    fleet = await startFleet(4, (i) => ({ zone: `zone-${i % 3}`, role: 'web' }))
    await waitFor('one component of 4', () => fleet!.mesh.nodes.every((node) => node.component().size === 4), 15_000)
    // Every 300 ms a `replicas: all` service changes: every node acts and originates a record.
    let round = 0
    const churn = setInterval(() => {
      const spec: ServiceSpec = { kind: 'Service', name: 'agent', replicas: 'all', selector: {}, slots: 1, workload: { kind: 'memory', round: round++ } }
      void fleet!.mesh.operator.sign(spec).then(async (signed) => { await fleet!.mesh.nodes[0]!.publish(signed.envelope) })
    }, 300)
    try {
      await expect(waitForRest(fleet, 3_000, { windowMs: 500 })).rejects.toThrow('did not come to rest within 3000 ms')
    } finally {
      clearInterval(churn)
    }
    await waitForRest(fleet, 30_000, { windowMs: 500 })
    expect(converged(fleet)).toBe(true)
    // At rest means the last change is carried out everywhere, and nothing originates after it.
    const last = workloadHash({ kind: 'memory', round: round - 1 })
    for (const actuator of fleet.actuators) expect(actuator.workloadsNow().map((workload) => workload.specHash)).toEqual([last])
    const originated = fleet.mesh.nodes.map((node) => node.counters.originated)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(fleet.mesh.nodes.map((node) => node.counters.originated)).toEqual(originated)
  })

  it('a run that throws is reported and tried again, at start and later: the loop goes on', async () => {
    const mesh = await startMesh(1, { admission: 'open' })
    const memory = new MemoryActuator()
    let calls = 0 // fails the first observe at start, and the first run's (the third call)
    const flaky: Actuator = {
      kind: 'memory',
      observe: async () => {
        calls++
        if (calls === 1 || calls === 3) throw new Error('EMFILE: too many open files')
        return await memory.observe()
      },
      ensure: async (...args) => { await memory.ensure(...args) },
      remove: async (id) => { await memory.remove(id) },
    }
    const node = mesh.nodes[0]!
    const reconciler = new Reconciler({ mesh: node, actuators: [flaky], admission: 'open', retryDelayMs: 50 })
    const failures: string[] = []
    reconciler.on('run:failed', (error) => { failures.push(error.message) })
    try {
      await node.publish((await mesh.operator.sign({ ...web, replicas: 1 })).envelope)
      await reconciler.start()
      await waitFor('web running here', () => memory.starts.length === 1 && node.localState.resources.some((r) => r.id.startsWith('web@') && r.phase === 'running'), 10_000)
      expect(failures).toEqual(['EMFILE: too many open files', 'EMFILE: too many open files'])
    } finally {
      await reconciler.stop()
      await mesh.stop()
    }
  })

  it('keeps recomputing when the wall clock steps back an hour (its throttle runs on a monotonic clock)', async () => {
    const mesh = await startMesh(1, { admission: 'open' })
    const memory = new MemoryActuator()
    let stepBackMs = 0
    const node = mesh.nodes[0]!
    const reconciler = new Reconciler({ mesh: node, actuators: [memory], admission: 'open', clock: skewed(systemClock, -stepBackMs) })
    const running = (service: string) => node.localState.resources.some((r) => r.id.startsWith(`${service}@`) && r.phase === 'running')
    try {
      await reconciler.start()
      await node.publish((await mesh.operator.sign({ ...web, replicas: 1 })).envelope)
      await waitFor('web running', () => running('web'), 5_000)
      stepBackMs = 3_600_000
      await node.publish((await mesh.operator.sign({ ...web, name: 'api', replicas: 1 })).envelope)
      await waitFor('api running after the step back', () => running('api'), 5_000)
    } finally {
      await reconciler.stop()
      await mesh.stop()
    }
  })
})
