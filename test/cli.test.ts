// The `shoal` command as an installed binary: --version, shell completion, the one-line answers a
// client command gives when there is no daemon to talk to (never yet started, or gone after kill -9),
// and one daemon per data directory.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { builtCli, root } from './fixtures/build.ts'
import { printable, table } from '../src/cli/commands.ts'

const shoal = (...args: string[]) => spawnSync(process.execPath, [builtCli, ...args], { encoding: 'utf8', timeout: 30_000 })

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'shoal-cli-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('shoal CLI', () => {
  it('--version prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
    const result = shoal('--version')
    expect(result.status).toBe(0)
    expect(result.stdout.trim()).toBe(version)
  })

  it('completion bash lists every command and a command\'s flags and choices', () => {
    const result = shoal('completion', 'bash')
    expect(result.status).toBe(0)
    for (const command of ['daemon', 'apply', 'status', 'get', 'drain', 'admit', 'sim', 'completion']) expect(result.stdout).toContain(` ${command} `)
    expect(result.stdout).toMatch(/get\) words="[^"]*--json[^"]*nodes policies view/)
    expect(result.stdout).toContain('complete -o default -F _shoal_complete shoal')
    const bash = spawnSync('bash', ['-n'], { input: result.stdout, encoding: 'utf8' })
    expect(bash.status, bash.stderr).toBe(0)
    expect(shoal('completion', 'zsh').stdout).toMatch(/^autoload -U \+X bashcompinit/)
  })

  it('a data dir with no daemon.json yet: one line saying the daemon is not running', () => {
    const result = shoal('status', '--data', join(dir, 'never-started'))
    expect(result.status).toBe(2)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toContain(`the daemon for ${join(dir, 'never-started')} is not running (no daemon.json there yet)`)
  })

  it('a stale daemon.json (its pid is gone, as after kill -9): one line naming the pid', async () => {
    const gone = spawnSync(process.execPath, ['-e', '0'])
    const dataDir = join(dir, 'killed')
    await rm(dataDir, { recursive: true, force: true })
    await mkdir(dataDir)
    await writeFile(join(dataDir, 'daemon.json'), JSON.stringify({ peerId: 'x', pid: gone.pid, api: { url: 'http://127.0.0.1:9', token: 't' }, cluster: '/c.yaml' }))
    const result = shoal('get', 'nodes', '--data', dataDir)
    expect(result.status).toBe(2)
    expect(result.stderr.trim()).toBe(`shoal: the daemon for ${dataDir} is not running (pid ${gone.pid} exited)`)
  })

  it('a wrong choice is one line naming the choices', () => {
    const result = shoal('get', 'pods', '--data', dir)
    expect(result.status).toBe(2)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toMatch(/'pods'.*nodes, policies, view/)
  })

  it('a second daemon on a data dir in use gets one line naming the first; after kill -9 the lock is taken over', async () => {
    expect(shoal('init', '--dir', join(dir, 'cluster'), '--name', 'lock').status).toBe(0)
    const dataDir = join(dir, 'locked')
    const args = ['daemon', '--cluster', join(dir, 'cluster', 'cluster.yaml'), '--data', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0']
    const start = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, [builtCli, ...args], { stdio: 'ignore' })
      const deadline = Date.now() + 15_000
      while (!existsSync(join(dataDir, 'daemon.json')) || !readFileSync(join(dataDir, 'daemon.json'), 'utf8').includes(`"pid": ${child.pid}`)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error('daemon not ready')
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      return child
    }
    const first = await start()
    try {
      const second = spawnSync(process.execPath, [builtCli, ...args], { encoding: 'utf8', timeout: 30_000 })
      expect(second.status).toBe(2)
      expect(second.stderr.trim()).toBe(`shoal: another daemon (pid ${first.pid}) is running with ${dataDir}; stop it first, or give this one its own --data`)
      first.kill('SIGKILL')
      await new Promise((resolve) => first.once('exit', resolve))
      const third = await start()
      expect(readFileSync(join(dataDir, 'daemon.lock'), 'utf8').trim()).toBe(String(third.pid))
      const exited = new Promise((resolve) => third.once('exit', resolve))
      third.kill('SIGTERM')
      expect(await exited).toBe(0)
      expect(existsSync(join(dataDir, 'daemon.lock'))).toBe(false)
    } finally {
      first.kill('SIGKILL')
    }
  })

  it('shows what nodes say of themselves with control characters escaped', () => {
    const hostile = 'zone=a\u001b]0;owned\u0007\u001b[2J'
    expect(printable(hostile)).toBe('zone=a\\x1b]0;owned\\x07\\x1b[2J')
    const printed = table([['NODE', 'LABELS'], ['n1', hostile], ['n2', 'line\nbreak']])
    expect(printed).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/)
    expect(printed.split('\n')).toHaveLength(3)
  })
})
