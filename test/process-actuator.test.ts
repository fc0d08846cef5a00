// The process actuator against real OS processes: start with Shoal's environment, restart after a
// crash with back-off, adoption by a new actuator (a restarted daemon) without a restart, graceful
// stop, SIGKILL for a process that ignores SIGTERM, and intent before spawn: a state file that cannot
// be written spawns nothing, and a daemon that died between spawn and recording the pid finds it.

import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir } from './fixtures/temp.ts'
import { ProcessActuator } from '../src/actuators/index.ts'
import { pidsWithArgument, waitFor } from '../src/testing/index.ts'

const actuators: ProcessActuator[] = []
afterEach(async () => {
  for (const actuator of actuators.splice(0)) {
    for (const workload of await actuator.observe()) await actuator.remove(workload.resourceId)
    actuator.close()
  }
})

function newActuator (dataDir: string, options: { stopGraceMs?: number, backoffResetMs?: number, maxLogBytes?: number } = {}): ProcessActuator {
  const actuator = new ProcessActuator({ dataDir, nodeId: 'node-1', restartDelayMs: 100, pollIntervalMs: 100, ...options })
  actuators.push(actuator)
  return actuator
}

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }
const pidOf = async (dataDir: string, resourceId: string): Promise<number> =>
  (JSON.parse(await readFile(join(dataDir, 'actuators', 'process', `${encodeURIComponent(resourceId)}.json`), 'utf8')) as { pid: number }).pid

const sleeper = (out: string) => ({
  kind: 'process',
  command: process.execPath,
  args: ['-e', `require('fs').writeFileSync(${JSON.stringify(out)}, [process.env.SHOAL_NODE, process.env.SHOAL_SERVICE, process.env.SHOAL_RESOURCE, process.env.GREETING].join(' ')); setInterval(() => {}, 1000)`],
  env: { GREETING: 'hi' },
})

