// The client commands: each talks to one daemon over its API (client.ts) and prints either aligned
// tables for people or, with --json, the API's JSON for scripts.

import { readFile } from 'node:fs/promises'
import type { PolicyFragment, PolicyKind, NodeSettingsSpec, ServiceExplanation, ServiceSpec } from '../core/index.ts'
import type { StatusReport } from '../daemon/daemon.ts'
import { InputError } from '../errors.ts'
import { ApiClient, CliError, type ClientOptions } from './client.ts'

export interface OutputOptions {
  readonly json?: boolean
}

type Options = ClientOptions & OutputOptions

interface NodeSummary {
  readonly id: string
  readonly reachable: boolean
  readonly held: boolean
  readonly labels: Record<string, string>
  readonly slots: number
  readonly agentVersion: string | null
  readonly ageMs: number
  readonly resources: ReadonlyArray<{ id: string, phase: string }>
  readonly viewHash: string
}

/**
 * Text that came from the fleet (labels, versions, errors: whatever a node says of itself) shown with
 * its control characters escaped, so that it cannot move the cursor, clear the screen or retitle the
 * terminal of the operator reading it. Newlines and tabs are escaped too, except between lines we print.
 */
export function printable (text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

function print (text: string): void {
  const lines = text.replace(/\n$/, '').split('\n').map(printable).join('\n')
  process.stdout.write(`${lines}\n`)
}

/** Aligned columns, the first row a header; every cell printable. */
export function table (rows: ReadonlyArray<readonly string[]>): string {
  const cells = rows.map((row) => row.map(printable))
  const widths: number[] = []
  for (const row of cells) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length) })
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n')
}

