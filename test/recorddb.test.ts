// RecordDB: merge is a join (commutative, associative, idempotent), aging uses the age each record
// carries, and digest sync (digest + "what does the peer lack") makes two databases equal.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  compareHlc, compareRecords, hlcAdvancePast, hlcTick, isExpired, isWithinClockSkew, nextOwnVersion, RecordDB,
  type NodeRecord, type ShoalRecord,
} from '../src/core/index.ts'
import { dbOf, nodeRecord, policy, service, tombstone } from './fixtures.ts'

const limits = { maxAgeMs: 60_000 }

/** Records over few keys and versions, so that collisions (same key, same version) happen often. */
const recordArbitrary: fc.Arbitrary<ShoalRecord> = fc.oneof(
  fc.record({
    id: fc.constantFrom('n1', 'n2', 'n3'),
    generation: fc.integer({ min: 1, max: 3 }),
    seq: fc.integer({ min: 0, max: 3 }),
    slots: fc.integer({ min: 0, max: 2 }),
  }).map(({ id, generation, seq, slots }) => nodeRecord(id, { version: { generation, seq }, slots })),
  fc.record({
    name: fc.constantFrom('web', 'db'),
    wallMs: fc.integer({ min: 1, max: 3 }),
    counter: fc.integer({ min: 0, max: 1 }),
    signer: fc.constantFrom('op-a', 'op-b'),
    replicas: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
  }).map(({ name, wallMs, counter, signer, replicas }) => replicas === null
    ? tombstone('Service', name, wallMs, counter, signer)
    : policy(service(name, { replicas }), wallMs, counter, signer)),
)

describe('RecordDB merge', () => {
  it('is commutative: any arrival order gives the same database', () => {
    fc.assert(fc.property(fc.array(recordArbitrary, { maxLength: 30 }).chain((records) =>
      fc.tuple(fc.constant(records), fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }))),
    ([records, shuffled]) => {
      expect(dbOf(shuffled).snapshot()).toEqual(dbOf(records).snapshot())
    }))
  })

  it('is associative: (a ⊔ b) ⊔ c equals a ⊔ (b ⊔ c)', () => {
    fc.assert(fc.property(fc.array(recordArbitrary), fc.array(recordArbitrary), fc.array(recordArbitrary), (a, b, c) => {
      const left = dbOf(a); left.mergeFrom(dbOf(b)); left.mergeFrom(dbOf(c))
      const bc = dbOf(b); bc.mergeFrom(dbOf(c))
      const right = dbOf(a); right.mergeFrom(bc)
      expect(left.snapshot()).toEqual(right.snapshot())
    }))
  })

  it('is idempotent: merging again changes nothing and reports duplicates', () => {
    fc.assert(fc.property(fc.array(recordArbitrary), (records) => {
      const db = dbOf(records)
      const before = db.snapshot()
      const revision = db.revision
      for (const record of records) expect(['duplicate', 'stale']).toContain(db.merge(record))
      expect(db.snapshot()).toEqual(before)
      expect(db.revision).toBe(revision)
    }))
  })

  it('keeps the newest record per key under the total order', () => {
    fc.assert(fc.property(fc.array(recordArbitrary, { minLength: 1 }), (records) => {
      const db = dbOf(records)
      for (const kept of db.records()) {
        for (const record of records) {
          if (record.kind === kept.kind && (record.kind === 'node' ? record.nodeId === (kept as typeof record).nodeId : record.name === (kept as typeof record).name)) {
            expect(compareRecords(kept, record)).toBeGreaterThanOrEqual(0)
          }
        }
      }
    }))
  })

  it('the order is total and antisymmetric, even for different content at the same version', () => {
    const a = nodeRecord('n1', { version: { generation: 1, seq: 1 }, slots: 1 })
    const b = nodeRecord('n1', { version: { generation: 1, seq: 1 }, slots: 2 })
    expect(Math.sign(compareRecords(a, b))).toBe(-Math.sign(compareRecords(b, a)))
    expect(compareRecords(a, b)).not.toBe(0)
    expect(compareRecords(a, { ...a })).toBe(0)
  })
})

