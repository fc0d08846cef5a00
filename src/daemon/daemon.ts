// `shoal daemon`: one node of the fleet, wired from the parts — the data store (identity, generation,
// records), the mesh (net/), the reconciler with the process and file actuators, and the local API.
//
// Start:  identity → next generation → what runs here (adopted as running after a clean stop within
//         the grace time, else provisional) → mesh seeded with the saved records → first adjacency
//         (when any peer is known; at most joinTimeoutMs) → reconciler → API →
//         daemon.json (peer id, addresses, API url and token; mode 0600), written last: its presence
//         with a live pid means "ready".
// Run:    records are saved every second when they changed (a crash loses at most that, and peers
//         hand it back); every change worth knowing becomes an event (log, API event stream).
// Stop:   SIGTERM is a restart: the reconciler stops, workloads keep running, a last record asks the
//         others to hold our work for the grace time, and shutdown.json says when that ends. A crash
//         asks nothing: the others move our work at once, and when we come back our workloads are
//         provisional, so the view decides whether they stay.

import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import {
  computeView, describeQuorum, describeRollout, judgeConvergence, recordKey, rolloutsUnderway, type Action, type Labels, type RecordKey, type ResourceStatus, type ServiceRollout, type ShoalRecord, type TargetView,
} from '../core/index.ts'
import { FileActuator, ProcessActuator, type Actuator, type ObservedWorkload } from '../actuators/index.ts'
import { sweepTemporaryFiles, writeFileAtomically } from '../actuators/file.ts'
import { defaultNetConfig, MeshNode, peerIdOf, type NetConfig } from '../net/index.ts'
import { shoalVersion } from '../package.ts'
import type { Cluster } from './cluster.ts'
import type { Logger } from './log.ts'
import { daemonThrottle, defaultJoinTimeoutMs, Reconciler, waitToJoin } from './reconciler.ts'
import { lockDataDir, unlockDataDir } from './dir-lock.ts'
import { DataStore } from './store.ts'

export interface DaemonOptions {
  readonly cluster: Cluster
  readonly dataDir: string
  readonly listen: readonly string[]
  readonly bootstrap: readonly string[]
  readonly labels: Labels
  readonly slots: number
  /** How long the others hold our work after a SIGTERM, waiting for us to come back. */
  readonly graceMs: number
  readonly logger: Logger
  readonly config?: NetConfig
  /** Directories under which file workloads may write absolute paths (none by default). */
  readonly fileRoots?: readonly string[]
  /** At start, wait this long at most for a first adjacency before acting (when any peer is known). */
  readonly joinTimeoutMs?: number
}

/** What `daemon.json` holds: how clients and tests find a running daemon. */
export interface DaemonInfo {
  readonly peerId: string
  readonly pid: number
  readonly generation: number
  readonly addresses: readonly string[]
  readonly api: { readonly url: string, readonly token: string }
  readonly cluster: string
  readonly dataDir: string
}

export type DaemonEvent =
  | { readonly type: 'view', readonly viewHash: string, readonly assigned: readonly string[], readonly component: number }
  | { readonly type: 'actions', readonly actions: readonly string[], readonly failures: readonly string[] }
  | { readonly type: 'adjacency', readonly peers: readonly string[] }
  | { readonly type: 'policy', readonly key: string, readonly deleted: boolean, readonly signer: string }
  | {
    readonly type: 'rollout', readonly service: string, readonly updated: number, readonly replicas: number
    readonly phase: 'started' | 'progressed' | 'paused' | 'failed' | 'reverted' | 'finished'
  }

export interface StatusReport {
  readonly node: string
  /** The Shoal release this daemon runs. */
  readonly version: string
  readonly generation: number
  readonly cluster: string
  readonly addresses: readonly string[]
  readonly viewHash: string
  readonly converged: boolean
  /** Why not converged, one line each (a few at most). */
  readonly problems: readonly string[]
  /** Nodes in this node's component (itself included). */
  readonly reachable: readonly string[]
  /** Nodes whose work is held while they restart. */
  readonly held: readonly string[]
  readonly connected: readonly string[]
  readonly assigned: readonly string[]
  readonly running: readonly string[]
  readonly records: number
  /** Services rolling out a new spec, one line each (core/rollout.ts describeRollout). */
  readonly rollouts: readonly string[]
  /** Whether this side may run `partition: majority` services, as a line (core/quorum.ts). */
  readonly quorum: string
}

