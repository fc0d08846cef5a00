// The fault lab (issue 23): five real daemons, each in a network namespace of its own, real TCP between
// them, faults the software does not cooperate with — nftables drops (silent loss), SIGSTOP, kill -9, a
// wrong clock. Needs root and nftables (CI runs as root; .ci/run installs nftables); elsewhere skipped.

import { spawnSync } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest'
import { Lab, labUnavailable, runNemesis, startLab } from '../src/testing/index.ts'
import { sh } from '../src/lab/network.ts'
import type { StatusReport } from '../src/daemon/daemon.ts'
import { builtCli, ensureBuilt } from './fixtures/build.ts'

const unavailable = await labUnavailable().then((problem) => (problem === 'the lab runs the built CLI: npm run build first' ? undefined : problem))
if (unavailable !== undefined) process.stderr.write(`lab tests skipped: ${unavailable}\n`)

// A dead interval of 2 s (hello every 500 ms), as the daemon's defaults.
const net = { helloIntervalMs: 500, deadIntervalMs: 2_000 }
const marker = `shoal-lab-test-${process.pid}`

describe.skipIf(unavailable !== undefined)('the fault lab: 5 daemons in network namespaces', () => {
  let lab: Lab

  beforeAll(async () => {
    ensureBuilt()
    lab = await startLab({ nodes: 5, net, grace: '5s' })
  }, 60_000)

  afterAll(async () => {
    await lab?.stop()
  }, 60_000)

  // Each test starts from a whole network, whatever the one before left (the tests share one lab and
  // run in order: the first applies the service the others use).
  beforeEach(async () => {
    await lab.heal()
  })

  const all = [0, 1, 2, 3, 4]
  const statuses = async (nodes: readonly number[]): Promise<Array<StatusReport | undefined>> => await Promise.all(nodes.map(async (i) => await lab.status(i)))

  /** Every node of `group` converged on one view over exactly `group`, running `replicas` of web between them. */
  async function converged (group: readonly number[], replicas: number, timeoutMs = 20_000): Promise<number> {
    const start = Date.now()
    let last: Array<StatusReport | undefined> = []
    while (Date.now() - start < timeoutMs) {
      last = await statuses(group)
      const oneView = new Set(last.map((status) => status?.viewHash)).size === 1
      const web = last.flatMap((status) => status?.running ?? []).filter((id) => id.startsWith('web@')).length
      if (oneView && last.every((status) => status?.converged === true && status.reachable.length === group.length) && web === replicas) return Date.now() - start
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    throw new Error(`nodes ${group.join(',')} not converged with web × ${replicas} within ${timeoutMs} ms: ` +
      JSON.stringify(last.map((s) => s === undefined ? 'no answer' : { reachable: s.reachable.length, converged: s.converged, running: s.running.length })))
  }

  async function apply (at: number, replicas: number, version: string): Promise<void> {
    const file = join(lab.state.dir, `web-${version}.yaml`)
    await writeFile(file, ['kind: Service', 'name: web', `replicas: ${replicas}`, 'process:', `  command: ${process.execPath}`,
      `  args: ["-e", "setInterval(() => {}, 1000)", "${marker}", "${version}"]`, ''].join('\n'))
    await lab.shoal('apply', '-f', file, '--data', lab.node(at).dataDir)
  }

  /** No workload process in the lab's namespaces that no daemon accounts for, and as many as `replicas`. */
  async function noStrayProcesses (replicas: number): Promise<void> {
    const deadline = Date.now() + 15_000
    let seen: number[] = []
    while (Date.now() < deadline) {
      seen = await lab.workloadPids()
      if (seen.length === replicas && JSON.stringify(seen) === JSON.stringify(lab.accountedPids())) return
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    throw new Error(`workload processes ${JSON.stringify(seen)}, accounted for ${JSON.stringify(lab.accountedPids())}, wanted ${replicas}`)
  }

  it('a silent 2|3 partition longer than the dead interval, a policy changed on both sides: each side converges; after the heal the newest wins, nothing twice', async () => {
    await apply(0, 2, 'v1')
    await converged(all, 2)
    await lab.partition([[0, 1], [2, 3, 4]])
    await apply(0, 1, 'v2') // the older change, on the small side
    await new Promise((resolve) => setTimeout(resolve, 50))
    await apply(2, 3, 'v3') // the newer, on the large side
    const splitMs = Math.max(await converged([0, 1], 1), await converged([2, 3, 4], 3))
    await new Promise((resolve) => setTimeout(resolve, 2_500)) // well past the dead interval
    await lab.heal()
    const healMs = await converged(all, 3)
    await noStrayProcesses(3)
    process.stdout.write(`lab: silent 2|3 split → both sides converged in ${splitMs} ms; heal → one view in ${healMs} ms\n`)
  }, 90_000)

  it('a one-way cut (what node 4 sends is lost) separates node 4, and heals', async () => {
    await lab.partition([[4], [0, 1, 2, 3]], { oneWay: true })
    await converged([0, 1, 2, 3], 3)
    await lab.heal()
    await converged(all, 3)
    await noStrayProcesses(3)
  }, 60_000)

  it('a replica host paused past the dead interval: its work moves; on SIGCONT it stops its now-duplicate replica', async () => {
    const before = await statuses(all)
    const host = before.findIndex((status) => status?.running.some((id) => id.startsWith('web@')) === true)
    const started = Date.now()
    await lab.pause(host)
    const others = all.filter((i) => i !== host)
    await converged(others, 3)
    const movedMs = Date.now() - started
    await lab.resume(host)
    await converged(all, 3)
    await noStrayProcesses(3)
    process.stdout.write(`lab: SIGSTOP of a replica host → work moved in ${movedMs} ms\n`)
  }, 60_000)

  it('kill -9 of a replica host during a partition: its side re-places the work; after restart and heal, nothing twice', async () => {
    await lab.partition([[0, 1, 2], [3, 4]])
    await converged([0, 1, 2], 3)
    await converged([3, 4], 2) // one replica a node: the small side runs two
    const side = await statuses([0, 1, 2])
    const host = [0, 1, 2].find((_, k) => side[k]?.running.some((id) => id.startsWith('web@')) === true) as number
    await lab.kill(host)
    const rest = [0, 1, 2].filter((i) => i !== host)
    await converged(rest, 2) // two nodes left on this side: one replica each at most
    await lab.start(host)
    await lab.heal()
    await converged(all, 3) // the side of two had started a third elsewhere: cut back to three
    await noStrayProcesses(3)
  }, 90_000)

  it('a node whose clock runs two hours ahead: its records are refused, the fleet keeps what it last knew, nothing runs twice; back on time, it rejoins', async () => {
    const generationOf1 = async (): Promise<number> => {
      const nodes = JSON.parse((await lab.shoal('get', 'nodes', '--json', '--data', lab.node(0).dataDir)).stdout) as Array<{ id: string, version: { generation: number } }>
      return nodes.find((node) => node.id === lab.node(1).peerId)?.version.generation ?? -1
    }
    const before = await generationOf1()
    await lab.clockOffset(1, 2 * 3_600_000) // a clean restart (SIGTERM) with the clock ahead: its new generation's records are from the future
    await new Promise((resolve) => setTimeout(resolve, 7_000)) // past the grace (5 s) the others gave it
    expect(await generationOf1()).toBe(before) // refused: the others still hold its last good record
    await noStrayProcesses(3)
    await lab.clockOffset(1, 0)
    await converged(all, 3)
    expect(await generationOf1()).toBeGreaterThan(before)
    await noStrayProcesses(3)
  }, 90_000)

  it('a node whose disk is full keeps answering and starts nothing it cannot record; with room again, the fleet converges and nothing is lost', async () => {
    await lab.diskFull(3)
    await apply(0, 5, 'v4') // every node is asked to run web, node 3 too
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    const full = await lab.status(3)
    expect(full).toBeDefined() // still serving its API
    expect(full?.running.filter((id) => id.startsWith('web@'))).toEqual([]) // its start (or replace) could not be recorded, so it did not happen
    const stray = (await lab.workloadPids()).filter((pid) => !lab.accountedPids().includes(pid))
    expect(stray).toEqual([]) // a start whose intent cannot be written spawns nothing
    await lab.diskFree(3)
    await converged(all, 5, 30_000)
    await noStrayProcesses(5)
  }, 90_000)

  it('a node limited to 256 kbit/s (tc tbf) still converges with the others; the limit lifts', async () => {
    await lab.bandwidth(4, '256kbit')
    expect(await sh('ip', ['netns', 'exec', lab.node(4).namespace, 'tc', 'qdisc', 'show', 'dev', 'eth0'])).toMatch(/tbf .*rate 256Kbit/)
    await apply(2, 5, 'v5')
    await converged(all, 5, 30_000)
    await lab.bandwidth(4, null)
    expect(await sh('ip', ['netns', 'exec', lab.node(4).namespace, 'tc', 'qdisc', 'show', 'dev', 'eth0'])).not.toMatch(/tbf/)
    await noStrayProcesses(5)
  }, 60_000)

})

describe.skipIf(unavailable !== undefined)('the nemesis and the lab command', () => {
  it('a seeded nemesis run of 20 s (partitions, one-way cuts, pauses, kills, policy changes) passes its checks and writes its history', async () => {
    ensureBuilt()
    const lines: string[] = []
    const report = await runNemesis({ nodes: 5, seed: 7, durationMs: 20_000, onEvent: (line) => { lines.push(line) } })
    onTestFinished(async () => { await rm(dirname(report.history), { recursive: true, force: true }) })
    expect(report.problems).toEqual([])
    expect(report.verdict).toBe('pass')
    const history = (await readFile(report.history, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { kind: string })
    expect(history.filter((entry) => entry.kind === 'sample').length).toBeGreaterThan(20)
    expect(history.at(-1)).toMatchObject({ kind: 'verdict', verdict: 'pass', seed: 7 })
    expect(lines.some((line) => / (partition|one-way|pause|kill|apply) /.test(line))).toBe(true)
    process.stdout.write(`nemesis seed 7: ${report.faults} faults, settled ${report.settledMs} ms after the final heal\n`)
  }, 180_000)

  it('without root, `shoal lab up` says why in one line and exits 2', async () => {
    ensureBuilt()
    const result = spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, builtCli, 'lab', 'up', '--nodes', '2'], { encoding: 'utf8' })
    expect(result.status).toBe(2)
    expect(result.stderr).toBe('shoal: the lab needs root (it creates network namespaces and nftables rules)\n')
  })
})
