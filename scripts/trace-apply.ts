// Where the time of one small change goes: N nodes in one process (the simulator's settings), a
// 3-replica service's workload changed `--rounds` times, and for each round a timeline: when the policy
// reached the nodes, when the three hosts acted, when each host's new record reached how many nodes,
// when the fleet was judged converged, and the longest the event loop was held meanwhile.
//
//   npm run trace:apply -- --nodes 50 --rounds 5 [--profile /tmp/apply.cpuprofile] [--heap-profile /tmp/apply.heapprofile] [--net '{"gossipMeshDegree": 4}']
//
// With `--profile`, each round from the apply to converged (not forming, not the waits for rest) is
// CPU-profiled every 100 µs: the slowest round's profile is written to the file (it opens in Chrome
// DevTools), and over all rounds the functions that took the most time of their own are printed, and
// the time spent inside each of Shoal's own functions (src/), callees included. With `--heap-profile`,
// what the rounds allocate is sampled (V8's sampling heap profiler, garbage included): the places that
// allocated the most are printed.
//
// It is what showed that the three hosts' records do not flood side by side in one process: each
// flood runs to its end in microtasks (the memory transport delivers without a timer), so the next
// host's origination timer fires only after it; a change costs about four floods of CPU back to back.

import '../src/polyfill.ts'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { Session } from 'node:inspector/promises'
import { writeFileSync } from 'node:fs'
import type { ShoalRecord } from '../src/core/index.ts'
import { fastNetConfig, type NetConfig } from '../src/net/index.ts'
import { components, converged, runningResources, startFleet, stopFleet, waitFor, waitForFleet, waitForRest } from '../src/testing/index.ts'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '50' }, rounds: { type: 'string', default: '5' }, profile: { type: 'string' }, 'heap-profile': { type: 'string' }, net: { type: 'string', default: '{}' } } })
const n = Number(values.nodes)
const rounds = Number(values.rounds)
if (!(n >= 4) || !(rounds >= 1)) throw new Error('--nodes must be at least 4 and --rounds at least 1')

const fleet = await startFleet(n, (i) => ({ zone: `zone-${i % 3}` }), 'memory', { config: { ...fastNetConfig, ...JSON.parse(values.net) as Partial<NetConfig> } })
await waitFor('one component', () => components(fleet).length === 1, 300_000, 100)
const operator = fleet.mesh.operator
const webHosts = (): number[] => [...fleet.live].filter((i) => runningResources(fleet, [i]).some((id) => id.startsWith('web@')))
const applyWeb = async (round: number): Promise<void> => {
  const signed = await operator.sign({ kind: 'Service', name: 'web', replicas: 3, selector: {}, slots: 1, workload: { kind: 'memory', round } })
  await fleet.mesh.nodes[round % n]!.publish(signed.envelope)
}
await applyWeb(0)
await waitFor('web placed', () => converged(fleet) && webHosts().length === 3, 300_000, 10)
// Every round from rest: a fixed pause left 200 nodes in forming's repair traffic, and one round's
// status floods ran inside the next round.
console.log(`at rest ${((await waitForRest(fleet, 600_000)) / 1_000).toFixed(1)} s after the first placement`)

let t0: number | undefined
const since = (): number => performance.now() - (t0 ?? 0)
const policyArrivals: number[] = []
const recordArrivals = new Map<string, number[]>()
const acted: string[] = []
fleet.mesh.nodes.forEach((node, i) => {
  node.on('record:merged', (record: ShoalRecord) => {
    if (t0 === undefined) return
    if (record.kind === 'policy') policyArrivals.push(since())
    else recordArrivals.set(record.nodeId, [...(recordArrivals.get(record.nodeId) ?? []), since()])
  })
  fleet.reconcilers[i]!.on('actions:applied', (actions) => {
    if (t0 !== undefined) acted.push(`${since().toFixed(0)} ms: node ${i} ${actions.map((action) => action.kind).join(', ')}`)
  })
})
const spread = (times: number[]): string => {
  const sorted = [...times].sort((a, b) => a - b)
  return `${sorted.length} nodes, first ${sorted[0]?.toFixed(0)} ms, median ${sorted[sorted.length >> 1]?.toFixed(0)} ms, last ${sorted.at(-1)?.toFixed(0)} ms`
}