describe('digest sync', () => {
  it('after each side sends what the other lacks, both databases are equal', () => {
    fc.assert(fc.property(fc.array(recordArbitrary), fc.array(recordArbitrary), (aRecords, bRecords) => {
      const a = dbOf(aRecords)
      const b = dbOf(bRecords)
      const forB = a.recordsMissingFrom(b.digest())
      const forA = b.recordsMissingFrom(a.digest())
      for (const record of forB) expect(b.merge(record)).not.toBe('stale')
      for (const record of forA) expect(a.merge(record)).not.toBe('stale')
      expect(a.snapshot()).toEqual(b.snapshot())
      expect(a.recordsMissingFrom(b.digest())).toEqual([])
    }))
  })

  it('the summary hash is equal exactly when the databases are (so sync may stop at the summaries)', () => {
    fc.assert(fc.property(fc.array(recordArbitrary), fc.array(recordArbitrary), (aRecords, bRecords) => {
      const a = dbOf(aRecords)
      const b = dbOf(bRecords)
      const same = JSON.stringify(a.snapshot()) === JSON.stringify(b.snapshot())
      expect(a.summaryHash() === b.summaryHash()).toBe(same)
      for (const record of b.recordsMissingFrom(a.digest())) a.merge(record)
      for (const record of a.recordsMissingFrom(b.digest())) b.merge(record)
      expect(a.summaryHash()).toBe(b.summaryHash()) // and the cached hash follows every change
    }))
  })

  it('sends nothing to a peer that already holds everything', () => {
    const db = dbOf([nodeRecord('n1'), policy(service('web'))])
    expect(db.recordsMissingFrom(db.digest())).toEqual([])
  })
})

describe('tombstones', () => {
  it('an update racing a tombstone: the later HLC wins in either arrival order', () => {
    const update = policy(service('web', { replicas: 2 }), 2_000)
    const deletion = tombstone('Service', 'web', 2_000, 1)
    for (const order of [[update, deletion], [deletion, update]]) {
      expect(dbOf(order).get('policy:Service/web')).toEqual(deletion)
    }
    const recreated = policy(service('web', { replicas: 3 }), 2_001)
    expect(dbOf([deletion, recreated]).get('policy:Service/web')).toEqual(recreated)
    expect(dbOf([recreated, deletion]).get('policy:Service/web')).toEqual(recreated)
  })

  it('equal HLCs from two operators: the signer breaks the tie the same way everywhere', () => {
    const fromA = policy(service('web', { replicas: 1 }), 5_000, 0, 'op-a')
    const fromB = tombstone('Service', 'web', 5_000, 0, 'op-b')
    expect(dbOf([fromA, fromB]).get('policy:Service/web')).toEqual(fromB)
    expect(dbOf([fromB, fromA]).get('policy:Service/web')).toEqual(fromB)
  })

  it('is kept for good: a year later the deleted version, replayed, is still stale; policies never age', () => {
    const live = policy(service('gone'), 1_000)
    const revoked = policy({ kind: 'Admission', name: 'n1' }, 1_000)
    const db = dbOf([live, tombstone('Service', 'gone', 2_000), revoked, tombstone('Admission', 'n1', 2_000), policy(service('web'), 1_000)])
    const aYearLater = 2_000 + 365 * 24 * 3_600_000
    expect(db.dropExpired(aYearLater, limits)).toEqual([])
    expect(db.merge(live)).toBe('stale') // from a peer back from a long absence, or replayed through the API
    expect(db.merge(revoked)).toBe('stale')
    expect(db.get('policy:Service/gone')?.kind === 'policy' && db.get('policy:Service/gone')).toMatchObject({ body: null })
    expect(db.get('policy:Service/web')).toBeDefined()
  })
})

describe('aging', () => {
  it('drops a node record maxAgeMs after its origin stamped it, whenever it arrived', () => {
    const record = nodeRecord('n1', { originatedAtMs: 10_000 })
    const db = dbOf([record])
    expect(db.dropExpired(10_000 + limits.maxAgeMs, limits)).toEqual([])
    expect(db.dropExpired(10_001 + limits.maxAgeMs, limits)).toEqual(['node:n1'])
    expect(isExpired(record, 10_001 + limits.maxAgeMs, limits)).toBe(true)
    expect(db.size).toBe(0)
  })
})

