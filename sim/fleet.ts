// What a scenario needs of a simulated fleet, whichever engine runs it (issue 25): the libp2p engine
// (sim/libp2p-fleet.ts: real libp2p nodes in one process, wall-clock time) or the virtual one
// (sim/virtual/fleet.ts: the same decisions on a simulated network, virtual time). Steps and their
// judges (sim/scenario.ts, sim/watch-steps.ts) see only this, so one scenario file runs on both.
//
// Nodes are named by index (0 to size − 1), as scenario files name them. Time is the engine's: `now`,
// `sleep` and `every` run on wall time for libp2p and on the virtual clock for the virtual engine,
// so a judge that samples "every 50 ms" samples the same way on both.

import type { PolicyKind, PolicySpec, ResourceStatus } from '../src/core/index.ts'
import { quietFor } from '../src/testing/fleet.ts'

export type EngineName = 'libp2p' | 'virtual'

/** A workload as its node's actuator runs it now (not as records say). */
export interface RunningWorkload {
  readonly resourceId: string
  readonly specHash: string
  readonly phase: string
  readonly epoch?: number
}

export interface SimFleet {
  readonly engine: EngineName
  /** How many nodes the run has (live or not). */
  readonly size: number

  /** Live node indices, ascending. */
  live(): number[]
  isLive(index: number): boolean
  peerId(index: number): string
  /** Node `index`'s labels. */
  labels(index: number): Readonly<Record<string, string>>
  /** What node `index`'s actuator runs now. */
  workloads(index: number): readonly RunningWorkload[]
  /** What node `index` reports it runs (its local state, what its next record says). */
  resources(index: number): readonly ResourceStatus[]
  /** The view hash node `index` last published. */
  viewHash(index: number): string
  /** The peer ids node `index`'s records say form its component. */
  componentOf(index: number): ReadonlySet<string>
  /** The live nodes grouped by the component each one computes. */
  components(): number[][]
  /** Every component's nodes compute one view and run what it assigns (judged from outside). */
  converged(): boolean
  /** Converged, and every node's own database says so. */
  confirmed(): boolean
  /** Gossip carried so far, all nodes together. */
  traffic(): { messages: number, bytes: number }
  /** Records originated so far by live nodes. */
  originations(): number

  /** An operator's policy (or its deletion), handed to node `at`, which floods it. */
  publish(spec: PolicySpec, at: number): Promise<void>
  publishDeletion(kind: PolicyKind, name: string, at: number): Promise<void>
  /** Kills a node as a crash would: its workloads vanish with it. */
  crash(index: number): Promise<void>
  /** Starts a crashed node again: same identity, next generation, its records restored. */
  restart(index: number): Promise<void>
  /** Cuts each group off from the others (`oneWay`: only the first group refuses the rest). */
  partition(groups: ReadonlyArray<readonly number[]>, options?: { oneWay?: boolean }): Promise<void>
  heal(): Promise<void>
  /** Node `index` stops reading and writing for `ms`, connections left open (a paused process). */
  stall(index: number, ms: number): void
  /** Node `index`'s wall clock jumps by `byMs` (the virtual engine only: libp2p's nodes share one clock). */
  skewClock?(index: number, byMs: number): void

  /** The engine's time in ms (wall for libp2p, virtual for the virtual engine). */
  now(): number
  sleep(ms: number): Promise<void>
  /** Runs `fn` every `ms` of the engine's time until the returned function is called. */
  every(ms: number, fn: () => void): () => void
  /**
   * Lets time run until `condition` holds, checking it at least every `pollMs` (and, on libp2p, as
   * reconcilers finish runs and, with `records`, as records merge); the time it took, or undefined
   * after `withinMs`.
   */
  waitUntil(condition: () => boolean, withinMs: number, options?: { records?: boolean, pollMs?: number }): Promise<number | undefined>
  /** Events run so far (the virtual engine's timers; the libp2p engine counts none). */
  events(): number
  /** A hash of the run so far (virtual engine: every origination; equal seeds, equal hashes). */
  traceHash(): string | undefined
  stop(): Promise<void>
}

/** Resource ids running (by their nodes' own report) on the given nodes. */
export function runningResources (fleet: SimFleet, nodes: Iterable<number> = fleet.live()): string[] {
  return [...nodes].flatMap((i) => fleet.resources(i).filter((r) => r.phase === 'running').map((r) => r.id)).sort()
}

/** Share of live nodes whose record publishes the most common view hash. */
export function agreementShare (fleet: SimFleet): number {
  const counts = new Map<string, number>()
  const live = fleet.live()
  for (const i of live) counts.set(fleet.viewHash(i), (counts.get(fleet.viewHash(i)) ?? 0) + 1)
  return live.length === 0 ? 0 : Math.max(...counts.values()) / live.length
}

/** A condition that holds once no live node has originated a record for `ms` of the fleet's time. */
export function originationsQuietFor (fleet: SimFleet, ms: number): () => boolean {
  return quietFor(() => fleet.originations(), () => fleet.now(), ms)
}
