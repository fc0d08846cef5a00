// The wire form of records: canonical JSON inside a libp2p signed envelope (RFC 0002), one domain and
// payload type per record kind.
//
// Why canonical JSON rather than protobuf: no code generation step, readable when debugging, and the
// schema (zod) bounds every string, array and number on decode. Canonical means one encoding per value:
// a payload that does not re-encode to the very same bytes is refused, so a record cannot be replayed
// under a second byte form (and a second gossip message id).
//
// `openRecord` runs the first checks of the validation pipeline — size, decode, signature and domain,
// and "the signer speaks for itself" — and never throws: every failure is a named reason.

import { RecordEnvelope } from '@libp2p/peer-record'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import type { PrivateKey, Record as Libp2pRecord } from '@libp2p/interface'
import { z } from 'zod'
import { canonicalJson, type ShoalRecord } from '../core/index.ts'

export const nodeRecordDomain = 'shoal-node-record'
export const policyDomain = 'shoal-policy'
const nodeRecordPayloadType = new TextEncoder().encode('/shoal/node-record/1')
const policyPayloadType = new TextEncoder().encode('/shoal/policy/1')

/** Bounds on decoded records: each names what it limits. */
export const recordLimits = Object.freeze({
  idCharsMax: 128,
  nameCharsMax: 253,
  labelsMax: 64,
  labelCharsMax: 253,
  addressesMax: 32,
  addressCharsMax: 512,
  adjacenciesMax: 1_024,
  resourcesMax: 1_000,
  errorCharsMax: 1_024,
  replicasMax: 100_000,
  slotsMax: 1_000_000,
  agentVersionCharsMax: 64,
  /** Arrays and objects inside each other, in a whole record (a workload's free-form fields included). */
  jsonDepthMax: 32,
})

const id = z.string().min(1).max(recordLimits.idCharsMax)
const name = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,251}[a-z0-9])?$/, 'must be lower-case letters, digits and dashes, starting and ending with a letter or digit')
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
const labels = z.record(z.string().min(1).max(recordLimits.labelCharsMax), z.string().max(recordLimits.labelCharsMax))
  .refine((value) => Object.keys(value).length <= recordLimits.labelsMax, `at most ${recordLimits.labelsMax} labels`)

const resourceStatus = z.strictObject({
  id: z.string().min(1).max(recordLimits.nameCharsMax + recordLimits.idCharsMax + 1),
  phase: z.enum(['starting', 'running', 'failed']),
  specHash: z.string().max(64),
  restarts: count,
  lastError: z.string().max(recordLimits.errorCharsMax).optional(),
  provisional: z.boolean().optional(),
  available: z.boolean().optional(),
  epoch: count.optional(),
  failedSpec: z.string().max(64).optional(),
})

export const nodeRecordSchema = z.strictObject({
  kind: z.literal('node'),
  nodeId: id,
  version: z.strictObject({ generation: count, seq: count }),
  originatedAtMs: count,
  addresses: z.array(z.string().max(recordLimits.addressCharsMax)).max(recordLimits.addressesMax),
  labels,
  slots: z.number().int().nonnegative().max(recordLimits.slotsMax),
  adjacencies: z.array(id).max(recordLimits.adjacenciesMax),
  resources: z.array(resourceStatus).max(recordLimits.resourcesMax),
  viewHash: z.string().max(64),
  policyDigest: z.string().max(64),
  holdUntilMs: count.optional(),
  agentVersion: z.string().min(1).max(recordLimits.agentVersionCharsMax).optional(),
})

export const workloadSchema = z.object({ kind: z.string().min(1).max(64) }).catchall(z.json())

const replicaBudget = (what: string) => z.union([
  z.number().int().min(0, `must be at least 0 (or a percentage like "25%")`).max(recordLimits.replicasMax),
  z.string().regex(/^(100|[1-9][0-9]?)%$/, 'must be a whole number or a percentage from 1% to 100%, like "25%"'),
], { error: `${what} must be a whole number, or a percentage like "25%"` })

