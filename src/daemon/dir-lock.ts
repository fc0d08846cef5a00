// One daemon per data directory. Two daemons on one --data would share an identity, its generation
// counter and its workloads' state files, and each would start and stop the other's processes. The
// first takes `daemon.lock` (its pid); the second gets one line naming the first.
//
// Node has no flock(), so the lock is a file made with link(2), which fails if the name exists: of two
// daemons starting at once, exactly one wins. A lock whose process is gone (kill -9, a crash, a
// reboot) is stale and taken over; "gone" means no such pid, or a pid reused by a process that is not
// a Shoal daemon (/proc/PID/cmdline). Two daemons taking over the same stale lock at the same instant
// could both win (read, unlink, link is not one step); that needs two starts within microseconds
// after a crash, and is left at that.

import { readFileSync } from 'node:fs'
import { link, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const lockFileName = 'daemon.lock'

export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError'
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processIsRunning (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function isShoalDaemon (pid: number): boolean {
  if (!processIsRunning(pid)) return false
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('daemon')
  } catch {
    return true // no /proc here: a live pid is taken at its word
  }
}

/** The pid written in the lock file, or NaN when there is none (or it is not a number). */
async function lockHolder (path: string): Promise<number> {
  return Number((await readFile(path, 'utf8').catch(() => '')).trim())
}

/** Takes the data dir for this process; throws DataDirInUseError if a live daemon holds it. */
export async function lockDataDir (dataDir: string): Promise<void> {
  const path = join(dataDir, lockFileName)
  const claim = `${path}.${process.pid}`
  await writeFile(claim, `${process.pid}\n`, { mode: 0o600 })
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(claim, path)
        return
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      }
      const holder = await lockHolder(path)
      if (holder === process.pid) return
      if (Number.isSafeInteger(holder) && holder > 0 && isShoalDaemon(holder)) {
        throw new DataDirInUseError(`another daemon (pid ${holder}) is running with ${dataDir}; stop it first, or give this one its own --data`)
      }
      await rm(path, { force: true }) // stale: its daemon is gone
    }
    throw new Error(`cannot take ${path}: it keeps changing`)
  } finally {
    await rm(claim, { force: true })
  }
}

/** Gives the data dir up, if this process holds it. */
export async function unlockDataDir (dataDir: string): Promise<void> {
  const path = join(dataDir, lockFileName)
  if (await lockHolder(path) === process.pid) await rm(path, { force: true })
}
