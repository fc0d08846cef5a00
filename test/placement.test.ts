// computeView: deterministic, valid, stable and explainable (DESIGN.md §6), as fast-check properties,
// and the edge cases as unit tests.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { componentFrom, componentOf, computeView, RecordDB, hash32, holdMaxMs, workloadHash, type NodeRecord, type ResourceStatus, type ServiceSpec, type TargetView } from '../src/core/index.ts'
import {
  assignmentSet, clusterArbitrary, clusterRecords, dbOf, fullMesh, nodeRecord, policy, runningAsViewed, service,
  type ClusterCase,
} from './fixtures.ts'

const runs = { numRuns: 150 }

function viewOf (cluster: ClusterCase, self = cluster.ids[0] as string): TargetView {
  return computeView(dbOf(clusterRecords(cluster)), self, { explain: 'all' })
}

/** The same cluster with `nodeId` gone: its record removed, and no one lists it any more. */
function without (cluster: ClusterCase, nodeId: string): ClusterCase {
  return {
    ...cluster,
    ids: cluster.ids.filter((id) => id !== nodeId),
    nodes: cluster.nodes.filter((node) => node.nodeId !== nodeId)
      .map((node) => ({ ...node, adjacencies: node.adjacencies.filter((id) => id !== nodeId) })),
  }
}

function eligibleFor (node: NodeRecord, spec: ServiceSpec, cluster: ClusterCase): boolean {
  const settings = cluster.settings.find((setting) => setting.name === node.nodeId)
  if (settings?.drain === true) return false
  for (const [key, value] of Object.entries(spec.selector)) if (node.labels[key] !== value) return false
  return spec.spread === undefined || node.labels[spec.spread] !== undefined
}

describe('deterministic', () => {
  it('gives the same view for any arrival order of the records', () => {
    fc.assert(fc.property(clusterArbitrary({ allowSettings: true }).chain((cluster) => {
      const records = clusterRecords(cluster)
      return fc.tuple(fc.constant(cluster), fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }))
    }), ([cluster, shuffled]) => {
      const inOrder = viewOf(cluster)
      const reordered = computeView(dbOf(shuffled), cluster.ids[0] as string, { explain: 'all' })
      expect(reordered.viewHash).toBe(inOrder.viewHash)
      expect(reordered.assignments).toEqual(inOrder.assignments)
      expect(reordered.explanations).toEqual(inOrder.explanations)
    }), runs)
  })

  it('gives the same view from every node of the component', () => {
    fc.assert(fc.property(clusterArbitrary({ allowSettings: true }), (cluster) => {
      const db = dbOf(clusterRecords(cluster))
      const views = cluster.ids.map((id) => computeView(db, id))
      for (const view of views) {
        expect(view.viewHash).toBe(views[0]?.viewHash)
        expect(view.assignments).toEqual(views[0]?.assignments)
      }
    }), runs)
  })

  it('a view shared between databases is the one each computes alone', () => {
    // computeView shares views between databases with the same placement inputs (the nodes of one
    // process). Near-identical clusters — one node's slots, labels or running work changed, or a
    // setting gone — must each get their own view, whatever was computed before them.
    const variants = (cluster: ClusterCase, pick: number): ClusterCase[] => {
      const at = pick % cluster.nodes.length
      const changed = (change: (node: NodeRecord) => NodeRecord): ClusterCase =>
        ({ ...cluster, nodes: cluster.nodes.map((node, i) => (i === at ? change(node) : node)) })
      return [
        cluster,
        changed((node) => ({ ...node, slots: node.slots + 1 })),
        changed((node) => ({ ...node, labels: { ...node.labels, role: node.labels.role === 'web' ? 'db' : 'web' } })),
        changed((node) => ({ ...node, resources: [] })),
        changed((node) => ({
          ...node,
          resources: cluster.services.map((spec) => ({ id: `${spec.name}@${node.nodeId}`, phase: 'running' as const, specHash: 'x', restarts: 0 })),
        })),
        { ...cluster, settings: cluster.settings.slice(1) },
        cluster,
      ]
    }
    const expectSame = (shared: TargetView, alone: TargetView): void => {
      expect(shared.self).toBe(alone.self)
      expect(shared.viewHash).toBe(alone.viewHash)
      expect(shared.assignments).toEqual(alone.assignments)
      expect(shared.shortfalls).toEqual(alone.shortfalls)
      expect(shared.component).toEqual(alone.component)
    }
    fc.assert(fc.property(clusterArbitrary({ allowSettings: true }), fc.nat(), (cluster, pick) => {
      const sample = runningAsViewed(cluster.nodes, viewOf(cluster))
      // One database that takes each variant's node records in turn, as a node's would: what it
      // caches between changes must not outlive them either.
      const evolving = dbOf(clusterRecords(cluster))
      variants({ ...cluster, nodes: sample }, pick).forEach((variant, step) => {
        const self = variant.ids[pick % variant.ids.length] as string
        const alone = computeView(dbOf(clusterRecords(variant)), self, { explain: [] })
        expectSame(computeView(dbOf(clusterRecords(variant)), self), alone)
        if (variant.settings !== cluster.settings) return
        for (const node of variant.nodes) evolving.merge({ ...node, version: { generation: node.version.generation, seq: node.version.seq + 10 + step } })
        expectSame(computeView(evolving, self), alone)
      })
    }), runs)
  })

  it('a different policy or membership gives a different view hash', () => {
    const nodes = fullMesh(['a', 'b', 'c'])
    const base = computeView(dbOf([...nodes, policy(service('web'))]), 'a').viewHash
    expect(computeView(dbOf([...nodes, policy(service('web', { replicas: 2 }), 2_000)]), 'a').viewHash).not.toBe(base)
    expect(computeView(dbOf([...fullMesh(['a', 'b']), policy(service('web'))]), 'a').viewHash).not.toBe(base)
  })
})

