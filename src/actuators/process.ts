// The process actuator (DESIGN.md §7): a workload `{ kind: 'process', command, args?, env?, cwd? }` is
// a supervised OS process.
//
// - Processes are spawned detached, in their own process group, with output appended to
//   `dataDir/logs/<resource>.log`: they do not depend on the daemon's pipes, so they outlive a daemon
//   restart (restarting the daemon must not restart its workloads).
// - Intent first: before spawning, the state file (`dataDir/actuators/process/<resource>.json`,
//   written atomically) records the spec and an instance token, which the process gets as
//   SHOAL_INSTANCE; a failed write spawns nothing. Once spawned, the file gets the pid and the
//   process's start time from /proc (if that write fails, the process is killed: nothing runs that the
//   file does not name). A restarted daemon adopts a process only if that pid is alive with the same
//   start time (a reused pid is not ours); a file with no pid yet (a crash between spawn and the
//   second write) is resolved by finding the process group leader whose environment holds the token.
// - Supervision: an exited process is restarted after an exponential back-off (restartDelayMs × 2^n,
//   at most maxRestartDelayMs), for children and adopted processes alike (the latter are polled). n
//   counts the exits in a row that came sooner than backoffResetMs after a start: a process that ran
//   that long starts again from the shortest delay. A restart that fails (the binary briefly missing,
//   EMFILE) is an exit like any other: it is tried again, later each time; meanwhile the workload is
//   reported `failed`, with the reason.
// - Health (optional, `health: { http: URL } | { tcp: 'host:port' }`, with intervalMs, timeoutMs,
//   failures, startupMs): a process is `starting` until its check first passes, then `running`; after
//   `failures` checks in a row fail (3 by default), or if it is not healthy `startupMs` after its start
//   (5 minutes by default), it is killed and restarted with the same back-off.
// - Stop: SIGTERM to the process group, SIGKILL after `stopGraceMs`.
// - Logs: a log past `maxLogBytes` is copied to `<resource>.log.1` (the one before is replaced) and
//   truncated in place, checked every poll. The process keeps its descriptor, opened for appending, so
//   its next line lands at the start of the emptied file; what it writes between the copy and the
//   truncation (microseconds) is lost. A workload's logs thus take at most twice maxLogBytes.
// - What a process gets: a clean environment (PATH, what the policy's `env` says, and SHOAL_NODE,
//   SHOAL_SERVICE, SHOAL_RESOURCE, SHOAL_INSTANCE, and SHOAL_EPOCH for a majority service), not the daemon's own (which may hold secrets), and
//   a working directory of its own, `dataDir/work/<resource>/` (a relative `cwd` is taken from there),
//   not the data dir with the node's identity key, API token and network key in it. With `user:`
//   (a daemon running as root), it runs as that user, its work dir owned by it; the data dir (0700)
//   and the daemon's key files (0600) are then out of its reach.

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { chown, copyFile, mkdir, open, readdir, readFile, realpath, rename, rm, stat, truncate } from 'node:fs/promises'
import { isAbsolute, join, resolve, sep } from 'node:path'
import { z } from 'zod'
import { compareStrings, type WorkloadSpec } from '../core/index.ts'
import type { Actuator, EnsureContext, ObservedWorkload } from './actuator.ts'
import { writeFileAtomically } from './file.ts'
import { accountFor } from './run-as.ts'

export const healthCheckSchema = z.strictObject({
  http: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// url' }).optional(),
  tcp: z.string().regex(/^[^:]+:\d{1,5}$/, 'must be host:port').optional(),
  intervalMs: z.number().int().min(100).max(3_600_000).optional(),
  timeoutMs: z.number().int().min(10).max(60_000).optional(),
  failures: z.number().int().min(1).max(100).optional(),
  /** A process not healthy this long after its start is failed: killed and restarted with back-off (default 5 min). */
  startupMs: z.number().int().min(100).max(3_600_000).optional(),
}).refine((health) => (health.http === undefined) !== (health.tcp === undefined), 'give exactly one of http or tcp')
type HealthCheck = z.infer<typeof healthCheckSchema>

