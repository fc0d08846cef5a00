// `npm run bench`: every benchmark of issue 6, each in its own process (so that memory figures and a
// 200-node fleet do not share a heap), gathered into one table, printed and written to
// docs/benchmarks.md with the machine, the date and the command.
//
//   npm run bench                         # N = 10, 50, 200 in one process; 5 daemons; computeView
//   npm run bench -- --sizes 10,50 --rounds 5 --daemons 5 --out docs/benchmarks.md
//
// Takes about 10–15 minutes on 2 cores. The figures are wall-clock: run it on a quiet machine.

import { parseArgs } from 'node:util'
import { execFileSync } from 'node:child_process'
import { cpus, totalmem } from 'node:os'
import { readFileSync, writeFileSync } from 'node:fs'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,50,200' },
    rounds: { type: 'string', default: '7' },
    daemons: { type: 'string', default: '5' },
    out: { type: 'string', default: 'docs/benchmarks.md' },
  },
})
const sizes = (values.sizes ?? '').split(',').map(Number).filter((size) => size > 0)
type Figures = Record<string, number | string | null>

/** Node flags for every benchmark process: --expose-gc lets bench-fleet measure memory after a full GC. */
const nodeFlags = ['--expose-gc']

/** Runs one benchmark script with `--json`; its progress goes to our stderr, its figures come back. */
function run (script: string, args: string[]): Figures | undefined {
  process.stderr.write(`\n$ tsx scripts/${script} ${args.join(' ')}\n`)
  try {
    const out = execFileSync(process.execPath, [...nodeFlags, '--import', 'tsx', `scripts/${script}`, ...args, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 })
    const last = out.trim().split('\n').at(-1) ?? ''
    return JSON.parse(last) as Figures
  } catch (error) {
    process.stderr.write(`${script} failed: ${(error as Error).message.split('\n')[0]}\n`)
    return undefined
  }
}

const placement = run('bench-placement.ts', ['1000', '1000', '30'])
const fleets = new Map<number, Figures | undefined>()
// Above 50 nodes a round takes tens of seconds: fewer rounds (p99 is then the worst of them).
// Above 50 nodes, `bench-fleet` skips every-node-floods-at-once (minutes at 200: the table shows —).
for (const size of sizes) fleets.set(size, run('bench-fleet.ts', ['--nodes', String(size), '--rounds', size > 50 ? '3' : values.rounds ?? '7', ...(size === 50 ? ['--split-ms', '30000'] : [])]))
const daemons = run('bench-daemons.ts', ['--daemons', values.daemons ?? '5', '--rounds', values.rounds ?? '7', '--kills', '3'])

