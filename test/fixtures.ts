// Builders and fast-check arbitraries shared by the core tests.

import fc from 'fast-check'
import {
  RecordDB,
  type Labels, type NodeId, type NodeRecord, type NodeSettingsSpec, type PolicyFragment, type ResourceStatus,
  type PolicySpec, type ServiceSpec, type ShoalRecord, type TargetView,
} from '../src/core/index.ts'

export function nodeRecord (nodeId: NodeId, fields: Partial<Omit<NodeRecord, 'kind' | 'nodeId'>> = {}): NodeRecord {
  return {
    kind: 'node',
    nodeId,
    version: { generation: 1, seq: 1 },
    originatedAtMs: 1_000,
    addresses: [],
    labels: {},
    slots: 10,
    adjacencies: [],
    resources: [],
    viewHash: '',
    policyDigest: '',
    ...fields,
  }
}

export function service (name: string, fields: Partial<Omit<ServiceSpec, 'kind' | 'name'>> = {}): ServiceSpec {
  return { kind: 'Service', name, replicas: 1, selector: {}, slots: 1, workload: { kind: 'memory', tag: name }, ...fields }
}

export function policy (body: PolicySpec, wallMs = 1_000, counter = 0, signer = 'operator'): PolicyFragment {
  return { kind: 'policy', policyKind: body.kind, name: body.name, version: { hlc: { wallMs, counter }, signer }, body }
}

export function tombstone (policyKind: PolicySpec['kind'], name: string, wallMs: number, counter = 0, signer = 'operator'): PolicyFragment {
  return { kind: 'policy', policyKind, name, version: { hlc: { wallMs, counter }, signer }, body: null }
}

export function dbOf (records: Iterable<ShoalRecord>): RecordDB {
  const db = new RecordDB()
  for (const record of records) db.merge(record)
  return db
}

/** Node records for a fully connected mesh of `ids`. */
export function fullMesh (ids: readonly NodeId[], labelsOf: (id: NodeId, position: number) => Labels = () => ({}), slots = 10): NodeRecord[] {
  return ids.map((id, position) => nodeRecord(id, { labels: labelsOf(id, position), slots, adjacencies: ids.filter((other) => other !== id) }))
}

/** Node records rewritten so that each reports running what `view` assigns it. */
export function runningAsViewed (records: readonly NodeRecord[], view: TargetView): NodeRecord[] {
  return records.map((record) => ({
    ...record,
    version: { generation: record.version.generation, seq: record.version.seq + 1 },
    resources: (view.byNode.get(record.nodeId) ?? []).map((assignment): ResourceStatus => ({
      id: assignment.resourceId, phase: 'running', specHash: assignment.specHash, restarts: 0,
    })),
  }))
}

export function assignmentSet (view: TargetView): Set<string> {
  return new Set(view.assignments.map((assignment) => assignment.resourceId))
}

// ---------------------------------------------------------------------------------------------------
// Arbitraries

export const zones = ['a', 'b', 'c'] as const

export interface ClusterCase {
  readonly ids: NodeId[]
  readonly nodes: NodeRecord[]
  readonly services: ServiceSpec[]
  readonly settings: NodeSettingsSpec[]
}

export function serviceArbitrary (name: string, options: { allowSpread: boolean }): fc.Arbitrary<ServiceSpec> {
  return fc.record({
    replicas: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constant('all' as const)),
    selector: fc.oneof(fc.constant({}), fc.constant({ role: 'web' }), fc.constant({ role: 'db' })),
    spread: options.allowSpread ? fc.option(fc.constant('zone'), { nil: undefined }) : fc.constant(undefined),
    slots: fc.integer({ min: 1, max: 2 }),
  }).map(({ spread, ...fields }) => service(name, { ...fields, ...(spread === undefined ? {} : { spread }) }))
}

/**
 * A fully connected cluster with labelled nodes, services and operator settings.
 * `ample` gives every node room for everything, so capacity never forces a decision.
 */
export function clusterArbitrary (options: { ample?: boolean, allowSpread?: boolean, allowSettings?: boolean, maxNodes?: number } = {}): fc.Arbitrary<ClusterCase> {
  const maxNodes = options.maxNodes ?? 10
  return fc.integer({ min: 1, max: maxNodes }).chain((nodeCount) => {
    const ids = Array.from({ length: nodeCount }, (_, i) => `node-${i}`)
    const nodeArb = fc.record({
      zone: fc.option(fc.constantFrom(...zones), { nil: undefined, freq: 6 }),
      role: fc.constantFrom('web', 'db'),
      slots: options.ample === true ? fc.constant(100) : fc.integer({ min: 0, max: 4 }),
    })
    const settingArb = fc.record({ drain: fc.boolean(), cordon: fc.boolean() })
    return fc.record({
      nodeFields: fc.array(nodeArb, { minLength: nodeCount, maxLength: nodeCount }),
      services: fc.integer({ min: 0, max: 5 }).chain((count) =>
        fc.tuple(...Array.from({ length: count }, (_, i) => serviceArbitrary(`svc-${i}`, { allowSpread: options.allowSpread ?? true })))),
      settings: options.allowSettings === true
        ? fc.array(fc.tuple(fc.constantFrom(...ids), settingArb), { maxLength: 3 })
        : fc.constant([] as Array<[string, { drain: boolean, cordon: boolean }]>),
    }).map(({ nodeFields, services, settings }): ClusterCase => ({
      ids,
      nodes: ids.map((id, i) => {
        const fields = nodeFields[i] as { zone: string | undefined, role: string, slots: number }
        const labels: Record<string, string> = { role: fields.role }
        if (fields.zone !== undefined) labels.zone = fields.zone
        return nodeRecord(id, { labels, slots: fields.slots, adjacencies: ids.filter((other) => other !== id) })
      }),
      services: [...services],
      settings: [...new Map(settings.map(([name, setting]) => [name, { kind: 'Node' as const, name, ...setting }])).values()],
    }))
  })
}

export function clusterRecords (cluster: ClusterCase): ShoalRecord[] {
  return [...cluster.nodes, ...cluster.services.map((body) => policy(body)), ...cluster.settings.map((body) => policy(body))]
}