/**
 * Environment variables read from files on the host at each start, so that a secret is not flooded
 * in the policy: NAME → a file under DATA/secrets/ (no '..', no symlink out of it), at most 64 KiB,
 * one trailing newline dropped. A missing file fails the start, naming it.
 */
export const envFilesSchema = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'),
  z.string().min(1).max(255).refine((path) => !path.split(/[\\/]/).includes('..') && !isAbsolute(path), 'must be a path under the data dir\'s secrets/ directory, without ..'))

export const accountNameSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/, 'must be a user or group name, or a number')

const processWorkloadSchema = z.object({
  kind: z.literal('process'),
  health: healthCheckSchema.optional(),
  command: z.string().min(1).max(4_096),
  args: z.array(z.string().max(65_536)).max(1_024).optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), z.string().max(65_536)).optional(),
  cwd: z.string().max(4_096).optional(),
  /**
   * Environment variables read from files on the host at each start, so that a secret is not flooded
   * in the policy: NAME → a file under DATA/secrets/ (no '..', no symlink out of it), at most 64 KiB,
   * one trailing newline dropped. A missing file fails the start, naming it.
   */
  envFiles: envFilesSchema.optional(),
  /** Run as this user (name or uid) and group (name or gid; the user's own by default): run-as.ts. */
  user: accountNameSchema.optional(),
  group: accountNameSchema.optional(),
})

/** The most a secret file may hold. */
const secretBytesMax = 64 * 1024

const stateSchema = z.strictObject({
  /** Null between the intent and the spawn (or a crash in between): see `instance`. */
  pid: z.number().int().positive().nullable(),
  /** Token in the process's environment (SHOAL_INSTANCE): finds it when the pid was never written. */
  instance: z.string().optional(),
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTicks: z.string(),
  specHash: z.string(),
  workload: z.record(z.string(), z.json()),
  restarts: z.number().int().nonnegative(),
  /** The fencing epoch it was started with (SHOAL_EPOCH), for a `partition: majority` service. */
  epoch: z.number().int().nonnegative().optional(),
})
type IntentState = z.infer<typeof stateSchema>
/** A state whose process was spawned: its pid is known. */
type ProcessState = IntentState & { readonly pid: number }

export interface ProcessActuatorOptions {
  readonly dataDir: string
  readonly nodeId: string
  readonly restartDelayMs?: number
  readonly maxRestartDelayMs?: number
  /** A process that ran this long before it exited is restarted after the shortest delay again. */
  readonly backoffResetMs?: number
  readonly stopGraceMs?: number
  /** How often adopted processes (not our children) are checked for life, and logs for size. */
  readonly pollIntervalMs?: number
  /** A workload's log is rotated past this size (default 16 MiB). */
  readonly maxLogBytes?: number
}

interface Supervised {
  state: ProcessState
  restartTimer?: NodeJS.Timeout | undefined
  lastExit?: string
  removing: boolean
  /** With a health check: whether the current process has passed it yet, and failures in a row since. */
  healthy: boolean
  healthFailures: number
  healthTimer?: NodeJS.Timeout | undefined
  /** Why the health check killed it, for the exit report. */
  healthProblem?: string
  /** Found running at start: not our child, so no exit event. */
  adopted?: boolean
  /** Exits in a row, each sooner than backoffResetMs after its start: the back-off's exponent. */
  crashStreak: number
  /** When this process was started (performance.now()), or the last restart was tried. */
  startedAtMs: number
}

export class ProcessActuator implements Actuator {
  readonly kind = 'process'
  private readonly stateDir: string
  private readonly logDir: string
  private readonly supervised = new Map<string, Supervised>()
  /** Restarts under way (spawning), by resource. */
  private readonly restarting = new Map<string, Promise<void>>()
  private readonly poller: NodeJS.Timeout
  private loaded = false
  /** State files found damaged at start and set aside (kept for an operator: their processes may still run). */
  readonly problems: string[] = []

  constructor (private readonly options: ProcessActuatorOptions) {
    this.stateDir = join(options.dataDir, 'actuators', 'process')
    this.logDir = join(options.dataDir, 'logs')
    this.poller = setInterval(() => { void this.pollAdopted().then(async () => { await this.rotateLogs() }) }, options.pollIntervalMs ?? 1_000)
    this.poller.unref()
  }

