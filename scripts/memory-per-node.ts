// Where an in-process node's memory goes: N nodes (the simulator's settings) form one component and
// come to rest; then, after a full GC, the process's memory growth since before the fleet, per node and
// broken down as V8 reports it (heap used, heap reserved but free, memory outside the heap), and with
// `--snapshot FILE` a heap snapshot (open it in Chrome DevTools, Memory tab) and the constructors holding most of it.
//
//   node --expose-gc --import tsx scripts/memory-per-node.ts --nodes 100 [--snapshot /tmp/100.heapsnapshot]

import '../src/polyfill.ts'
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
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
if (values.snapshot !== undefined) {
  const file = writeHeapSnapshot(values.snapshot)
  console.log(`heap snapshot: ${file}; what holds the heap, by constructor (self sizes, per node):`)
  for (const [name, bytes, count] of largestConstructors(file, 25)) console.log(`  ${(bytes / n / 1e3).toFixed(1).padStart(8)} KB  ${String(Math.round(count / n)).padStart(7)} ×  ${name}`)
}
await stopFleet(fleet)
process.exit(0)

/** The constructors (or node types) whose objects' self sizes add up to the most in a heap snapshot. */
function largestConstructors (file: string, top: number): Array<[string, number, number]> {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[], node_types: [string[]] } }, nodes: number[], strings: string[] }
  const fields = snapshot.snapshot.meta.node_fields
  const types = snapshot.snapshot.meta.node_types[0]
  const [typeAt, nameAt, sizeAt] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')]
  const totals = new Map<string, [number, number]>()
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeAt] as number] as string
    const name = type === 'object' || type === 'closure' ? `${snapshot.strings[snapshot.nodes[i + nameAt] as number]} (${type})` : `(${type})`
    const total = totals.get(name) ?? [0, 0]
    total[0] += snapshot.nodes[i + sizeAt] as number
    total[1]++
    totals.set(name, total)
  }
  return [...totals].map(([name, [bytes, count]]): [string, number, number] => [name, bytes, count]).sort((a, b) => b[1] - a[1]).slice(0, top)
}
