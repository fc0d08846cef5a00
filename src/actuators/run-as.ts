// Whom a process workload runs as: `user:` (and optionally `group:`), a name or a number. Names are
// resolved at each start by the host's own `id` and `getent` (coreutils and libc, on every Linux), so
// users from NSS (LDAP, sssd) resolve as they do for the rest of the host — a parse of /etc/passwd
// would not, and a native module for getpwnam is a build step on every host for two lookups.
//
// Only a daemon running as root can start a process as someone else; asked to, any other daemon fails
// the start with a line that says so (the same user as the daemon's is always allowed).

import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface Account {
  readonly uid: number
  readonly gid: number
}

/** The uid and gid to start a process with, or undefined to run as the daemon's own user. */
export async function accountFor (user: string | undefined, group: string | undefined): Promise<Account | undefined> {
  if (user === undefined && group === undefined) return undefined
  const ownUid = process.getuid?.() ?? -1
  const uid = user === undefined ? ownUid : await lookUp('user', user, async () => await idOf(['-u', user]))
  const gid = group !== undefined
    ? await lookUp('group', group, async () => await groupIdOf(group))
    : user !== undefined ? await lookUp('user', user, async () => await idOf(['-g', user])) : process.getgid?.() ?? -1
  if (ownUid !== 0 && (uid !== ownUid || gid !== (process.getgid?.() ?? -1))) {
    throw new Error(`user/group: running a workload as ${user ?? ''}${group === undefined ? '' : `:${group}`} needs the daemon to run as root`)
  }
  return { uid, gid }
}

async function lookUp (what: 'user' | 'group', name: string, resolve: () => Promise<number | undefined>): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name)
  const id = await resolve()
  if (id === undefined) throw new Error(`${what}: no ${what} named ${JSON.stringify(name)} on this host`)
  return id
}

async function idOf (args: string[]): Promise<number | undefined> {
  try {
    const { stdout } = await run('id', args, { timeout: 5_000 })
    return Number.parseInt(stdout.trim(), 10)
  } catch {
    return undefined
  }
}

async function groupIdOf (name: string): Promise<number | undefined> {
  try {
    const { stdout } = await run('getent', ['group', name], { timeout: 5_000 })
    const gid = Number.parseInt(stdout.split(':')[2] ?? '', 10)
    return Number.isSafeInteger(gid) ? gid : undefined
  } catch {
    return undefined
  }
}
