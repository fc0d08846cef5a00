// Starting in-process meshes of real libp2p nodes: the seed of the `shoal/testing` harness.
// Every node gets a fresh identity; one operator key signs an Admission for each, seeded into all.

import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MeshNode, OperatorSigner, fastNetConfig, newNetworkKey, type MeshNodeInit, type NetConfig } from '../net/index.ts'

export { newNetworkKey }

export interface TestMesh {
  readonly nodes: MeshNode[]
  readonly operator: OperatorSigner
  readonly networkKey: Uint8Array
  readonly clusterName: string
  readonly keys: PrivateKey[]
  /** How each node was started: what a restart starts again (with the next generation). */
  readonly inits: MeshNodeInit[]
  stop(): Promise<void>
}

let meshCounter = 0

export async function startMesh (count: number, options: {
  transport?: 'tcp' | 'memory'
  admission?: 'operator' | 'open'
  config?: NetConfig
  labels?: (index: number) => Record<string, string>
  /** Each node's slots (10 by default). */
  slots?: (index: number) => number
  /** How many nodes each node is given as bootstrap peers (the last ones started). */
  bootstrapCount?: number
  probeTopic?: boolean
  /** Let `stall(node, ms)` work on these nodes (a gate on every connection; off unless asked for). */
  stallable?: boolean
} = {}): Promise<TestMesh> {
  const transport = options.transport ?? 'memory'
  const clusterName = `test-${process.pid}-${meshCounter++}`
  const networkKey = newNetworkKey()
  const operator = new OperatorSigner(await generateKeyPair('Ed25519'))
  const keys = await Promise.all(Array.from({ length: count }, async () => await generateKeyPair('Ed25519')))
  const admissions = await Promise.all(keys.map(async (key) =>
    (await operator.sign({ kind: 'Admission', name: peerIdFromPrivateKey(key).toString() })).envelope))
  const nodes: MeshNode[] = []
  const inits: MeshNodeInit[] = []
  const bootstrap: string[] = []
  for (let i = 0; i < count; i++) {
    const init: MeshNodeInit = {
      clusterName,
      privateKey: keys[i] as PrivateKey,
      networkKey,
      operators: [operator.operatorId],
      admission: options.admission ?? 'operator',
      transport,
      listen: [transport === 'tcp' ? '/ip4/127.0.0.1/tcp/0' : `/memory/${clusterName}-${i}`],
      bootstrap: bootstrap.slice(-(options.bootstrapCount ?? 3)),
      labels: options.labels?.(i) ?? { zone: `zone-${i % 3}` },
      slots: options.slots?.(i) ?? 10,
      generation: 1,
      seedRecords: admissions,
      config: options.config ?? fastNetConfig,
      probeTopic: options.probeTopic ?? false,
      stallable: options.stallable ?? false,
    }
    const node = await MeshNode.create(init)
    inits.push(init)
    nodes.push(node)
    bootstrap.push(...node.addresses())
  }
  return {
    nodes, operator, networkKey, clusterName, keys, inits,
    async stop () {
      await Promise.all(nodes.map(async (node) => await node.stop().catch(() => {})))
    },
  }
}

/** Makes `node` stop answering on every connection for `ms`, connections left open (a paused process). */
export function stall (node: MeshNode, ms: number): void {
  node.stall(ms)
}

/** Polls `condition` every `pollMs` until it holds; throws with `what` after `timeoutMs`. Returns the time it took. */
export async function waitFor (what: string, condition: () => boolean, timeoutMs: number, pollMs = 20): Promise<number> {
  const start = performance.now()
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
  return performance.now() - start
}

/** True when every node's RecordDB holds the same records. */
export function sameDatabases (nodes: readonly MeshNode[]): boolean {
  const first = JSON.stringify(nodes[0]?.db.snapshot())
  return nodes.every((node) => JSON.stringify(node.db.snapshot()) === first)
}

/**
 * Cuts every node of `from` off from every node of `to`. Symmetric by default: both sides refuse each
 * other. With `oneWay`, only `from` refuses `to` (an asymmetric firewall): `to` keeps dialling and is
 * refused. Either way no connection survives — libp2p connections carry both directions — so the
 * two-way adjacency check sees no adjacency; the difference is who refuses, and who keeps trying.
 */
export async function cut (from: readonly MeshNode[], to: readonly MeshNode[], options: { oneWay?: boolean } = {}): Promise<void> {
  await Promise.all(from.map(async (node) => await node.block(to.map((other) => other.peerId))))
  if (options.oneWay !== true) await Promise.all(to.map(async (node) => await node.block(from.map((other) => other.peerId))))
}

/** Splits the mesh into `groups`: every node is cut off from every node of every other group. */
export async function partition (groups: ReadonlyArray<readonly MeshNode[]>): Promise<void> {
  for (const [i, group] of groups.entries()) {
    await cut(group, groups.filter((_, j) => j !== i).flat(), { oneWay: true })
  }
}

/** Lifts every cut. Nothing is announced to the nodes: redial and digest sync repair the mesh. */
export function heal (nodes: readonly MeshNode[]): void {
  for (const node of nodes) node.unblock(nodes.map((other) => other.peerId))
}
