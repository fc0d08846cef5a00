// Does a fleet come to rest? N nodes in one process (the simulator's settings) form one component, then
// every 10 s this prints what the whole fleet did meanwhile: records originated, connections opened and
// closed, links declared dead, sync failures, connected peers and bytes received per node, and how late the
// 10 s timer fired (how held up the shared event loop was). A fleet at rest shows zeros and a timer on time.
//
//   npm run watch:rest -- --nodes 100 --seconds 120
//
// It is what showed 100 nodes never coming to rest (each late dead-interval check declared live links
// dead, and the reconnects fed the load that made the checks late); docs/benchmarks.md has the story.

import '../src/polyfill.ts'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { fastNetConfig } from '../src/net/index.ts'
import { components, startFleet, stopFleet, waitFor } from '../src/testing/index.ts'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '100' }, seconds: { type: 'string', default: '120' } } })
const n = Number(values.nodes)
const seconds = Number(values.seconds)
if (!(n >= 2) || !(seconds >= 10)) throw new Error('--nodes must be at least 2 and --seconds at least 10')

type Counted = 'originated' | 'connectionsOpened' | 'connectionsClosed' | 'linksDeclaredDead' | 'syncFailures'
const counted: Counted[] = ['originated', 'connectionsOpened', 'connectionsClosed', 'linksDeclaredDead', 'syncFailures']

const fleet = await startFleet(n, (i) => ({ zone: `zone-${i % 3}` }), 'memory', { config: fastNetConfig })
const t0 = performance.now()
const elapsedS = (): string => `${((performance.now() - t0) / 1000).toFixed(0)} s`
await waitFor('one component', () => components(fleet).length === 1, 900_000, 100)
console.log(`${n} nodes: one component at ${elapsedS()}`)

const totals = (): Record<Counted, number> => {
  const sums = Object.fromEntries(counted.map((key) => [key, 0])) as Record<Counted, number>
  for (const node of fleet.mesh.nodes) for (const key of counted) sums[key] += node.counters[key]
  return sums
}
const bytesIn = (): number => fleet.mesh.nodes.reduce((sum, node) => sum + node.traffic().bytesIn, 0)
let previous = totals()
let previousBytes = bytesIn()
for (let window = 0; window < Math.floor(seconds / 10); window++) {
  const started = performance.now()
  await new Promise((resolve) => setTimeout(resolve, 10_000))
  const lateMs = performance.now() - started - 10_000
  const now = totals()
  const meanConnections = fleet.mesh.nodes.reduce((sum, node) => sum + node.connectedPeers().length, 0) / n
  const bytes = bytesIn()
  const bytesPerNodeS = (bytes - previousBytes) / n / ((performance.now() - started) / 1000)
  const changes = counted.map((key) => `${key} +${now[key] - previous[key]}`).join(', ')
  console.log(`${elapsedS()}: timer late ${lateMs.toFixed(0)} ms, ${meanConnections.toFixed(1)} connected peers and ${bytesPerNodeS.toFixed(0)} B/s received per node; ${changes}`)
  previous = now
  previousBytes = bytes
}
await stopFleet(fleet)
process.exit(0)