describe('valid', () => {
  it('respects selectors, drain and every node’s capacity', () => {
    fc.assert(fc.property(clusterArbitrary({ allowSettings: true }), (cluster) => {
      const view = viewOf(cluster)
      const load = new Map<string, number>()
      for (const assignment of view.assignments) {
        const node = cluster.nodes.find((candidate) => candidate.nodeId === assignment.nodeId) as NodeRecord
        const spec = cluster.services.find((candidate) => candidate.name === assignment.service) as ServiceSpec
        expect(eligibleFor(node, spec, cluster)).toBe(true)
        load.set(node.nodeId, (load.get(node.nodeId) ?? 0) + spec.slots)
      }
      for (const node of cluster.nodes) expect(load.get(node.nodeId) ?? 0).toBeLessThanOrEqual(node.slots)
    }), runs)
  })

  it('meets replicas whenever enough nodes are eligible, and `all` means every eligible node', () => {
    fc.assert(fc.property(clusterArbitrary({ ample: true }), (cluster) => {
      const view = viewOf(cluster)
      for (const spec of cluster.services) {
        const eligible = cluster.nodes.filter((node) => eligibleFor(node, spec, cluster)).map((node) => node.nodeId).sort()
        const placed = view.assignments.filter((assignment) => assignment.service === spec.name).map((assignment) => assignment.nodeId).sort()
        if (spec.replicas === 'all') expect(placed).toEqual(eligible)
        else expect(placed.length).toBe(Math.min(spec.replicas, eligible.length))
        expect(new Set(placed).size).toBe(placed.length)
      }
    }), runs)
  })

  it('spread keeps per-value counts within one of each other unless a value is full', () => {
    fc.assert(fc.property(clusterArbitrary(), (cluster) => {
      const view = viewOf(cluster)
      for (const spec of cluster.services) {
        if (spec.spread === undefined || spec.replicas === 'all') continue
        const explanation = view.explanations.get(spec.name)
        const quotas = explanation?.spreadQuotas ?? {}
        const counts = new Map<string, number>(Object.keys(quotas).map((value) => [value, 0]))
        for (const assignment of view.assignments.filter((candidate) => candidate.service === spec.name)) {
          const node = cluster.nodes.find((candidate) => candidate.nodeId === assignment.nodeId) as NodeRecord
          const value = node.labels[spec.spread] as string
          counts.set(value, (counts.get(value) ?? 0) + 1)
        }
        // A value is full when none of its nodes that did not get a replica could have taken one.
        const full = (value: string): boolean => (explanation?.candidates ?? []).every((candidate) => {
          const node = cluster.nodes.find((n) => n.nodeId === candidate.nodeId) as NodeRecord
          return node.labels[spec.spread as string] !== value || candidate.chosen ||
            candidate.reason === 'no-capacity' || candidate.reason === 'cordoned' || candidate.rank === null
        })
        for (const [value, count] of counts) {
          for (const [other, otherCount] of counts) {
            if (count > otherCount + 1) expect(full(other), `${spec.name}: ${value}=${count} vs ${other}=${otherCount}`).toBe(true)
          }
        }
      }
    }), runs)
  })

  it('puts no new work on a cordoned node', () => {
    fc.assert(fc.property(clusterArbitrary({ allowSettings: true }), (cluster) => {
      const view = viewOf(cluster)
      const cordoned = new Set(cluster.settings.filter((setting) => setting.cordon === true).map((setting) => setting.name))
      for (const assignment of view.assignments) expect(cordoned.has(assignment.nodeId)).toBe(false)
    }), runs)
  })
})

