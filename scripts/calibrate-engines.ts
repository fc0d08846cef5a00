// Calibration (issue 25): the same steps on both engines, side by side — the libp2p engine (real
// libp2p and gossipsub in one process, wall time) and the virtual network (virtual time).
//
//   npx tsx scripts/calibrate-engines.ts [--nodes 20,50] [--rounds 3] [--processing-ms 0] [--shared-processor]
//                                        [--engines libp2p,virtual] [--json]
//
// Steps, each from a fleet at rest: a 3-replica service applied → converged; the host of a replica
// crashed → converged again (re-placed); the live nodes split in halves and healed after the dead
// interval has passed → one converged component again. The figure is the median over rounds (one
// fresh fleet per round, seeds 1..rounds for the virtual one); the ratio virtual / libp2p is what the
// network model is tuned by (goal: each within 1.5×).

import { parseArgs } from 'node:util'
import '../src/polyfill.ts'
import type { ServiceSpec } from '../src/core/index.ts'
import { fastNetConfig } from '../src/net/config.ts'
import { components, converged, crashNode, heal, partition, startFleet, stopFleet, waitFor, waitForFleet, type Fleet } from '../src/testing/index.ts'
import { originationsQuietFor } from '../sim/fleet.ts'
import { VirtualFleet } from '../sim/virtual/fleet.ts'
import { defaultNetworkModel } from '../sim/virtual/network.ts'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20,50' },
    rounds: { type: 'string', default: '3' },
    // The virtual network's processing cost per message, and whether its nodes share one processor.
    'processing-ms': { type: 'string', default: '0' },
    'shared-processor': { type: 'boolean', default: false },
    engines: { type: 'string', default: 'libp2p,virtual' },
    json: { type: 'boolean', default: false },
  },
})
const sizes = (values.nodes ?? '20,50').split(',').map(Number)
const rounds = Number(values.rounds)
const engines = new Set((values.engines ?? '').split(','))
const model = { ...defaultNetworkModel, processingMs: Number(values['processing-ms']), sharedProcessor: values['shared-processor'] === true }
const web = (version: number): ServiceSpec => ({ kind: 'Service', name: 'web', replicas: 3, selector: {}, slots: 1, workload: { kind: 'memory', version } })
const steps = ['apply → converged', 'crash → re-placed', 'heal → one view'] as const
type Figures = Record<typeof steps[number], number>
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

function webHost (running: (i: number) => boolean, count: number): number {
  for (let i = 0; i < count; i++) if (running(i)) return i
  throw new Error('no host of web')
}

async function libp2pRound (count: number): Promise<Figures> {
  const fleet: Fleet = await startFleet(count, (i) => ({ zone: `zone-${i % 3}` }))
  try {
    await waitForFleet(fleet, 'one component', () => components(fleet).length === 1 && converged(fleet), 180_000)
    await sleep(2_000) // at rest
    const operator = fleet.mesh.operator
    const started = performance.now()
    await fleet.mesh.nodes[0]!.publish((await operator.sign(web(1))).envelope)
    await waitFor('web placed', () => converged(fleet) && runningWeb(fleet) === 3, 60_000, 5)
    const apply = performance.now() - started
    await sleep(2_000)
    const host = webHost((i) => fleet.actuators[i]!.workloadsNow().some((w) => w.resourceId.startsWith('web@')), count)
    const crashedAt = performance.now()
    await crashNode(fleet, host)
    await waitFor('web re-placed', () => converged(fleet) && runningWeb(fleet) === 3, 60_000, 5)
    const crash = performance.now() - crashedAt
    await sleep(2_000)
    const live = [...fleet.live].sort((a, b) => a - b)
    const halves = [live.slice(0, live.length / 2), live.slice(live.length / 2)].map((group) => group.map((i) => fleet.mesh.nodes[i]!))
    await partition(halves)
    await waitFor('split seen', () => components(fleet).length === 2 && converged(fleet), 60_000, 20)
    const healedAt = performance.now()
    heal(fleet.mesh.nodes)
    await waitFor('healed', () => components(fleet).length === 1 && converged(fleet), 60_000, 5)
    return { 'apply → converged': apply, 'crash → re-placed': crash, 'heal → one view': performance.now() - healedAt }
  } finally {
    await stopFleet(fleet)
  }
}