const profiler = values.profile === undefined ? undefined : new Session()
if (profiler !== undefined) {
  profiler.connect()
  await profiler.post('Profiler.enable')
  await profiler.post('Profiler.setSamplingInterval', { interval: 100 })
}
const profileTimes = { self: new Map<string, number>(), inclusive: new Map<string, number>(), totalMs: 0 }
let slowestRound: { ms: number, profile: CpuProfile } | undefined
const heapProfiler = values['heap-profile'] === undefined ? undefined : new Session()
if (heapProfiler !== undefined) {
  heapProfiler.connect()
  // Samples kept after they are collected too: the garbage is what the GC time is spent on.
  await heapProfiler.post('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
}
for (let round = 1; round <= rounds; round++) {
  policyArrivals.length = 0
  recordArrivals.clear()
  acted.length = 0
  let longestHoldMs = 0
  let tick = performance.now()
  const lag = setInterval(() => { const now = performance.now(); longestHoldMs = Math.max(longestHoldMs, now - tick); tick = now }, 1)
  if (profiler !== undefined) await profiler.post('Profiler.start')
  t0 = performance.now()
  await applyWeb(round)
  const convergedMs = since() + await waitForFleet(fleet, 'converged', () => converged(fleet) && webHosts().length === 3, 60_000)
  if (profiler !== undefined) {
    const { profile } = await profiler.post('Profiler.stop') as { profile: CpuProfile }
    addTimes(profileTimes, profile)
    if (slowestRound === undefined || convergedMs > slowestRound.ms) slowestRound = { ms: convergedMs, profile }
  }
  clearInterval(lag)
  t0 = undefined
  console.log(`round ${round}: converged in ${convergedMs.toFixed(0)} ms; event loop held up to ${longestHoldMs.toFixed(0)} ms at once`)
  console.log(`  policy reached ${spread(policyArrivals)}`)
  for (const line of acted) console.log(`  ${line}`)
  for (const [nodeId, times] of recordArrivals) console.log(`  record of …${nodeId.slice(-6)} reached ${spread(times)}`)
  await waitForRest(fleet, 600_000)
}
if (profiler !== undefined && slowestRound !== undefined) {
  writeFileSync(values.profile as string, JSON.stringify(slowestRound.profile))
  printTimes(profileTimes, rounds)
}
if (heapProfiler !== undefined) {
  const { profile } = await heapProfiler.post('HeapProfiler.stopSampling')
  writeFileSync(values['heap-profile'] as string, JSON.stringify(profile))
  printAllocations(profile)
}
await stopFleet(fleet)
process.exit(0)

interface CpuProfile { nodes: Array<{ id: number, callFrame: CallFrame, children?: number[] }>, samples?: number[], timeDeltas?: number[] }

/** Adds one profile's samples: to each frame's time of its own, and to each of Shoal's frames on the stack. */
function addTimes (times: typeof profileTimes, profile: CpuProfile): void {
  const nodeById = new Map(profile.nodes.map((node) => [node.id, node]))
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)
  const add = (map: Map<string, number>, name: string, ms: number): void => { map.set(name, (map.get(name) ?? 0) + ms) }
  profile.samples?.forEach((id, i) => {
    const ms = (profile.timeDeltas?.[i] ?? 0) / 1_000
    times.totalMs += ms
    const frame = nodeById.get(id)?.callFrame
    add(times.self, frame === undefined ? '?' : frameName(frame), ms)
    const onStack = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const stackFrame = nodeById.get(at)?.callFrame
      if (stackFrame !== undefined && stackFrame.url.includes('/src/') && !stackFrame.url.includes('node_modules')) onStack.add(frameName(stackFrame))
    }
    for (const name of onStack) add(times.inclusive, name, ms)
  })
}

function printTimes (times: typeof profileTimes, roundCount: number): void {
  const top = (map: Map<string, number>): string[] => [...map].sort((a, b) => b[1] - a[1]).slice(0, 25)
    .map(([name, ms]) => `  ${(ms / roundCount).toFixed(2).padStart(7)} ms  ${name}`)
  console.log(`profile: ${(times.totalMs / roundCount).toFixed(1)} ms sampled per round; per round, most time of their own:`)
  console.log(top(times.self).join('\n'))
  console.log('per round, inside Shoal\'s own functions (callees included):')
  console.log(top(times.inclusive).join('\n'))
}

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface AllocationNode { callFrame: CallFrame, selfSize: number, children: AllocationNode[] }

/** A profile's frame as `function package/file:line`, as both printouts name it. */
function frameName (frame: CallFrame): string {
  return `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/src\//, 'src/')}:${frame.lineNumber + 1}`
}

/** The functions that allocated the most over the profiled rounds (sampled, so approximate). */
function printAllocations (profile: { head: AllocationNode }): void {
  const bytes = new Map<string, number>()
  let total = 0
  const visit = (node: AllocationNode): void => {
    const name = frameName(node.callFrame)
    bytes.set(name, (bytes.get(name) ?? 0) + node.selfSize)
    total += node.selfSize
    node.children.forEach(visit)
  }
  visit(profile.head)
  console.log(`heap profile: ${(total / 1e6).toFixed(0)} MB allocated (sampled); most allocated by:`)
  for (const [name, size] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${(size / 1e6).toFixed(1).padStart(7)} MB  ${name}`)
}