describe('stable', () => {
  const stableCluster = clusterArbitrary({ ample: true, allowSpread: false }).filter((cluster) => cluster.ids.length >= 2)

  it('removing a node moves only the resources it held', () => {
    fc.assert(fc.property(stableCluster, fc.nat(), (cluster, pick) => {
      const gone = cluster.ids[pick % cluster.ids.length] as string
      const self = cluster.ids.find((id) => id !== gone) as string
      const before = viewOf(cluster, self)
      const after = viewOf(without(cluster, gone), self)
      const afterSet = assignmentSet(after)
      for (const assignment of before.assignments) {
        if (assignment.nodeId !== gone) expect(afterSet.has(assignment.resourceId)).toBe(true)
      }
    }), runs)
  })

  it('adding a node moves resources only onto it', () => {
    fc.assert(fc.property(stableCluster, fc.nat(), (cluster, pick) => {
      const added = cluster.ids[pick % cluster.ids.length] as string
      const self = cluster.ids.find((id) => id !== added) as string
      const before = assignmentSet(viewOf(without(cluster, added), self))
      for (const assignment of viewOf(cluster, self).assignments) {
        if (assignment.nodeId !== added) expect(before.has(assignment.resourceId)).toBe(true)
      }
    }), runs)
  })

  it('is a fixed point: once nodes run what the view says, the view does not change (any capacity, spread)', () => {
    fc.assert(fc.property(clusterArbitrary({ allowSettings: true }), (cluster) => {
      const first = viewOf(cluster)
      const running = { ...cluster, nodes: runningAsViewed(cluster.nodes, first) }
      const second = viewOf(running)
      expect(second.assignments).toEqual(first.assignments)
      expect(second.viewHash).toBe(first.viewHash)
    }), runs)
  })

  it('a node that returns after a short absence pulls back nothing that runs elsewhere', () => {
    fc.assert(fc.property(stableCluster, fc.nat(), fc.boolean(), (cluster, pick, stillRunsOldWork) => {
      const returning = cluster.ids[pick % cluster.ids.length] as string
      const self = cluster.ids.find((id) => id !== returning) as string
      const full = viewOf(cluster, self)
      const whileAway = without({ ...cluster, nodes: runningAsViewed(cluster.nodes, full) }, returning)
      const awayView = viewOf(whileAway, self)
      const settled = runningAsViewed(whileAway.nodes, awayView)
      // It comes back, either empty or still holding its old work, flagged provisional (crash restart).
      const original = cluster.nodes.find((node) => node.nodeId === returning) as NodeRecord
      const comeback: NodeRecord = {
        ...original,
        version: { generation: 2, seq: 1 },
        resources: stillRunsOldWork
          ? (full.byNode.get(returning) ?? []).map((a) => ({ id: a.resourceId, phase: 'running' as const, specHash: a.specHash, restarts: 0, provisional: true }))
          : [],
      }
      const back = viewOf({ ...cluster, nodes: [...settled.map((node) => ({ ...node, adjacencies: [...node.adjacencies, returning] })), comeback] }, self)
      const elsewhereBack = back.assignments.filter((a) => a.nodeId !== returning).map((a) => a.resourceId)
      expect(elsewhereBack).toEqual(awayView.assignments.map((a) => a.resourceId))
    }), runs)
  })

  it('after a partition heals, duplicates are cut to `replicas`, keeping running ones, the same on every node', () => {
    const ids = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5']
    const web = service('web', { replicas: 2 })
    const nodes = fullMesh(ids).map((node, i) => ({
      ...node,
      resources: i < 4 ? [{ id: `web@${node.nodeId}`, phase: 'running' as const, specHash: 'x', restarts: 0 }] : [],
    }))
    const views = ids.map((id) => computeView(dbOf([...nodes, policy(web)]), id))
    const kept = views[0]?.assignments.map((a) => a.nodeId) ?? []
    expect(kept).toHaveLength(2)
    for (const nodeId of kept) expect(['n0', 'n1', 'n2', 'n3']).toContain(nodeId)
    for (const view of views) expect(view.assignments).toEqual(views[0]?.assignments)
  })
})

