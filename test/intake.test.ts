// Record intake (engine/intake.ts) without a network: the decisions a node makes about records peers
// send it, with time passed in, and the effects it leaves for the adapter to carry out.

import { describe, expect, it } from 'vitest'
import { RecordDB } from '../src/core/index.ts'
import { RecordIntake, type IntakeSettings } from '../src/engine/intake.ts'
import { nodeRecord, policy, tombstone } from './fixtures.ts'

const settings = (overrides: Partial<IntakeSettings> = {}): IntakeSettings => ({
  selfId: 'me', operators: new Set(['operator']), admission: 'operator', bootstrapPeers: new Set(['boot-1', 'boot-2']),
  maxClockSkewMs: 30_000, maxAgeMs: 3_600_000, recordArrivalBurst: 3, recordArrivalsPerSecond: 1, penaltyMs: 60_000, penaltyMaxMs: 600_000,
  ...overrides,
})
const admission = (name: string, wallMs = 1_000) => policy({ kind: 'Admission', name }, wallMs)
const wallNowMs = 10_000

describe('RecordIntake', () => {
  it('a fresh node trusts its bootstrap peers until it knows who is admitted; a sender not (yet) admitted is ignored, never rejected or boxed', () => {
    const db = new RecordDB()
    const intake = new RecordIntake(db, settings())
    expect(intake.refuses('boot-2')).toBe(false)
    expect(intake.refuses('stranger')).toBe(true)
    for (const record of [admission('me'), admission('boot-1')]) expect(intake.take(record, undefined, 'boot-1', 0, wallNowMs).verdict).toBe('accept')
    // boot-1's admission is known, boot-2's not yet: boot-2's in-flight records are ignored.
    expect(intake.checkSender('boot-2', 0)).toMatchObject({ verdict: 'ignore', reason: 'sender-not-admitted' })
    expect(intake.takeEffects()).toEqual([])
    expect(intake.counters.rejected).toEqual({})
    intake.take(admission('boot-2'), undefined, 'boot-1', 0, wallNowMs)
    expect(intake.checkSender('boot-2', 0)).toBeUndefined()
  })

  it('a revoked node: hung up on, and its records refused from then on', () => {
    const db = new RecordDB()
    const intake = new RecordIntake(db, settings())
    for (const record of [admission('me'), admission('peer')]) intake.take(record, undefined, 'me', 0, wallNowMs)
    expect(intake.authorise('node', 'peer', 0)).toBeUndefined()
    expect(intake.take(tombstone('Admission', 'peer', 2_000), undefined, 'me', 0, wallNowMs).verdict).toBe('accept')
    expect(intake.takeEffects()).toEqual([{ kind: 'hang-up', peerId: 'peer' }])
    expect(intake.authorise('node', 'peer', 0)).toBe('node-not-admitted')
    expect(intake.checkSender('peer', 0)).toMatchObject({ verdict: 'ignore', reason: 'sender-not-admitted' })
  })

  it('policies only from operators; records from the future ignored; a stale version ignored', () => {
    const intake = new RecordIntake(new RecordDB(), settings({ admission: 'open' }))
    expect(intake.authorise('policy', 'someone', 0)).toBe('not-an-operator')
    expect(intake.refused('not-an-operator', 'peer', 'someone', 0)).toMatchObject({ verdict: 'reject', reason: 'not-an-operator' })
    expect(intake.take(nodeRecord('peer', { originatedAtMs: wallNowMs + 60_000 }), undefined, 'peer', 0, wallNowMs)).toMatchObject({ verdict: 'ignore', reason: 'from-the-future' })
    expect(intake.take(nodeRecord('peer', { originatedAtMs: wallNowMs, version: { generation: 1, seq: 2 } }), undefined, 'peer', 0, wallNowMs).verdict).toBe('accept')
    expect(intake.take(nodeRecord('peer', { originatedAtMs: wallNowMs, version: { generation: 1, seq: 1 } }), undefined, 'peer', 0, wallNowMs)).toMatchObject({ verdict: 'ignore', reason: 'stale' })
  })

  it('a peer sending its own record over the arrival limit is boxed once past a burst, and refused until the term ends', () => {
    const intake = new RecordIntake(new RecordDB(), settings({ admission: 'open' }))
    let seq = 1
    for (let i = 0; i < 3; i++) {
      expect(intake.authorise('node', 'flooder', 0)).toBeUndefined()
      intake.take(nodeRecord('flooder', { originatedAtMs: wallNowMs, version: { generation: 1, seq: seq++ } }), undefined, 'flooder', 0, wallNowMs)
    }
    expect(intake.authorise('node', 'flooder', 0)).toBe('over-rate') // the burst (3) is spent
    for (let i = 0; i < 3; i++) expect(intake.refused('over-rate', 'flooder', 'flooder', 0).reason).toBe('over-rate')
    expect(intake.takeEffects()).toEqual([])
    intake.refused('over-rate', 'flooder', 'flooder', 0) // one more than a burst over: boxed
    expect(intake.takeEffects()).toEqual([{ kind: 'penalise', peerId: 'flooder', reason: 'records over the arrival limit', durationMs: 60_000 }])
    expect(intake.cutOff('flooder', 59_999)).toBe('penalised')
    expect(intake.checkSender('flooder', 30_000)).toMatchObject({ verdict: 'ignore', reason: 'blocked-sender' })
    expect(intake.cutOff('flooder', 60_000)).toBeUndefined()
    // Relayed by another peer, the same over-rate versions cost the relay nothing: it is not the signer.
    intake.refused('over-rate', 'relay', 'flooder', 70_000)
    expect(intake.takeEffects()).toEqual([])
  })
})
