// The rolling-update rule (core/rollout.ts), tested as a fleet would run it: each node decides for its
// own replica from what it has heard of the others, which may be late by any amount (but never goes
// back: a node keeps the newest record it has). Over random fleets, budgets, delays and interleavings:
// never more than maxUnavailable replicas down for the update, the rollout finishes when new replicas
// become healthy, and stops after maxUnavailable replicas when they never do.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  describeReplica, describeRollout, maxSurgeOf, maxUnavailableOf, mayStopLeaver, rolloutOf, workloadHash,
  type Assignment, type ReplicaRollout, type NodeRecord, type ResourceStatus, type ServiceSpec,
} from '../src/core/index.ts'

const newWorkload = { kind: 'memory', v: 2 }
const oldHash = 'old'
const newHash = workloadHash(newWorkload)

function serviceWith (maxUnavailable: number | string): ServiceSpec {
  return { kind: 'Service', name: 'web', replicas: 3, selector: {}, slots: 1, workload: newWorkload, update: { maxUnavailable } }
}

function assignmentsOf (nodeIds: readonly string[]): Assignment[] {
  return nodeIds.map((nodeId) => ({ resourceId: `web@${nodeId}`, service: 'web', nodeId, slots: 1, specHash: newHash, workload: newWorkload }))
}

function recordOf (nodeId: string, resources: ResourceStatus[]): NodeRecord {
  return {
    kind: 'node', nodeId, version: { generation: 1, seq: 1 }, originatedAtMs: 0, addresses: [], labels: {}, slots: 1,
    adjacencies: [], resources, viewHash: '', policyDigest: '',
  }
}

type Phase = 'old' | 'updating' | 'updated'

function statusOf (nodeId: string, phase: Phase): ResourceStatus {
  return {
    id: `web@${nodeId}`, phase: phase === 'updating' ? 'starting' : 'running', specHash: phase === 'old' ? oldHash : newHash, restarts: 0,
    ...(phase === 'updating' ? {} : { available: true }),
  }
}