describe('hybrid logical clock', () => {
  it('never goes backwards, never runs behind the physical clock, and signs past what it advanced past', () => {
    fc.assert(fc.property(fc.array(fc.record({ physical: fc.integer({ min: 0, max: 100 }), seen: fc.option(fc.integer({ min: 0, max: 100 })) }), { maxLength: 40 }), (events) => {
      let clock = { wallMs: 0, counter: 0 }
      for (const event of events) {
        const before = clock
        const seen = event.seen === null ? undefined : { wallMs: event.seen, counter: 3 }
        if (seen !== undefined) clock = hlcAdvancePast(clock, seen)
        clock = hlcTick(clock, event.physical)
        if (seen !== undefined) expect(compareHlc(clock, seen)).toBeGreaterThan(0)
        expect(compareHlc(clock, before)).toBeGreaterThan(0)
        expect(clock.wallMs).toBeGreaterThanOrEqual(event.physical)
      }
    }))
  })

  it('a fragment from the future beyond maxClockSkewMs is refused', () => {
    expect(isWithinClockSkew({ wallMs: 15_001, counter: 0 }, 10_000, 5_000)).toBe(false)
    expect(isWithinClockSkew({ wallMs: 15_000, counter: 0 }, 10_000, 5_000)).toBe(true)
  })
})

describe("a node's own record from before a restart", () => {
  it('jumps past a newer version of its own record found in the database', () => {
    expect(nextOwnVersion({ generation: 4, seq: 0 }, { generation: 4, seq: 17 })).toEqual({ generation: 4, seq: 18 })
    expect(nextOwnVersion({ generation: 4, seq: 2 }, { generation: 3, seq: 90 })).toEqual({ generation: 4, seq: 3 })
    expect(nextOwnVersion({ generation: 4, seq: 2 }, undefined)).toEqual({ generation: 4, seq: 3 })
    // A generation counter that was lost (data dir restored from backup) is also jumped past.
    expect(nextOwnVersion({ generation: 2, seq: 0 }, { generation: 5, seq: 1 })).toEqual({ generation: 5, seq: 2 })
  })

  it('the next record then wins everywhere over the one from before', () => {
    const old = nodeRecord('me', { version: { generation: 4, seq: 17 }, slots: 1 })
    const next = nodeRecord('me', { version: nextOwnVersion({ generation: 4, seq: 0 }, old.version), slots: 2 })
    const db = new RecordDB()
    db.merge(old)
    expect(db.merge(next)).toBe('replaced')
  })
})

describe('envelopes', () => {
  it('returns the signed bytes of exactly the records merged with them, newest version only', () => {
    const db = new RecordDB()
    db.merge(nodeRecord('n1', { version: { generation: 1, seq: 1 } }), Uint8Array.of(1))
    db.merge(nodeRecord('n1', { version: { generation: 1, seq: 2 } }), Uint8Array.of(2))
    db.merge(policy(service('web')))
    expect(db.envelopes()).toEqual([Uint8Array.of(2)])
  })
})