/** records.log may grow to this (or to records.bin's size, if larger) before records.bin is rewritten. */
const minimumLogBytes = 1024 * 1024

/** How long a stopped process gets between SIGTERM and SIGKILL. */
const processStopGraceMs = 5_000

export class Daemon extends EventEmitter<{ event: [event: DaemonEvent & { readonly at: string }] }> {
  readonly mesh: MeshNode
  readonly reconciler: Reconciler
  readonly store: DataStore
  /** Rollouts underway at the last look, by service (for their events). */
  private underway = new Map<string, ServiceRollout>()
  readonly generation: number
  private readonly options: DaemonOptions
  private readonly processes: ProcessActuator
  private readonly saveTimer: NodeJS.Timeout
  /** Keys of records merged since the last save (their newest envelopes are appended to the log). */
  private unsaved = new Set<RecordKey>()
  /** Rewrite records.bin at the next save: at start, and after a failed append (it may have torn the log). */
  private compactNext = true
  private saving: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  private acting: Promise<void> = Promise.resolve()

  private constructor (options: DaemonOptions, parts: { store: DataStore, mesh: MeshNode, reconciler: Reconciler, processes: ProcessActuator, generation: number }) {
    super()
    this.options = options
    this.store = parts.store
    this.mesh = parts.mesh
    this.reconciler = parts.reconciler
    this.processes = parts.processes
    this.generation = parts.generation
    this.mesh.on('record:merged', (record) => this.unsaved.add(recordKey(record)))
    this.saveTimer = setInterval(() => { void this.saveRecords() }, 1_000)
    this.saveTimer.unref()
    this.watch()
  }

  static async start (options: DaemonOptions): Promise<Daemon> {
    const log = options.logger
    const store = new DataStore(options.dataDir)
    await store.prepare()
    await lockDataDir(options.dataDir)
    // Half-written files a crash left between write and rename (the workloads' own dirs are theirs).
    const swept = await sweepTemporaryFiles(options.dataDir, ['work', 'logs'])
    if (swept > 0) log.info({ files: swept }, 'removed temporary files left by an interrupted write')
    const privateKey = await store.loadOrCreateIdentity()
    const generation = await store.nextGeneration()
    const holdUntilMs = await store.readCleanShutdown(Date.now())
    const cleanRestart = holdUntilMs !== undefined
    const config = options.config ?? defaultNetConfig
    const seedRecords = await store.loadRecords(config.recordBytesMax)
    for (const problem of store.problems) log.warn({ file: problem.file }, `set aside a damaged file: ${problem.problem}`)

    const nodeId = peerIdOf(privateKey)
    const processes = new ProcessActuator({ dataDir: options.dataDir, nodeId, stopGraceMs: processStopGraceMs })
    const actuators: Actuator[] = [processes, new FileActuator(options.dataDir, { roots: options.fileRoots ?? [] })]
    const found = await observeAll(actuators)
    for (const problem of processes.problems) log.warn({ file: problem }, 'set aside a damaged process state file; its process, if any, is not supervised')
    // Our first record already tells what runs here: "nothing" would invite others to start it too.
    const resources = found.map((workload): ResourceStatus => ({
      id: workload.resourceId, phase: workload.phase, specHash: workload.specHash, restarts: workload.restarts,
      ...(cleanRestart ? {} : { provisional: true }),
    }))
    if (found.length > 0) log.info({ workloads: found.map((w) => w.resourceId), cleanRestart }, cleanRestart ? 'adopted workloads after a clean restart: they stay' : 'found workloads after an unclean stop: provisional until the view decides')

    const mesh = await MeshNode.create({
      clusterName: options.cluster.name,
      privateKey,
      networkKey: options.cluster.networkKey,
      operators: options.cluster.operators,
      admission: options.cluster.admission,
      transport: 'tcp',
      listen: options.listen,
      bootstrap: [...options.cluster.bootstrap, ...options.bootstrap],
      labels: options.labels,
      slots: options.slots,
      resources,
      // Back from a clean stop: keep asking for the hold until we are reachable again, or there is
      // a moment (our new record is in, our adjacency not yet) when our work looks vacant.
      ...(holdUntilMs === undefined ? {} : { holdUntilMs }),
      generation,
      agentVersion: shoalVersion(),
      seedRecords,
      config,
    })
    // The fence: a holder of a majority service cut off from us stops within its dead interval, a
    // recompute and its process stop grace (SIGTERM, then SIGKILL); we wait that and a margin.
    const fenceMs = mesh.config.deadIntervalMs + daemonThrottle.maxHoldMs + processStopGraceMs + 1_000
    const reconciler = new Reconciler({ mesh, actuators, admission: options.cluster.admission, adoptAsIncumbents: cleanRestart, throttle: daemonThrottle, fenceMs })
    const daemon = new Daemon(options, { store, mesh, reconciler, processes, generation })
    const knowsPeers = seedRecords.length > 0 || options.bootstrap.length > 0 || options.cluster.bootstrap.length > 0
    daemon.acting = daemon.joinThenAct(knowsPeers, holdUntilMs)
    await store.consumeCleanShutdown()
    log.info({ node: mesh.peerId, generation, addresses: mesh.addresses(), records: seedRecords.length }, 'node started')
    return daemon
  }

