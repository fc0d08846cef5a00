// Benchmark: Shoal as a host agent (issue 21's figures), with the compiled CLI as an operator runs it.
//
//   npm run bench:agent                               # 20 daemons, 20 CLI runs, 60 s at rest, 30 s of CPU
//   npm run bench:agent -- --daemons 20 --cli-runs 20 --rest-s 60 --cpu-s 30 [--json]
//
// - CLI: `shoal status --json` against a running daemon, and `shoal --help`, beside `node -e 0`, run in
//   turn on the same machine (median of --cli-runs each). Goal: status under 2 × node -e 0.
// - start → ready: from spawning `shoal daemon` to its daemon.json (peers up; the first daemon alone).
//   Goal: under 1 s.
// - admit → one component: the daemons are started (not yet admitted: each refuses the others), then
//   one `shoal admit` of every id; the clock stops when every daemon's /v1/status says converged over
//   all of them. Goal: under 5 s.
// - at rest, after --rest-s: RSS per daemon (/proc/PID/status), and CPU per daemon over --cpu-s
//   (/proc/PID/stat utime + stime), as % of one core. Goals: RSS under 64 MB, CPU under 0.5 %.

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { builtCli } from '../test/fixtures/build.ts'
import { daemonStatus, ShoalCli, type DaemonHandle } from '../test/fixtures/shoal-cli.ts'

const { values } = parseArgs({
  options: {
    daemons: { type: 'string', default: '20' },
    'cli-runs': { type: 'string', default: '20' },
    'rest-s': { type: 'string', default: '60' },
    'cpu-s': { type: 'string', default: '30' },
    // Mesh settings for every daemon (its config file's net:), as JSON: '{"helloIntervalMs": 1000, "deadIntervalMs": 3000}'.
    net: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
})
const count = Number(values.daemons)
const cliRuns = Number(values['cli-runs'])
const restMs = Number(values['rest-s']) * 1_000
const cpuMs = Number(values['cpu-s']) * 1_000

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const worst = (xs: readonly number[]): number => Math.max(...xs)
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

function timed (args: readonly string[]): number {
  const start = performance.now()
  const result = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited ${result.status}: ${result.stderr.toString()}`)
  return performance.now() - start
}

/** A field of /proc/PID/status or smaps_rollup, in MB. */
function procMb (pid: number, file: 'status' | 'smaps_rollup', field: string): number {
  const line = readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`)) ?? `${field}: 0 kB`
  return Number(line.split(/\s+/)[1]) / 1024
}

/**
 * RSS counts the node binary's pages (file-backed, ~48 MB here, shared by every node process on the
 * host); RssAnon is what this daemon alone holds; PSS shares the shared pages out among their users.
 */
function memoryMb (pid: number): { rss: number, private: number, pss: number } {
  return { rss: procMb(pid, 'status', 'VmRSS'), private: procMb(pid, 'status', 'RssAnon'), pss: procMb(pid, 'smaps_rollup', 'Pss') }
}

/** CPU time (user + system) a process has used, in ms. */
function cpuMsOf (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 1_000 / 100 // utime, stime in clock ticks (100 Hz)
}

interface Status { converged: boolean, reachable: string[] }

const status = async (daemon: DaemonHandle): Promise<Status | undefined> => await daemonStatus<Status>(daemon)

/** Milliseconds from `startMs` until every daemon answers converged over all of them (NaN after 120 s). */
async function untilOneComponent (all: readonly DaemonHandle[], startMs: number): Promise<number> {
  while (performance.now() - startMs < 120_000) {
    const statuses = await Promise.all(all.map(status))
    if (statuses.every((s) => s !== undefined && s.converged && s.reachable.length === all.length)) return performance.now() - startMs
    await sleep(50)
  }
  return Number.NaN
}