describe('rolloutOf', () => {
  it('lets the first replicas in node-id order go, as many as maxUnavailable allows, and no more', () => {
    const nodes = ['a', 'b', 'c', 'd']
    const records = new Map(nodes.map((id) => [id, recordOf(id, [statusOf(id, 'old')])]))
    const decide = (maxUnavailable: number | string): string[] => rolloutOf(assignmentsOf(nodes), { ...serviceWith(maxUnavailable), replicas: 4 }, (id) => records.get(id))
      .replicas.filter((replica) => replica.mayUpdate).map((replica) => replica.nodeId)
    expect(decide(1)).toEqual(['a'])
    expect(decide(2)).toEqual(['a', 'b'])
    expect(decide('50%')).toEqual(['a', 'b'])
    expect(decide('10%')).toEqual(['a']) // rounds down, but at least one
    // 'b' is down for another reason: with a budget of 1 nobody may go; a replica already down may.
    records.set('b', recordOf('b', [{ ...statusOf('b', 'old'), phase: 'failed', available: false }]))
    expect(decide(1)).toEqual(['b'])
    expect(decide(2)).toEqual(['a', 'b'])
    // 'a' is updating: the next waits for it
    records.set('b', recordOf('b', [statusOf('b', 'old')]))
    records.set('a', recordOf('a', [statusOf('a', 'updating')]))
    expect(decide(1)).toEqual([])
    records.set('a', recordOf('a', [statusOf('a', 'updated')]))
    expect(decide(1)).toEqual(['b'])
    const progress = rolloutOf(assignmentsOf(nodes), serviceWith(1), (id) => records.get(id))
    expect({ updated: progress.updated, available: progress.available, done: progress.done }).toEqual({ updated: 1, available: 4, done: false })
    expect(describeRollout(progress)).toBe('web: 1 of 4 on the new spec, 4 available, 1 moving now (maxUnavailable 1)')
    expect(progress.replicas.map((replica) => describeReplica(replica, progress))).toEqual([
      'on the new spec, available',
      'on an old spec: being replaced',
      'on an old spec, waiting: 1 replica(s) before it not updated, 0 after it down (maxUnavailable 1)',
      'on an old spec, waiting: 2 replica(s) before it not updated, 0 after it down (maxUnavailable 1)',
    ])
  })

  it('a replica not reported yet starts on the new spec; one reported without `available` counts as down', () => {
    const records = new Map([['a', recordOf('a', [])], ['b', recordOf('b', [{ id: 'web@b', phase: 'running', specHash: oldHash, restarts: 0 }])]])
    const rollout = rolloutOf(assignmentsOf(['a', 'b', 'c']), serviceWith(1), (id) => records.get(id))
    expect(rollout.replicas.map((replica) => replica.state)).toEqual(['missing', 'old-down', 'missing'])
  })

  it('mayStopLeaver: a replica let go waits while the assigned replicas are not all available; maxSurge 0 does not wait', () => {
    const service = serviceWith(1)
    const records = new Map([
      ['a', recordOf('a', [statusOf('a', 'updated')])],
      ['b', recordOf('b', [statusOf('b', 'updating')])], // the replacement, coming up
    ])
    const mayStop = (spec: ServiceSpec | undefined): boolean => mayStopLeaver(spec, assignmentsOf(['a', 'b']), (id) => records.get(id))
    expect(mayStop(service)).toBe(false)
    expect(mayStop({ ...service, update: { maxSurge: 0 } })).toBe(true)
    expect(mayStop(undefined)).toBe(true) // the service is gone
    records.set('b', recordOf('b', [statusOf('b', 'updated')]))
    expect(mayStop(service)).toBe(true) // the replacement is available
  })

  it('canary: only the first c replicas move until promoted; a failed spec stops the rollout; autoRevert rolls back', () => {
    const nodes = ['a', 'b', 'c', 'd']
    const records = new Map(nodes.map((id) => [id, recordOf(id, [statusOf(id, 'old')])]))
    const moving = (spec: ServiceSpec): string[] => rolloutOf(assignmentsOf(nodes), spec, (id) => records.get(id))
      .replicas.filter((replica) => replica.mayUpdate).map((replica) => replica.nodeId)
    const canary: ServiceSpec = { ...serviceWith(2), update: { maxUnavailable: 2, canary: 1 } }
    expect(moving(canary)).toEqual(['a'])
    records.set('a', recordOf('a', [statusOf('a', 'updated')]))
    expect(moving(canary)).toEqual([])
    const paused = rolloutOf(assignmentsOf(nodes), canary, (id) => records.get(id))
    expect(paused.mode).toBe('canary')
    expect(describeReplica(paused.replicas[1] as ReplicaRollout, paused)).toBe('on an old spec, waiting for `shoal promote` (not a canary)')
    expect(moving({ ...canary, update: { ...canary.update, promoted: true } })).toEqual(['b', 'c'])

    // 'a' never became available on the new spec: it says so, and nobody else moves.
    records.set('a', recordOf('a', [{ ...statusOf('a', 'updating'), failedSpec: newHash }]))
    const failed = rolloutOf(assignmentsOf(nodes), serviceWith(2), (id) => records.get(id))
    expect(failed.mode).toBe('failed')
    expect(moving(serviceWith(2))).toEqual([])
    expect(describeRollout(failed)).toMatch(/FAILED: a new replica was not available within healthyDeadline/)

    // With autoRevert and a previous workload, the target is the previous spec: 'a' goes back at once
    // (it is down), the others already run it.
    const previousWorkload = { kind: 'memory', v: 1 }
    const reverting: ServiceSpec = { ...serviceWith(2), update: { autoRevert: true }, previousWorkload }
    for (const id of ['b', 'c', 'd']) records.set(id, recordOf(id, [{ ...statusOf(id, 'updated'), specHash: workloadHash(previousWorkload) }]))
    const reverted = rolloutOf(assignmentsOf(nodes), reverting, (id) => records.get(id))
    expect({ mode: reverted.mode, specHash: reverted.specHash, workload: reverted.workload }).toEqual({ mode: 'reverted', specHash: workloadHash(previousWorkload), workload: previousWorkload })
    expect(reverted.replicas.map((replica) => [replica.state, replica.mayUpdate])).toEqual([['old-down', true], ['updated', false], ['updated', false], ['updated', false]])
  })

  it('maxUnavailableOf: counts as given, percentages of the replicas rounded down, never below 1 without a surge; maxSurgeOf rounds up', () => {
    expect(maxUnavailableOf(serviceWith(3), 10)).toBe(3)
    expect(maxUnavailableOf(serviceWith('25%'), 10)).toBe(2)
    expect(maxUnavailableOf(serviceWith('1%'), 10)).toBe(1)
    const { update: _, ...withoutUpdate } = serviceWith(1)
    expect(maxUnavailableOf(withoutUpdate, 10)).toBe(1)
    const surging: ServiceSpec = { ...withoutUpdate, update: { maxUnavailable: 0, maxSurge: '25%' } }
    expect(maxUnavailableOf(surging, 10)).toBe(0)
    expect(maxSurgeOf(surging, 10)).toBe(3)
    expect(maxSurgeOf(withoutUpdate, 10)).toBe(0)
    expect(maxUnavailableOf({ ...withoutUpdate, update: { maxUnavailable: '1%', maxSurge: 1 } }, 10)).toBe(0)
  })

  it('with surge replicas placed, the budget is maxUnavailable plus the surge: with maxUnavailable 0, an old replica goes only once a surge replica is up', () => {
    // 3 replicas asked for, 4 placed (maxSurge 1): 'b' is the surge replica, not running yet.
    const service: ServiceSpec = { ...serviceWith(0), update: { maxUnavailable: 0, maxSurge: 1 } }
    const records = new Map([['a', recordOf('a', [statusOf('a', 'old')])], ['b', recordOf('b', [])], ['c', recordOf('c', [statusOf('c', 'old')])], ['d', recordOf('d', [statusOf('d', 'old')])]])
    const decide = (): ReturnType<typeof rolloutOf> => rolloutOf(assignmentsOf(['a', 'b', 'c', 'd']), service, (id) => records.get(id))
    expect(decide().replicas.map((replica) => [replica.state, replica.mayUpdate])).toEqual([['old', false], ['missing', false], ['old', false], ['old', false]])
    expect({ budget: decide().maxUnavailable, surge: decide().surge }).toEqual({ budget: 1, surge: 1 })
    records.set('b', recordOf('b', [statusOf('b', 'updated')]))
    expect(decide().replicas.filter((replica) => replica.mayUpdate).map((replica) => replica.nodeId)).toEqual(['a'])
    expect(describeRollout(decide())).toBe('web: 1 of 4 on the new spec, 4 available, 1 moving now (maxUnavailable 1, counting 1 surge replica(s))')
    // No room for the surge replica (3 placed): one may go at a time rather than none ever.
    records.set('b', recordOf('b', [statusOf('b', 'old')]))
    expect(rolloutOf(assignmentsOf(['a', 'b', 'c']), service, (id) => records.get(id)).replicas.filter((replica) => replica.mayUpdate).map((replica) => replica.nodeId)).toEqual(['a'])
  })

  // The fleet model: replica i's node publishes its phase; every node j holds, for every other node
  // i, some version of i's history no older than what it held before. A step either delivers some
  // records late, lets a node decide, or lets an updating replica finish (if the new spec is healthy).
  const scenario = fc.record({
    replicas: fc.integer({ min: 1, max: 9 }),
    maxUnavailable: fc.integer({ min: 1, max: 4 }),
    healthy: fc.boolean(),
    steps: fc.array(fc.record({ kind: fc.constantFrom('deliver', 'decide', 'finish'), node: fc.nat(), other: fc.nat() }), { minLength: 50, maxLength: 400 }),
  })

  it('never has more than maxUnavailable replicas down for the update, whatever the delivery delays', () => {
    fc.assert(fc.property(scenario, ({ replicas, maxUnavailable, healthy, steps }) => {
      const nodes = Array.from({ length: replicas }, (_, i) => `n${String(i).padStart(2, '0')}`)
      const assignments = assignmentsOf(nodes)
      const service = serviceWith(maxUnavailable)
      const history: Phase[][] = nodes.map(() => ['old']) // each node's published phases, oldest first
      const heard: number[][] = nodes.map(() => nodes.map(() => 0)) // heard[j][i]: index into history[i]
      const current = (i: number): Phase => history[i]?.at(-1) as Phase
      let everMoved = 0
      const decide = (j: number): void => {
        if (current(j) !== 'old') return
        const view = (nodeId: string): NodeRecord => {
          const i = nodes.indexOf(nodeId)
          const phase = i === j ? current(j) : (history[i] as Phase[])[(heard[j] as number[])[i] as number] as Phase
          return recordOf(nodeId, [statusOf(nodeId, phase)])
        }
        const mine = rolloutOf(assignments, service, view).replicas[j]
        if (mine?.mayUpdate === true) {
          (history[j] as Phase[]).push('updating')
          everMoved++
        }
      }
      for (const step of steps) {
        const j = step.node % replicas
        const i = step.other % replicas
        if (step.kind === 'deliver') {
          const row = heard[j] as number[]
          row[i] = Math.min((history[i] as Phase[]).length - 1, (row[i] as number) + 1 + (step.other % 3))
        } else if (step.kind === 'decide') {
          decide(j)
        } else if (healthy && current(j) === 'updating') {
          (history[j] as Phase[]).push('updated')
        }
        const down = nodes.filter((_, n) => current(n) === 'updating').length
        expect(down).toBeLessThanOrEqual(maxUnavailable)
      }
      if (!healthy) expect(everMoved).toBeLessThanOrEqual(maxUnavailable)
    }), { numRuns: 300 })
  })

  it('with surge replicas, never fewer than replicas - maxUnavailable available, whatever the delivery delays', () => {
    const surgeScenario = fc.record({
      replicas: fc.integer({ min: 1, max: 8 }),
      maxUnavailable: fc.integer({ min: 0, max: 3 }),
      maxSurge: fc.integer({ min: 1, max: 3 }),
      steps: fc.array(fc.record({ kind: fc.constantFrom('deliver', 'decide', 'finish'), node: fc.nat(), other: fc.nat() }), { minLength: 50, maxLength: 400 }),
    })
    type SurgePhase = Phase | 'missing'
    fc.assert(fc.property(surgeScenario, ({ replicas, maxUnavailable, maxSurge, steps }) => {
      // The view placed replicas + maxSurge: the surge replicas (the last ones here; any position in
      // node-id order would do) are not running yet.
      const placed = replicas + maxSurge
      const nodes = Array.from({ length: placed }, (_, i) => `n${String(i).padStart(2, '0')}`)
      const assignments = assignmentsOf(nodes)
      const service: ServiceSpec = { ...serviceWith(maxUnavailable), replicas, update: { maxUnavailable, maxSurge } }
      const history: SurgePhase[][] = nodes.map((_, i) => [i < replicas ? 'old' : 'missing'])
      const heard: number[][] = nodes.map(() => nodes.map(() => 0))
      const current = (i: number): SurgePhase => history[i]?.at(-1) as SurgePhase
      const recordIn = (nodeId: string, phase: SurgePhase): NodeRecord => recordOf(nodeId, phase === 'missing' ? [] : [statusOf(nodeId, phase)])
      for (const step of steps) {
        const j = step.node % placed
        const i = step.other % placed
        if (step.kind === 'deliver') {
          const row = heard[j] as number[]
          row[i] = Math.min((history[i] as SurgePhase[]).length - 1, (row[i] as number) + 1 + (step.other % 3))
        } else if (step.kind === 'decide') {
          if (current(j) === 'missing') (history[j] as SurgePhase[]).push('updating') // a new replica starts on the new spec
          else if (current(j) === 'old') {
            const view = (nodeId: string): NodeRecord => {
              const n = nodes.indexOf(nodeId)
              return recordIn(nodeId, n === j ? current(j) : (history[n] as SurgePhase[])[(heard[j] as number[])[n] as number] as SurgePhase)
            }
            if (rolloutOf(assignments, service, view).replicas[j]?.mayUpdate === true) (history[j] as SurgePhase[]).push('updating')
          }
        } else if (current(j) === 'updating') {
          (history[j] as SurgePhase[]).push('updated')
        }
        const available = nodes.filter((_, n) => current(n) === 'old' || current(n) === 'updated').length
        expect(available).toBeGreaterThanOrEqual(replicas - maxUnavailable)
      }
    }), { numRuns: 300 })
  })

  it('with autoRevert, a version that fails on its first replica ends with every replica back on the previous one, never more than maxUnavailable down', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 4 }), fc.array(fc.nat(), { minLength: 400, maxLength: 400 }), (replicas, maxUnavailable, picks) => {
      const nodes = Array.from({ length: replicas }, (_, i) => `n${String(i).padStart(2, '0')}`)
      const previousWorkload = { kind: 'memory', v: 1 }
      const previousHash = workloadHash(previousWorkload)
      const service: ServiceSpec = { ...serviceWith(maxUnavailable), update: { maxUnavailable, autoRevert: true }, previousWorkload }
      // Each node runs the previous version; the new one never becomes available, and a node reports
      // failedSpec for it after some steps (its healthy deadline).
      const running = new Map(nodes.map((id) => [id, { specHash: previousHash, up: true, failed: false, sinceStep: 0 }]))
      const records = (): Map<string, NodeRecord> => new Map(nodes.map((id) => {
        const replica = running.get(id) as { specHash: string, up: boolean, failed: boolean }
        return [id, recordOf(id, [{
          id: `web@${id}`, phase: replica.up ? 'running' : 'starting', specHash: replica.specHash, restarts: 0,
          ...(replica.up ? { available: true } : {}), ...(replica.failed ? { failedSpec: newHash } : {}),
        }])]
      }))
      for (const [step, pick] of picks.entries()) {
        const id = nodes[pick % replicas] as string
        const replica = running.get(id) as { specHash: string, up: boolean, failed: boolean, sinceStep: number }
        if (!replica.up && replica.specHash === newHash && step - replica.sinceStep > 3) replica.failed = true // past its deadline
        const snapshot = records()
        const rollout = rolloutOf(assignmentsOf(nodes), service, (nodeId) => snapshot.get(nodeId))
        const mine = rollout.replicas.find((candidate) => candidate.nodeId === id)
        if (mine?.mayUpdate === true) Object.assign(replica, { specHash: rollout.specHash, up: rollout.specHash === previousHash, sinceStep: step })
        expect([...running.values()].filter((candidate) => !candidate.up).length).toBeLessThanOrEqual(maxUnavailable)
      }
      // Then fair turns: every deadline passes, every node decides in turn, until nothing changes.
      for (let round = 0; round < 2 * replicas + 2; round++) {
        for (const replica of running.values()) if (!replica.up && replica.specHash === newHash) replica.failed = true
        for (const id of nodes) {
          const snapshot = records()
          const rollout = rolloutOf(assignmentsOf(nodes), service, (nodeId) => snapshot.get(nodeId))
          if (rollout.replicas.find((candidate) => candidate.nodeId === id)?.mayUpdate === true) {
            Object.assign(running.get(id) as object, { specHash: rollout.specHash, up: rollout.specHash === previousHash })
          }
        }
      }
      expect([...running.values()].every((replica) => replica.specHash === previousHash && replica.up)).toBe(true)
    }), { numRuns: 200 })
  })

  it('finishes once records are delivered and new replicas become healthy; every node computes the same decision', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 5 }), (replicas, maxUnavailable) => {
      const nodes = Array.from({ length: replicas }, (_, i) => `n${String(i).padStart(2, '0')}`)
      const phases = new Map<string, Phase>(nodes.map((id) => [id, 'old']))
      const service = serviceWith(maxUnavailable)
      const records = (): Map<string, NodeRecord> => new Map(nodes.map((id) => [id, recordOf(id, [statusOf(id, phases.get(id) as Phase)])]))
      let rounds = 0
      for (; rounds < 100 && [...phases.values()].some((phase) => phase !== 'updated'); rounds++) {
        const snapshot = records()
        const decision = rolloutOf(assignmentsOf(nodes), service, (id) => snapshot.get(id))
        // The same records in another order of arrival give the same decision.
        const reversed = new Map([...snapshot.entries()].reverse())
        expect(rolloutOf(assignmentsOf(nodes), service, (id) => reversed.get(id))).toEqual(decision)
        for (const [id, phase] of phases) if (phase === 'updating') phases.set(id, 'updated')
        for (const replica of decision.replicas) if (replica.mayUpdate) phases.set(replica.nodeId, 'updating')
      }
      expect([...phases.values()].every((phase) => phase === 'updated')).toBe(true)
      expect(rounds).toBeLessThanOrEqual(2 * Math.ceil(replicas / maxUnavailable))
    }))
  })
})
