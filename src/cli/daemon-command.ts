// `shoal daemon`: starts a node and its API, writes daemon.json when ready, and on SIGTERM or SIGINT
// stops for a restart (workloads keep running; the others hold them for the grace time). SIGHUP
// reopens the log file (for logrotate); nothing else is reloaded: every other setting shapes the
// node's identity or its record, and a restart (SIGTERM, then start) applies it without moving work.
// The signal handlers are installed first, so that a signal during start-up waits for it to finish
// and then stops cleanly, instead of killing the process half-started.

import { resolve } from 'node:path'
import type { Labels } from '../core/index.ts'
import type { NetConfig } from '../net/config.ts'
import { startApi } from '../daemon/api.ts'
import { loadCluster } from '../daemon/cluster.ts'
import { Daemon } from '../daemon/daemon.ts'
import { createLogger } from '../daemon/log.ts'

export interface DaemonCommandOptions {
  readonly cluster: string
  readonly data: string
  readonly listen: readonly string[]
  readonly api: { host: string, port: number }
  readonly bootstrap: readonly string[]
  readonly label: Labels
  readonly slots: number
  readonly graceMs: number
  readonly log?: string
  readonly logLevel: string
  /** The mesh's settings (net/config.ts): the defaults with the config file's `net:` over them. */
  readonly net: NetConfig
  /** Where file workloads may write absolute paths. */
  readonly fileRoots: readonly string[]
}

/**
 * For the fault lab only (testing/lab.ts `clockOffset`): a wall clock that runs this far ahead of the
 * host's, to test what a node with a wrong clock does. Every wall-clock read in Shoal is Date.now();
 * intervals use the monotonic clock and are unaffected, as a real wrong clock would leave them.
 */
function applyTestClockOffset (): void {
  const offsetMs = Number(process.env.SHOAL_TEST_CLOCK_OFFSET_MS ?? 0)
  if (!Number.isFinite(offsetMs) || offsetMs === 0) return
  const hostNow = Date.now.bind(Date)
  Date.now = () => hostNow() + offsetMs
}

/** Runs until a signal; resolves with the exit code. */
export async function runDaemon (options: DaemonCommandOptions): Promise<number> {
  applyTestClockOffset()
  const stopSignal = new Promise<NodeJS.Signals>((resolveSignal) => {
    process.once('SIGTERM', () => { resolveSignal('SIGTERM') })
    process.once('SIGINT', () => { resolveSignal('SIGINT') })
  })
  let reopenLog = (): void => {}
  process.on('SIGHUP', () => { reopenLog() })

  const cluster = await loadCluster(options.cluster)
  const log = await createLogger({ ...(options.log === undefined ? {} : { file: options.log }), level: options.logLevel })
  const logger = log.logger
  // Every background promise of ours is handled; one that is not (a library's) is logged with its
  // stack and the daemon goes on: its loops retry on their own. An exception nobody caught leaves the
  // process in an unknown state: log it, stop as for a restart (workloads keep running, the others
  // hold them), exit 1 so that systemd's Restart=on-failure starts a fresh one.
  process.on('unhandledRejection', (reason) => {
    logger.error({ error: String(reason), stack: (reason as Error | undefined)?.stack }, 'a promise was rejected with no handler; going on')
  })
  let daemon: Daemon | undefined
  process.on('uncaughtException', (error) => {
    logger.fatal({ error: error.message, stack: error.stack }, 'unexpected error; stopping for a restart')
    const stopped = daemon === undefined ? Promise.resolve() : daemon.stop('restart')
    void stopped.catch(() => {}).finally(() => process.exit(1))
    setTimeout(() => process.exit(1), 10_000).unref()
  })
  reopenLog = () => { logger.info(log.reopen() ? 'SIGHUP: reopened the log file' : 'SIGHUP: nothing to reopen (logging to stdout); other settings take a restart') }
  daemon = await Daemon.start({
    cluster, dataDir: resolve(options.data), listen: options.listen, bootstrap: options.bootstrap,
    labels: options.label, slots: options.slots, graceMs: options.graceMs, logger, config: options.net, fileRoots: options.fileRoots,
  })
  const token = await daemon.apiToken()
  const api = await startApi(daemon, { ...options.api, token, metricsToken: await daemon.metricsToken() }).catch(async (error: Error) => {
    await daemon.stop('restart')
    throw new Error(`cannot listen for the API on ${options.api.host}:${options.api.port}: ${error.message}`)
  })
  const info = await daemon.announce({ url: api.url, token })
  logger.info({ node: info.peerId, api: api.url, addresses: info.addresses }, 'ready')
  const signal = await stopSignal
  logger.info({ signal }, 'stopping for a restart')
  await api.close()
  await daemon.stop('restart')
  return 0
}