  async observe (): Promise<ObservedWorkload[]> {
    await this.loadOnce()
    return [...this.supervised.entries()].map(([resourceId, entry]): ObservedWorkload => {
      const alive = isSameProcessAlive(entry.state)
      const checked = healthOf(entry.state) === undefined || entry.healthy
      return {
        resourceId,
        specHash: entry.state.specHash,
        phase: !alive ? 'failed' : checked ? 'running' : 'starting',
        restarts: entry.state.restarts,
        ...(alive || entry.lastExit === undefined ? {} : { lastError: entry.lastExit }),
        ...(entry.state.epoch === undefined ? {} : { epoch: entry.state.epoch }),
      }
    }).sort((a, b) => compareStrings(a.resourceId, b.resourceId))
  }

  async ensure (resourceId: string, workload: WorkloadSpec, specHash: string, context: EnsureContext = {}): Promise<void> {
    await this.loadOnce()
    const parsed = processWorkloadSchema.safeParse(workload)
    if (!parsed.success) throw new Error(`process workload: ${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
    await this.restarting.get(resourceId)
    const existing = this.supervised.get(resourceId)
    if (existing !== undefined && existing.state.specHash === specHash && (isSameProcessAlive(existing.state) || existing.restartTimer !== undefined)) return
    if (existing !== undefined) await this.remove(resourceId)
    await this.start(resourceId, workload, specHash, 0, context.epoch)
  }

  async remove (resourceId: string): Promise<void> {
    await this.loadOnce()
    await this.restarting.get(resourceId)
    const entry = this.supervised.get(resourceId)
    if (entry !== undefined) {
      entry.removing = true
      clearTimeout(entry.restartTimer)
      clearInterval(entry.healthTimer)
      await stopGroup(entry.state, this.options.stopGraceMs ?? 5_000)
      this.supervised.delete(resourceId)
    }
    await rm(this.statePath(resourceId), { force: true })
  }

  /** Stops supervising, leaving every process running: for a daemon that is about to restart. */
  close (): void {
    clearInterval(this.poller)
    for (const entry of this.supervised.values()) {
      entry.removing = true
      clearTimeout(entry.restartTimer)
      clearInterval(entry.healthTimer)
    }
  }

  private async start (resourceId: string, workload: WorkloadSpec, specHash: string, restarts: number, epoch: number | undefined): Promise<void> {
    const spec = processWorkloadSchema.parse(workload)
    const secrets = await this.readEnvFiles(spec.envFiles ?? {}) // before the intent: a missing secret starts nothing
    const account = spec.user === undefined && spec.group === undefined ? undefined : await accountFor(spec.user, spec.group) // so is an unknown user
    const instance = randomBytes(8).toString('hex')
    const intent: IntentState = {
      pid: null, instance, startTicks: '', specHash, workload: workload as IntentState['workload'], restarts, ...(epoch === undefined ? {} : { epoch }),
    }
    await mkdir(this.stateDir, { recursive: true })
    await writeState(this.statePath(resourceId), intent)
    await mkdir(this.logDir, { recursive: true })
    const workDir = join(this.options.dataDir, 'work', encodeURIComponent(resourceId))
    await mkdir(workDir, { recursive: true, mode: 0o700 })
    if (account !== undefined) await chown(workDir, account.uid, account.gid)
    const log = await open(this.logPath(resourceId), 'a', 0o600)
    const at = resourceId.lastIndexOf('@')
    const child = spawn(spec.command, spec.args ?? [], {
      cwd: spec.cwd === undefined ? workDir : isAbsolute(spec.cwd) ? spec.cwd : resolve(workDir, spec.cwd),
      env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...spec.env, ...secrets, SHOAL_NODE: this.options.nodeId, SHOAL_SERVICE: at > 0 ? resourceId.slice(0, at) : resourceId, SHOAL_RESOURCE: resourceId, SHOAL_INSTANCE: instance, ...(epoch === undefined ? {} : { SHOAL_EPOCH: String(epoch) }) },
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      ...account,
    })
    // Listen before any await: 'spawn' and 'error' fire on a later tick and must not be missed.
    const spawnedPromise = new Promise<number | Error>((resolveSpawn) => {
      child.once('spawn', () => resolveSpawn(child.pid as number))
      child.once('error', (error) => resolveSpawn(error))
    })
    await log.close() // the child holds its own copy of the descriptor
    const spawned = await spawnedPromise
    if (spawned instanceof Error) {
      await rm(this.statePath(resourceId), { force: true })
      throw new Error(`cannot start ${spec.command}: ${spawned.message}`)
    }
    child.unref()
    const state: ProcessState = { ...intent, pid: spawned, startTicks: readStartTicks(spawned) ?? '' }
    try {
      await writeState(this.statePath(resourceId), state)
    } catch (error) {
      signalGroup(spawned, 'SIGKILL') // unrecorded, it would outlive us as an orphan and a duplicate
      throw new Error(`cannot record ${resourceId}'s process (stopped it): ${(error as Error).message}`)
    }
    const previous = this.supervised.get(resourceId)
    clearInterval(previous?.healthTimer)
    // A restart (the same entry still current) keeps the streak; a fresh ensure starts from none.
    const entry: Supervised = { state, removing: false, healthy: false, healthFailures: 0, crashStreak: previous?.crashStreak ?? 0, startedAtMs: performance.now() }
    this.supervised.set(resourceId, entry)
    this.watchHealth(resourceId, entry)
    child.once('exit', (code, signal) => this.onExit(resourceId, entry, signal === null ? `exited with code ${code}` : `killed by ${signal}`))
  }

