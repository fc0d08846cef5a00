// The connection gater: who may hold a connection with this node.
//
// Two reasons to refuse a peer, checked once Noise has authenticated it (both the encrypted and the
// upgraded hooks, and before dialling):
// - admission: in 'operator' mode a peer needs an operator's Admission fragment. A node that knows of
//   no admission yet (a fresh node) accepts no inbound connection and dials only out, to the bootstrap
//   peers it was given; the admitted peers it reaches then tell it who is admitted.
// - a cut: a partition injected by a test or the simulator, or a peer in the penalty box
//   (engine/penalty-box.ts) for breaking the protocol; refused in both directions.

import type { ConnectionGater, PeerId } from '@libp2p/interface'

export interface AdmissionView {
  /** True when admission is required and the peer is not admitted, or nothing is known yet. */
  refusesInbound(peerId: string): boolean
  refusesOutbound(peerId: string): boolean
}

export function createGater (admission: AdmissionView, cutOff: (peerId: string) => string | undefined, onRefused: (reason: string) => void): ConnectionGater {
  const refuse = (peerId: PeerId, direction: 'inbound' | 'outbound'): boolean => {
    const id = peerId.toString()
    const cut = cutOff(id)
    if (cut !== undefined) {
      onRefused(cut)
      return true
    }
    const refused = direction === 'inbound' ? admission.refusesInbound(id) : admission.refusesOutbound(id)
    if (refused) onRefused('not-admitted')
    return refused
  }
  return {
    denyDialPeer: (peerId) => refuse(peerId, 'outbound'),
    denyInboundEncryptedConnection: (peerId) => refuse(peerId, 'inbound'),
    denyOutboundEncryptedConnection: (peerId) => refuse(peerId, 'outbound'),
    denyInboundUpgradedConnection: (peerId) => refuse(peerId, 'inbound'),
    denyOutboundUpgradedConnection: (peerId) => refuse(peerId, 'outbound'),
  }
}