describe('what a node may claim (issue 22 item 2)', () => {
  it('a node that claims to run every service keeps none where it is not eligible or has no room', () => {
    const ids = ['a', 'b', 'c', 'liar']
    const nodes = fullMesh(ids, (id) => ({ role: id === 'liar' ? 'edge' : 'web' }), 1).map((node) => node.nodeId !== 'liar' ? node : {
      ...node,
      slots: 1,
      resources: ['web', 'db', 'cache'].map((name) => ({ id: `${name}@liar`, phase: 'running' as const, specHash: 'x', restarts: 0 })),
    })
    const services = [service('web', { replicas: 1, selector: { role: 'web' } }), service('db', { replicas: 1 }), service('cache', { replicas: 1 })]
    const view = computeView(dbOf([...nodes, ...services.map((spec) => policy(spec))]), 'a')
    const onLiar = view.assignments.filter((assignment) => assignment.nodeId === 'liar').map((assignment) => assignment.service)
    expect(onLiar).not.toContain('web') // not in the selector
    expect(onLiar).toHaveLength(1) // one slot: it keeps one of the other two, not both
    expect(view.assignments.filter((assignment) => assignment.service === 'web').map((assignment) => assignment.nodeId)).not.toContain('liar')
  })

  it('labels and slots pinned by an operator\'s Node policy win over what the node says of itself', () => {
    const nodes = fullMesh(['a', 'b'], () => ({ role: 'web' }), 1_000_000)
    const pinned = policy({ kind: 'Node', name: 'b', labels: { role: 'batch' }, slots: 1 })
    const view = computeView(dbOf([...nodes, pinned, policy(service('web', { replicas: 2, selector: { role: 'web' } })), policy(service('big', { replicas: 2, slots: 5 }))]), 'a')
    expect(view.assignments.filter((assignment) => assignment.service === 'web').map((assignment) => assignment.nodeId)).toEqual(['a'])
    expect(view.assignments.filter((assignment) => assignment.service === 'big').map((assignment) => assignment.nodeId)).toEqual(['a'])
  })
})