  /** The values of a workload's envFiles, read from DATA/secrets/ (see processWorkloadSchema). */
  private async readEnvFiles (envFiles: Readonly<Record<string, string>>): Promise<Record<string, string>> {
    const root = join(this.options.dataDir, 'secrets')
    const values: Record<string, string> = {}
    for (const [name, path] of Object.entries(envFiles)) {
      const file = join(root, path)
      let real: string
      try {
        real = await realpath(file)
      } catch {
        throw new Error(`envFiles.${name}: no secret file ${file}`)
      }
      if (!real.startsWith((await realpath(root)) + sep)) throw new Error(`envFiles.${name}: ${file} leads out of ${root} through a symlink`)
      const handle = await open(real, 'r')
      try {
        const buffer = Buffer.alloc(secretBytesMax + 1)
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
        if (bytesRead > secretBytesMax) throw new Error(`envFiles.${name}: ${file} is larger than ${secretBytesMax} bytes`)
        values[name] = buffer.subarray(0, bytesRead).toString('utf8').replace(/\r?\n$/, '')
      } finally {
        await handle.close()
      }
    }
    return values
  }

  /** Runs the workload's health check every intervalMs while this entry is current. */
  private watchHealth (resourceId: string, entry: Supervised): void {
    const health = healthOf(entry.state)
    if (health === undefined) return
    let checking = false
    entry.healthTimer = setInterval(() => {
      if (checking || entry.removing || this.supervised.get(resourceId) !== entry || !isSameProcessAlive(entry.state)) return
      checking = true
      void checkHealth(health).then((problem) => {
        checking = false
        if (problem === undefined) {
          entry.healthy = true
          entry.healthFailures = 0
          return
        }
        entry.healthFailures++
        const startupMs = health.startupMs ?? 300_000
        const neverHealthy = !entry.healthy && performance.now() - entry.startedAtMs > startupMs
        if ((entry.healthy && entry.healthFailures >= (health.failures ?? 3)) || neverHealthy) {
          // Was healthy and is no longer, or never was: kill it; the exit handler restarts it with back-off.
          entry.healthProblem = neverHealthy ? `not healthy within ${startupMs} ms: ${problem}` : `health check failed ${entry.healthFailures} times: ${problem}`
          clearInterval(entry.healthTimer)
          signalGroup(entry.state.pid, 'SIGKILL')
          if (!isChild(entry)) this.onExit(resourceId, entry, entry.healthProblem)
        }
      })
    }, health.intervalMs ?? 1_000)
    entry.healthTimer.unref()
  }

