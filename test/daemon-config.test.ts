// `shoal daemon --config FILE`: settings from a YAML file, a flag winning over the file, paths
// relative to the file, mesh timing under `net:`; a bad file is one line naming file, line and field;
// SIGHUP reopens the log file (for logrotate) and the daemon keeps running.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { daemonSettings } from '../src/cli/daemon-config.ts'
import { defaultNetConfig } from '../src/net/config.ts'
import { builtCli } from './fixtures/build.ts'

const shoal = (...args: string[]) => spawnSync(process.execPath, [builtCli, ...args], { encoding: 'utf8', timeout: 30_000 })

let dir: string
const children: ChildProcess[] = []
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-config-'))
  expect(shoal('init', '--dir', join(dir, 'cluster'), '--name', 'cfg').status).toBe(0)
})
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true })
})

async function waitForFile (path: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('daemon settings', () => {
  it('come from the file, flags win, paths are relative to the file, net: overrides the mesh timing', async () => {
    const file = join(dir, 'host.yaml')
    await writeFile(file, [
      'cluster: cluster/cluster.yaml', 'data: data', 'api: 127.0.0.1:0', 'listen: [/ip4/127.0.0.1/tcp/0]',
      'labels: {zone: a, role: web}', 'slots: 4', 'grace: 10s', 'logLevel: warn', 'net: {helloIntervalMs: 1000, deadIntervalMs: 3000}', '',
    ].join('\n'))
    const settings = await daemonSettings({ config: file, slots: 8, label: { zone: 'b' } })
    expect(settings).toMatchObject({
      cluster: join(dir, 'cluster/cluster.yaml'), data: join(dir, 'data'), api: { host: '127.0.0.1', port: 0 },
      listen: ['/ip4/127.0.0.1/tcp/0'], label: { zone: 'b', role: 'web' }, slots: 8, graceMs: 10_000, logLevel: 'warn', bootstrap: [],
    })
    expect(settings.net).toEqual({ ...defaultNetConfig, helloIntervalMs: 1000, deadIntervalMs: 3000 })
    expect((await daemonSettings({ cluster: 'c.yaml', data: 'd' })).net).toEqual(defaultNetConfig)
  })

  it('a bad file, or a setting missing everywhere, is one line naming what is wrong', async () => {
    const bad = join(dir, 'bad.yaml')
    await writeFile(bad, 'cluster: c.yaml\ndata: d\ngrace: forever\n')
    await expect(daemonSettings({ config: bad })).rejects.toThrow(`${bad}:3: grace: must be like 500ms, 30s or 2m`)
    await writeFile(bad, 'cluster: c.yaml\nnet:\n  helloInterval: 1000\n')
    await expect(daemonSettings({ config: bad })).rejects.toThrow(/bad\.yaml:\d: net: Unrecognized key: "helloInterval"/)
    await writeFile(bad, 'cluster: c.yaml\ndata: d\nnet: {helloIntervalMs: 2000}\n')
    await expect(daemonSettings({ config: bad })).rejects.toThrow('net: deadIntervalMs must be at least twice helloIntervalMs')
    await expect(daemonSettings({ cluster: 'c.yaml' })).rejects.toThrow('which data directory? give --data DIR, or data: in the --config file')
    await expect(daemonSettings({ cluster: 'c.yaml', data: 'd', grace: 11 * 60_000 })).rejects.toThrow('grace: at most 10m')
    const cli = shoal('daemon', '--config', join(dir, 'missing.yaml'))
    expect(cli.status).toBe(2)
    expect(cli.stderr.trim().split('\n')).toHaveLength(1)
    expect(cli.stderr).toContain(`cannot read ${join(dir, 'missing.yaml')}`)
  })

  it('a daemon runs from a config file; SIGHUP reopens its log file and it keeps serving', async () => {
    const file = join(dir, 'run.yaml')
    await writeFile(file, 'cluster: cluster/cluster.yaml\ndata: run-data\napi: 127.0.0.1:0\nlisten: [/ip4/127.0.0.1/tcp/0]\nlog: logs/daemon.log\nlabels: {zone: c}\n')
    const child = spawn(process.execPath, [builtCli, 'daemon', '--config', file], { stdio: 'ignore' })
    children.push(child)
    await waitForFile(join(dir, 'run-data', 'daemon.json'))
    const nodes = JSON.parse(shoal('get', 'nodes', '--json', '--data', join(dir, 'run-data')).stdout) as Array<{ labels: Record<string, string> }>
    expect(nodes[0]?.labels).toEqual({ zone: 'c' })

    const logFile = join(dir, 'logs', 'daemon.log')
    expect(await readFile(logFile, 'utf8')).toContain('"msg":"ready"')
    await rename(logFile, `${logFile}.1`)
    child.kill('SIGHUP')
    await waitForFile(logFile)
    await expect.poll(async () => await readFile(logFile, 'utf8')).toContain('SIGHUP: reopened the log file')
    expect(shoal('status', '--data', join(dir, 'run-data')).status).toBe(0)
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })
})