function runningWeb (fleet: Fleet): number {
  return [...fleet.live].flatMap((i) => fleet.actuators[i]!.workloadsNow()).filter((w) => w.resourceId.startsWith('web@') && w.phase === 'running').length
}

async function virtualRound (count: number, seed: number): Promise<Figures> {
  const fleet = await VirtualFleet.start({ nodes: count, seed, degree: 1, model })
  try {
    await fleet.runUntil(() => fleet.componentCount() === 1 && fleet.converged(), 180_000, 50)
    // At rest, as the libp2p fleet is after its 2 s (its nodes start one by one, in wall time; these
    // all at once, and still dial up to minNeighbours for a few rounds after one component).
    await fleet.runUntil(originationsQuietFor(fleet, 2_000), 120_000, 50)
    await fleet.publish(web(1))
    const apply = await fleet.runUntil(() => fleet.converged() && fleet.running('web') === 3, 60_000, 1) as number
    await fleet.clock.advance(2_000)
    const host = webHost((i) => fleet.nodes[i]!.alive && fleet.nodes[i]!.localState.resources.some((r) => r.id.startsWith('web@')), count)
    await fleet.crash(host)
    const crash = await fleet.runUntil(() => fleet.converged() && fleet.running('web') === 3, 60_000, 1) as number
    await fleet.clock.advance(2_000)
    const live = fleet.nodes.flatMap((node, i) => node.alive ? [i] : [])
    await fleet.partition([live.slice(0, live.length / 2), live.slice(live.length / 2)])
    await fleet.runUntil(() => fleet.componentCount() === 2 && fleet.converged(), 60_000, 20)
    await fleet.heal()
    const healed = await fleet.runUntil(() => fleet.componentCount() === 1 && fleet.converged(), 60_000, 1) as number
    return { 'apply → converged': apply, 'crash → re-placed': crash, 'heal → one view': healed }
  } finally {
    await fleet.stop()
  }
}

const results: Array<{ nodes: number, step: string, libp2pMs: number, virtualMs: number }> = []
const noFigures: Figures = { 'apply → converged': Number.NaN, 'crash → re-placed': Number.NaN, 'heal → one view': Number.NaN }
for (const count of sizes) {
  const libp2p: Figures[] = []
  const virtual: Figures[] = []
  for (let round = 0; round < rounds; round++) {
    libp2p.push(engines.has('libp2p') ? await libp2pRound(count) : noFigures)
    virtual.push(engines.has('virtual') ? await virtualRound(count, round + 1) : noFigures)
    process.stderr.write(`${count} nodes, round ${round + 1}: libp2p ${JSON.stringify(libp2p.at(-1))}, virtual ${JSON.stringify(virtual.at(-1))}\n`)
  }
  for (const step of steps) results.push({ nodes: count, step, libp2pMs: median(libp2p.map((f) => f[step])), virtualMs: median(virtual.map((f) => f[step])) })
}

if (values.json === true) process.stdout.write(JSON.stringify({ rounds, deadIntervalMs: fastNetConfig.deadIntervalMs, results }) + '\n')
else {
  process.stdout.write(`\nboth engines, median of ${rounds} (libp2p: wall time in one process; virtual: virtual time, ` +
    `processing ${model.processingMs} ms a message${model.sharedProcessor ? ' on one shared processor' : ''})\n`)
  process.stdout.write('| nodes | step | libp2p engine | virtual network | virtual / libp2p |\n|---|---|---|---|---|\n')
  for (const row of results) process.stdout.write(`| ${row.nodes} | ${row.step} | ${row.libp2pMs.toFixed(0)} ms | ${row.virtualMs.toFixed(0)} ms | ${(row.virtualMs / row.libp2pMs).toFixed(2)} |\n`)
}
process.exit(0)
