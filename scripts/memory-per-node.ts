// Where an in-process node's memory goes: N nodes (the simulator's settings) form one component and
// come to rest; then, after a full GC, the process's memory growth since before the fleet, per node and
// broken down as V8 reports it (heap used, heap reserved but free, memory outside the heap), and with
// `--snapshot FILE` a heap snapshot to open in Chrome DevTools (Memory tab) to see what holds the heap.
//
//   node --expose-gc --import tsx scripts/memory-per-node.ts --nodes 100 [--snapshot /tmp/100.heapsnapshot]

import '../src/polyfill.ts'
import { parseArgs } from 'node:util'
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8'
import { fastNetConfig } from '../src/net/index.ts'
import { components, startFleet, stopFleet, waitFor } from '../src/testing/index.ts'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '100' }, snapshot: { type: 'string' }, 'rest-s': { type: 'string', default: '20' } } })
const n = Number(values.nodes)
if (!(n >= 2)) throw new Error('--nodes must be at least 2')
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc, so that garbage is not counted as memory in use')

gc()
const before = process.memoryUsage()
const fleet = await startFleet(n, (i) => ({ zone: `zone-${i % 3}` }), 'memory', { config: fastNetConfig })
const formedMs = await waitFor('one component', () => components(fleet).length === 1, 900_000, 100)
console.log(`${n} nodes: one component after ${(formedMs / 1000).toFixed(1)} s`)
await new Promise((resolve) => setTimeout(resolve, Number(values['rest-s']) * 1000))
// A full GC that also compacts, giving back the pages a busy spell (forming) left behind, as V8's
// memory reducer does in time for a process that goes idle. Without compaction, about 2.5 MB per node
// of the heap stays reserved and unused (measured at 100 nodes).
setFlagsFromString('--compact-on-every-full-gc')
gc()
const after = process.memoryUsage()
const perNodeMB = (field: keyof NodeJS.MemoryUsage): string => ((after[field] - before[field]) / n / 1e6).toFixed(2)
console.log(`${n} nodes at rest, per node after a full GC: RSS ${perNodeMB('rss')} MB = heap used ${perNodeMB('heapUsed')} MB` +
  ` + heap reserved, unused ${(((after.heapTotal - after.heapUsed) - (before.heapTotal - before.heapUsed)) / n / 1e6).toFixed(2)} MB` +
  ` + outside the heap (buffers ${perNodeMB('arrayBuffers')} MB of external ${perNodeMB('external')} MB, code, allocator)`)
if (values.snapshot !== undefined) console.log(`heap snapshot: ${writeHeapSnapshot(values.snapshot)}`)
await stopFleet(fleet)
process.exit(0)