function labelsText (labels: Record<string, string>): string {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`).join(',') || '-'
}

export async function applyCommand (files: readonly string[], options: Options): Promise<void> {
  // Every file is read and checked before anything is sent: a bad file changes nothing.
  const { parsePolicyFile } = await import('../daemon/policy-file.ts')
  const specs = []
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch((error: Error) => { throw new InputError(`cannot read ${file}: ${error.message}`) })
    specs.push(...parsePolicyFile(text, file))
  }
  const client = await ApiClient.connect(options)
  const signer = await client.signer(options)
  const results = []
  for (const spec of specs) results.push(await client.submit(signer, { spec: spec.kind === 'Service' ? await withPrevious(client, spec) : spec }))
  print(options.json === true ? JSON.stringify(results) : results.join('\n'))
}

/**
 * A Service as applied, remembering the workload it replaces (`previousWorkload`: what a failed
 * rollout reverts to with autoRevert). Applying the same workload again keeps the one remembered.
 */
async function withPrevious (client: ApiClient, spec: ServiceSpec): Promise<ServiceSpec> {
  const { workloadHash } = await import('../core/records.ts')
  const current = await client.find<PolicyFragment>(`/v1/policies/Service/${encodeURIComponent(spec.name)}`)
  if (current?.body?.kind !== 'Service') return spec
  const previous = workloadHash(current.body.workload) === workloadHash(spec.workload) ? current.body.previousWorkload : current.body.workload
  return previous === undefined ? spec : { ...spec, previousWorkload: previous }
}

/** `shoal promote Service/NAME`: the canaries were good; the rest of the rollout may follow. */
export async function promoteCommand (target: string, options: Options): Promise<void> {
  const { kind, name } = parseTarget(target)
  if (kind !== 'Service') throw new CliError(`promote takes Service/NAME, not ${target}`)
  const client = await ApiClient.connect(options)
  const current = await client.find<PolicyFragment>(`/v1/policies/Service/${encodeURIComponent(name)}`)
  if (current?.body?.kind !== 'Service') throw new CliError(`no service ${name}`)
  const spec: ServiceSpec = { ...current.body, update: { ...current.body.update, promoted: true } }
  const result = await client.submit(await client.signer(options), { spec })
  print(options.json === true ? JSON.stringify([result]) : `${result} (promoted)`)
}

export async function deleteCommand (target: string, options: Options): Promise<void> {
  const { kind, name } = parseTarget(target)
  const client = await ApiClient.connect(options)
  const result = await client.submit(await client.signer(options), { delete: { kind, name } })
  print(options.json === true ? JSON.stringify([result]) : result)
}

export async function admitCommand (peerIds: readonly string[], options: Options): Promise<void> {
  const client = await ApiClient.connect(options)
  const signer = await client.signer(options)
  const results = []
  for (const name of peerIds) results.push(await client.submit(signer, { spec: { kind: 'Admission', name } }))
  print(options.json === true ? JSON.stringify(results) : results.join('\n'))
}

/** drain / cordon / uncordon: a change to the node's Node policy, keeping its other settings. */
export async function nodeSettingCommand (node: string, change: 'drain' | 'cordon' | 'uncordon', options: Options): Promise<void> {
  const client = await ApiClient.connect(options)
  const nodeId = await resolveNode(client, node)
  const current = await client.find<PolicyFragment>(`/v1/policies/Node/${encodeURIComponent(nodeId)}`)
  const before: NodeSettingsSpec = current?.body?.kind === 'Node' ? current.body : { kind: 'Node', name: nodeId }
  const { drain: _drain, cordon: _cordon, ...rest } = before
  const spec: NodeSettingsSpec = change === 'uncordon' ? rest : change === 'drain' ? { ...before, drain: true } : { ...before, cordon: true }
  const result = await client.submit(await client.signer(options), { spec })
  print(options.json === true ? JSON.stringify([result]) : `${result} (${change})`)
}

export async function statusCommand (options: Options): Promise<void> {
  const client = await ApiClient.connect(options)
  const status = await client.get<StatusReport>('/v1/status')
  if (options.json === true) return print(JSON.stringify(status))
  print(table([
    ['node', status.node],
    ['version', status.version],
    ['cluster', status.cluster],
    ['generation', String(status.generation)],
    ['view', status.viewHash],
    ['converged', status.converged ? 'yes' : `no — ${status.problems.join('; ')}`],
    ['reachable', `${status.reachable.length} node(s)${status.held.length > 0 ? `, ${status.held.length} held while restarting` : ''}`],
    ['connected', `${status.connected.length} peer(s)`],
    ['assigned', status.assigned.join(', ') || '-'],
    ['running', status.running.join(', ') || '-'],
    ['records', String(status.records)],
    ['quorum', status.quorum ?? '-'],
    ...(status.rollouts ?? []).map((line) => ['rolling out', line]),
  ]))
}

export async function getCommand (what: string, options: Options): Promise<void> {
  const client = await ApiClient.connect(options)
  if (what === 'nodes') {
    const nodes = await client.get<NodeSummary[]>('/v1/nodes')
    if (options.json === true) return print(JSON.stringify(nodes))
    print(table([['NODE', 'STATE', 'VERSION', 'LABELS', 'SLOTS', 'RUNNING', 'AGE'], ...nodes.map((node) => [
      node.id, node.held ? 'held' : node.reachable ? 'reachable' : 'unreachable', node.agentVersion ?? '-', labelsText(node.labels), String(node.slots),
      node.resources.filter((r) => r.phase === 'running').map((r) => r.id.split('@')[0]).join(',') || '-', `${Math.round(node.ageMs / 1000)}s`,
    ])]))
  } else if (what === 'policies') {
    const policies = await client.get<PolicyFragment[]>('/v1/policies')
    if (options.json === true) return print(JSON.stringify(policies))
    print(table([['POLICY', 'STATE', 'VERSION', 'SIGNER', 'SUMMARY'], ...policies.map((policy) => [
      `${policy.policyKind}/${policy.name}`, policy.body === null ? 'deleted' : 'set', `${policy.version.hlc.wallMs}.${policy.version.hlc.counter}`,
      `…${policy.version.signer.slice(-8)}`, summary(policy),
    ])]))
  } else if (what === 'view') {
    const view = await client.get<{ viewHash: string, component: string[], assignments: Array<{ resourceId: string, service: string, nodeId: string }>, shortfalls: Array<{ service: string, wanted: number, placed: number }> }>('/v1/view')
    if (options.json === true) return print(JSON.stringify(view))
    print(`view ${view.viewHash} over ${view.component.length} node(s)`)
    print(table([['SERVICE', 'NODE'], ...view.assignments.map((a) => [a.service, a.nodeId])]))
    for (const shortfall of view.shortfalls) print(`short: ${shortfall.service} wants ${shortfall.wanted}, placed ${shortfall.placed}`)
  } else {
    throw new CliError(`get: unknown '${what}'; use nodes, policies or view`)
  }
}

export async function explainCommand (target: string, options: Options): Promise<void> {
  const { kind, name } = parseTarget(target)
  const client = await ApiClient.connect(options)
  const explanation = await client.find<ServiceExplanation & Record<string, unknown>>(`/v1/explain/${kind}/${encodeURIComponent(kind === 'Node' ? await resolveNode(client, name) : name)}`)
  if (explanation === undefined) throw new CliError(`nothing known about ${kind}/${name}`)
  if (options.json === true || kind !== 'Service') return print(JSON.stringify(explanation, null, options.json === true ? 0 : 2))
  print(`${kind}/${name}: ${explanation.placed} of ${String(explanation.replicas)} placed${explanation.spreadQuotas === undefined ? '' : `; spread ${JSON.stringify(explanation.spreadQuotas)}`}`)
  print(table([['NODE', 'RANK', 'CHOSEN', 'WHY'], ...explanation.candidates.map((candidate) => [
    candidate.nodeId, candidate.rank === null ? '-' : String(candidate.rank), candidate.chosen ? 'yes' : 'no', candidate.detail,
  ])]))
  const rollout = explanation.rollout as { summary: string, replicas: Array<{ nodeId: string, detail: string }> } | undefined
  if (rollout !== undefined && rollout.replicas.some((replica) => replica.detail !== 'on the new spec, available')) {
    print(`rollout: ${rollout.summary}`)
    print(table([['NODE', 'ROLLOUT'], ...rollout.replicas.map((replica) => [replica.nodeId, replica.detail])]))
  }
}

function summary (policy: PolicyFragment): string {
  const body = policy.body
  if (body === null) return '-'
  if (body.kind === 'Service') return `replicas=${String(body.replicas)} ${body.workload.kind}${Object.keys(body.selector).length > 0 ? ` selector=${labelsText(body.selector)}` : ''}${body.spread === undefined ? '' : ` spread=${body.spread}`}`
  if (body.kind === 'Node') return [body.drain === true ? 'drain' : '', body.cordon === true ? 'cordon' : '', body.labels === undefined ? '' : labelsText(body.labels)].filter(Boolean).join(' ') || '-'
  return 'admitted'
}

function parseTarget (target: string): { kind: PolicyKind, name: string } {
  const match = /^(Service|Node|Admission)\/(.+)$/.exec(target)
  if (match === null) throw new CliError(`'${target}' is not KIND/NAME (KIND is Service, Node or Admission), e.g. Service/web`)
  return { kind: match[1] as PolicyKind, name: match[2] as string }
}

/** A node named by its full peer id, or by a unique ending of it (at least 6 characters). */
async function resolveNode (client: ApiClient, node: string): Promise<string> {
  const nodes = await client.get<NodeSummary[]>('/v1/nodes')
  if (nodes.some((candidate) => candidate.id === node)) return node
  const matches = node.length >= 6 ? nodes.filter((candidate) => candidate.id.endsWith(node)) : []
  if (matches.length === 1) return (matches[0] as NodeSummary).id
  throw new CliError(matches.length > 1 ? `'${node}' matches ${matches.length} nodes; give more of the id` : `no node '${node}' known (give its peer id, or its last 6+ characters)`)
}