const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-agent-'))
const cli = new ShoalCli(dir)
const daemons: DaemonHandle[] = []
try {
  await cli.ok('init', '--dir', join(dir, 'cluster'), '--name', 'bench')
  const config = values.net === undefined ? [] : ['--config', join(dir, 'daemon.yaml')]
  if (values.net !== undefined) await writeFile(join(dir, 'daemon.yaml'), `net: ${values.net}\n`)
  for (let i = 0; i < count; i++) {
    daemons.push(await cli.startDaemon(`node-${i}`, [...config, ...(i === 0 ? [] : ['--bootstrap', daemons[0]?.info.addresses[0] as string])]))
  }
  const readyMs = daemons.slice(1).map((daemon) => daemon.readyMs)
  process.stdout.write(`started ${count} daemons; start → ready median ${median(readyMs).toFixed(0)} ms, worst ${worst(readyMs).toFixed(0)} ms (first, alone: ${daemons[0]?.readyMs.toFixed(0)} ms)\n`)

  const cpuAtAdmit = daemons.map((d) => cpuMsOf(d.info.pid))
  const admitStart = performance.now()
  await cli.ok('admit', ...daemons.map((d) => d.info.peerId), '--data', daemons[0]?.dataDir as string)
  const admitMs = await untilOneComponent(daemons, admitStart)
  // What the join cost: every daemon's CPU from the admit to one component, against the machine's cores.
  const joinCpuS = daemons.reduce((sum, d, i) => sum + cpuMsOf(d.info.pid) - (cpuAtAdmit[i] as number), 0) / 1_000
  process.stdout.write(`admit → one converged component of ${count}: ${Number.isNaN(admitMs) ? 'not within 120 s' : `${admitMs.toFixed(0)} ms`}; ` +
    `CPU of all daemons meanwhile ${joinCpuS.toFixed(1)} s (${(joinCpuS / count).toFixed(2)} s per daemon, ${(joinCpuS * 1_000 / admitMs / availableParallelism()).toFixed(2)} of this machine's ${availableParallelism()} cores)\n`)

  // One more daemon, admitted while the cluster runs: issue 21's "joins within 2 s of the admission".
  const late = await cli.startDaemon(`node-${count}`, [...config, '--bootstrap', daemons[0]?.info.addresses[0] as string])
  daemons.push(late)
  await sleep(2_000) // refused meanwhile, as a node waiting for its admission is
  const lateCpuBefore = cpuMsOf(late.info.pid)
  const lateStart = performance.now()
  await cli.ok('admit', late.info.peerId, '--data', daemons[0]?.dataDir as string)
  const admittedMs = performance.now() - lateStart // the admission is in daemon 0's database
  let firstPeerMs = Number.NaN // the new daemon sees another node: it was let in, and its admission reached it
  while (Number.isNaN(firstPeerMs) && performance.now() - lateStart < 120_000) {
    if (((await status(late))?.reachable.length ?? 0) > 1) firstPeerMs = performance.now() - lateStart
    else await sleep(20)
  }
  const lateMs = await untilOneComponent(daemons, lateStart)
  process.stdout.write(`one more daemon admitted while the cluster runs → one converged component of ${count + 1}: ${Number.isNaN(lateMs) ? 'not within 120 s' : `${lateMs.toFixed(0)} ms`} ` +
    `(shoal admit returned at ${admittedMs.toFixed(0)} ms, the daemon reached another node at ${firstPeerMs.toFixed(0)} ms); its CPU meanwhile ${((cpuMsOf(late.info.pid) - lateCpuBefore) / 1_000).toFixed(2)} s\n`)
  await late.kill()
  daemons.pop()
  await untilOneComponent(daemons, performance.now()) // its departure settles before the figures at rest

  const data = daemons[0]?.dataDir as string
  const nodeRuns: number[] = []
  const statusRuns: number[] = []
  const helpRuns: number[] = []
  for (let run = 0; run < cliRuns; run++) {
    nodeRuns.push(timed(['-e', '0']))
    statusRuns.push(timed([builtCli, 'status', '--json', '--data', data]))
    helpRuns.push(timed([builtCli, '--help']))
  }
  process.stdout.write(`CLI (median of ${cliRuns}): node -e 0 ${median(nodeRuns).toFixed(0)} ms, shoal status --json ${median(statusRuns).toFixed(0)} ms (${(median(statusRuns) / median(nodeRuns)).toFixed(2)} ×), shoal --help ${median(helpRuns).toFixed(0)} ms\n`)

  process.stdout.write(`at rest for ${restMs / 1_000} s …\n`)
  await sleep(restMs)
  const memory = daemons.map((d) => memoryMb(d.info.pid))
  const rss = memory.map((m) => m.rss)
  const privateMb = memory.map((m) => m.private)
  const pss = memory.map((m) => m.pss)
  const cpuBefore = daemons.map((d) => cpuMsOf(d.info.pid))
  await sleep(cpuMs)
  const cpuPercent = daemons.map((d, i) => (cpuMsOf(d.info.pid) - (cpuBefore[i] as number)) / cpuMs * 100)

  process.stdout.write(`\n${count} daemon processes on loopback (this machine: 2 cores)${values.net === undefined ? '' : `, net: ${values.net}`}\n`)
  process.stdout.write('| figure | median | worst | goal |\n|---|---|---|---|\n')
  process.stdout.write(`| \`shoal status --json\` (node -e 0: ${median(nodeRuns).toFixed(0)} ms) | ${median(statusRuns).toFixed(0)} ms (${(median(statusRuns) / median(nodeRuns)).toFixed(2)} ×) | ${worst(statusRuns).toFixed(0)} ms | < 2 × node -e 0 |\n`)
  process.stdout.write(`| \`shoal --help\` | ${median(helpRuns).toFixed(0)} ms | ${worst(helpRuns).toFixed(0)} ms | |\n`)
  process.stdout.write(`| daemon start → ready (daemon.json), peers up | ${median(readyMs).toFixed(0)} ms | ${worst(readyMs).toFixed(0)} ms | < 1 s |\n`)
  process.stdout.write(`| one \`shoal admit\` of all → one converged component | ${admitMs.toFixed(0)} ms (${joinCpuS.toFixed(0)} CPU-s in all) | | < 5 s |\n`)
  process.stdout.write(`| one more daemon admitted while the cluster runs → one converged component | ${lateMs.toFixed(0)} ms | | < 2 s |\n`)
  process.stdout.write(`| RSS per daemon after ${restMs / 1_000} s at rest | ${median(rss).toFixed(0)} MB | ${worst(rss).toFixed(0)} MB | < 64 MB |\n`)
  process.stdout.write(`| … of which the daemon's own (RssAnon; the rest is the node binary, shared) | ${median(privateMb).toFixed(0)} MB | ${worst(privateMb).toFixed(0)} MB | |\n`)
  process.stdout.write(`| PSS per daemon (shared pages divided among their users) | ${median(pss).toFixed(0)} MB | ${worst(pss).toFixed(0)} MB | |\n`)
  process.stdout.write(`| CPU per daemon at rest (over ${cpuMs / 1_000} s) | ${median(cpuPercent).toFixed(2)} % | ${worst(cpuPercent).toFixed(2)} % | < 0.5 % of a core |\n`)
  if (values.json === true) {
    process.stdout.write(JSON.stringify({
      daemons: count, nodeMs: median(nodeRuns), statusMs: median(statusRuns), helpMs: median(helpRuns), readyMs: median(readyMs),
      readyWorstMs: worst(readyMs), admitMs, joinCpuS, lateMs, rssMB: median(rss), rssWorstMB: worst(rss), privateMB: median(privateMb), pssMB: median(pss), cpuPercent: median(cpuPercent), cpuWorstPercent: worst(cpuPercent),
    }) + '\n')
  }
} finally {
  await Promise.all(daemons.map(async (d) => { await d.kill() }))
  await rm(dir, { recursive: true, force: true })
}
