// Benchmark: the virtual network at fleet scale (issue 25's goals, first measurements).
//
//   npx tsx scripts/bench-virtual.ts [--nodes 1000] [--seed 1] [--degree 4] [--json]
//
// One fleet on the virtual network (sim/virtual/fleet.ts): form one component, apply 3 services, crash
// 1 % of the nodes, split the rest in halves, heal. For each step: virtual time to converge, wall time
// it took, and timers fired (events) per wall second; at the end the heap and RSS, and the trace hash
// (the same seed must give the same hash: run it twice).

import { parseArgs } from 'node:util'
import type { ServiceSpec } from '../src/core/index.ts'
import { VirtualFleet } from '../sim/virtual/fleet.ts'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    degree: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
  },
})
const count = Number(values.nodes)
const services: ServiceSpec[] = [
  { kind: 'Service', name: 'web', replicas: 6, selector: {}, spread: 'zone', slots: 1, workload: { kind: 'memory', startMs: 300 } },
  { kind: 'Service', name: 'api', replicas: 3, selector: {}, slots: 1, workload: { kind: 'memory', startMs: 100 } },
  { kind: 'Service', name: 'agent', replicas: 'all', selector: {}, slots: 1, workload: { kind: 'memory' } },
]

const wallStart = performance.now()
const fleet = await VirtualFleet.start({ nodes: count, seed: Number(values.seed), degree: Number(values.degree) })
const rows: Array<{ step: string, virtualMs: number | undefined, wallMs: number, events: number }> = []
async function step (name: string, act: () => void | Promise<void>, until: () => boolean, withinMs: number, stepMs: number): Promise<void> {
  const wall = performance.now()
  const events = fleet.clock.fired
  await act()
  const virtualMs = await fleet.runUntil(until, withinMs, stepMs)
  rows.push({ step: name, virtualMs, wallMs: performance.now() - wall, events: fleet.clock.fired - events })
  process.stderr.write(`${name}: ${virtualMs === undefined ? 'not within ' + withinMs + ' ms' : `${virtualMs} ms virtual`}, ${(performance.now() - wall).toFixed(0)} ms wall\n`)
}

const live = (): number[] => fleet.nodes.flatMap((node, i) => node.alive ? [i] : [])
await step('form one component', () => {}, () => fleet.componentCount() === 1 && fleet.converged(), 120_000, 100)
await step('apply 3 services', async () => { for (const service of services) await fleet.publish(service) },
  () => fleet.converged() && fleet.running('web') === 6 && fleet.running('api') === 3, 60_000, 20)
const crashed = Array.from({ length: Math.max(1, Math.floor(count / 100)) }, (_, i) => Math.floor((i + 0.5) * count / Math.max(1, Math.floor(count / 100))))
await step(`crash ${crashed.length} node(s) (1 %)`, async () => { for (const index of crashed) await fleet.crash(index) },
  () => fleet.converged() && fleet.running('web') === 6 && fleet.running('api') === 3, 60_000, 20)
await step('partition in halves', async () => {
  const alive = live()
  await fleet.partition([alive.slice(0, alive.length / 2), alive.slice(alive.length / 2)])
}, () => fleet.componentCount() === 2 && fleet.converged(), 60_000, 50)
await step('heal', async () => { await fleet.heal() }, () => fleet.componentCount() === 1 && fleet.converged(), 60_000, 50)
const wallMs = performance.now() - wallStart
const memory = process.memoryUsage()
const trace = fleet.traceHash()
const totalEvents = fleet.clock.fired
await fleet.stop()

if (values.json === true) {
  process.stdout.write(JSON.stringify({ nodes: count, seed: Number(values.seed), rows, wallMs, events: totalEvents, heapMB: memory.heapUsed / 2 ** 20, rssMB: memory.rss / 2 ** 20, trace }) + '\n')
} else {
  process.stdout.write(`\nvirtual network, ${count} nodes, seed ${values.seed}, degree ${values.degree} (this machine: 2 cores)\n`)
  process.stdout.write('| step | virtual time to converge | wall time | events | events per wall second |\n|---|---|---|---|---|\n')
  for (const row of rows) {
    process.stdout.write(`| ${row.step} | ${row.virtualMs === undefined ? 'did not' : `${row.virtualMs} ms`} | ${row.wallMs.toFixed(0)} ms | ${row.events} | ${(row.events / row.wallMs * 1_000).toFixed(0)} |\n`)
  }
  process.stdout.write(`whole run: ${(wallMs / 1_000).toFixed(1)} s wall, ${totalEvents} events, heap ${(memory.heapUsed / 2 ** 20).toFixed(0)} MB, RSS ${(memory.rss / 2 ** 20).toFixed(0)} MB, trace ${trace}\n`)
}