/**
 * A rolling update's settings (core/rollout.ts). Something must let a rollout move: maxUnavailable 0
 * (never below `replicas`) only with a maxSurge above 0.
 */
export const updateSettingsSchema = z.strictObject({
  maxUnavailable: replicaBudget('maxUnavailable').optional(),
  minHealthyForMs: z.number().int().min(0).max(3_600_000).optional(),
  maxSurge: replicaBudget('maxSurge').optional(),
  moveDeadlineMs: z.number().int().min(0).max(24 * 3_600_000).optional(),
  healthyDeadlineMs: z.number().int().min(1_000).max(24 * 3_600_000).optional(),
  autoRevert: z.boolean().optional(),
  canary: z.number().int().min(0).max(recordLimits.replicasMax).optional(),
  promoted: z.boolean().optional(),
}).refine((update) => update.maxUnavailable !== 0 || (update.maxSurge !== undefined && update.maxSurge !== 0), {
  message: 'maxUnavailable 0 needs a maxSurge above 0: otherwise no replica could ever be replaced', path: ['maxUnavailable'],
})

export const serviceSchema = z.strictObject({
  kind: z.literal('Service'),
  name,
  replicas: z.union([z.number().int().nonnegative().max(recordLimits.replicasMax), z.literal('all')]),
  selector: labels,
  spread: z.string().min(1).max(recordLimits.labelCharsMax).optional(),
  slots: z.number().int().positive().max(recordLimits.slotsMax),
  workload: workloadSchema,
  update: updateSettingsSchema.optional(),
  partition: z.enum(['available', 'majority']).optional(),
  previousWorkload: workloadSchema.optional(),
})

export const nodeSettingsSchema = z.strictObject({
  kind: z.literal('Node'),
  name: id,
  drain: z.boolean().optional(),
  cordon: z.boolean().optional(),
  labels: labels.optional(),
  slots: z.number().int().nonnegative().max(recordLimits.slotsMax).optional(),
})

export const admissionSchema = z.strictObject({ kind: z.literal('Admission'), name: id })

export const policySpecSchema = z.discriminatedUnion('kind', [serviceSchema, nodeSettingsSchema, admissionSchema])

export const policyFragmentSchema = z.strictObject({
  kind: z.literal('policy'),
  policyKind: z.enum(['Service', 'Node', 'Admission']),
  name: z.string().min(1).max(recordLimits.nameCharsMax),
  version: z.strictObject({ hlc: z.strictObject({ wallMs: count, counter: count }), signer: id }),
  body: policySpecSchema.nullable(),
}).refine((fragment) => fragment.body === null || (fragment.body.kind === fragment.policyKind && fragment.body.name === fragment.name),
  'body kind and name must match the fragment key')

/** A zod error as one line that names the field. */
export function describeSchemaError (error: z.ZodError): string {
  const issue = error.issues[0]
  if (issue === undefined) return 'invalid'
  const path = issue.path.length === 0 ? '(record)' : issue.path.join('.')
  return `${path}: ${issue.message}`
}

class EnvelopePayload implements Libp2pRecord {
  constructor (readonly domain: string, readonly codec: Uint8Array, private readonly bytes: Uint8Array) {}

  marshal (): Uint8Array {
    return this.bytes
  }

  equals (other: Libp2pRecord): boolean {
    return other.domain === this.domain && Buffer.from(other.marshal()).equals(Buffer.from(this.bytes))
  }
}

/** Signs a record with `key` and returns the envelope bytes that travel on the wire. */
export async function sealRecord (record: ShoalRecord, key: PrivateKey): Promise<Uint8Array> {
  const payload = new TextEncoder().encode(canonicalJson(record))
  const envelope = record.kind === 'node'
    ? new EnvelopePayload(nodeRecordDomain, nodeRecordPayloadType, payload)
    : new EnvelopePayload(policyDomain, policyPayloadType, payload)
  return (await RecordEnvelope.seal(envelope, key)).marshal()
}