describe('placement revision', () => {
  const running = (phase: 'running' | 'starting' | 'failed'): NodeRecord['resources'] => [{ id: 'web@a', phase, specHash: 'h', restarts: 0 }]
  const seq = (n: number): NodeRecord['version'] => ({ generation: 1, seq: n })

  it('moves with what placement reads, not with status updates', () => {
    const db = dbOf([nodeRecord('a', { resources: running('starting') })])
    const revisions = (): [number, number] => [db.revision, db.placementRevision]
    const [r0, p0] = revisions()
    db.merge(nodeRecord('a', { version: seq(2), resources: running('running'), viewHash: 'v2', policyDigest: 'd2' }))
    expect(revisions()).toEqual([r0 + 1, p0]) // a status update: same incumbents
    db.merge(nodeRecord('a', { version: seq(3), resources: running('failed') }))
    expect(revisions()).toEqual([r0 + 2, p0 + 1]) // no longer an incumbent
    db.merge(nodeRecord('a', { version: seq(4), resources: running('failed'), adjacencies: ['b'] }))
    db.merge(nodeRecord('a', { version: seq(5), resources: running('failed'), adjacencies: ['b'], labels: { zone: 'z' } }))
    db.merge(nodeRecord('a', { version: seq(6), resources: running('failed'), adjacencies: ['b'], labels: { zone: 'z' }, slots: 3 }))
    db.merge(nodeRecord('a', { version: seq(7), resources: running('failed'), adjacencies: ['b'], labels: { zone: 'z' }, slots: 3, holdUntilMs: 9 }))
    expect(revisions()).toEqual([r0 + 6, p0 + 5])
    db.merge(policy(service('web')))
    db.merge(nodeRecord('b'))
    expect(revisions()).toEqual([r0 + 8, p0 + 7])
    db.merge(nodeRecord('b')) // a duplicate changes nothing
    expect(revisions()).toEqual([r0 + 8, p0 + 7])
    db.dropExpired(10 * 24 * 3_600_000, { maxAgeMs: 1 })
    expect(revisions()).toEqual([r0 + 9, p0 + 8])
  })

  it('keys derived values: the same value until placement can see a change', () => {
    const db = dbOf([nodeRecord('a', { resources: running('starting') })])
    const first = db.derived('x', () => ({}))
    db.merge(nodeRecord('a', { version: seq(2), resources: running('running') }))
    expect(db.derived('x', () => ({}))).toBe(first)
    db.merge(policy(service('web')))
    expect(db.derived('x', () => ({}))).not.toBe(first)
  })

  it('keys topology values: the same until adjacencies, admission or the set of nodes change', () => {
    const db = dbOf([nodeRecord('a', { adjacencies: ['b'] }), nodeRecord('b', { adjacencies: ['a'] })])
    const first = db.derived('c', () => ({}), 'topology')
    db.merge(policy(service('web'))) // a view can change, a component cannot
    db.merge(nodeRecord('a', { version: seq(2), adjacencies: ['b'], labels: { zone: 'y' } }))
    expect(db.derived('c', () => ({}), 'topology')).toBe(first)
    db.merge(nodeRecord('a', { version: seq(3), adjacencies: [] }))
    const second = db.derived('c', () => ({}), 'topology')
    expect(second).not.toBe(first)
    db.merge(policy({ kind: 'Admission', name: 'b' }))
    expect(db.derived('c', () => ({}), 'topology')).not.toBe(second)
  })

  it('keys policy values and the policy digest: the same until a policy is added or replaced (a deletion too)', () => {
    const db = dbOf([nodeRecord('a'), policy(service('web'))])
    const first = db.derived('p', () => ({}), 'policy')
    const digest = db.policyDigestHash()
    db.merge(nodeRecord('a', { version: seq(2), labels: { zone: 'y' } })) // a view can change, the policies cannot
    expect(db.derived('p', () => ({}), 'policy')).toBe(first)
    db.merge(policy(service('web', { replicas: 2 }), 2_000))
    expect(db.derived('p', () => ({}), 'policy')).not.toBe(first)
    expect(db.policyDigestHash()).not.toBe(digest)
    expect(db.policies()).toHaveLength(1)
    const replaced = db.policyDigestHash()
    db.merge(tombstone('Service', 'web', 3_000))
    expect(db.policies().map((p) => p.body)).toEqual([null])
    expect(db.policyDigestHash()).not.toBe(replaced)
  })
})

describe('topology changes', () => {
  it('are kept, oldest first, for at least the last 256 revisions: which node, and whether it dropped an adjacency', () => {
    const db = new RecordDB()
    db.merge(nodeRecord('a', { adjacencies: ['b', 'c'] }))
    db.merge(nodeRecord('a', { version: { generation: 1, seq: 2 }, adjacencies: ['b'] }))
    db.merge(nodeRecord('a', { version: { generation: 1, seq: 3 }, adjacencies: ['b'], slots: 3 })) // no topology change
    db.merge(policy(service('web')))
    expect(db.topologyChangesSince(0)).toEqual([{ revision: 1, nodeId: 'a', dropped: false }, { revision: 2, nodeId: 'a', dropped: true }])
    expect(db.topologyChangesSince(2)).toEqual([])
    for (let seq = 4; seq < 604; seq++) db.merge(nodeRecord('a', { version: { generation: 1, seq }, adjacencies: seq % 2 === 0 ? ['b'] : ['b', 'c'] }))
    expect(db.topologyChangesSince(0)).toBeUndefined() // no longer all known: walk again
    expect(db.topologyChangesSince(db.topologyRevision - 2)?.map((change) => change.revision)).toEqual([db.topologyRevision - 1, db.topologyRevision])
  })
})
