// Benchmark: real `shoal daemon` processes on loopback (issue 4's figures).
//
//   npm run bench:daemons                       # 5 daemons, 5 apply rounds, 3 kill rounds
//   npm run bench:daemons -- --daemons 5 --rounds 5 --kills 3
//
// - apply → converged: a 3-replica process service is signed and posted to one daemon's API; the clock
//   stops when every daemon's /v1/status says converged, all on one view, with 3 replicas running.
//   Goal: under 1 s.
// - kill -9 → replacement: a daemon running a replica is killed; the clock stops when the survivors
//   are converged with 3 replicas running again. Goal: under 2 s. (The killed daemon is then started
//   again, and the fleet left to converge, before the next round.)
// - RSS per daemon at rest, from /proc/<pid>/status, after the rounds.
// Rounds are 1.5 s apart: back to back, each origination falls inside the SPF-style hold of the one
// before and waits it out (net/config.ts originateMaxHoldMs), which measures the throttle, not a change.
// Status is polled every 20 ms over the HTTP API (not the CLI: its start-up would dominate).

import '../src/polyfill.ts'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadOperatorKey } from '../src/daemon/cluster.ts'
import { OperatorSigner } from '../src/net/index.ts'
import { daemonStatus, ShoalCli, type DaemonHandle } from '../test/fixtures/shoal-cli.ts'
import { pidsWithArgument } from '../src/testing/processes.ts'

const { values } = parseArgs({
  options: {
    daemons: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '5' },
    kills: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
})
const count = Number(values.daemons)
const rounds = Number(values.rounds)
const kills = Number(values.kills)

interface Status { node: string, converged: boolean, viewHash: string, reachable: string[], running: string[] }

const marker = `shoal-bench-${process.pid}`
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const worst = (xs: number[]): number => Math.max(...xs)

const status = async (daemon: DaemonHandle): Promise<Status | undefined> => await daemonStatus<Status>(daemon)

/** Polls until every daemon in `live` is converged on one view, over all of them, with `replicas` of `service` running. */
async function waitConverged (live: readonly DaemonHandle[], service: string, replicas: number, timeoutMs = 30_000): Promise<number> {
  const start = performance.now()
  while (performance.now() - start < timeoutMs) {
    const all = await Promise.all(live.map(status))
    const ok = all.every((s) => s !== undefined && s.converged && s.reachable.length === live.length) &&
      new Set(all.map((s) => s?.viewHash)).size === 1 &&
      all.flatMap((s) => s?.running ?? []).filter((id) => id.startsWith(`${service}@`)).length === replicas
    if (ok) return performance.now() - start
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`not converged within ${timeoutMs} ms`)
}

function rssMb (pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? 'VmRSS: 0 kB'
  return Number(line.split(/\s+/)[1]) / 1024
}

function killWorkloads (): void {
  for (const pid of pidsWithArgument(marker)) {
    try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
  }
}