export type OpenFailure =
  | 'oversized' | 'malformed' | 'unknown-payload-type' | 'bad-signature' | 'schema' | 'not-canonical' | 'wrong-signer'
  | 'not-an-operator' | 'node-not-admitted' | 'over-rate'

/**
 * Whether a signer may speak for this kind of record at all, asked before the signature is verified
 * and before the payload is parsed: a record from a key that is not an operator's (a policy) or not
 * admitted (a node record) costs a set lookup, not an ed25519 verify and a parse (issue 22 item 5);
 * so does one from a signer sending versions faster than it may (core/arrival-limit.ts).
 */
export type Authorise = (kind: 'node' | 'policy', signerId: string) => 'not-an-operator' | 'node-not-admitted' | 'over-rate' | undefined

export type OpenResult =
  | { readonly ok: true, readonly record: ShoalRecord, readonly signerId: string }
  | { readonly ok: false, readonly failure: OpenFailure, readonly detail: string }

/**
 * Size → decode → the signer may speak at all (`authorise`) → signature and domain → depth → schema →
 * canonical form → the signer speaks for itself.
 */
export async function openRecord (bytes: Uint8Array, recordBytesMax: number, authorise?: Authorise): Promise<OpenResult> {
  const fail = (failure: OpenFailure, detail: string): OpenResult => ({ ok: false, failure, detail })
  if (bytes.byteLength > recordBytesMax) return fail('oversized', `${bytes.byteLength} bytes, limit ${recordBytesMax}`)
  let envelope: RecordEnvelope
  try {
    envelope = RecordEnvelope.createFromProtobuf(bytes)
  } catch (error) {
    return fail('malformed', `not a signed envelope: ${(error as Error).message}`)
  }
  const isNode = sameBytes(envelope.payloadType, nodeRecordPayloadType)
  if (!isNode && !sameBytes(envelope.payloadType, policyPayloadType)) return fail('unknown-payload-type', 'payload type is neither a node record nor a policy')
  let signerId: string
  try {
    signerId = peerIdFromPublicKey(envelope.publicKey).toString()
  } catch (error) {
    return fail('malformed', `no usable public key: ${(error as Error).message}`)
  }
  const refused = authorise?.(isNode ? 'node' : 'policy', signerId)
  if (refused !== undefined) return fail(refused, signerId)
  try {
    if (!(await envelope.validate(isNode ? nodeRecordDomain : policyDomain))) return fail('bad-signature', 'signature does not verify for the domain')
  } catch (error) {
    return fail('bad-signature', (error as Error).message)
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(envelope.payload)
  // Before any recursive parse: ~10 KB of nested brackets made zod overflow its stack after 8–22 ms,
  // which surfaced as an internal error (an "ignore", never held against the sender).
  if (nestedDeeperThan(text, recordLimits.jsonDepthMax)) return fail('malformed', `payload nests deeper than ${recordLimits.jsonDepthMax} levels`)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return fail('malformed', 'payload is not JSON')
  }
  let parsed
  try {
    parsed = (isNode ? nodeRecordSchema : policyFragmentSchema).safeParse(json)
  } catch (error) {
    return fail('malformed', `payload could not be checked: ${(error as Error).message}`)
  }
  if (!parsed.success) return fail('schema', describeSchemaError(parsed.error))
  const record = parsed.data as ShoalRecord
  if (canonicalJson(record) !== text) return fail('not-canonical', 'payload is not in canonical form')
  const claimed = record.kind === 'node' ? record.nodeId : record.version.signer
  if (claimed !== signerId) return fail('wrong-signer', `signed by ${signerId}, claims ${claimed}`)
  return { ok: true, record, signerId }
}

/** Whether JSON text opens more than `max` arrays or objects inside each other (strings skipped). O(length). */
export function nestedDeeperThan (text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (inString) {
      if (code === 0x5c) i++ // backslash: skip the escaped character
      else if (code === 0x22) inString = false
    } else if (code === 0x22) {
      inString = true
    } else if (code === 0x5b || code === 0x7b) {
      if (++depth > max) return true
    } else if (code === 0x5d || code === 0x7d) {
      depth--
    }
  }
  return false
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i])
}
