// The daemon's structured log: pino, one JSON object per line, to a file or to stdout; made readable
// (pino-pretty, loaded only then) when stdout is a terminal. Synchronous writes: a line logged just
// before a crash is in the file, which matters more here than throughput (a daemon logs a few lines a
// second). A log file can be reopened (SIGHUP), so that logrotate can move it away.

import { pino, type Logger } from 'pino'

export type { Logger }

export interface DaemonLog {
  readonly logger: Logger
  /** Reopens the log file (after logrotate moved it); false when logging to stdout, which has nothing to reopen. */
  reopen(): boolean
}

export async function createLogger (options: { file?: string, level?: string }): Promise<DaemonLog> {
  const base = { level: options.level ?? 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }
  if (options.file !== undefined) {
    const destination = pino.destination({ dest: options.file, sync: true, mkdir: true })
    return { logger: pino(base, destination), reopen: () => { destination.reopen(); return true } }
  }
  if (process.stdout.isTTY) {
    const { default: PinoPretty } = await import('pino-pretty')
    return { logger: pino(base, PinoPretty({ sync: true, translateTime: 'HH:MM:ss.l', ignore: 'pid' })), reopen: () => false }
  }
  return { logger: pino(base, pino.destination({ dest: 1, sync: true })), reopen: () => false }
}

/** A logger that drops everything: for tests that build a daemon in-process. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