const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-'))
const cli = new ShoalCli(dir)
const daemons: DaemonHandle[] = []
try {
  await cli.startCluster(count, daemons) // the handles go in as they start, so that `finally` stops them all
  const signer = new OperatorSigner(await loadOperatorKey(join(dir, 'cluster', 'operator.key')))
  const post = async (envelope: Uint8Array): Promise<void> => {
    const target = daemons[0] as DaemonHandle
    const response = await fetch(`${target.info.api.url}/v1/records`, { method: 'POST', body: envelope, headers: { authorization: `Bearer ${target.info.api.token}` } })
    if (!response.ok) throw new Error(`post: ${response.status} ${await response.text()}`)
  }
  const spec = (name: string) => ({
    kind: 'Service' as const, name, replicas: 3, selector: {}, slots: 1,
    workload: { kind: 'process', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)', marker] },
  })
  await new Promise((resolve) => setTimeout(resolve, 2_000)) // let admissions settle

  const originated = async (): Promise<number> => {
    let total = 0
    for (const d of daemons) {
      const text = await (await fetch(`${d.info.api.url}/metrics`, { headers: { authorization: `Bearer ${d.info.api.token}` } })).text()
      total += Number(/^shoal_records_originated_total (\d+)/m.exec(text)?.[1] ?? 0)
    }
    return total
  }
  const applyTimes: number[] = []
  for (let round = 0; round < rounds; round++) {
    const name = `bench-${round}`
    const { envelope } = await signer.sign(spec(name))
    await new Promise((resolve) => setTimeout(resolve, 1_500)) // a quiet spell: an operator's next change, not a burst
    const before = await originated()
    const start = performance.now()
    await post(envelope)
    await waitConverged(daemons, name, 3)
    applyTimes.push(performance.now() - start)
    process.stdout.write(`apply round ${round + 1}: ${(applyTimes.at(-1) as number).toFixed(0)} ms, ${await originated() - before} node records originated\n`)
    await post((await signer.signDeletion('Service', name)).envelope)
    await waitConverged(daemons, name, 0)
  }

  const { envelope } = await signer.sign(spec('web'))
  await post(envelope)
  await waitConverged(daemons, 'web', 3)
  const killTimes: number[] = []
  for (let round = 0; round < kills; round++) {
    const statuses = await Promise.all(daemons.map(status))
    // Not the daemon we post to: it stays up.
    const index = daemons.findIndex((d, i) => i > 0 && statuses[i]?.running.some((id) => id.startsWith('web@')))
    const victim = daemons[index] as DaemonHandle
    const start = performance.now()
    await victim.kill()
    const survivors = daemons.filter((d) => d !== victim)
    await waitConverged(survivors, 'web', 3)
    killTimes.push(performance.now() - start)
    process.stdout.write(`kill round ${round + 1}: replacement running after ${(killTimes.at(-1) as number).toFixed(0)} ms\n`)
    daemons[index] = await cli.startDaemon(victim.name, ['--bootstrap', daemons[0]?.info.addresses[0] as string])
    await waitConverged(daemons, 'web', 3)
  }

  // A hang: SIGSTOP a replica's host (its socket stays open, nothing answers) until the others run the
  // replica; then SIGCONT, and the fleet settles (the returning node stops its now-excess replica).
  const statuses = await Promise.all(daemons.map(status))
  const hungIndex = daemons.findIndex((d, i) => i > 0 && statuses[i]?.running.some((id) => id.startsWith('web@')))
  const hung = daemons[hungIndex] as DaemonHandle
  const hangStart = performance.now()
  process.kill(hung.info.pid, 'SIGSTOP')
  await waitConverged(daemons.filter((d) => d !== hung), 'web', 3)
  const hangMs = performance.now() - hangStart
  process.kill(hung.info.pid, 'SIGCONT')
  process.stdout.write(`hang (SIGSTOP): replacement running after ${hangMs.toFixed(0)} ms\n`)
  await waitConverged(daemons, 'web', 3)

  await new Promise((resolve) => setTimeout(resolve, 5_000))
  const rss = daemons.map((d) => rssMb(d.info.pid))
  process.stdout.write(`\n${count} daemon processes on loopback (this machine: 2 cores)\n`)
  process.stdout.write(`| figure | median | worst | runs | goal |\n|---|---|---|---|---|\n`)
  process.stdout.write(`| apply → every node converged, 3 processes running | ${median(applyTimes).toFixed(0)} ms | ${worst(applyTimes).toFixed(0)} ms | ${rounds} | < 1 s |\n`)
  process.stdout.write(`| kill -9 of a replica's host → replacement running, survivors converged | ${median(killTimes).toFixed(0)} ms | ${worst(killTimes).toFixed(0)} ms | ${kills} | < 2 s |\n`)
  process.stdout.write(`| SIGSTOP of a replica's host → replacement running, the others converged | ${hangMs.toFixed(0)} ms | | 1 | < 4 s |\n`)
  process.stdout.write(`| RSS per daemon at rest | ${median(rss).toFixed(0)} MB | ${worst(rss).toFixed(0)} MB | ${count} | |\n`)
  if (values.json === true) {
    process.stdout.write(JSON.stringify({
      daemons: count, applyMedianMs: Math.round(median(applyTimes)), applyP99Ms: Math.round(worst(applyTimes)),
      crashMedianMs: Math.round(median(killTimes)), crashWorstMs: Math.round(worst(killTimes)), hangMs: Math.round(hangMs), rssMB: Math.round(median(rss)),
    }) + '\n')
  }
} finally {
  await Promise.all(daemons.map(async (d) => { await d.kill() }))
  killWorkloads()
  await rm(dir, { recursive: true, force: true })
}
