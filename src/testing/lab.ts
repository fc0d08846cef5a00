// The fault lab (issue 23): real `shoal daemon` processes, each in a network namespace of its own,
// real TCP between them, and faults the kernel injects (lab/network.ts) or signals deliver — the
// faults Shoal does not cooperate with. `startLab` is the TypeScript API (exported from
// `shoal/testing`); `shoal lab up|down|run` drives the same code from the command line.
//
// Every fault returns once it is in place. The lab's state (DIR/lab.json: its id, subnet, node count)
// is written before anything is created, so `Lab.down(DIR)` removes every namespace, rule and process
// it made even after the lab itself crashed. Needs root and nftables.

import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  addressOf, createNetwork, destroyNetwork, freeSubnet, healNetwork, limitBandwidth, namespaceOf, partitionNetwork, sh,
  type LabNetworkState,
} from '../lab/network.ts'
import { packageFile } from '../package.ts'
import type { StatusReport } from '../daemon/daemon.ts'

export interface LabOptions {
  readonly nodes: number
  /** Where the lab keeps its state, cluster files and each node's data (default: a new temp dir). */
  readonly dir?: string
  /** Mesh timing for every daemon (its config file's `net:`), e.g. { deadIntervalMs: 2000 }. */
  readonly net?: Readonly<Record<string, number>>
  /** How long the others hold a SIGTERM-restarted node's work (default 30s). */
  readonly grace?: string
}

export interface LabNode {
  readonly index: number
  readonly namespace: string
  readonly address: string
  readonly dataDir: string
  peerId: string
  pid: number
  api: { url: string, token: string }
  child: ChildProcess | undefined
}

interface LabState extends LabNetworkState {
  readonly dir: string
}

/** Why the lab cannot run here, in one line, or undefined when it can. */
export async function labUnavailable (): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the lab needs root (it creates network namespaces and nftables rules)'
  try {
    await sh('nft', ['--version'])
  } catch {
    return 'the lab needs nftables: apt-get install nftables'
  }
  if (!existsSync(packageFile('dist/cli/shoal.js'))) return 'the lab runs the built CLI: npm run build first'
  return undefined
}

export class Lab {
  readonly nodes: LabNode[] = []
  private readonly paused = new Set<number>()
  private readonly offsets = new Map<number, number>()

  private constructor (readonly state: LabState, private readonly options: LabOptions) {}

  /** Creates the network, initialises a cluster, starts and admits every daemon. */
  static async start (options: LabOptions): Promise<Lab> {
    const problem = await labUnavailable()
    if (problem !== undefined) throw new Error(problem)
    const dir = options.dir ?? await mkdtemp(join(tmpdir(), 'shoal-lab-'))
    await mkdir(dir, { recursive: true })
    const state: LabState = { id: Math.random().toString(16).slice(2, 6), subnet: await freeSubnet(), nodes: options.nodes, dir }
    await writeFile(join(dir, 'lab.json'), JSON.stringify(state, null, 2) + '\n')
    const lab = new Lab(state, options)
    try {
      await createNetwork(state)
      await lab.shoal('init', '--dir', join(dir, 'cluster'), '--name', `lab-${state.id}`)
      for (let i = 0; i < options.nodes; i++) {
        lab.nodes.push({
          index: i, namespace: namespaceOf(state.id, i), address: addressOf(state, i), dataDir: join(dir, `node-${i}`),
          peerId: '', pid: 0, api: { url: '', token: '' }, child: undefined,
        })
        await lab.startNode(i)
      }
      await lab.shoal('admit', ...lab.nodes.map((node) => node.peerId), '--data', lab.node(0).dataDir)
      return lab
    } catch (error) {
      await lab.stop()
      throw error
    }
  }

