// The file actuator (DESIGN.md §7): a workload `{ kind: 'file', path, content, mode? }` is a file with
// that content. Confined, because a policy reaches every node and must not be able to write any file
// the daemon's user can: a relative path is under `dataDir/files/` (so several daemons on one host do
// not collide) and may not climb out with `..`; an absolute path must be under one of the roots the
// daemon's own config lists (`fileRoots`, none by default); a directory on the way that is a symlink
// out of its root is refused; setuid, setgid and sticky modes are refused; and `observe` reads at most
// the largest content a workload may have.
//
// Crash safety: intent first, then the effect. `ensure` records what it is about to write in a state
// file named after the resource id (written atomically), then writes the file atomically (temp file,
// fsync, rename, fsync of the directory). `observe` re-reads the world: a file whose content is no
// longer what Shoal wrote is reported with an empty spec hash, so the planner replaces (rewrites) it.
// `remove` deletes a file only while its content is still what Shoal wrote: a file somebody changed
// by hand is left alone, and only Shoal's record of it is dropped.

import { createHash } from 'node:crypto'
import { mkdir, open, readdir, readFile, realpath, rename, rm } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { z } from 'zod'
import type { WorkloadSpec } from '../core/index.ts'
import type { Actuator, ObservedWorkload } from './actuator.ts'

const contentBytesMax = 1024 * 1024

const fileWorkloadSchema = z.object({
  kind: z.literal('file'),
  path: z.string().min(1).max(4_096),
  content: z.string().max(contentBytesMax),
  mode: z.number().int().min(0).max(0o777, 'setuid, setgid and sticky bits are refused').optional(),
})

export interface FileActuatorOptions {
  /** Directories under which absolute paths may be written (the daemon's `fileRoots`); none by default. */
  readonly roots?: readonly string[]
}

function within (root: string, path: string): boolean {
  const rest = relative(root, path)
  return rest === '' || (!rest.startsWith(`..${sep}`) && rest !== '..' && !isAbsolute(rest))
}

const stateSchema = z.strictObject({ path: z.string(), specHash: z.string(), contentHash: z.string() })
type FileState = z.infer<typeof stateSchema>

export class FileActuator implements Actuator {
  readonly kind = 'file'
  private readonly stateDir: string
  private readonly filesDir: string
  private readonly roots: readonly string[]

  /** `dataDir`: the node's data directory; state lives in `dataDir/actuators/file`, relative paths in `dataDir/files`. */
  constructor (dataDir: string, options: FileActuatorOptions = {}) {
    this.stateDir = join(dataDir, 'actuators', 'file')
    this.filesDir = join(dataDir, 'files')
    this.roots = (options.roots ?? []).map((root) => resolve(root))
  }

  /** Where a workload's path may be written, with the root it must stay in; throws naming the problem. */
  private placeOf (path: string): { target: string, root: string } {
    if (isAbsolute(path)) {
      const target = resolve(path)
      const root = this.roots.find((candidate) => within(candidate, target))
      if (root === undefined) throw new Error(`file workload: path: ${path} is outside the daemon's fileRoots (${this.roots.join(', ') || 'none set'})`)
      return { target, root }
    }
    if (path.split(/[\\/]/).includes('..')) throw new Error(`file workload: path: ${path} climbs out of the files directory ('..')`)
    return { target: resolve(this.filesDir, path), root: this.filesDir }
  }

  async observe (): Promise<ObservedWorkload[]> {
    await mkdir(this.stateDir, { recursive: true })
    const observed: ObservedWorkload[] = []
    for (const name of await readdir(this.stateDir)) {
      if (!name.endsWith('.json')) continue
      const resourceId = decodeURIComponent(name.slice(0, -'.json'.length))
      const state = await this.readState(resourceId)
      if (state === undefined) continue
      const current = await readBounded(state.path)
      const intact = current !== undefined && sha256(current) === state.contentHash
      observed.push(intact
        ? { resourceId, specHash: state.specHash, phase: 'running', restarts: 0 }
        : { resourceId, specHash: '', phase: 'failed', restarts: 0, lastError: `${state.path} is missing or was changed by hand` })
    }
    return observed
  }