  /**
   * Acts only once joined: a view computed alone would confirm every workload found here (and start
   * all work here), and once confirmed they are incumbents that push healthy replicas elsewhere out.
   * One completed sync brings the whole database, so one two-way adjacency is enough. Runs in the
   * background: the API and daemon.json come up meanwhile (an operator needs the peer id to admit us).
   */
  private async joinThenAct (knowsPeers: boolean, holdUntilMs: number | undefined): Promise<void> {
    const timeoutMs = this.options.joinTimeoutMs ?? defaultJoinTimeoutMs
    if (knowsPeers && !(await waitToJoin(this.mesh, timeoutMs, () => this.stopping !== undefined))) {
      this.options.logger.warn({ waitedMs: timeoutMs }, 'no peer reachable yet; acting on what this node knows alone')
    }
    if (this.stopping !== undefined) return
    if (holdUntilMs !== undefined) this.mesh.updateLocalState({ holdUntilMs: undefined })
    await this.reconciler.start()
  }

  /** Writes daemon.json: the daemon is ready. */
  async announce (api: { url: string, token: string }): Promise<DaemonInfo> {
    const info: DaemonInfo = {
      peerId: this.mesh.peerId, pid: process.pid, generation: this.generation, addresses: this.mesh.addresses(),
      api, cluster: this.options.cluster.file, dataDir: this.options.dataDir,
    }
    await writeFileAtomically(join(this.options.dataDir, 'daemon.json'), Buffer.from(JSON.stringify(info, null, 2) + '\n'), 0o600)
    return info
  }

  /** The API token: made once per data dir, kept in `api.token` (mode 0600). */
  async apiToken (): Promise<string> {
    return await this.token('api.token')
  }

  /**
   * The metrics token, in `metrics.token` (mode 0600): it reads /metrics and nothing else, so that a
   * Prometheus scraper can hold it without holding the API.
   */
  async metricsToken (): Promise<string> {
    return await this.token('metrics.token')
  }

  private async token (file: string): Promise<string> {
    const path = join(this.options.dataDir, file)
    const existing = (await readFile(path, 'utf8').catch(() => '')).trim()
    if (/^[0-9a-f]{64}$/.test(existing)) return existing
    const token = randomBytes(32).toString('hex')
    await writeFileAtomically(path, Buffer.from(token + '\n'), 0o600)
    return token
  }

  /** A view computed now (with explanations for `explain`), as every node of the component computes it. */
  computeView (explain?: readonly string[]): TargetView {
    return computeView(this.mesh.db, this.mesh.peerId, {
      admission: this.options.cluster.admission, nowMs: Date.now(), ...(explain === undefined ? {} : { explain }),
    })
  }