  /** Removes everything a lab in `dir` made (after `stop`, or after the lab's own process died). */
  static async down (dir: string): Promise<void> {
    const state = JSON.parse(await readFile(join(dir, 'lab.json'), 'utf8')) as LabState
    for (let i = 0; i < state.nodes; i++) {
      const pids = await sh('ip', ['netns', 'pids', namespaceOf(state.id, i)]).catch(() => '')
      for (const pid of pids.split('\n').filter((line) => /^\d+$/.test(line))) {
        try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ }
      }
    }
    await destroyNetwork(state)
    // Data dirs on a tmpfs (diskFull): unmounted lazily, whatever still holds them.
    for (let i = 0; i < state.nodes; i++) {
      const dataDir = join(dir, `node-${i}`)
      if (isMountPoint(dataDir)) await sh('umount', ['-l', dataDir]).catch(() => undefined)
    }
  }

  node (index: number): LabNode {
    const node = this.nodes[index]
    if (node === undefined) throw new Error(`the lab has nodes 0 to ${this.nodes.length - 1}, not ${index}`)
    return node
  }

  /** Runs the `shoal` CLI on the host (it reaches each daemon's API through the hub). */
  async shoal (...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
    const child = spawn(process.execPath, [packageFile('dist/cli/shoal.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    if (code !== 0) throw new Error(`shoal ${args.join(' ')} exited ${code}: ${stderr.trim()}`)
    return { code, stdout, stderr }
  }

  /** Node `index`'s /v1/status, or undefined while it does not answer (stopped, paused, cut off). */
  async status (index: number, timeoutMs = 1_000): Promise<StatusReport | undefined> {
    const node = this.node(index)
    return await new Promise((resolve) => {
      const req = request(`${node.api.url}/v1/status`, { headers: { authorization: `Bearer ${node.api.token}` }, timeout: timeoutMs }, (res) => {
        let body = ''
        res.on('data', (chunk: Buffer) => { body += chunk.toString() })
        res.on('end', () => { try { resolve(res.statusCode === 200 ? JSON.parse(body) as StatusReport : undefined) } catch { resolve(undefined) } })
      })
      req.on('timeout', () => { req.destroy() })
      req.on('error', () => { resolve(undefined) })
      req.end()
    })
  }

  /** Starts node `index`'s daemon in its namespace (again, after `kill`); resolves once it is ready. */
  async start (index: number): Promise<void> {
    await this.startNode(index)
  }

  /** kill -9 of the daemon (its workloads keep running, as after a real crash of the agent). */
  async kill (index: number): Promise<void> {
    const node = this.node(index)
    const child = node.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    this.paused.delete(index)
    child.kill('SIGKILL')
    await exited
  }

  /** SIGSTOP of the daemon: its sockets stay open and nothing answers. With `ms`, SIGCONT after it. */
  async pause (index: number, ms?: number): Promise<void> {
    process.kill(this.node(index).pid, 'SIGSTOP')
    this.paused.add(index)
    if (ms !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, ms))
      await this.resume(index)
    }
  }

  async resume (index: number): Promise<void> {
    process.kill(this.node(index).pid, 'SIGCONT')
    this.paused.delete(index)
  }

  /** Silent loss between the groups (nftables drops; no reset). One-way: only the first group's sends are lost. */
  async partition (groups: ReadonlyArray<readonly number[]>, options: { oneWay?: boolean } = {}): Promise<void> {
    for (const index of groups.flat()) this.node(index)
    await partitionNetwork(this.state, groups, options.oneWay ?? false)
  }

  /** Node `index` against everyone else. */
  async isolate (index: number): Promise<void> {
    await this.partition([[index], this.nodes.map((node) => node.index).filter((other) => other !== index)])
  }

  async heal (): Promise<void> {
    await healNetwork(this.state)
  }

  /** What node `index` sends is limited to `rate` (tc tbf, e.g. "256kbit"); null lifts it. */
  async bandwidth (index: number, rate: string | null): Promise<void> {
    await limitBandwidth(this.state, this.node(index).index, rate)
  }

  /**
   * Node `index`'s wall clock runs `ms` ahead (behind, if negative): its daemon is restarted (SIGTERM,
   * a clean restart: workloads stay) with the test-only SHOAL_TEST_CLOCK_OFFSET_MS.
   */
  async clockOffset (index: number, ms: number): Promise<void> {
    this.offsets.set(index, ms)
    await this.stopDaemon(index)
    await this.startNode(index)
  }

  /** SIGTERM of the daemon (a clean restart's first half: its workloads keep running), and its exit. */
  private async stopDaemon (index: number): Promise<void> {
    const child = this.node(index).child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }

  /**
   * Node `index`'s disk is full: its daemon restarts (SIGTERM: workloads stay) on a data dir moved onto
   * a small tmpfs, which is then filled up to the last byte. `diskFree` makes room again.
   */
  async diskFull (index: number): Promise<void> {
    const node = this.node(index)
    if (!isMountPoint(node.dataDir)) {
      await this.stopDaemon(index)
      const aside = `${node.dataDir}.before-tmpfs`
      await sh('cp', ['-a', node.dataDir, aside])
      await sh('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'tmpfs', node.dataDir])
      await sh('cp', ['-a', `${aside}/.`, node.dataDir])
      await rm(aside, { recursive: true, force: true })
      await this.startNode(index)
    }
    // Fill it: a file that grows until the tmpfs says no more.
    const filler = await open(join(node.dataDir, 'filler'), 'a')
    try {
      const chunk = Buffer.alloc(1024 * 1024)
      for (let size = chunk.length; size >= 1; size = Math.floor(size / 2)) {
        for (;;) {
          try { await filler.write(chunk, 0, size) } catch { break }
        }
      }
    } finally {
      await filler.close()
    }
  }

  /** Undoes diskFull's filling (the data dir stays on its tmpfs until the lab goes down). */
  async diskFree (index: number): Promise<void> {
    await rm(join(this.node(index).dataDir, 'filler'), { force: true })
  }

  /** Processes in the lab's namespaces that are not a daemon: the workloads, as the OS sees them. */
  async workloadPids (): Promise<number[]> {
    const daemons = new Set(this.nodes.map((node) => node.pid))
    const pids: number[] = []
    for (const node of this.nodes) {
      const listed = await sh('ip', ['netns', 'pids', node.namespace]).catch(() => '')
      for (const line of listed.split('\n')) if (/^\d+$/.test(line) && !daemons.has(Number(line))) pids.push(Number(line))
    }
    return pids.sort((a, b) => a - b)
  }

  /** The pids the live daemons' process actuators account for (their state files). */
  accountedPids (): number[] {
    const pids: number[] = []
    for (const node of this.nodes) {
      const dir = join(node.dataDir, 'actuators', 'process')
      if (!existsSync(dir)) continue
      for (const file of readdirSync(dir)) {
        try {
          const pid = (JSON.parse(readFileSync(join(dir, file), 'utf8')) as { pid: number | null }).pid
          if (pid !== null) pids.push(pid)
        } catch { /* being written */ }
      }
    }
    return pids.sort((a, b) => a - b)
  }

  /** Lets the driver's process exit while the lab runs on (`shoal lab up`); `Lab.down(dir)` ends it. */
  detach (): void {
    for (const node of this.nodes) node.child?.unref()
  }

  /** Stops every daemon and workload, removes the network, and the lab's directory unless `keep`. */
  async stop (options: { keep?: boolean } = {}): Promise<void> {
    for (const index of this.paused) { try { process.kill(this.node(index).pid, 'SIGCONT') } catch { /* gone */ } }
    await Lab.down(this.state.dir)
    await Promise.all(this.nodes.map(async (node) => {
      const child = node.child
      if (child !== undefined && child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve))
    }))
    if (options.keep !== true) await rm(this.state.dir, { recursive: true, force: true })
  }

  private async startNode (index: number): Promise<void> {
    const node = this.node(index)
    await mkdir(node.dataDir, { recursive: true })
    const first = this.nodes[0]
    const bootstrap = index === 0 || first === undefined || first.peerId === '' ? [] : ['--bootstrap', `/ip4/${first.address}/tcp/7420/p2p/${first.peerId}`]
    const config = join(this.state.dir, 'daemon.yaml')
    if (!existsSync(config)) await writeFile(config, `net: ${JSON.stringify(this.options.net ?? {})}\n`)
    const log = openSync(join(this.state.dir, `node-${index}.log`), 'a')
    const offset = this.offsets.get(index)
    const child = spawn('ip', ['netns', 'exec', node.namespace, process.execPath, packageFile('dist/cli/shoal.js'), 'daemon',
      '--config', config, '--cluster', join(this.state.dir, 'cluster', 'cluster.yaml'), '--data', node.dataDir,
      '--listen', `/ip4/${node.address}/tcp/7420`, '--api', `${node.address}:7421`, '--grace', this.options.grace ?? '30s',
      '--label', `lab-node=${index}`, ...bootstrap], {
      stdio: ['ignore', log, log],
      detached: true, // its own process group: a Ctrl-C meant for the lab's driver does not reach it
      env: { ...process.env, ...(offset === undefined ? {} : { SHOAL_TEST_CLOCK_OFFSET_MS: String(offset) }) },
    })
    closeSync(log)
    node.child = child
    const deadline = Date.now() + 20_000
    for (;;) {
      if (child.exitCode !== null) throw new Error(`lab node ${index} exited ${child.exitCode}; see ${join(this.state.dir, `node-${index}.log`)}`)
      if (Date.now() > deadline) throw new Error(`lab node ${index} not ready within 20 s`)
      const info = await readFile(join(node.dataDir, 'daemon.json'), 'utf8').then((text) => JSON.parse(text) as { peerId: string, pid: number, api: { url: string, token: string } }, () => undefined)
      if (info !== undefined && info.pid === child.pid) {
        Object.assign(node, { peerId: info.peerId, pid: info.pid, api: info.api })
        return
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}

/** Whether `path` is a mount point (its own line in /proc/self/mounts). */
function isMountPoint (path: string): boolean {
  try {
    return readFileSync('/proc/self/mounts', 'utf8').split('\n').some((line) => line.split(' ')[1] === path)
  } catch {
    return false
  }
}

/** Starts a lab of `nodes` daemons (see Lab). */
export async function startLab (options: LabOptions): Promise<Lab> {
  return await Lab.start(options)
}
