// The cluster directory that `shoal init` creates and every daemon and operator reads:
//
//   cluster.yaml    name, trusted operator ids, bootstrap addresses, admission mode (shareable)
//   network.key     the private-network key (pnet format), mode 0600: without it, no connection at all
//   operator.key    an operator's Ed25519 key, mode 0600: it signs policy. Keep it off the nodes if you
//                   can; the daemons need only cluster.yaml and network.key.

import { access, mkdir, readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { stringify } from 'yaml'
import { z } from 'zod'
import { writeFileAtomically } from '../actuators/file.ts'
import { decodePrivateKey, encodePrivateKey, isNetworkKey, newEd25519Key, newNetworkKey, peerIdOf } from '../net/keys.ts'
import { InputError, parseYamlDocument } from '../yaml-input.ts'

const clusterSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes'),
  operators: z.array(z.string().min(1).max(128)).min(1, 'at least one operator id is needed to sign policy'),
  bootstrap: z.array(z.string().startsWith('/', 'must be a multiaddr like /ip4/10.0.0.1/tcp/7420/p2p/<peer id>')).default([]),
  admission: z.enum(['operator', 'open']).default('operator'),
})

export interface Cluster extends z.output<typeof clusterSchema> {
  /** The cluster file, absolute. */
  readonly file: string
  readonly networkKey: Uint8Array
}

export const clusterFileName = 'cluster.yaml'

/** Creates a new cluster in `dir`; refuses to overwrite one that exists. Returns the cluster file. */
export async function initCluster (dir: string, name: string): Promise<{ file: string, operatorId: string }> {
  const file = resolve(dir, clusterFileName)
  const exists = await access(file).then(() => true, () => false)
  if (exists) throw new InputError(`${file} exists already; init makes a new cluster and will not overwrite one`)
  const parsedName = clusterSchema.shape.name.safeParse(name)
  if (!parsedName.success) throw new InputError(`--name: ${parsedName.error.issues[0]?.message ?? 'invalid'}`)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const operatorKey = await newEd25519Key()
  const operatorId = peerIdOf(operatorKey)
  // Secrets first: a cluster file never points at keys that are not there.
  await writeFileAtomically(join(dir, 'network.key'), newNetworkKey(), 0o600)
  await writeFileAtomically(join(dir, 'operator.key'), encodePrivateKey(operatorKey), 0o600)
  const cluster = { name, operators: [operatorId], bootstrap: [], admission: 'operator' }
  const text = `# Shoal cluster ${name}: share this file and network.key with every node; keep operator.key private.\n${stringify(cluster)}`
  await writeFileAtomically(file, Buffer.from(text), 0o644)
  return { file, operatorId }
}

export async function loadCluster (file: string): Promise<Cluster> {
  const path = resolve(file)
  const text = await readFile(path, 'utf8').catch((error: Error) => { throw new InputError(`cannot read cluster file ${path}: ${error.message}`) })
  const cluster = parseYamlDocument(clusterSchema, text, path)
  const keyPath = join(dirname(path), 'network.key')
  const networkKey = await readFile(keyPath).catch((error: Error) => { throw new InputError(`cannot read the network key ${keyPath} (it sits beside the cluster file): ${error.message}`) })
  if (!isNetworkKey(networkKey)) throw new InputError(`${keyPath} is not a network key`)
  return { ...cluster, file: path, networkKey }
}

/** Reads an operator key: `file`, or operator.key beside the cluster file. */
export async function loadOperatorKey (file: string): Promise<PrivateKey> {
  const bytes = await readFile(file).catch((error: Error) => { throw new InputError(`cannot read the operator key ${file}: ${error.message}`) })
  return decodePrivateKey(bytes, file)
}
