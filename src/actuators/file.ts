// The file actuator (DESIGN.md §7): a workload `{ kind: 'file', path, content, mode? }` is a file with
// that content. A relative path is relative to the node's data directory, so several daemons on one
// host do not collide.
//
// Crash safety: intent first, then the effect. `ensure` records what it is about to write in a state
// file named after the resource id (written atomically), then writes the file atomically (temp file,
// fsync, rename, fsync of the directory). `observe` re-reads the world: a file whose content is no
// longer what Shoal wrote is reported with an empty spec hash, so the planner replaces (rewrites) it.
// `remove` deletes a file only while its content is still what Shoal wrote: a file somebody changed
// by hand is left alone, and only Shoal's record of it is dropped.

import { createHash } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { z } from 'zod'
import type { WorkloadSpec } from '../core/index.ts'
import type { Actuator, ObservedWorkload } from './actuator.ts'

const fileWorkloadSchema = z.object({
  kind: z.literal('file'),
  path: z.string().min(1).max(4_096),
  content: z.string().max(1024 * 1024),
  mode: z.number().int().min(0).max(0o7777).optional(),
})

const stateSchema = z.strictObject({ path: z.string(), specHash: z.string(), contentHash: z.string() })
type FileState = z.infer<typeof stateSchema>

export class FileActuator implements Actuator {
  readonly kind = 'file'
  private readonly stateDir: string

  /** `dataDir`: the node's data directory; state lives in `dataDir/actuators/file`. */
  constructor (private readonly dataDir: string) {
    this.stateDir = join(dataDir, 'actuators', 'file')
  }

  async observe (): Promise<ObservedWorkload[]> {
    await mkdir(this.stateDir, { recursive: true })
    const observed: ObservedWorkload[] = []
    for (const name of await readdir(this.stateDir)) {
      if (!name.endsWith('.json')) continue
      const resourceId = decodeURIComponent(name.slice(0, -'.json'.length))
      const state = await this.readState(resourceId)
      if (state === undefined) continue
      const current = await readFile(state.path).catch(() => undefined)
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
    const path = isAbsolute(parsed.data.path) ? parsed.data.path : resolve(this.dataDir, parsed.data.path)
    const content = Buffer.from(parsed.data.content, 'utf8')
    await this.writeState(resourceId, { path, specHash, contentHash: sha256(content) })
    await writeFileAtomically(path, content, parsed.data.mode ?? 0o644)
  }

  async remove (resourceId: string): Promise<void> {
    const state = await this.readState(resourceId)
    if (state !== undefined) {
      const current = await readFile(state.path).catch(() => undefined)
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
export async function writeFileAtomically (path: string, content: Uint8Array, mode: number): Promise<void> {
  const directory = dirname(path)
  await mkdir(directory, { recursive: true })
  const temporary = join(directory, `.${Math.random().toString(36).slice(2)}.shoal-tmp`)
  const handle = await open(temporary, 'w', mode)
  try {
    await handle.writeFile(content)
    await handle.chmod(mode)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temporary, path)
  const directoryHandle = await open(directory, 'r')
  try {
    await directoryHandle.sync()
  } finally {
    await directoryHandle.close()
  }
}

function sha256 (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}