describe('a replica whose spec fails on one host (issue 22 item 12)', () => {
  const web = service('web', { replicas: 2 })
  const spec = workloadHash(web.workload)
  const withStatus = (nodes: NodeRecord[], statuses: Record<string, Partial<ResourceStatus>>): NodeRecord[] => nodes.map((node) => {
    const status = statuses[node.nodeId]
    return status === undefined ? node : { ...node, resources: [{ id: `web@${node.nodeId}`, phase: 'running', specHash: spec, restarts: 0, ...status }] }
  })
  const webNodes = (view: TargetView): string[] => view.assignments.filter((assignment) => assignment.service === 'web').map((assignment) => assignment.nodeId).sort()

  it('goes elsewhere when another host runs the spec available, and says why', () => {
    const nodes = fullMesh(['a', 'b', 'c', 'd'], () => ({}), 1)
    const before = computeView(dbOf([...nodes, policy(web)]), 'a')
    const [failing, healthy] = webNodes(before) as [string, string]
    const after = computeView(dbOf([...withStatus(nodes, { [failing]: { phase: 'failed', failedSpec: spec }, [healthy]: { available: true } }), policy(web)]), 'a', { explain: ['web'] })
    expect(webNodes(after)).not.toContain(failing)
    expect(webNodes(after)).toContain(healthy)
    expect(webNodes(after)).toHaveLength(2)
    expect(after.explanations.get('web')?.candidates.find((candidate) => candidate.nodeId === failing)?.reason).toBe('failed-here')
    // Still reported after the failing host stopped it (phase failed, nothing running): still elsewhere.
    const stopped = computeView(dbOf([...withStatus(nodes, { [failing]: { phase: 'failed', failedSpec: spec, restarts: 0 }, [healthy]: { available: true } }), policy(web)]), 'a')
    expect(webNodes(stopped)).toEqual(webNodes(after))
  })

  it('stays put when the spec is available nowhere (a bad spec does not hop from host to host)', () => {
    const nodes = fullMesh(['a', 'b', 'c', 'd'], () => ({}), 1)
    const before = computeView(dbOf([...nodes, policy(web)]), 'a')
    const [failing] = webNodes(before) as [string]
    const after = computeView(dbOf([...withStatus(nodes, { [failing]: { phase: 'failed', failedSpec: spec } }), policy(web)]), 'a')
    expect(webNodes(after)).toEqual(webNodes(before))
  })

  it('an older spec that failed does not count against the host once the spec changes', () => {
    const nodes = fullMesh(['a', 'b', 'c', 'd'], () => ({}), 1)
    const before = computeView(dbOf([...nodes, policy(web)]), 'a')
    const [failing, healthy] = webNodes(before) as [string, string]
    const after = computeView(dbOf([...withStatus(nodes, { [failing]: { phase: 'failed', failedSpec: 'an-older-spec' }, [healthy]: { available: true } }), policy(web)]), 'a')
    expect(webNodes(after)).toEqual(webNodes(before))
  })
})

describe('surge during a rollout (issue 24, maxSurge)', () => {
  const oldWorkload = { kind: 'memory', v: 1 }
  const web = service('web', { replicas: 2, workload: { kind: 'memory', v: 2 }, update: { maxUnavailable: 0, maxSurge: 1 } })
  const webNodes = (view: TargetView): string[] => view.assignments.filter((assignment) => assignment.service === 'web').map((assignment) => assignment.nodeId).sort()
  const running = (nodes: NodeRecord[], on: Record<string, string>): NodeRecord[] => nodes.map((node) => on[node.nodeId] === undefined ? node
    : { ...node, resources: [{ id: `web@${node.nodeId}`, phase: 'running', specHash: on[node.nodeId] as string, restarts: 0, available: true }] })

  it('places maxSurge more replicas while an old replica is available, none once none is, and none while paused or failed', () => {
    const nodes = fullMesh(['a', 'b', 'c', 'd', 'e'], () => ({}), 1)
    const settled = webNodes(computeView(dbOf([...nodes, policy({ ...web, workload: oldWorkload })]), 'a'))
    const oldHash = workloadHash(oldWorkload)
    const newHash = workloadHash(web.workload)
    const onOld = running(nodes, Object.fromEntries(settled.map((id) => [id, oldHash])))
    const rolling = webNodes(computeView(dbOf([...onOld, policy(web)]), 'a'))
    expect(rolling).toHaveLength(3)
    expect(rolling).toEqual(expect.arrayContaining(settled)) // the old replicas stay; one more joins them
    // Canaries not yet promoted: no surge (it would be one more replica on the unproven spec).
    expect(webNodes(computeView(dbOf([...onOld, policy({ ...web, update: { ...web.update, canary: 1 } })]), 'a'))).toEqual(settled)
    // The new spec failed somewhere: no surge.
    const surgeNode = rolling.find((id) => !settled.includes(id)) as string
    const failed = onOld.map((node) => node.nodeId !== surgeNode ? node : { ...node, resources: [{ id: `web@${surgeNode}`, phase: 'failed' as const, specHash: newHash, restarts: 0, failedSpec: newHash }] })
    expect(webNodes(computeView(dbOf([...failed, policy(web)]), 'a'))).toHaveLength(2)
    // Every replica on the new spec: the surge ends, and the lowest-ranked incumbent is let go.
    const done = running(nodes, Object.fromEntries(rolling.map((id) => [id, newHash])))
    const after = webNodes(computeView(dbOf([...done, policy(web)]), 'a'))
    expect(after).toHaveLength(2)
    expect(rolling).toEqual(expect.arrayContaining(after))
    // Without maxSurge (the default), a rollout places no more than replicas.
    const { update: _, ...plain } = web
    expect(webNodes(computeView(dbOf([...onOld, policy(plain)]), 'a'))).toEqual(settled)
  })
})

