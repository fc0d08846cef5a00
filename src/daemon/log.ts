// The daemon's structured log: pino, one JSON object per line, to a file or to stdout; made readable
// (pino-pretty) when stdout is a terminal. Synchronous writes: a line logged just before a crash is
// in the file, which matters more here than throughput (a daemon logs a few lines a second).

import { pino, type Logger } from 'pino'
import PinoPretty from 'pino-pretty'

export type { Logger }

export function createLogger (options: { file?: string, level?: string }): Logger {
  const base = { level: options.level ?? 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }
  if (options.file !== undefined) return pino(base, pino.destination({ dest: options.file, sync: true, mkdir: true }))
  if (process.stdout.isTTY) return pino(base, PinoPretty({ sync: true, translateTime: 'HH:MM:ss.l', ignore: 'pid' }))
  return pino(base, pino.destination({ dest: 1, sync: true }))
}

/** A logger that drops everything: for tests that build a daemon in-process. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