describe('process actuator', () => {
  it('starts a process with its environment, observes it, and ensure twice starts it once', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir)
    const out = join(dataDir, 'env.txt')
    await actuator.ensure('web@node-1', sleeper(out), 'h1')
    await actuator.ensure('web@node-1', sleeper(out), 'h1')
    await waitFor('the process writes its environment', () => existsSync(out), 10_000)
    expect(await readFile(out, 'utf8')).toBe('node-1 web web@node-1 hi')
    expect(await actuator.observe()).toMatchObject([{ resourceId: 'web@node-1', specHash: 'h1', phase: 'running', restarts: 0 }])
  })

  it('restarts a crashed process after a back-off', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir)
    await actuator.ensure('web@node-1', sleeper(join(dataDir, 'out')), 'h1')
    const first = await pidOf(dataDir, 'web@node-1')
    process.kill(first, 'SIGKILL')
    let observed = await actuator.observe()
    const deadline = Date.now() + 10_000
    while (!(observed[0]?.restarts === 1 && observed[0]?.phase === 'running') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      observed = await actuator.observe()
    }
    expect(observed[0]).toMatchObject({ phase: 'running', restarts: 1 })
    expect(await pidOf(dataDir, 'web@node-1')).not.toBe(first)
  })

  it('a new actuator over the same data dir adopts the running process without restarting it', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const before = newActuator(dataDir)
    await before.ensure('web@node-1', sleeper(join(dataDir, 'out')), 'h1')
    const pid = await pidOf(dataDir, 'web@node-1')
    before.close() // the daemon goes away; its workload stays
    const after = newActuator(dataDir)
    expect(await after.observe()).toMatchObject([{ resourceId: 'web@node-1', phase: 'running', restarts: 0 }])
    await after.ensure('web@node-1', sleeper(join(dataDir, 'out')), 'h1')
    expect(await pidOf(dataDir, 'web@node-1')).toBe(pid)
    expect(alive(pid)).toBe(true)
  })

  it('remove stops the process gracefully, and SIGKILLs one that ignores SIGTERM', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir, { stopGraceMs: 300 })
    await actuator.ensure('polite@node-1', sleeper(join(dataDir, 'a')), 'h1')
    // It says when its handler is installed, and each SIGTERM it ignores.
    const said = join(dataDir, 'stubborn.out')
    const stubbornScript = `const fs = require('fs'); process.on('SIGTERM', () => fs.appendFileSync(${JSON.stringify(said)}, 'ignored SIGTERM\\n')); fs.writeFileSync(${JSON.stringify(said)}, 'ready\\n'); setInterval(() => {}, 1000)`
    await actuator.ensure('stubborn@node-1', { kind: 'process', command: process.execPath, args: ['-e', stubbornScript] }, 'h1')
    const polite = await pidOf(dataDir, 'polite@node-1')
    const stubborn = await pidOf(dataDir, 'stubborn@node-1')
    await waitFor('the stubborn one has its handler', () => existsSync(said), 5_000)
    await actuator.remove('polite@node-1')
    const startedAt = performance.now()
    await actuator.remove('stubborn@node-1')
    // It outlived SIGTERM for the grace time, and only SIGKILL ended it.
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(250)
    expect(readFileSync(said, 'utf8')).toBe('ready\nignored SIGTERM\n')
    await waitFor('both gone', () => !alive(polite) && !alive(stubborn), 5_000)
    await actuator.remove('stubborn@node-1') // removing what is gone is not an error
    expect(await actuator.observe()).toEqual([])
  })

  it('refuses a malformed workload with a message that names the field', async () => {
    const actuator = newActuator(await tempDir('shoal-proc-'))
    await expect(actuator.ensure('x@node-1', { kind: 'process', command: '' }, 'h')).rejects.toThrow(/command/)
    await expect(actuator.ensure('x@node-1', { kind: 'process', command: '/nonexistent/binary' }, 'h')).rejects.toThrow(/cannot start/)
  })

  it('with a health check: starting until it passes, running after, killed and restarted after failures in a row', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const port = 20_000 + Math.floor(Math.random() * 20_000)
    const sick = join(dataDir, 'sick')
    const actuator = newActuator(dataDir)
    // Listens after 300 ms; answers 500 while the file `sick` exists.
    const server = `setTimeout(() => require('http').createServer((q, r) => { r.statusCode = require('fs').existsSync(${JSON.stringify(sick)}) ? 500 : 200; r.end() }).listen(${port}, '127.0.0.1'), 300)`
    await actuator.ensure('api@node-1', { kind: 'process', command: process.execPath, args: ['-e', server], health: { http: `http://127.0.0.1:${port}/`, intervalMs: 100, failures: 3 } }, 'h1')
    expect((await actuator.observe())[0]?.phase).toBe('starting')
    let phase = ''
    await waitFor('healthy', () => { void actuator.observe().then((w) => { phase = w[0]?.phase ?? '' }); return phase === 'running' }, 5_000)
    const firstPid = await pidOf(dataDir, 'api@node-1')
    await writeFile(sick, '')
    let observed = await actuator.observe()
    await waitFor('restarted after failed checks', () => { void actuator.observe().then((w) => { observed = w }); return (observed[0]?.restarts ?? 0) >= 1 }, 5_000)
    expect(await pidOf(dataDir, 'api@node-1')).not.toBe(firstPid)
    expect(alive(firstPid)).toBe(false)
    expect(observed[0]?.phase).not.toBe('running') // still sick: never healthy again, so starting
  })

  it('writes its intent before spawning: a state file that cannot be written spawns nothing', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir)
    const marker = `shoal-intent-${process.pid}-${Date.now()}`
    expect(await actuator.observe()).toEqual([]) // loaded (an empty state dir) before the trap is set
    // A directory where the state file goes: the atomic write's rename onto it fails.
    await mkdir(join(dataDir, 'actuators', 'process', `${encodeURIComponent('web@node-1')}.json`), { recursive: true })
    await expect(actuator.ensure('web@node-1', { kind: 'process', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)', marker] }, 'h1')).rejects.toThrow()
    await new Promise((resolve) => setTimeout(resolve, 300)) // a process spawned anyway would be up by now
    expect(pidsWithArgument(marker)).toEqual([])
  })

  it('after a crash between spawn and recording the pid, a new actuator finds the process by its token and adopts it', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const stateDir = join(dataDir, 'actuators', 'process')
    await mkdir(stateDir, { recursive: true })
    const workload = { kind: 'process', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }
    await writeFile(join(stateDir, `${encodeURIComponent('web@node-1')}.json`), JSON.stringify({ pid: null, instance: 'feedc0de', startTicks: '', specHash: 'h1', workload, restarts: 0 }))
    // What the crashed daemon had spawned: detached (its own group), with the token in its environment.
    const orphan = spawn(process.execPath, workload.args, { detached: true, stdio: 'ignore', env: { ...process.env, SHOAL_INSTANCE: 'feedc0de' } })
    orphan.unref()
    await new Promise((resolve) => orphan.once('spawn', resolve))
    // An intent whose process never started is dropped.
    await writeFile(join(stateDir, `${encodeURIComponent('api@node-1')}.json`), JSON.stringify({ pid: null, instance: 'never', startTicks: '', specHash: 'h2', workload, restarts: 0 }))

    const actuator = newActuator(dataDir)
    expect(await actuator.observe()).toMatchObject([{ resourceId: 'web@node-1', specHash: 'h1', phase: 'running' }])
    expect(await pidOf(dataDir, 'web@node-1')).toBe(orphan.pid)
    expect(existsSync(join(stateDir, `${encodeURIComponent('api@node-1')}.json`))).toBe(false)
    await actuator.remove('web@node-1')
    await waitFor('the adopted process is gone', () => !alive(orphan.pid!), 5_000)
  })

  it('sets a damaged state file aside (kept, reported), never deletes it', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const stateDir = join(dataDir, 'actuators', 'process')
    await mkdir(stateDir, { recursive: true })
    await writeFile(join(stateDir, 'web%40node-1.json'), '{"pid": 12')
    const actuator = newActuator(dataDir)
    expect(await actuator.observe()).toEqual([])
    const kept = readdirSync(stateDir).filter((name) => name.startsWith('web%40node-1.json.damaged-'))
    expect(kept).toHaveLength(1)
    expect(await readFile(join(stateDir, kept[0]!), 'utf8')).toBe('{"pid": 12')
    expect(actuator.problems).toEqual([expect.stringContaining(kept[0]!)])
  })

  it('gives a process a clean environment (none of the daemon\'s) and a working directory of its own', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir)
    const out = join(dataDir, 'seen.json')
    process.env.SHOAL_TEST_DAEMON_SECRET = 'not for workloads'
    try {
      const report = `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ keys: Object.keys(process.env).sort(), cwd: process.cwd() })); setInterval(() => {}, 1000)`
      await actuator.ensure('web@node-1', { kind: 'process', command: process.execPath, args: ['-e', report], env: { GREETING: 'hi' } }, 'h1')
      await waitFor('the process reports what it sees', () => existsSync(out), 10_000)
    } finally {
      delete process.env.SHOAL_TEST_DAEMON_SECRET
    }
    const seen = JSON.parse(await readFile(out, 'utf8')) as { keys: string[], cwd: string }
    expect(seen.keys).toEqual(['GREETING', 'PATH', 'SHOAL_INSTANCE', 'SHOAL_NODE', 'SHOAL_RESOURCE', 'SHOAL_SERVICE'])
    expect(seen.cwd).toBe(join(dataDir, 'work', encodeURIComponent('web@node-1')))
  })

  const asRoot = process.getuid?.() === 0
  it.skipIf(!asRoot)('with `user:` (a daemon running as root), runs a process as that user, in a work dir it owns, unable to read the daemon\'s keys', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir)
    await writeFile(join(dataDir, 'identity.key'), 'the node key', { mode: 0o600 })
    const script = `id -u > seen; id -g >> seen; cat ${join(dataDir, 'identity.key')} >> seen 2>/dev/null || echo refused >> seen; exec sleep 60`
    await actuator.ensure('web@node-1', { kind: 'process', command: '/bin/sh', args: ['-c', script], user: 'nobody' }, 'h1')
    const workDir = join(dataDir, 'work', encodeURIComponent('web@node-1'))
    await waitFor('the process reports who it is', () => existsSync(join(workDir, 'seen')) && readFileSync(join(workDir, 'seen'), 'utf8').split('\n').length >= 4, 10_000)
    const nobody = { uid: Number(execFileSync('id', ['-u', 'nobody']).toString()), gid: Number(execFileSync('id', ['-g', 'nobody']).toString()) }
    expect(readFileSync(join(workDir, 'seen'), 'utf8').trim().split('\n')).toEqual([String(nobody.uid), String(nobody.gid), 'refused'])
    expect(statSync(workDir).uid).toBe(nobody.uid)
    expect(statSync(`/proc/${await pidOf(dataDir, 'web@node-1')}`).uid).toBe(nobody.uid)

    // An unknown user starts nothing, and says which.
    await expect(actuator.ensure('db@node-1', { kind: 'process', command: '/bin/sh', args: ['-c', 'sleep 60'], user: 'no-such-user-here' }, 'h2'))
      .rejects.toThrow('user: no user named "no-such-user-here" on this host')
  })

  it('a restart that fails (the binary briefly missing) is reported and tried again, later each time', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir)
    const binary = join(dataDir, 'node-link')
    await symlink(process.execPath, binary)
    await actuator.ensure('web@node-1', { kind: 'process', command: binary, args: ['-e', 'setInterval(() => {}, 1000)'] }, 'h1')
    const first = await pidOf(dataDir, 'web@node-1')
    await rm(binary) // an upgrade in progress, say
    process.kill(first, 'SIGKILL')
    let observed = await actuator.observe()
    await waitFor('a failed restart, reported', () => {
      void actuator.observe().then((w) => { observed = w })
      return /restart failed: cannot start .*ENOENT; restarting in 400 ms/.test(observed[0]?.lastError ?? '')
    }, 10_000)
    expect(observed[0]?.phase).toBe('failed')
    await symlink(process.execPath, binary)
    await waitFor('running again', () => {
      void actuator.observe().then((w) => { observed = w })
      return observed[0]?.phase === 'running'
    }, 10_000)
    expect(observed[0]?.restarts).toBeGreaterThanOrEqual(3) // the exit, the failed try(s), the one that worked
  })

  it('the restart back-off grows while a process keeps crashing, and starts over once it ran long enough', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir, { backoffResetMs: 4_000 }) // well above a crash-and-restart round, even on a busy machine
    await actuator.ensure('web@node-1', sleeper(join(dataDir, 'out')), 'h1')
    const crashAndReadDelay = async (): Promise<number> => {
      const pid = await pidOf(dataDir, 'web@node-1')
      process.kill(pid, 'SIGKILL')
      // The delay is read from the first observation that reports it: observations still in flight
      // when waitFor returns may land later and overwrite a shared variable with the next state.
      let delay: number | undefined
      await waitFor('the exit seen', () => {
        void actuator.observe().then((w) => { delay ??= Number(/restarting in (\d+) ms/.exec(w[0]?.lastError ?? '')?.[1]) || undefined })
        return delay !== undefined
      }, 5_000)
      const recordedPid = (): number | null => (JSON.parse(readFileSync(join(dataDir, 'actuators', 'process', 'web%40node-1.json'), 'utf8')) as { pid: number | null }).pid
      await waitFor('restarted', () => { const now = recordedPid(); return now !== null && now !== pid && alive(now) }, 5_000)
      // And the actuator supervises the new process: its state file is written a moment before, and a
      // crash in between was observed through the old entry (its "restarting in" line: a wrong delay).
      let supervised = false
      await waitFor('supervised again', () => {
        void actuator.observe().then((w) => { supervised ||= w[0]?.phase === 'running' && w[0].lastError === undefined })
        return supervised
      }, 5_000)
      return delay as number
    }
    expect([await crashAndReadDelay(), await crashAndReadDelay(), await crashAndReadDelay()]).toEqual([100, 200, 400])
    await new Promise((resolve) => setTimeout(resolve, 4_200)) // ran long enough: healthy again
    expect(await crashAndReadDelay()).toBe(100)
  })

  it('a remove while a crash restart is spawning waits for it and stops it: no orphan is left', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir)
    const marker = `orphan-check-${process.pid}-${Date.now()}`
    const workload = { kind: 'process', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)', marker] }
    // The restart timer fires 100 ms after the exit is seen; remove lands at different moments around it.
    for (let offsetMs = 60; offsetMs <= 160; offsetMs += 10) {
      await actuator.ensure('web@node-1', workload, `h${offsetMs}`)
      const pid = await pidOf(dataDir, 'web@node-1')
      process.kill(pid, 'SIGKILL')
      await waitFor('the exit seen', () => !alive(pid), 5_000)
      await new Promise((resolve) => setTimeout(resolve, offsetMs))
      await actuator.remove('web@node-1')
      await new Promise((resolve) => setTimeout(resolve, 150))
      expect(pidsWithArgument(marker), `remove ${offsetMs} ms after the exit`).toEqual([])
      expect(await actuator.observe()).toEqual([])
    }
  })

  it('envFiles: a secret read from DATA/secrets at start, not flooded; a missing or escaping file starts nothing and says which', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir)
    const out = join(dataDir, 'out')
    await mkdir(join(dataDir, 'secrets'), { recursive: true })
    await writeFile(join(dataDir, 'secrets', 'db-password'), 's3cret\n')
    const workload = { kind: 'process', command: process.execPath, args: ['-e', `require('fs').writeFileSync(${JSON.stringify(out)}, process.env.DB_PASSWORD); setInterval(() => {}, 1000)`], envFiles: { DB_PASSWORD: 'db-password' } }
    await actuator.ensure('web@node-1', workload, 'h1')
    await waitFor('the secret seen by the process', () => existsSync(out) && readFileSync(out, 'utf8') === 's3cret', 5_000)
    await expect(actuator.ensure('api@node-1', { ...workload, envFiles: { TOKEN: 'missing' } }, 'h2')).rejects.toThrow(`envFiles.TOKEN: no secret file ${join(dataDir, 'secrets', 'missing')}`)
    await expect(actuator.ensure('api@node-1', { ...workload, envFiles: { TOKEN: '../daemon.json' } }, 'h3')).rejects.toThrow(/envFiles\.TOKEN: must be a path under the data dir's secrets\/ directory/)
    await symlink('/etc/hostname', join(dataDir, 'secrets', 'escape'))
    await expect(actuator.ensure('api@node-1', { ...workload, envFiles: { TOKEN: 'escape' } }, 'h4')).rejects.toThrow(/leads out of .* through a symlink/)
    expect((await actuator.observe()).map((w) => w.resourceId)).toEqual(['web@node-1'])
  })

  it('rotates a workload log past maxLogBytes: the older half kept as .log.1, the log truncated and still written', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir, { maxLogBytes: 2_000 })
    const chatty = `let n = 0; setInterval(() => console.log('line ' + (n++) + ' ' + 'x'.repeat(90)), 10)`
    await actuator.ensure('web@node-1', { kind: 'process', command: process.execPath, args: ['-e', chatty] }, 'h1')
    const log = join(dataDir, 'logs', 'web%40node-1.log')
    await waitFor('rotated', () => existsSync(`${log}.1`), 10_000)
    const rotatedSize = statSync(`${log}.1`).size
    expect(rotatedSize).toBeGreaterThan(2_000)
    await waitFor('written again after the truncation', () => /^line \d+ x+$/m.test(readFileSync(log, 'utf8')), 5_000)
    expect(readFileSync(log, 'utf8').startsWith('line ')).toBe(true) // appended from the start, no hole of zeros
    expect(statSync(log).size).toBeLessThan(rotatedSize + 10_000)
  })

  it('a process whose health check never passes is failed after startupMs: killed and restarted', async () => {
    const dataDir = await tempDir('shoal-proc-')
    const actuator = newActuator(dataDir)
    const port = 20_000 + Math.floor(Math.random() * 20_000) // nothing listens there
    await actuator.ensure('api@node-1', { kind: 'process', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], health: { tcp: `127.0.0.1:${port}`, intervalMs: 100, startupMs: 500 } }, 'h1')
    const first = await pidOf(dataDir, 'api@node-1')
    let observed = await actuator.observe()
    await waitFor('restarted for never being healthy', () => { void actuator.observe().then((w) => { observed = w }); return (observed[0]?.restarts ?? 0) >= 1 }, 10_000)
    expect(alive(first)).toBe(false)
    expect(observed[0]?.phase).toBe('starting')
  })
})