describe('explainable', () => {
  it('names the chosen nodes and a reason for every other node', () => {
    fc.assert(fc.property(clusterArbitrary({ allowSettings: true }), (cluster) => {
      const view = viewOf(cluster)
      for (const spec of cluster.services) {
        const explanation = view.explanations.get(spec.name)
        expect(explanation).toBeDefined()
        const candidates = explanation?.candidates ?? []
        expect(candidates.map((c) => c.nodeId).sort()).toEqual([...cluster.ids].sort())
        const chosen = candidates.filter((c) => c.chosen).map((c) => c.nodeId).sort()
        const assigned = view.assignments.filter((a) => a.service === spec.name).map((a) => a.nodeId).sort()
        expect(chosen).toEqual(assigned)
        for (const candidate of candidates) {
          expect(candidate.detail.length).toBeGreaterThan(0)
          expect(candidate.detail).not.toBe('not reached')
        }
        const ranks = candidates.flatMap((c) => (c.rank === null ? [] : [c.rank]))
        expect(ranks).toEqual(ranks.map((_, i) => i + 1))
      }
    }), runs)
  })
})

describe('edges', () => {
  it('an empty mesh: a node with no records places nothing and still has a view hash', () => {
    const view = computeView(dbOf([]), 'lonely')
    expect(view.component).toEqual(['lonely'])
    expect(view.assignments).toEqual([])
    expect(view.viewHash).toMatch(/^[0-9a-f]{16}$/)
  })

  it('more replicas than eligible nodes: places what it can and reports the shortfall', () => {
    const view = computeView(dbOf([...fullMesh(['a', 'b']), policy(service('web', { replicas: 5 }))]), 'a')
    expect(view.assignments.map((a) => a.nodeId)).toEqual(['a', 'b'])
    expect(view.shortfalls).toEqual([{ service: 'web', wanted: 5, placed: 2 }])
  })

  it('every node drained: nothing placed, every node rejected as drained', () => {
    const ids = ['a', 'b', 'c']
    const records = [...fullMesh(ids), policy(service('web', { replicas: 2 })), ...ids.map((id) => policy({ kind: 'Node', name: id, drain: true }))]
    const view = computeView(dbOf(records), 'a', { explain: ['web'] })
    expect(view.assignments).toEqual([])
    expect(view.explanations.get('web')?.candidates.map((c) => c.reason)).toEqual(['drained', 'drained', 'drained'])
  })

  it('equal hash scores: the smaller node id wins, in any arrival order', () => {
    const seen = new Map<number, string>()
    let pair: [string, string] | undefined
    for (let i = 0; pair === undefined; i++) {
      const id = `tie-${i}`
      const earlier = seen.get(hash32(id))
      if (earlier !== undefined) pair = [earlier, id]
      seen.set(hash32(id), id)
    }
    const [first, second] = pair
    const records = [...fullMesh([first, second]), policy(service('web'))]
    const smaller = first < second ? first : second
    expect(computeView(dbOf(records), first).assignments.map((a) => a.nodeId)).toEqual([smaller])
    expect(computeView(dbOf([...records].reverse()), second).assignments.map((a) => a.nodeId)).toEqual([smaller])
  })

  it('uneven spread domains: a small value gets what it can hold, the rest go elsewhere', () => {
    const ids = ['a1', 'b1', 'b2', 'b3', 'b4', 'b5']
    const nodes = fullMesh(ids, (id) => ({ zone: id[0] as string }))
    const spread = policy(service('web', { replicas: 4, spread: 'zone' }))
    expect(computeView(dbOf([...nodes, spread]), 'a1', { explain: 'all' }).explanations.get('web')?.spreadQuotas).toEqual({ a: 1, b: 3 })
    const fullA = nodes.map((node) => (node.nodeId === 'a1' ? { ...node, slots: 0 } : node))
    const view = computeView(dbOf([...fullA, spread]), 'a1', { explain: 'all' })
    expect(view.explanations.get('web')?.spreadQuotas).toEqual({ a: 0, b: 4 })
    expect(view.assignments.every((a) => a.nodeId.startsWith('b'))).toBe(true)
  })

  it('a component carried forward across changes is the one walked afresh, whatever the changes and whenever it is asked', () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
    const change = fc.record({ node: fc.constantFrom(...ids), adjacencies: fc.subarray(ids), ask: fc.boolean() })
    fc.assert(fc.property(fc.array(change, { minLength: 1, maxLength: 60 }), (changes) => {
      const db = new RecordDB()
      const seq = new Map<string, number>()
      for (const { node, adjacencies, ask } of changes) {
        seq.set(node, (seq.get(node) ?? 0) + 1)
        db.merge(nodeRecord(node, { version: { generation: 1, seq: seq.get(node) as number }, adjacencies: adjacencies.filter((id) => id !== node) }))
        if (!ask) continue // changes pile up between asks, as between a node's reconciler runs
        for (const self of ['a', 'd']) expect([...componentFrom(db, self, 'open')].sort()).toEqual([...componentOf(db, self)].sort())
      }
      expect([...componentFrom(db, 'a', 'open')].sort()).toEqual([...componentOf(db, 'a')].sort())
    }), { numRuns: 300 })
  })

  it('a one-way link is no adjacency', () => {
    const db = dbOf([nodeRecord('a', { adjacencies: ['b'] }), nodeRecord('b', { adjacencies: ['c'] }), nodeRecord('c', { adjacencies: ['b'] })])
    expect([...componentOf(db, 'a')]).toEqual(['a'])
    expect([...componentOf(db, 'b')].sort()).toEqual(['b', 'c'])
  })

  it('an unreachable node’s work is placed among the reachable ones', () => {
    const nodes = fullMesh(['a', 'b', 'c']).map((node) => node.nodeId === 'c' ? node : { ...node, adjacencies: node.adjacencies.filter((id) => id !== 'c') })
    const view = computeView(dbOf([...nodes, policy(service('web', { replicas: 3 }))]), 'a')
    expect(view.component).toEqual(['a', 'b'])
    expect(view.assignments.map((a) => a.nodeId)).toEqual(['a', 'b'])
  })
})

