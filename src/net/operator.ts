// Operator-side signing: turns a policy spec (or a deletion) into a signed PolicyFragment envelope.
// Used by the CLI and by tests; the operator's key is an Ed25519 key whose peer id the cluster trusts.

import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { hlcAdvancePast, hlcTick, type HlcTimestamp, type PolicyFragment, type PolicyKind, type PolicySpec } from '../core/index.ts'
import { sealRecord } from './codec.ts'

export class OperatorSigner {
  readonly operatorId: string
  private clock: HlcTimestamp = { wallMs: 0, counter: 0 }

  constructor (private readonly key: PrivateKey, private readonly now: () => number = Date.now) {
    this.operatorId = peerIdFromPrivateKey(key).toString()
  }

  /**
   * Moves our clock past a version seen elsewhere (the fragment we are about to replace), so that
   * what we sign next is newer than it even if our wall clock is behind the signer's.
   */
  advancePast (timestamp: HlcTimestamp): void {
    this.clock = hlcAdvancePast(this.clock, timestamp)
  }

  /** A signed fragment setting `spec`. */
  async sign (spec: PolicySpec): Promise<{ fragment: PolicyFragment, envelope: Uint8Array }> {
    return await this.seal(spec.kind, spec.name, spec)
  }

  /** A signed tombstone deleting `kind/name`. */
  async signDeletion (kind: PolicyKind, name: string): Promise<{ fragment: PolicyFragment, envelope: Uint8Array }> {
    return await this.seal(kind, name, null)
  }

  private async seal (policyKind: PolicyKind, name: string, body: PolicySpec | null): Promise<{ fragment: PolicyFragment, envelope: Uint8Array }> {
    this.clock = hlcTick(this.clock, this.now())
    const fragment: PolicyFragment = { kind: 'policy', policyKind, name, version: { hlc: this.clock, signer: this.operatorId }, body }
    return { fragment, envelope: await sealRecord(fragment, this.key) }
  }
}
