// End to end, as a user would: real `shoal daemon` processes on loopback, driven only through the
// `shoal` CLI. init → start 4 daemons → admit → a bad policy file is refused → apply a 3-replica
// process service and an `all` file service → converged; kill -9 a replica's host → the replica runs
// elsewhere; start it again → no duplicate OS process remains; SIGTERM-restart a replica's host within
// the grace time → its workload keeps its pid and nothing starts elsewhere.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo } from 'node:net'
import { ShoalCli, type DaemonHandle } from './fixtures/shoal-cli.ts'
import { pidsWithArgument } from '../src/testing/processes.ts'

interface Status {
  node: string
  converged: boolean
  reachable: string[]
  assigned: string[]
  running: string[]
  viewHash: string
}

const token = `shoal-e2e-${randomBytes(4).toString('hex')}`

/** OS processes whose command line carries this run's token: the real replicas. */
function workloadPids (): number[] {
  return pidsWithArgument(token)
}

describe('shoal daemon, end to end through the CLI', () => {
  let dir: string
  let cli: ShoalCli
  const daemons: DaemonHandle[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-e2e-'))
    cli = new ShoalCli(dir)
  })

  afterAll(async () => {
    await Promise.all(daemons.map(async (daemon) => { await daemon.stop() }))
    for (const pid of workloadPids()) try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
    if (process.env.SHOAL_KEEP_E2E === undefined) await rm(dir, { recursive: true, force: true })
    else process.stderr.write(`e2e files kept in ${dir}\n`)
  })

  async function statuses (live: readonly DaemonHandle[]): Promise<Status[]> {
    return await Promise.all(live.map(async (daemon) => JSON.parse((await cli.ok('status', '--data', daemon.dataDir, '--json')).stdout) as Status))
  }

  /** Every live daemon converged on one view, over all of them, with `web` running `replicas` times. */
  async function waitConverged (live: readonly DaemonHandle[], timeoutMs: number): Promise<Status[]> {
    const deadline = Date.now() + timeoutMs
    let last: Status[] = []
    while (Date.now() < deadline) {
      last = await statuses(live)
      const oneView = new Set(last.map((status) => status.viewHash)).size === 1
      const webRunning = last.flatMap((status) => status.running).filter((id) => id.startsWith('web@')).length
      if (oneView && last.every((status) => status.converged && status.reachable.length === live.length) && webRunning === 3) return last
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    throw new Error(`not converged within ${timeoutMs} ms: ${JSON.stringify(last.map((s) => ({ node: s.node.slice(-6), converged: s.converged, reachable: s.reachable.length, running: s.running })))}`)
  }

  /** A policy file for web: 3 replicas whose args carry `version`, rolled out as `update` says. */
  async function webVersion (version: string, update: string): Promise<string> {
    const file = join(dir, `web-${version}.yaml`)
    await writeFile(file, [
      'kind: Service', 'name: web', 'replicas: 3', 'process:', `  command: ${process.execPath}`,
      `  args: ["-e", "setInterval(() => {}, 1000)", "${token}", "${version}"]`, `update: ${update}`, '',
    ].join('\n'))
    return file
  }

  function hostOfWeb (status: readonly Status[]): Status {
    const host = status.find((s) => s.running.some((id) => id.startsWith('web@')))
    if (host === undefined) throw new Error('no node runs web')
    return host
  }

  it('init, start, admit; a bad policy file changes nothing; apply; converge', async () => {
    await cli.ok('init', '--dir', join(dir, 'cluster'), '--name', 'e2e')
    for (let i = 0; i < 4; i++) {
      const bootstrap = daemons[0] === undefined ? [] : ['--bootstrap', (daemons[0].info.addresses[0] as string)]
      daemons.push(await cli.startDaemon(`node-${i}`, ['--label', `zone=${'abc'[i % 3] as string}`, ...bootstrap]))
    }
    const first = daemons[0] as DaemonHandle
    await cli.ok('admit', ...daemons.map((daemon) => daemon.info.peerId), '--data', first.dataDir)

    const bad = join(dir, 'bad.yaml')
    await writeFile(bad, 'kind: Service\nname: web\nreplicas: three\nprocess:\n  command: sleep\n')
    const refused = await cli.run('apply', '-f', bad, '--data', first.dataDir)
    expect(refused.code).toBe(2)
    expect(refused.stderr.trim()).toBe(`shoal: ${bad}:3: replicas: must be a whole number or "all"`)
    const policies = JSON.parse((await cli.ok('get', 'policies', '--data', first.dataDir, '--json')).stdout) as Array<{ policyKind: string }>
    expect(policies.filter((policy) => policy.policyKind === 'Service')).toEqual([])

    const good = join(dir, 'services.yaml')
    await writeFile(good, [
      'kind: Service', 'name: web', 'replicas: 3', 'process:', `  command: ${process.execPath}`,
      `  args: ["-e", "setInterval(() => {}, 1000)", "${token}"]`,
      '---', 'kind: Service', 'name: motd', 'replicas: all', 'file:', '  path: motd.txt', '  content: "hello\\n"', '  mode: "0640"', '',
    ].join('\n'))
    expect((await cli.ok('apply', '-f', good, '--data', first.dataDir)).stdout).toBe('Service/web created\nService/motd created\n')
    await waitConverged(daemons, 30_000)
    expect(workloadPids()).toHaveLength(3)
    for (const daemon of daemons) expect(await readFile(join(daemon.dataDir, 'files', 'motd.txt'), 'utf8')).toBe('hello\n')
  }, 120_000)

  it('kill -9 of a replica\'s host: the replica runs elsewhere; back again, no duplicate remains', async () => {
    const before = await statuses(daemons)
    const index = daemons.findIndex((daemon) => daemon.info.peerId === hostOfWeb(before).node)
    const victim = daemons[index] as DaemonHandle
    const orphan = await workloadPid(victim, `web@${victim.info.peerId}`)
    await victim.kill()
    const survivors = daemons.filter((daemon) => daemon !== victim)
    const after = await waitConverged(survivors, 20_000)
    expect(after.flatMap((s) => s.running).filter((id) => id.startsWith('web@'))).toHaveLength(3)
    expect(workloadPids()).toContain(orphan) // kill -9 of the daemon leaves its workload running, for now

    daemons[index] = await cli.startDaemon(victim.name, victim === daemons[0] ? [] : ['--bootstrap', (survivors[0]?.info.addresses[0] as string)])
    await waitConverged(daemons, 30_000)
    await waitUntil('the duplicate is stopped', () => workloadPids().length === 3, 10_000)
    expect(workloadPids()).not.toContain(orphan)
  }, 120_000)

  it('a SIGTERM restart within the grace time keeps the workload\'s pid, and nothing starts elsewhere', async () => {
    const before = await statuses(daemons)
    const index = daemons.findIndex((daemon) => daemon.info.peerId === hostOfWeb(before).node)
    const host = daemons[index] as DaemonHandle
    const pid = await workloadPid(host, `web@${host.info.peerId}`)
    const pidsBefore = workloadPids().sort((a, b) => a - b)
    // From the stop until the fleet has converged again, sampled every 50 ms: no replacement starts
    // anywhere and nothing stops. Away for 4 s first: twice the dead interval, then a recompute, by
    // when a replica not held would have been placed again.
    const seen: number[][] = []
    let watching = true
    const watcher = (async () => {
      while (watching) {
        const now = workloadPids().sort((a, b) => a - b)
        if (now.join() !== pidsBefore.join()) seen.push(now)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })()
    await host.stop()
    const others = daemons.filter((daemon) => daemon !== host)
    await new Promise((resolve) => setTimeout(resolve, 4_000))
    daemons[index] = await cli.startDaemon(host.name, ['--bootstrap', (others[0]?.info.addresses[0] as string)])
    await waitConverged(daemons, 30_000)
    watching = false
    await watcher
    expect(seen).toEqual([])
    expect(await workloadPid(daemons[index] as DaemonHandle, `web@${host.info.peerId}`)).toBe(pid)
  }, 120_000)

  it('drain moves work off a node; uncordon does not pull it back', async () => {
    const first = daemons[0] as DaemonHandle
    const host = hostOfWeb(await statuses(daemons))
    expect((await cli.ok('drain', host.node.slice(-8), '--data', first.dataDir)).stdout).toBe(`Node/${host.node} created (drain)\n`)
    const drained = await waitConverged(daemons, 30_000)
    expect(drained.find((s) => s.node === host.node)?.running.filter((id) => id.startsWith('web@'))).toEqual([])
    const placed = drained.flatMap((s) => s.running).filter((id) => id.startsWith('web@')).sort()
    await cli.ok('uncordon', host.node, '--data', first.dataDir)
    // The uncordon has reached every daemon (its Node policy no longer drains) before we look.
    const drains = async (daemon: DaemonHandle): Promise<boolean> => {
      const response = await fetch(`${daemon.info.api.url}/v1/policies/Node/${host.node}`, { headers: { authorization: `Bearer ${daemon.info.api.token}` } })
      return ((await response.json()) as { body?: { drain?: boolean } }).body?.drain === true
    }
    const deadline = Date.now() + 10_000
    while ((await Promise.all(daemons.map(drains))).some(Boolean)) {
      if (Date.now() > deadline) throw new Error('the uncordon did not reach every daemon within 10 s')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000)) // a recompute or two after it
    const after = await waitConverged(daemons, 30_000)
    expect(after.flatMap((s) => s.running).filter((id) => id.startsWith('web@')).sort()).toEqual(placed)
    expect(workloadPids()).toHaveLength(3)
  }, 90_000)

  it('a changed spec rolls out one replica at a time: never more than one down, every replica on the new args at the end', async () => {
    const first = daemons[0] as DaemonHandle
    const changed = await webVersion('v2', '{ maxUnavailable: 1, minHealthyFor: 300ms }')
    const before = workloadPids()
    expect(before).toHaveLength(3)
    await cli.ok('apply', '-f', changed, '--data', first.dataDir)
    let fewest = Infinity
    const isV2 = (pid: number): boolean => pidsWithArgument('v2', [pid]).length === 1
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      const pids = workloadPids()
      fewest = Math.min(fewest, pids.length)
      if (pids.length === 3 && pids.every(isV2)) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(fewest).toBeGreaterThanOrEqual(2)
    const after = workloadPids()
    expect(after.filter(isV2)).toHaveLength(3)
    expect(after.filter((pid) => before.includes(pid))).toEqual([])
    await waitConverged(daemons, 30_000)
    const status = await statuses(daemons)
    expect(status.flatMap((s) => (s as Status & { rollouts: string[] }).rollouts)).toEqual([])
  }, 90_000)

  it('a canary rollout stops after one replica until `shoal promote`; apply remembers the workload it replaces', async () => {
    const first = daemons[0] as DaemonHandle
    const v3 = await webVersion('v3', '{ canary: 1 }')
    await cli.ok('apply', '-f', v3, '--data', first.dataDir)
    const onV3 = (): number => pidsWithArgument('v3', workloadPids()).length
    await waitUntil('the canary on v3', () => onV3() === 1, 20_000)
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(onV3()).toBe(1) // the others wait
    const status = (await cli.ok('status', '--data', first.dataDir)).stdout
    expect(status).toMatch(/rolling out +web: 1 of 3 on the new spec, 3 available, 0 moving now \(maxUnavailable 1\); canaries first/)
    const policy = JSON.parse((await cli.ok('get', 'policies', '--data', first.dataDir, '--json')).stdout).find((p: { name: string }) => p.name === 'web') as { body: { previousWorkload?: { args: string[] } } }
    expect(policy.body.previousWorkload?.args).toContain('v2')
    expect((await cli.ok('promote', 'Service/web', '--data', first.dataDir)).stdout).toBe('Service/web configured (promoted)\n')
    await waitUntil('every replica on v3', () => onV3() === 3 && workloadPids().length === 3, 30_000)
  }, 90_000)

  it('client errors are one line with a non-zero exit', async () => {
    const first = daemons[0] as DaemonHandle
    const wrongFlag = await cli.run('status', '--dta', first.dataDir)
    expect(wrongFlag.code).toBe(2)
    expect(wrongFlag.stderr.trim().split('\n')).toHaveLength(1)
    const closedPort = await freePort()
    const unreachable = await cli.run('status', '--api', `http://127.0.0.1:${closedPort}`, '--token', 'x')
    expect(unreachable.code).toBe(2)
    expect(unreachable.stderr.trim()).toBe(`shoal: cannot reach the daemon at http://127.0.0.1:${closedPort} (ECONNREFUSED): is it running?`)
    const badToken = await cli.run('status', '--api', first.info.api.url, '--token', 'wrong')
    expect(badToken.stderr.trim()).toBe(`shoal: the daemon at ${first.info.api.url} refused the token`)
    const explain = await cli.ok('explain', 'Service/web', '--data', first.dataDir)
    expect(explain.stdout).toMatch(/^Service\/web: 3 of 3 placed/)
  }, 60_000)
})

async function workloadPid (daemon: DaemonHandle, resourceId: string): Promise<number> {
  const state = JSON.parse(await readFile(join(daemon.dataDir, 'actuators', 'process', `${encodeURIComponent(resourceId)}.json`), 'utf8')) as { pid: number }
  return state.pid
}

/** A port nothing listens on: bound, then released. */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function waitUntil (what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