  private onExit (resourceId: string, entry: Supervised, how: string): void {
    // Once per exit: a second report of the same exit set a second restart timer over the first (two
    // processes, one of them an orphan) and counted the crash twice (the back-off jumped a step).
    if (entry.removing || this.supervised.get(resourceId) !== entry || entry.restartTimer !== undefined) return
    clearInterval(entry.healthTimer)
    if (performance.now() - entry.startedAtMs >= (this.options.backoffResetMs ?? 60_000)) entry.crashStreak = 0
    const delayMs = Math.min((this.options.restartDelayMs ?? 500) * 2 ** entry.crashStreak, this.options.maxRestartDelayMs ?? 30_000)
    entry.crashStreak++
    entry.lastExit = `${entry.healthProblem ?? how}; restarting in ${delayMs} ms`
    entry.restartTimer = setTimeout(() => {
      entry.restartTimer = undefined
      if (entry.removing) return
      const restarts = entry.state.restarts + 1
      const restarting = this.start(resourceId, entry.state.workload as WorkloadSpec, entry.state.specHash, restarts, entry.state.epoch).catch((error: Error) => {
        // Still the current entry (start replaces it only once spawned): count the try, wait longer.
        entry.state = { ...entry.state, restarts }
        entry.startedAtMs = performance.now()
        delete entry.healthProblem
        this.onExit(resourceId, entry, `restart failed: ${error.message}`)
      })
      // A remove or ensure that comes meanwhile waits for it, or it would spawn after the stop (an orphan).
      this.restarting.set(resourceId, restarting)
      void restarting.finally(() => { if (this.restarting.get(resourceId) === restarting) this.restarting.delete(resourceId) })
    }, delayMs)
    entry.restartTimer.unref()
  }

  /** Adopted processes are not our children: no exit event, so look. */
  private async pollAdopted (): Promise<void> {
    for (const [resourceId, entry] of this.supervised) {
      // Only adopted ones: a child of ours is reported by its exit event, and a zombie not reaped yet
      // looked dead here first, so the same exit was reported twice.
      if (!isChild(entry) && entry.restartTimer === undefined && !entry.removing && !isSameProcessAlive(entry.state) && entry.lastExit === undefined) {
        this.onExit(resourceId, entry, 'exited while the daemon was away')
      }
    }
  }

  /** Reads the state left by an earlier life of the daemon, once. */
  private async loadOnce (): Promise<void> {
    if (this.loaded) return
    this.loaded = true
    await mkdir(this.stateDir, { recursive: true })
    for (const name of await readdir(this.stateDir)) {
      if (!name.endsWith('.json')) continue
      const resourceId = decodeURIComponent(name.slice(0, -'.json'.length))
      try {
        const state = await this.completeIntent(join(this.stateDir, name), stateSchema.parse(JSON.parse(await readFile(join(this.stateDir, name), 'utf8'))))
        if (state === undefined) continue
        // An adopted process was healthy enough to be running before; it is checked again from here on.
        const entry: Supervised = { state, removing: false, healthy: true, healthFailures: 0, adopted: true, crashStreak: 0, startedAtMs: performance.now() }
        this.supervised.set(resourceId, entry)
        this.watchHealth(resourceId, entry)
      } catch (error) {
        // Torn or foreign: nothing we can adopt. Kept aside, not deleted: it may name a process that
        // still runs, which an operator can then find and stop.
        const path = join(this.stateDir, name)
        const aside = `${path}.damaged-${Date.now()}`
        await rename(path, aside).catch(() => {})
        this.problems.push(`${aside}: ${(error as Error).message.split('\n')[0] ?? 'unreadable'}`)
      }
    }
  }

  /**
   * A state with no pid: the daemon stopped between writing its intent and recording the spawn. The
   * process, if it was spawned, is the group leader with our token in its environment; recorded now.
   * Undefined (and the file removed) when it never started.
   */
  private async completeIntent (path: string, state: IntentState): Promise<ProcessState | undefined> {
    if (state.pid !== null) return state as ProcessState
    const pid = state.instance === undefined ? undefined : findByInstance(state.instance)
    if (pid === undefined) {
      await rm(path, { force: true })
      return undefined
    }
    const found: ProcessState = { ...state, pid, startTicks: readStartTicks(pid) ?? '' }
    await writeState(path, found)
    return found
  }