  async ensure (resourceId: string, workload: WorkloadSpec, specHash: string): Promise<void> {
    const parsed = fileWorkloadSchema.safeParse(workload)
    if (!parsed.success) throw new Error(`file workload: ${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
    const { target: path, root } = this.placeOf(parsed.data.path)
    await mkdir(root, { recursive: true })
    await mkdir(dirname(path), { recursive: true })
    if (!within(await realpath(root), await realpath(dirname(path)))) throw new Error(`file workload: path: ${parsed.data.path} leads out of ${root} through a symlink`)
    const content = Buffer.from(parsed.data.content, 'utf8')
    await this.writeState(resourceId, { path, specHash, contentHash: sha256(content) })
    await writeFileAtomically(path, content, parsed.data.mode ?? 0o644)
  }

  async remove (resourceId: string): Promise<void> {
    const state = await this.readState(resourceId)
    if (state !== undefined) {
      const current = await readBounded(state.path)
      if (current !== undefined && sha256(current) === state.contentHash) await rm(state.path, { force: true })
    }
    await rm(this.statePath(resourceId), { force: true })
  }

  private statePath (resourceId: string): string {
    return join(this.stateDir, `${encodeURIComponent(resourceId)}.json`)
  }

  private async readState (resourceId: string): Promise<FileState | undefined> {
    try {
      return stateSchema.parse(JSON.parse(await readFile(this.statePath(resourceId), 'utf8')))
    } catch {
      return undefined // no record, or a torn one from before the atomic write existed: nothing to own
    }
  }

  private async writeState (resourceId: string, state: FileState): Promise<void> {
    await writeFileAtomically(this.statePath(resourceId), Buffer.from(JSON.stringify(state)), 0o600)
  }
}

/** Temp file in the same directory, fsync, rename over the target, fsync the directory. */
/** What a temporary file of writeFileAtomically ends with (`.<random>.shoal-tmp`). */
const temporarySuffix = '.shoal-tmp'

/**
 * Removes temporary files a crash left behind (between writing and renaming) under `dir`, down to
 * `depth` levels, skipping the directories named in `skip`. The daemon runs it on its data dir at start.
 */
export async function sweepTemporaryFiles (dir: string, skip: readonly string[] = [], depth = 4): Promise<number> {
  let removed = 0
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  for (const entry of entries) {
    if (entry.isDirectory() && depth > 0 && !skip.includes(entry.name)) removed += await sweepTemporaryFiles(join(dir, entry.name), [], depth - 1)
    else if (entry.isFile() && /^\.[a-z0-9]+\.shoal-tmp$/.test(entry.name)) {
      await rm(join(dir, entry.name), { force: true })
      removed++
    }
  }
  return removed
}

export async function writeFileAtomically (path: string, content: Uint8Array, mode: number): Promise<void> {
  const directory = dirname(path)
  await mkdir(directory, { recursive: true })
  const temporary = join(directory, `.${Math.random().toString(36).slice(2)}${temporarySuffix}`)
  try {
    const handle = await open(temporary, 'w', mode)
    try {
      await handle.writeFile(content)
      await handle.chmod(mode)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, { force: true }) // a full disk, say: leave nothing half-written behind
    throw error
  }
  const directoryHandle = await open(directory, 'r')
  try {
    await directoryHandle.sync()
  } finally {
    await directoryHandle.close()
  }
}

/** A file's content, read no further than one byte past the largest a workload may have (undefined if unreadable). */
async function readBounded (path: string): Promise<Buffer | undefined> {
  const handle = await open(path, 'r').catch(() => undefined)
  if (handle === undefined) return undefined
  try {
    const { size } = await handle.stat()
    if (size > contentBytesMax * 4) return Buffer.alloc(0) // larger than anything we write (UTF-8: 4 bytes a character at most): not ours
    const buffer = Buffer.alloc(size)
    const { bytesRead } = await handle.read(buffer, 0, size, 0)
    return buffer.subarray(0, bytesRead)
  } catch {
    return undefined
  } finally {
    await handle.close()
  }
}

function sha256 (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}
