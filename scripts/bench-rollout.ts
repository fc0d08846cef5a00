// Benchmark: a rolling update with real daemons and real processes (issue 24's second figure).
//
//   npx tsx scripts/bench-rollout.ts [--daemons 5] [--replicas 5] [--min-healthy 1s] [--max-unavailable 1] [--max-surge 0] [--json]
//
// Starts N daemons on loopback, applies a service with one replica per daemon (a node process; fewer with
// --replicas, which leaves room for --max-surge), waits
// until every replica runs, then changes its args. Every 50 ms it counts, from the host's real
// processes, the replicas alive on either version, and reports the fewest alive during the rollout and
// the time until every replica runs the new args. A replica counts as available once up for
// minHealthyFor; an HTTP health check is left out because a service's check names one port, and the
// replicas of one host cannot all listen on it (the fault lab's namespaces, issue 23, will allow it).

import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { ShoalCli, type DaemonHandle } from '../test/fixtures/shoal-cli.ts'
import { processesWithArgument } from '../src/testing/processes.ts'

const { values } = parseArgs({
  options: {
    daemons: { type: 'string', default: '5' },
    'min-healthy': { type: 'string', default: '1s' },
    'max-unavailable': { type: 'string', default: '1' },
    'max-surge': { type: 'string', default: '0' },
    replicas: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
})
const count = Number(values.daemons)
const replicaCount = Number(values.replicas ?? values.daemons)
const token = `shoal-bench-rollout-${randomBytes(4).toString('hex')}`
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Pids of this run's replicas, with whether each runs the new version. */
function replicas (): Array<{ pid: number, v2: boolean }> {
  return processesWithArgument(token).map(({ pid, args }) => ({ pid, v2: args.includes('v2') }))
}

function serviceYaml (version: 'v1' | 'v2'): string {
  const program = 'setInterval(() => {}, 1000)'
  return [
    'kind: Service', 'name: web', `replicas: ${replicaCount}`, 'process:', `  command: ${process.execPath}`,
    `  args: ["-e", "${program}", "${token}", "${version}"]`,
    `update: { maxUnavailable: ${values['max-unavailable']}, maxSurge: ${values['max-surge']}, minHealthyFor: ${values['min-healthy']} }`, '',
  ].join('\n')
}

const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-rollout-'))
const cli = new ShoalCli(dir)
const daemons: DaemonHandle[] = []
try {
  await cli.startCluster(count, daemons) // the handles go in as they start, so that `finally` stops them all
  const first = daemons[0] as DaemonHandle
  await writeFile(join(dir, 'v1.yaml'), serviceYaml('v1'))
  await writeFile(join(dir, 'v2.yaml'), serviceYaml('v2'))
  await cli.ok('apply', '-f', join(dir, 'v1.yaml'), '--data', first.dataDir)
  for (const deadline = Date.now() + 60_000; replicas().length < replicaCount && Date.now() < deadline;) await sleep(100)
  if (replicas().length < replicaCount) throw new Error(`only ${replicas().length} of ${replicaCount} replicas came up`)
  await sleep(3_000) // every replica healthy for minHealthyFor, and reported so

  const start = performance.now()
  await cli.ok('apply', '-f', join(dir, 'v2.yaml'), '--data', first.dataDir)
  let fewest = Infinity
  let finishedMs = Number.NaN
  while (performance.now() - start < 120_000) {
    const now = replicas()
    fewest = Math.min(fewest, now.length)
    if (now.length === replicaCount && now.every((replica) => replica.v2)) {
      finishedMs = performance.now() - start
      break
    }
    await sleep(50)
  }
  const result = { daemons: count, replicas: replicaCount, maxUnavailable: Number(values['max-unavailable']), maxSurge: Number(values['max-surge']), minHealthyFor: values['min-healthy'], finishedMs, fewestAlive: fewest }
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`)
  else process.stdout.write(`rollout of ${replicaCount} replicas over ${count} daemons (maxUnavailable ${result.maxUnavailable}, maxSurge ${result.maxSurge}, minHealthyFor ${result.minHealthyFor}): ` +
    `${Number.isNaN(finishedMs) ? 'not finished within 120 s' : `finished in ${finishedMs.toFixed(0)} ms`}, fewest alive ${fewest} of ${replicaCount}\n`)
} finally {
  await Promise.all(daemons.map(async (daemon) => { await daemon.stop() }))
  for (const { pid } of replicas()) try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
  await rm(dir, { recursive: true, force: true })
}