describe('admission', () => {
  it('in operator mode only admitted nodes count, and the view is the same from each of them', () => {
    const records = [...fullMesh(['a', 'b', 'c']), policy(service('web', { replicas: 3 })),
      policy({ kind: 'Admission', name: 'a' }), policy({ kind: 'Admission', name: 'b' })]
    const view = computeView(dbOf(records), 'a', { admission: 'operator' })
    expect(view.component).toEqual(['a', 'b'])
    expect(view.assignments.map((a) => a.nodeId)).toEqual(['a', 'b'])
    expect(computeView(dbOf(records), 'b', { admission: 'operator' }).viewHash).toBe(view.viewHash)
    expect(computeView(dbOf(records), 'a').component).toEqual(['a', 'b', 'c'])
  })
})

describe('holding the work of a node that restarts', () => {
  // c stopped to restart: its last record asks for its work to be held until t=10 s; nobody lists it.
  function records (holdUntilMs: number | undefined, replicas = 2): ReturnType<typeof dbOf> {
    const web = policy(service('web', { replicas }))
    const first = computeView(dbOf([...fullMesh(['a', 'b', 'c']), web]), 'a')
    const running = runningAsViewed(fullMesh(['a', 'b', 'c']), first)
    const away = running.map((node) => node.nodeId === 'c'
      ? { ...node, ...(holdUntilMs === undefined ? {} : { holdUntilMs }) }
      : { ...node, adjacencies: node.adjacencies.filter((id) => id !== 'c') })
    return dbOf([...away, web])
  }
  const webOnC = (view: TargetView): boolean => view.assignments.some((a) => a.resourceId === 'web@c')

  it('keeps it in place while the hold lasts, and moves it once the hold is over', () => {
    // Pick a cluster where c runs a replica (the hash decides); try a few replica counts.
    const replicas = [1, 2, 3].find((count) => webOnC(computeView(records(10_000, count), 'a', { nowMs: 5_000 })))
    expect(replicas).toBeDefined()
    const db = records(10_000, replicas)
    const during = computeView(db, 'a', { nowMs: 5_000 })
    expect(during.held).toEqual(['c'])
    expect(during.component).toContain('c')
    expect(webOnC(during)).toBe(true)
    expect(computeView(db, 'b', { nowMs: 5_000 }).viewHash).toBe(during.viewHash)
    const after = computeView(db, 'a', { nowMs: 10_000 })
    expect(after.held).toEqual([])
    expect(webOnC(after)).toBe(false)
    // Without a hold (a crash) nothing is kept, whatever the time.
    expect(webOnC(computeView(records(undefined, replicas), 'a', { nowMs: 5_000 }))).toBe(false)
  })

  it('holds for at most holdMaxMs after the record was made, whatever it asks (a hold of a year)', () => {
    const replicas = [1, 2, 3].find((count) => webOnC(computeView(records(10_000, count), 'a', { nowMs: 5_000 })))
    const db = records(1_000 + 365 * 86_400_000, replicas) // c's record: originatedAtMs 1 000
    expect(computeView(db, 'a', { nowMs: 1_000 + holdMaxMs - 1 }).held).toEqual(['c'])
    const after = computeView(db, 'a', { nowMs: 1_000 + holdMaxMs })
    expect(after.held).toEqual([])
    expect(webOnC(after)).toBe(false)
  })

  it('gives a held node no new work', () => {
    const db = records(10_000, 2)
    const withApi = dbOf([...db.snapshot(), policy(service('api', { replicas: 3 }), 2_000)])
    const view = computeView(withApi, 'a', { nowMs: 5_000 })
    expect(view.assignments.filter((a) => a.service === 'api').map((a) => a.nodeId)).toEqual(['a', 'b'])
    expect(view.shortfalls).toEqual([{ service: 'api', wanted: 3, placed: 2 }])
    expect(computeView(withApi, 'a', { nowMs: 10_000 }).assignments.filter((a) => a.service === 'api')).toHaveLength(2)
  })
})

