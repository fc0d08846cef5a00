// `partition: majority`: only a component holding a strict majority of the voters places the service
// (an exact half only with the lowest voter id), so of any split at most one side runs it; in
// operator admission the voters are the admitted nodes, in open admission every node with a record.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { computeView, quorumOf, type NodeRecord } from '../src/core/index.ts'
import { dbOf, fullMesh, policy, service } from './fixtures.ts'

/** Records of a fleet split into `groups`: each group fully connected inside, nothing across. */
function split (groups: readonly string[][]): NodeRecord[] {
  return groups.flatMap((group) => fullMesh(group))
}

describe('quorum', () => {
  it('a majority service runs only on the side holding most nodes; the other side says why', () => {
    const db = dbOf([...split([['a', 'b', 'c'], ['d', 'e']]), policy(service('db', { replicas: 1, partition: 'majority' })), policy(service('web', { replicas: 1 }))])
    const majority = computeView(db, 'a', { explain: 'all' })
    const minority = computeView(db, 'd', { explain: 'all' })
    expect(majority.quorum).toEqual({ holds: true, present: 3, voters: 5 })
    expect(majority.assignments.map((a) => a.service)).toEqual(['db', 'web'])
    expect(minority.quorum).toEqual({ holds: false, present: 2, voters: 5 })
    expect(minority.assignments.map((a) => a.service)).toEqual(['web']) // 'available' runs on both sides
    expect(minority.shortfalls).toEqual([{ service: 'db', wanted: 1, placed: 0, reason: 'no-majority' }])
    expect(minority.explanations.get('db')?.candidates.map((c) => c.reason)).toEqual(['no-majority', 'no-majority'])
    expect(minority.explanations.get('db')?.candidates[0]?.detail).toMatch(/^2 of 5 node\(s\) here: not a majority/)
  })

  it('an exact half holds it only with the lowest voter id; in operator admission only admitted nodes vote', () => {
    const halves = dbOf(split([['a', 'b'], ['c', 'd']]))
    expect(quorumOf(halves, ['a', 'b'], 'open').holds).toBe(true)
    expect(quorumOf(halves, ['c', 'd'], 'open').holds).toBe(false)
    const admitted = dbOf([...split([['a', 'b', 'c'], ['d', 'e']]), ...['a', 'd', 'e'].map((name) => policy({ kind: 'Admission', name }))])
    expect(quorumOf(admitted, ['a', 'b', 'c'], 'operator')).toEqual({ holds: false, present: 1, voters: 3 })
    expect(quorumOf(admitted, ['d', 'e'], 'operator')).toEqual({ holds: true, present: 2, voters: 3 })
  })

  it('of any split of the same voters into components, at most one holds the quorum', () => {
    fc.assert(fc.property(fc.array(fc.nat({ max: 4 }), { minLength: 1, maxLength: 12 }), (sides) => {
      const ids = sides.map((_, i) => `n${String(i).padStart(2, '0')}`)
      const groups = [0, 1, 2, 3, 4].map((side) => ids.filter((_, i) => sides[i] === side)).filter((group) => group.length > 0)
      const db = dbOf(split(groups))
      expect(groups.filter((group) => quorumOf(db, group, 'open').holds).length).toBeLessThanOrEqual(1)
    }))
  })
})
