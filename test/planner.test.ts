// The planner is idempotent (planning after applying its actions yields nothing), and the
// convergence judgement says yes exactly when every node runs what the view assigns it.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { computeView, judgeConvergence, judgeWorkloads, plan, type Action, type Assignment, type ObservedResource } from '../src/core/index.ts'
import { dbOf, fullMesh, policy, runningAsViewed, service } from './fixtures.ts'

const assignmentArbitrary = fc.record({ name: fc.constantFrom('a', 'b', 'c', 'd', 'e'), spec: fc.constantFrom('s1', 's2') })
  .map(({ name, spec }): Assignment => ({
    resourceId: `${name}@me`, service: name, nodeId: 'me', slots: 1, specHash: spec, workload: { kind: 'memory', spec },
  }))
const observedArbitrary = fc.record({ name: fc.constantFrom('a', 'b', 'c', 'x', 'y'), spec: fc.constantFrom('s1', 's2') })
  .map(({ name, spec }): ObservedResource => ({ resourceId: `${name}@me`, specHash: spec }))

/** The observed state after every action succeeded: what a perfect actuator would report. */
function applyActions (observed: readonly ObservedResource[], actions: readonly Action[]): ObservedResource[] {
  const state = new Map(observed.map((resource) => [resource.resourceId, resource]))
  for (const action of actions) {
    if (action.kind === 'stop') state.delete(action.resourceId)
    else state.set(action.resourceId, { resourceId: action.resourceId, specHash: action.specHash })
  }
  return [...state.values()]
}

const unique = <T extends { resourceId: string }>(items: T[]): T[] => [...new Map(items.map((item) => [item.resourceId, item])).values()]

describe('plan', () => {
  it('is idempotent: after applying its actions, planning again yields nothing', () => {
    fc.assert(fc.property(fc.array(assignmentArbitrary).map(unique), fc.array(observedArbitrary).map(unique), (assigned, observed) => {
      const after = applyActions(observed, plan(assigned, observed))
      expect(plan(assigned, after)).toEqual([])
      expect(after.map((r) => r.resourceId).sort()).toEqual(assigned.map((a) => a.resourceId).sort())
    }))
  })

  it('starts what is missing, stops what is not assigned, replaces a changed spec, leaves the rest', () => {
    const assigned: Assignment[] = [
      { resourceId: 'new@me', service: 'new', nodeId: 'me', slots: 1, specHash: 'h1', workload: { kind: 'memory' } },
      { resourceId: 'same@me', service: 'same', nodeId: 'me', slots: 1, specHash: 'h1', workload: { kind: 'memory' } },
      { resourceId: 'changed@me', service: 'changed', nodeId: 'me', slots: 1, specHash: 'h2', workload: { kind: 'memory' } },
    ]
    const observed = [{ resourceId: 'same@me', specHash: 'h1' }, { resourceId: 'changed@me', specHash: 'h1' }, { resourceId: 'old@me', specHash: 'h1' }]
    expect(plan(assigned, observed).map((action) => `${action.kind} ${action.resourceId}`)).toEqual([
      'replace changed@me', 'start new@me', 'stop old@me',
    ])
  })

  it('a new policy version that changes only placement restarts nothing', () => {
    const nodes = fullMesh(['me'])
    const v1 = computeView(dbOf([...nodes, policy(service('web', { replicas: 1 }), 1_000)]), 'me')
    const v2 = computeView(dbOf([...nodes, policy(service('web', { replicas: 2 }), 2_000)]), 'me')
    const observed = (v1.byNode.get('me') ?? []).map((a) => ({ resourceId: a.resourceId, specHash: a.specHash }))
    expect(plan(v2.byNode.get('me') ?? [], observed)).toEqual([])
  })
})

describe('judgeConvergence', () => {
  const ids = ['a', 'b', 'c']
  const policies = [policy(service('web', { replicas: 2 })), policy(service('agent', { replicas: 'all' }))]

  it('converged when every node runs exactly its share', () => {
    const view = computeView(dbOf([...fullMesh(ids), ...policies]), 'a')
    const nodes = runningAsViewed(fullMesh(ids), view).map((node) => ({ ...node, viewHash: view.viewHash }))
    const db = dbOf([...nodes, ...policies])
    const judgement = judgeConvergence(db, computeView(db, 'b'))
    expect(judgement).toEqual({ converged: true, problems: [] })
  })

  it('not converged: a missing resource, an extra one, an old spec — each named; a record\'s old view hash alone is no problem', () => {
    const view = computeView(dbOf([...fullMesh(ids), ...policies]), 'a')
    const nodes = runningAsViewed(fullMesh(ids), view).map((node) => ({ ...node, viewHash: view.viewHash }))
    const [first, second, third] = nodes as [typeof nodes[number], typeof nodes[number], typeof nodes[number]]
    const broken = [
      { ...first, viewHash: 'stale' },
      { ...second, resources: second.resources.slice(1) },
      { ...third, resources: [...third.resources.map((r) => ({ ...r, specHash: 'old' })), { id: 'ghost@c', phase: 'running' as const, specHash: 'x', restarts: 0 }] },
    ]
    const db = dbOf([...broken, ...policies])
    const judgement = judgeConvergence(db, computeView(db, 'a'))
    expect(judgement.converged).toBe(false)
    const text = judgement.problems.join('\n')
    expect(text).not.toMatch(/^a: /m) // a's record only carries an old view hash: views are compared elsewhere
    expect(text).toMatch(/b: .* assigned but not running/)
    expect(text).toMatch(/c: .* runs spec old/)
    expect(text).toMatch(/c: ghost@c runs but is not assigned there/)
  })
})

describe('judgeWorkloads (the outside judge: what each node reports of itself, not what records say)', () => {
  it('converged as soon as every node runs its share, though no record says so yet; not while one runs an extra or nothing is known of one', () => {
    const policies = [policy(service('web', { replicas: 2 }))]
    const db = dbOf([...fullMesh(['a', 'b', 'c']), ...policies]) // every record: nothing running
    const view = computeView(db, 'a')
    const reported = new Map(runningAsViewed(fullMesh(['a', 'b', 'c']), view).map((node) => [node.nodeId, node.resources]))
    expect(judgeConvergence(db, view).converged).toBe(false)
    expect(judgeWorkloads(view, (id) => reported.get(id))).toEqual({ converged: true, problems: [] })
    const idle = ['a', 'b', 'c'].find((id) => (reported.get(id) ?? []).length === 0) as string
    const withExtra = new Map(reported).set(idle, [{ id: `web@${idle}`, phase: 'running', specHash: 'x', restarts: 0 }])
    expect(judgeWorkloads(view, (id) => withExtra.get(id)).problems).toEqual([`${idle}: web@${idle} runs but is not assigned there`])
    expect(judgeWorkloads(view, (id) => (id === idle ? undefined : reported.get(id))).problems).toEqual([`${idle}: no record`])
  })
})