describe('one view per database revision', () => {
  it('is computed once per revision and per node, and again after any merge', () => {
    const db = dbOf([...fullMesh(['a', 'b', 'c']), policy(service('web', { replicas: 2 }))])
    const first = computeView(db, 'a', { admission: 'operator', nowMs: 5_000 })
    expect(computeView(db, 'a', { admission: 'operator', nowMs: 6_000 })).toBe(first)
    expect(computeView(db, 'a')).not.toBe(first) // another admission mode
    expect(computeView(db, 'b', { admission: 'operator' })).not.toBe(first)
    db.merge(policy(service('web', { replicas: 3 }), 2_000))
    const after = computeView(db, 'a', { admission: 'operator' })
    expect(after).not.toBe(first)
    expect(after.viewHash).not.toBe(first.viewHash)
    expect(computeView(db, 'a').assignments).toHaveLength(3)
  })

  it('is computed afresh while a hold is in force, and when explanations are asked for', () => {
    const records = fullMesh(['a', 'b', 'c']).map((node) => node.nodeId === 'c' ? { ...node, holdUntilMs: 10_000 } : node)
    const db = dbOf([...records, policy(service('web', { replicas: 2 }))])
    expect(computeView(db, 'a', { nowMs: 5_000 })).not.toBe(computeView(db, 'a', { nowMs: 5_000 }))
    expect(computeView(db, 'a', { nowMs: 11_000 })).toBe(computeView(db, 'a', { nowMs: 12_000 }))
    expect(computeView(db, 'a', { explain: 'all' })).not.toBe(computeView(db, 'a', { explain: 'all' }))
  })
})