const ms = (value: unknown): string => (typeof value === 'number' ? (value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value} ms`) : '—')
const fleet = (size: number, key: string, format: (value: unknown) => string = ms): string => format(fleets.get(size)?.[key])
const pair = (size: number, first: string, second: string): string => (fleets.get(size)?.[first] === undefined ? '—' : `${fleet(size, first)} / ${fleet(size, second)}`)
const row = (figure: string, cells: string[], target: string): string => `| ${figure} | ${cells.join(' | ')} | ${target} |`
const plain = (unit: string) => (value: unknown): string => (typeof value === 'number' ? `${value}${unit}` : typeof value === 'string' ? value : '—')

const header = `| figure | ${sizes.map((size) => `${size} nodes`).join(' | ')} | target |`
const lines = [
  header,
  `|---|${sizes.map(() => '---|').join('')}---|`,
  row('form one component (start → one component)', sizes.map((s) => fleet(s, 'formMs')), ''),
  row('settle after forming (until at rest: waitForRest)', sizes.map((s) => fleet(s, 'settleMs')), ''),
  row('apply (`replicas: all` changed: every node acts) → converged, median', sizes.map((s) => fleet(s, 'applyMedianMs')), ''),
  row('apply (`replicas: all`) → converged, p99', sizes.map((s) => fleet(s, 'applyP99Ms')), '50: < 300 ms; 200: < 1 s'),
  row('apply (3-replica service changed) → converged, median', sizes.map((s) => fleet(s, 'apply3MedianMs')), ''),
  row('apply (3-replica service changed) → converged, p99', sizes.map((s) => fleet(s, 'apply3P99Ms')), '50: < 300 ms; 200: < 1 s'),
  row('apply (`replicas: all`) → confirmed (every node\'s database says so), median / p99', sizes.map((s) => pair(s, 'applyConfirmedMedianMs', 'applyConfirmedP99Ms')), ''),
  row('apply (3-replica) → confirmed, median / p99', sizes.map((s) => pair(s, 'apply3ConfirmedMedianMs', 'apply3ConfirmedP99Ms')), ''),
  row('floor: every node floods one record-sized gossipsub message, median', sizes.map((s) => fleet(s, 'floorAllMedianMs')), ''),
  row('floor: one gossipsub broadcast, median', sizes.map((s) => fleet(s, 'floorOneMedianMs')), ''),
  row('floor: one broadcast, and three nodes it reaches broadcast one each (a 3-replica change\'s traffic), median', sizes.map((s) => fleet(s, 'floorChainMedianMs')), ''),
  row('`replicas: all` apply → converged / one broadcast (the policy reaching every node)', sizes.map((s) => fleet(s, 'applyOverFloor', plain(' ×'))), '< 1.5'),
  row('3-replica apply → converged / one broadcast', sizes.map((s) => fleet(s, 'apply3OverFloor', plain(' ×'))), '< 1.5'),
  row('`replicas: all` apply → confirmed / every node flooding one', sizes.map((s) => fleet(s, 'applyConfirmedOverFloor', plain(' ×'))), ''),
  row('3-replica apply → confirmed / one broadcast and three answers', sizes.map((s) => fleet(s, 'apply3ConfirmedOverFloor', plain(' ×'))), ''),
  row('crash (node stopped) → replica elsewhere, converged, median', sizes.map((s) => fleet(s, 'crashMedianMs')), '< 1 s'),
  row('crash → confirmed, median', sizes.map((s) => fleet(s, 'crashConfirmedMedianMs')), ''),
  row('hang (node stalled for good) → replica elsewhere', sizes.map((s) => fleet(s, 'hangMs')), '< 4 s'),
  row('500 ms stall → what moved', sizes.map((s) => fleet(s, 'stall500Moved', plain(''))), 'nothing'),
  row('heal after a 30 s split in halves → reconverged', sizes.map((s) => fleet(s, 'healAfterSplitMs')), '50: < 3 s'),
  row('heal after a 30 s split → confirmed', sizes.map((s) => fleet(s, 'healConfirmedMs')), ''),
  row('traffic per node at rest (received)', sizes.map((s) => fleet(s, 'restBytesPerNodePerS', plain(' B/s'))), '50: < 2 KB/s'),
  row('traffic per node during applies (received)', sizes.map((s) => fleet(s, 'changeBytesPerNodePerS', plain(' B/s'))), ''),
  row('CPU per node at rest', sizes.map((s) => fleet(s, 'restCpuPerNodePct', plain(' % of a core'))), ''),
  row('memory per node: RSS', sizes.map((s) => fleet(s, 'rssPerNodeMB', plain(' MB'))), '200: < 5 MB'),
  row('memory per node: heap', sizes.map((s) => fleet(s, 'heapPerNodeMB', plain(' MB'))), ''),
  row('memory per node after a full GC: RSS', sizes.map((s) => fleet(s, 'rssAfterGcPerNodeMB', plain(' MB'))), '200: < 5 MB'),
  row('memory per node after a full GC: heap', sizes.map((s) => fleet(s, 'heapAfterGcPerNodeMB', plain(' MB'))), ''),
  row('memory per node after a compacting GC and 3 s: RSS', sizes.map((s) => fleet(s, 'rssCompactedPerNodeMB', plain(' MB'))), '200: < 5 MB'),
  row('memory per node after a compacting GC and 3 s: V8 heap reserved', sizes.map((s) => fleet(s, 'heapCompactedPerNodeMB', plain(' MB'))), ''),
]
for (const size of sizes) {
  const figures = fleets.get(size)
  if (figures === undefined) lines.push('', `${size} nodes: the benchmark failed (see its output).`)
  else if (typeof figures.error === 'string') lines.push('', `${size} nodes: stopped early (the figures after this are missing): ${figures.error}.`)
}
const daemonLines = [
  '| figure | median | p99 / worst | target |',
  '|---|---|---|---|',
  `| apply → every daemon converged, 3 processes running | ${ms(daemons?.applyMedianMs)} | ${ms(daemons?.applyP99Ms)} | |`,
  `| kill -9 of a replica's host → replacement running | ${ms(daemons?.crashMedianMs)} | ${ms(daemons?.crashWorstMs)} | < 1 s |`,
  `| SIGSTOP of a replica's host → replacement running | ${ms(daemons?.hangMs)} | | < 4 s |`,
  `| RSS per daemon at rest | ${plain(' MB')(daemons?.rssMB)} | | |`,
]
const placementLine = `computeView at 1,000 nodes × 1,000 services: cold median ${ms(placement?.coldMedianMs)}, p99 ${ms(placement?.coldP99Ms)}; warm median ${ms(placement?.warmMedianMs)}, p99 ${ms(placement?.warmP99Ms)} (target < 50 ms).`

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`
const command = `npm run bench -- --sizes ${sizes.join(',')} --rounds ${values.rounds} --daemons ${values.daemons}`
const table = [
  `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine}, by \`${command}\`.`,
  '',
  '### In one process (real libp2p and gossipsub, memory transport, memory actuators)',
  '',
  ...lines,
  '',
  `### ${values.daemons} daemon processes on loopback (TCP)`,
  '',
  ...daemonLines,
  '',
  '### Placement',
  '',
  placementLine,
].join('\n')
process.stdout.write(`\n${table}\n`)

// docs/benchmarks.md keeps its prose; the part between the markers is replaced.
const begin = '<!-- bench:begin -->'
const end = '<!-- bench:end -->'
let doc: string
try {
  doc = readFileSync(values.out ?? 'docs/benchmarks.md', 'utf8')
} catch {
  doc = `# Benchmarks\n\n${begin}\n${end}\n`
}
const [before, rest] = doc.split(begin)
const after = rest?.split(end)[1] ?? ''
writeFileSync(values.out ?? 'docs/benchmarks.md', `${before ?? ''}${begin}\n${table}\n${end}${after}`)
process.stderr.write(`\nwritten to ${values.out}\n`)
