// Benchmark: computeView for 1,000 nodes × 1,000 services (mixed replicas, selectors, spread).
// Goal (issue 2): under 50 ms per full computation on a 2-core machine.
//
//   npm run bench:placement              # default sizes
//   npm run bench:placement -- 2000 500  # nodes services
//
// Prints the median, p90 and worst of repeated runs, cold (no workload running: every replica placed
// by ranking) and warm (every node reports running its share: incumbents kept, the steady state).
// Before each timed run one service's workload changes (a new policy version): computeView caches a
// view per database revision and shares it between databases with the same inputs, so asking again
// for an unchanged database measures a lookup. Until 2026-12-02 this benchmark did that (0.0 ms).

import '../src/polyfill.ts'
import { performance } from 'node:perf_hooks'
import { computeView, RecordDB, type NodeRecord, type PolicyFragment, type ServiceSpec, type TargetView } from '../src/core/index.ts'

const nodeCount = Number(process.argv[2] ?? 1_000)
const serviceCount = Number(process.argv[3] ?? 1_000)
const repetitions = Number(process.argv[4] ?? 30)

// A seeded generator, so that every run of the benchmark measures the same cluster.
let seed = 42
function random (): number {
  seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0
  return seed / 2 ** 32
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T

const roles = ['web', 'db', 'cache', 'edge', 'batch']
const ids = Array.from({ length: nodeCount }, (_, i) => `12D3KooWnode${String(i).padStart(6, '0')}`)

function nodeRecords (running?: TargetView): NodeRecord[] {
  return ids.map((nodeId, i) => ({
    kind: 'node',
    nodeId,
    version: { generation: 1, seq: running === undefined ? 1 : 2 },
    originatedAtMs: 0,
    addresses: [`/ip4/127.0.0.1/tcp/${10_000 + i}`],
    labels: { role: roles[i % roles.length] as string, zone: `zone-${i % 3}`, rack: `rack-${i % 40}` },
    slots: 64,
    // A ring with chords: every node has 8 two-way adjacencies, so the whole cluster is one component.
    adjacencies: [1, 2, 3, 4].flatMap((step) => [ids[(i + step) % nodeCount], ids[(i - step + nodeCount) % nodeCount]]) as string[],
    resources: (running?.byNode.get(nodeId) ?? []).map((a) => ({ id: a.resourceId, phase: 'running' as const, specHash: a.specHash, restarts: 0 })),
    viewHash: '',
    policyDigest: '',
  }))
}

function services (): ServiceSpec[] {
  return Array.from({ length: serviceCount }, (_, i): ServiceSpec => {
    const shape = random()
    const base = { kind: 'Service' as const, name: `svc-${i}`, slots: 1 + Math.floor(random() * 2), workload: { kind: 'process', command: 'node', args: [`app-${i}.js`] } }
    if (shape < 0.05) return { ...base, replicas: 'all', selector: { role: 'edge' } } // ~200 nodes each
    if (shape < 0.35) return { ...base, replicas: 1 + Math.floor(random() * 5), selector: {}, spread: 'zone' }
    if (shape < 0.7) return { ...base, replicas: 1 + Math.floor(random() * 5), selector: { role: pick(roles) } }
    return { ...base, replicas: 1 + Math.floor(random() * 5), selector: {} }
  })
}

function buildDb (records: NodeRecord[], specs: ServiceSpec[]): RecordDB {
  const db = new RecordDB()
  for (const record of records) db.merge(record)
  for (const spec of specs) db.merge(servicePolicy(spec, 1))
  return db
}

function servicePolicy (spec: ServiceSpec, wallMs: number): PolicyFragment {
  return { kind: 'policy', policyKind: 'Service', name: spec.name, version: { hlc: { wallMs, counter: 0 }, signer: 'op' }, body: spec }
}

const json = process.argv.includes('--json')
const figures: Record<string, number> = {}

function measure (label: string, db: RecordDB, specs: readonly ServiceSpec[]): TargetView {
  // A changed workload of one service, as an operator's apply would: the view must be computed anew.
  let change = 0
  const changeOneService = (): void => {
    change++
    const spec = specs[change % specs.length] as ServiceSpec
    db.merge(servicePolicy({ ...spec, workload: { ...spec.workload, args: [`${spec.name}-change-${change}.js`] } }, 1 + change))
  }
  changeOneService()
  let view = computeView(db, ids[0] as string) // warm-up (JIT)
  for (let i = 0; i < 3; i++) { changeOneService(); view = computeView(db, ids[0] as string) }
  const timesMs: number[] = []
  for (let i = 0; i < repetitions; i++) {
    changeOneService()
    const start = performance.now()
    view = computeView(db, ids[0] as string)
    timesMs.push(performance.now() - start)
  }
  timesMs.sort((a, b) => a - b)
  const at = (q: number): string => (timesMs[Math.min(timesMs.length - 1, Math.floor(q * timesMs.length))] as number).toFixed(1)
  figures[`${label}MedianMs`] = Number(at(0.5))
  figures[`${label}P99Ms`] = Number((timesMs[Math.min(timesMs.length - 1, Math.ceil(0.99 * timesMs.length) - 1)] as number).toFixed(1))
  if (!json) console.log(`${label.padEnd(6)} median ${at(0.5)} ms   p90 ${at(0.9)} ms   worst ${at(1)} ms   (${repetitions} runs, ${view.assignments.length} resources, ${view.shortfalls.length} short)`)
  return view
}

const specs = services()
if (!json) console.log(`computeView: ${nodeCount} nodes × ${serviceCount} services, node ${process.version}`)
const cold = measure('cold', buildDb(nodeRecords(), specs), specs)
measure('warm', buildDb(nodeRecords(cold), specs), specs)
if (json) console.log(JSON.stringify({ nodes: nodeCount, services: serviceCount, ...figures }))
