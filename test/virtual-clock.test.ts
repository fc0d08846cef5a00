// The virtual clock (sim/virtual-clock.ts), and whole reconcilers running under it: issue 25's first
// step, a node's decisions taking their time and timers from one place. The fleet here is a toy
// network of three nodes that hand each other their records after a fixed latency on the same clock;
// what it checks is that the reconciler, its safe-change gates and the memory actuator wait on
// virtual time only, so a run that takes a minute of virtual time takes milliseconds, the same every run.

import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { MemoryActuator } from '../src/actuators/index.ts'
import { computeView, RecordDB, type NodeRecord, type ShoalRecord } from '../src/core/index.ts'
import { Reconciler, type ReconcilerMesh } from '../src/daemon/reconciler.ts'
import type { LocalState } from '../src/net/index.ts'
import { VirtualClock } from '../sim/virtual-clock.ts'
import { nodeRecord, policy, service } from './fixtures.ts'

describe('VirtualClock', () => {
  it('fires timers in (time, order set) order, those set while firing in turn, never a cancelled one, and stops at the time asked', async () => {
    const clock = new VirtualClock(0)
    const fired: string[] = []
    clock.setTimer(() => fired.push(`b@${clock.monotonicNow()}`), 20)
    clock.setTimer(() => {
      fired.push(`a@${clock.monotonicNow()}`)
      clock.setTimer(() => fired.push(`a2@${clock.monotonicNow()}`), 0) // due now: after the others due now
      clock.setTimer(() => fired.push(`a3@${clock.monotonicNow()}`), 15)
    }, 10)
    clock.setTimer(() => fired.push(`c@${clock.monotonicNow()}`), 10)
    clock.setTimer(() => fired.push('cancelled'), 5).cancel()
    expect(await clock.runUntil(22)).toBe(4)
    expect(fired).toEqual(['a@10', 'c@10', 'a2@10', 'b@20'])
    expect(clock.monotonicNow()).toBe(22)
    expect(clock.wallNow()).toBe(22)
    await clock.advance(100)
    expect(fired.at(-1)).toBe('a3@25')
    expect(clock.nextDueMs()).toBeUndefined()
  })
})

/** A node of the toy network: its own database, its record re-made on each local change. */
class ToyNode extends EventEmitter<{ 'record:merged': [record: ShoalRecord] }> implements ReconcilerMesh {
  readonly db = new RecordDB()
  readonly config = { deadIntervalMs: 2_000 }
  readonly restoredOwnRecord = undefined
  localState: LocalState = { labels: {}, slots: 4, resources: [], viewHash: '' }
  peers: ToyNode[] = []
  private seq = 1

  constructor (readonly peerId: string, private readonly clock: VirtualClock, private readonly trace: string[]) {
    super()
  }

  record (): NodeRecord {
    return nodeRecord(this.peerId, {
      version: { generation: 1, seq: this.seq }, originatedAtMs: this.clock.wallNow(), slots: this.localState.slots,
      adjacencies: this.peers.map((peer) => peer.peerId), resources: this.localState.resources, viewHash: this.localState.viewHash,
    })
  }

  updateLocalState (change: Partial<LocalState>, options: { announce?: boolean } = {}): void {
    this.localState = { ...this.localState, ...change }
    if (options.announce === false) return
    this.seq++
    const record = this.record()
    this.trace.push(`${this.clock.monotonicNow()} ${this.peerId} ${record.resources.map((r) => `${r.id}:${r.phase}`).join(',')}`)
    this.deliver(record)
    for (const peer of this.peers) this.clock.setTimer(() => { peer.deliver(record) }, 5) // 5 ms a hop, full mesh
  }

  deliver (record: ShoalRecord): void {
    const outcome = this.db.merge(record)
    if (outcome === 'added' || outcome === 'replaced') this.emit('record:merged', record)
  }
}

async function runToyFleet (): Promise<{ trace: string[], virtualMs: number, wallMs: number, running: number }> {
  const clock = new VirtualClock()
  const trace: string[] = []
  const nodes = ['n1', 'n2', 'n3'].map((id) => new ToyNode(id, clock, trace))
  for (const node of nodes) node.peers = nodes.filter((other) => other !== node)
  for (const node of nodes) for (const other of nodes) node.deliver(other.record())
  const actuators = nodes.map(() => new MemoryActuator({ clock }))
  const reconcilers = nodes.map((node, i) => new Reconciler({ mesh: node, actuators: [actuators[i] as MemoryActuator], admission: 'open', clock }))
  const wallStart = performance.now()
  await Promise.all(reconcilers.map(async (reconciler) => { await reconciler.start() }))
  // Two replicas of a workload that takes 30 s (virtual) to come up.
  const web = policy(service('web', { replicas: 2, workload: { kind: 'memory', startMs: 30_000 } }))
  for (const node of nodes) node.deliver(web)
  await clock.advance(60_000)
  const wallMs = performance.now() - wallStart
  await Promise.all(reconcilers.map(async (reconciler) => { await reconciler.stop() }))
  const view = computeView(nodes[0]?.db as RecordDB, 'n1')
  const running = nodes.flatMap((node) => node.localState.resources).filter((resource) => resource.phase === 'running').length
  expect(view.assignments).toHaveLength(2)
  return { trace, virtualMs: clock.monotonicNow(), wallMs, running }
}

describe('a fleet of reconcilers under virtual time', () => {
  it('starts a workload that takes 30 s of virtual time in far less wall time, and two runs are the same event for event', async () => {
    const first = await runToyFleet()
    expect(first.running).toBe(2)
    expect(first.virtualMs).toBe(60_000)
    expect(first.wallMs).toBeLessThan(10_000) // a minute of virtual time, not of waiting
    // The memory actuator's start resolves once its 30 s have passed on the virtual clock; then the
    // two nodes chosen report their replicas running, and nothing else happens.
    const runningAt = first.trace.filter((line) => line.includes(':running')).map((line) => Number(line.split(' ')[0]))
    expect(runningAt.length).toBeGreaterThan(0)
    expect(runningAt).toEqual([30_000, 30_000])
    expect((await runToyFleet()).trace).toEqual(first.trace)
  })
})
