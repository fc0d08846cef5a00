// Key material, made and read in one place: the private-network key (`@libp2p/pnet`'s text format)
// and Ed25519 keys (an operator's, a node's identity), stored as libp2p's protobuf encoding.

import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKey } from '@libp2p/pnet'

export function newNetworkKey (): Uint8Array {
  const key = new Uint8Array(95)
  generateKey(key)
  return key
}

/** True when `bytes` look like a pnet key file (the three-line "/key/swarm/psk/1.0.0/" format). */
export function isNetworkKey (bytes: Uint8Array): boolean {
  const lines = new TextDecoder().decode(bytes).trim().split(/\r?\n/)
  return lines.length === 3 && lines[0] === '/key/swarm/psk/1.0.0/' && lines[1] === '/base16/' && /^[0-9a-fA-F]{64}$/.test(lines[2] ?? '')
}

export async function newEd25519Key (): Promise<PrivateKey> {
  return await generateKeyPair('Ed25519')
}

export function encodePrivateKey (key: PrivateKey): Uint8Array {
  return privateKeyToProtobuf(key)
}

/** Decodes a stored key; throws with `what` named when the bytes are not one. */
export function decodePrivateKey (bytes: Uint8Array, what: string): PrivateKey {
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (error) {
    throw new Error(`${what} is not a private key (${(error as Error).message})`)
  }
}

export function peerIdOf (key: PrivateKey): string {
  return peerIdFromPrivateKey(key).toString()
}