  status (): StatusReport {
    const view = this.computeView()
    const judgement = judgeConvergence(this.mesh.db, view, 5)
    const own = this.mesh.db.nodeRecord(this.mesh.peerId)
    return {
      node: this.mesh.peerId,
      version: shoalVersion(),
      generation: this.generation,
      cluster: this.options.cluster.name,
      addresses: this.mesh.addresses(),
      viewHash: view.viewHash,
      converged: judgement.converged,
      problems: judgement.problems,
      reachable: view.component.filter((id) => !view.held.includes(id)),
      held: view.held,
      connected: this.mesh.connectedPeers(),
      assigned: (view.byNode.get(this.mesh.peerId) ?? []).map((assignment) => assignment.resourceId),
      running: (own?.resources ?? []).filter((resource) => resource.phase === 'running').map((resource) => resource.id),
      records: this.mesh.db.size,
      rollouts: [...rolloutsUnderway(this.mesh.db, view.assignments, this.underway).values()].map(describeRollout),
      quorum: describeQuorum(view.quorum),
    }
  }

  /**
   * Stops. 'restart' (SIGTERM): workloads keep running and the others hold them for the grace time.
   * 'final': workloads are stopped first (for tests and for a node being removed after a drain).
   */
  async stop (mode: 'restart' | 'final' = 'restart'): Promise<void> {
    this.stopping ??= this.stopOnce(mode)
    await this.stopping
  }

  private async stopOnce (mode: 'restart' | 'final'): Promise<void> {
    const log = this.options.logger
    clearInterval(this.saveTimer)
    await this.acting
    await this.reconciler.stop()
    if (mode === 'restart') {
      const holdUntilMs = Date.now() + this.options.graceMs
      this.processes.close()
      await this.store.markCleanShutdown(holdUntilMs)
      await this.mesh.stopForRestart(holdUntilMs)
      log.info({ holdUntil: new Date(holdUntilMs).toISOString() }, 'stopped for a restart; workloads keep running and are held for the grace time')
    } else {
      for (const workload of await this.processes.observe()) await this.processes.remove(workload.resourceId)
      this.processes.close()
      await this.mesh.stop()
      log.info('stopped; workloads stopped')
    }
    await this.saving
    this.compactNext = true
    await this.saveRecords()
    await rm(join(this.options.dataDir, 'daemon.json'), { force: true })
    await unlockDataDir(this.options.dataDir)
  }

  /**
   * Saves what merged since the last save: appended to records.log, or, once the log outgrows
   * records.bin (or after a failure), everything rewritten to records.bin. One save at a time; a save
   * that fails leaves its keys for the next.
   */
  private async saveRecords (): Promise<void> {
    if (this.saving !== undefined || (this.unsaved.size === 0 && !this.compactNext)) return
    const keys = this.unsaved
    this.unsaved = new Set()
    const store = this.store
    this.saving = (async () => {
      const envelopes = [...keys].flatMap((key) => this.mesh.db.envelope(key) ?? [])
      const appendBytes = envelopes.reduce((sum, envelope) => sum + 4 + envelope.byteLength, 0)
      if (this.compactNext || store.recordBytes.log + appendBytes > Math.max(store.recordBytes.snapshot, minimumLogBytes)) {
        await store.saveRecords(this.mesh.db.envelopes())
        this.compactNext = false
      } else {
        await store.appendRecords(envelopes)
      }
    })().catch((error: Error) => {
      for (const key of keys) this.unsaved.add(key)
      this.compactNext = true
      this.options.logger.error({ error: error.message }, 'could not save records; trying again')
    }).finally(() => {
      this.saving = undefined
    })
    await this.saving
  }

