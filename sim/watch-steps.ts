// The simulator's watching steps (scenario.ts): they sample the fleet from outside every 50 ms — the
// actuators themselves, not the records — while a change plays out, and judge what they saw: `rollout`
// (never fewer than minAvailable running; finishes, stops, or reverts as asked), `drain` (the drained
// node empties while every service keeps running what it wants), `singleton` (never two at once, one
// in the largest component at the end). `groupAround` builds a partition around a service's holder.

import { maxSurgeOf, maxUnavailableOf, workloadHash, type ServiceSpec, type WorkloadSpec } from '../src/core/index.ts'
import type { SimFleet } from './fleet.ts'
import type { Step, StepOutcome } from './scenario.ts'

/** Live node indices: the one running `service` and the lowest others, `size` in all; then the rest. */
export function groupAround (fleet: SimFleet, service: string, size: number): number[][] {
  const live = fleet.live()
  const holder = live.find((i) => fleet.workloads(i).some((w) => w.resourceId.startsWith(`${service}@`)))
  if (holder === undefined) return []
  const group = [holder, ...live.filter((i) => i !== holder).slice(0, size - 1)]
  return [group, live.filter((i) => !group.includes(i))]
}

export async function singletonStep (fleet: SimFleet, singleton: Extract<Step, { singleton: unknown }>['singleton']): Promise<StepOutcome> {
  const start = fleet.now()
  let most = 0
  let emptyMs = 0
  let holders: Array<{ node: number, epoch?: number }> = []
  let sampledAt = start
  while (fleet.now() - start < singleton.for) {
    holders = fleet.live().flatMap((i) => fleet.workloads(i)
      .filter((w) => w.resourceId.startsWith(`${singleton.service}@`))
      .map((w) => ({ node: i, ...(w.epoch === undefined ? {} : { epoch: w.epoch }) })))
    most = Math.max(most, holders.length)
    const now = fleet.now()
    if (holders.length === 0) emptyMs += now - sampledAt
    sampledAt = now
    await fleet.sleep(50)
  }
  const largest = fleet.components().sort((a, b) => b.length - a.length)[0] ?? []
  const holder = holders[0]
  const note = `at most ${most} at once; none for ~${Math.round(emptyMs)} ms; now ${holder === undefined ? 'nowhere' : `on node ${holder.node} (epoch ${holder.epoch ?? '-'})`}`
  const problem = most > 1
    ? `ran on ${most} nodes at once (${note})`
    : holder === undefined || !largest.includes(holder.node) ? `does not run on one node of the largest component at the end (${note})` : undefined
  return { convergedMs: null, note, ...(problem === undefined ? {} : { problem }) }
}

/** The replicas of `service` that the live nodes' actuators run now, whatever the records say. */
function replicasNow (fleet: SimFleet, service: string): Array<{ resourceId: string, specHash: string, phase: string }> {
  return fleet.live().flatMap((i) => fleet.workloads(i)).filter((w) => w.resourceId.startsWith(`${service}@`))
}

/** Samples every 50 ms until the drained node runs nothing and each service runs what it wants. */
export async function drainStep (fleet: SimFleet, node: number, drain: Extract<Step, { drain: unknown }>['drain'], services: Map<string, ServiceSpec>): Promise<StepOutcome> {
  const start = fleet.now()
  const fewest = new Map<string, number>()
  const settled = (): boolean => {
    let done = fleet.workloads(node).length === 0
    for (const [name, service] of services) {
      const running = replicasNow(fleet, name).filter((w) => w.phase === 'running').length
      fewest.set(name, Math.min(fewest.get(name) ?? Infinity, running))
      if (service.replicas !== 'all' && running !== service.replicas) done = false
    }
    return done
  }
  let finishedMs: number | null = null
  while (finishedMs === null && fleet.now() - start < drain.within) {
    if (settled()) finishedMs = fleet.now() - start
    else await fleet.sleep(50)
  }
  const note = `fewest running: ${[...fewest].map(([name, count]) => `${name} ${count}`).join(', ')}${finishedMs === null ? '' : `; drained in ${Math.round(finishedMs)} ms`}`
  const short = Object.entries(drain.minAvailable ?? {}).find(([name, minimum]) => (fewest.get(name) ?? 0) < minimum)
  const problem = finishedMs === null ? `node ${node} not drained within ${drain.within} ms (${note})` : short === undefined ? undefined : `${short[0]} fell below ${short[1]} running (${note})`
  return { convergedMs: finishedMs, note, ...(problem === undefined ? {} : { problem }) }
}

/**
 * Watches a rollout from outside: every 50 ms, how many of the service's replicas run (any spec) and
 * how many run the newest spec, until all of them do (or, with `finishes: false`, for all of `within`).
 */
export async function rolloutStep (fleet: SimFleet, rollout: Extract<Step, { rollout: unknown }>['rollout'], services: Map<string, ServiceSpec>): Promise<StepOutcome> {
  const service = services.get(rollout.service)
  if (service === undefined) return { convergedMs: null, problem: `no service ${rollout.service} was applied` }
  if (rollout.reverts === true && service.previousWorkload === undefined) return { convergedMs: null, problem: `${rollout.service} has no previous workload to revert to` }
  const newHash = workloadHash(rollout.reverts === true ? service.previousWorkload as WorkloadSpec : service.workload)
  const failingHash = workloadHash(service.workload)
  let triedFailing = rollout.reverts !== true
  const wanted = service.replicas === 'all' ? null : service.replicas
  const start = fleet.now()
  let minAvailable = Infinity
  let onNew = 0
  let total = 0
  let finishedMs: number | null = null
  while (fleet.now() - start < rollout.within) {
    const replicas = replicasNow(fleet, rollout.service)
    // A revert counts once the failing spec was tried somewhere: before that, all on the old spec is the start.
    triedFailing ||= replicas.some((w) => w.specHash === failingHash)
    const available = replicas.filter((w) => w.phase === 'running')
    minAvailable = Math.min(minAvailable, available.length)
    onNew = available.filter((w) => w.specHash === newHash).length
    total = replicas.length
    if (onNew === available.length && onNew === total && (wanted === null || total === wanted) && finishedMs === null && triedFailing) {
      finishedMs = fleet.now() - start
      if (rollout.finishes !== false) break
    }
    await fleet.sleep(50)
  }
  const moved = replicasNow(fleet, rollout.service).filter((w) => w.specHash === newHash).length
  const budget = Math.max(1, maxUnavailableOf(service, wanted ?? total) + maxSurgeOf(service, wanted ?? total))
  const note = `min ${minAvailable} available; ${onNew} of ${total} on the ${rollout.reverts === true ? 'previous' : 'new'} spec and running${finishedMs === null ? `, ${moved} moved to it` : `, finished in ${Math.round(finishedMs)} ms`}`
  const problem = rollout.minAvailable !== undefined && minAvailable < rollout.minAvailable
    ? `only ${minAvailable} replicas available at one sample, fewer than ${rollout.minAvailable} (${note})`
    : rollout.finishes === false && (finishedMs !== null || moved > budget)
      ? `the rollout was expected to stop after ${budget} replica(s) (${note})`
      : rollout.finishes !== false && finishedMs === null ? `not rolled out within ${rollout.within} ms (${note})` : undefined
  return { convergedMs: finishedMs, note, ...(problem === undefined ? {} : { problem }) }
}