  /** Rotates every supervised workload's log that grew past maxLogBytes (see the header). */
  private async rotateLogs (): Promise<void> {
    const maxBytes = this.options.maxLogBytes ?? 16 * 1024 * 1024
    for (const resourceId of this.supervised.keys()) {
      const path = this.logPath(resourceId)
      try {
        if ((await stat(path)).size <= maxBytes) continue
        await copyFile(path, `${path}.1`)
        await truncate(path, 0)
      } catch { /* no log yet, or gone: nothing to rotate */ }
    }
  }

  private logPath (resourceId: string): string {
    return join(this.logDir, `${encodeURIComponent(resourceId)}.log`)
  }

  private statePath (resourceId: string): string {
    return join(this.stateDir, `${encodeURIComponent(resourceId)}.json`)
  }
}

/** Fields 3 onwards of /proc/<pid>/stat (Linux); the command name (field 2) may hold spaces, so split after ')'. */
function readStatFields (pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** Writes a state file atomically (an intent, or a spawned process's state), readable by the daemon only. */
async function writeState (path: string, state: IntentState): Promise<void> {
  await writeFileAtomically(path, Buffer.from(JSON.stringify(state)), 0o600)
}

/** The process group leader whose environment holds SHOAL_INSTANCE=instance (its children inherit it too). */
function findByInstance (instance: string): number | undefined {
  const needle = `\0SHOAL_INSTANCE=${instance}\0`
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return undefined
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    try {
      if (`\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}`.includes(needle) && readStatFields(pid)?.[2] === entry) return pid
    } catch { /* gone, or not ours to read */ }
  }
  return undefined
}

/** The start time of `pid` (field 22), which tells a reused pid from ours. */
function readStartTicks (pid: number): string | undefined {
  return readStatFields(pid)?.[19]
}

function isSameProcessAlive (state: ProcessState): boolean {
  try {
    process.kill(state.pid, 0)
  } catch {
    return false
  }
  const fields = readStatFields(state.pid)
  if (fields === undefined) return true // no /proc: trust kill(0)
  // A zombie has exited: an adopted process whose new parent (often pid 1 in a container) has not reaped it.
  if (fields[0] === 'Z') return false
  return state.startTicks === '' || fields[19] === state.startTicks
}

function signalGroup (pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    try { process.kill(pid, signal) } catch { /* already gone */ }
  }
}

async function stopGroup (state: ProcessState, graceMs: number): Promise<void> {
  if (!isSameProcessAlive(state)) return
  signalGroup(state.pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!isSameProcessAlive(state)) return
    await new Promise((resolveWait) => setTimeout(resolveWait, 50))
  }
  signalGroup(state.pid, 'SIGKILL')
}

function isChild (entry: Supervised): boolean {
  return entry.adopted !== true
}

function healthOf (state: ProcessState): HealthCheck | undefined {
  const parsed = healthCheckSchema.optional().safeParse((state.workload as { health?: unknown }).health)
  return parsed.success ? parsed.data : undefined
}

/** Runs one check: undefined when it passed, else what went wrong. */
async function checkHealth (health: HealthCheck): Promise<string | undefined> {
  const timeoutMs = health.timeoutMs ?? 1_000
  if (health.http !== undefined) {
    try {
      const response = await fetch(health.http, { signal: AbortSignal.timeout(timeoutMs) })
      await response.body?.cancel()
      return response.ok ? undefined : `${health.http} answered ${response.status}`
    } catch (error) {
      return `${health.http}: ${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}`
    }
  }
  const [host, port] = (health.tcp ?? '').split(':')
  return await new Promise((resolveCheck) => {
    const socket = connect({ host, port: Number(port), timeout: timeoutMs })
    socket.once('connect', () => { socket.destroy(); resolveCheck(undefined) })
    socket.once('timeout', () => { socket.destroy(); resolveCheck(`${health.tcp}: no connection within ${timeoutMs} ms`) })
    socket.once('error', (error: NodeJS.ErrnoException) => { resolveCheck(`${health.tcp}: ${error.code ?? error.message}`) })
  })
}