  /** Turns what the parts do into events: logged, and streamed by the API. */
  private watch (): void {
    const log = this.options.logger
    const emit = (event: DaemonEvent): void => { this.emit('event', { ...event, at: new Date().toISOString() }) }
    let lastViewHash = ''
    this.reconciler.on('view:computed', (view) => {
      if (view.viewHash === lastViewHash) return
      lastViewHash = view.viewHash
      const assigned = (view.byNode.get(this.mesh.peerId) ?? []).map((assignment) => assignment.resourceId)
      log.info({ viewHash: view.viewHash, component: view.component.length, held: view.held.length, assigned, shortfalls: view.shortfalls }, 'new view')
      emit({ type: 'view', viewHash: view.viewHash, assigned, component: view.component.length })
    })
    this.reconciler.on('run:failed', (error) => {
      log.error({ error: error.message, stack: error.stack }, 'reconciler run failed; trying again')
    })
    this.reconciler.on('actions:applied', (actions: readonly Action[], failures: readonly string[]) => {
      const described = actions.map((action) => `${action.kind} ${action.resourceId}`)
      if (failures.length > 0) log.warn({ actions: described, failures }, 'some actions failed; retrying')
      else log.info({ actions: described }, 'actions applied')
      emit({ type: 'actions', actions: described, failures })
    })
    this.mesh.on('adjacency:changed', (peers) => {
      log.debug({ peers: peers.length }, 'adjacencies changed')
      emit({ type: 'adjacency', peers })
    })
    // Rollouts progress with other nodes' status records, which need no new view: look at them after
    // every run, and after node records while one is underway (at most every 200 ms).
    let rolloutCheck: NodeJS.Timeout | undefined
    const checkRollouts = (): void => {
      rolloutCheck = undefined
      const view = this.reconciler.view
      if (view === undefined) return
      const now = rolloutsUnderway(this.mesh.db, view.assignments, this.underway)
      for (const [service, rollout] of now) {
        const before = this.underway.get(service)
        const phase = rolloutPhase(before, rollout)
        if (phase === undefined) continue
        log.info({ service, updated: rollout.updated, replicas: rollout.replicas.length }, `rollout ${phase}: ${describeRollout(rollout)}`)
        emit({ type: 'rollout', service, phase, updated: rollout.updated, replicas: rollout.replicas.length })
      }
      for (const [service, rollout] of this.underway) {
        if (now.has(service)) continue
        log.info({ service }, 'rollout finished')
        emit({ type: 'rollout', service, phase: 'finished', updated: rollout.replicas.length, replicas: rollout.replicas.length })
      }
      this.underway = now
    }
    this.reconciler.on('run:finished', checkRollouts)
    this.mesh.on('peer:penalised', (peer, reason, durationMs) => {
      log.warn({ peer, reason, refusedForMs: durationMs }, 'dropped a peer that broke the protocol; refusing it for a while')
    })
    this.mesh.on('record:merged', (record: ShoalRecord) => {
      if (record.kind === 'node' && this.underway.size > 0) rolloutCheck ??= setTimeout(checkRollouts, 200).unref()
      if (record.kind !== 'policy') return
      const key = `${record.policyKind}/${record.name}`
      log.info({ policy: key, deleted: record.body === null, signer: record.version.signer }, record.body === null ? 'policy deleted' : 'policy set')
      emit({ type: 'policy', key, deleted: record.body === null, signer: record.version.signer })
    })
  }
}

/** What changed in a rollout since the last look, as an event phase; undefined when nothing did. */
function rolloutPhase (before: ServiceRollout | undefined, now: ServiceRollout): 'started' | 'progressed' | 'paused' | 'failed' | 'reverted' | undefined {
  if ((now.mode === 'failed' || now.mode === 'reverted') && now.mode !== before?.mode) return now.mode
  const canariesDone = (rollout: ServiceRollout): boolean => rollout.mode === 'canary' && rollout.replicas.every((replica) => replica.held || replica.state === 'updated')
  if (canariesDone(now) && (before === undefined || !canariesDone(before))) return 'paused'
  if (before === undefined) return 'started'
  return before.updated === now.updated ? undefined : 'progressed'
}

async function observeAll (actuators: readonly Actuator[]): Promise<ObservedWorkload[]> {
  const all: ObservedWorkload[] = []
  for (const actuator of actuators) all.push(...await actuator.observe())
  return all
}
