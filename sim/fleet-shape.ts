// The operator's own fleet, for `shoal sim` (issue 25): "what happens to my fleet when zone b fails"
// is one command. The shape comes from files the operator has:
//
//   --labels FILE        a YAML (or JSON) list with one entry per node: `{ labels: { zone: a }, slots: 4 }`
//                        (slots 10 if not given), or `{ labels: {…}, count: 100 }` for 100 such nodes.
//                        `shoal get nodes --json` writes such a list (other fields are ignored), so a
//                        live fleet's shape is one redirect away.
//   --policies FILE      policy files as `shoal apply -f` takes them.
//   --from-cluster DIR   a daemon's data directory: the node records and policies it holds (each
//                        record's signature checked, as at the daemon's start).
//
// Workloads become simulated ones (the memory actuator's); a spec keeps its identity, so a changed
// policy still rolls out as a change. Only Service policies are simulated: Node and Admission policies
// name real peer ids, which simulated nodes do not have.

import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { canonicalJson, RecordDB, type Labels, type PolicySpec, type ServiceSpec } from '../src/core/index.ts'
import { parsePolicyFile } from '../src/daemon/policy-file.ts'
import { DataStore } from '../src/daemon/store.ts'
import { defaultNetConfig, openRecord } from '../src/net/index.ts'
import { InputError, parseYamlDocument } from '../src/yaml-input.ts'
import type { Scenario, Step } from './scenario-file.ts'

export interface FleetShape {
  /** One label map per node, when the shape says how many nodes and how each is labelled. */
  readonly labels?: Labels[]
  /** Each node's slots, beside `labels` (10 where a file does not say). */
  readonly slots?: number[]
  /** Service policies to apply before the scenario's steps. */
  readonly policies?: ServiceSpec[]
  /** Where the shape came from, for the run's first line. */
  readonly source?: string
}

const labelValue = z.string().max(253)
const labelsFileSchema = z.array(z.object({
  labels: z.record(z.string().min(1).max(63), labelValue),
  slots: z.number().int().min(0).max(10_000).optional(),
  count: z.number().int().min(1).max(100_000).optional(),
})).min(1)

/** Reads the files the options name; an unreadable or malformed one is an InputError naming it. */
export async function loadFleetShape (options: { policies?: string, labels?: string, fromCluster?: string }): Promise<FleetShape> {
  if (options.fromCluster !== undefined && (options.policies !== undefined || options.labels !== undefined)) {
    throw new InputError('--from-cluster takes labels and policies from the cluster; leave out --labels and --policies')
  }
  if (options.fromCluster !== undefined) return await fromCluster(options.fromCluster)
  const nodes = options.labels === undefined ? undefined : parseLabelsFile(await readText(options.labels), options.labels)
  const policies = options.policies === undefined ? undefined : servicesOf(parsePolicyFile(await readText(options.policies), options.policies))
  const source = [nodes === undefined ? '' : `nodes from ${options.labels}`, policies === undefined ? '' : `${policies.length} services from ${options.policies}`].filter((part) => part !== '').join(', ')
  return { ...(nodes ?? {}), ...(policies === undefined ? {} : { policies }), ...(source === '' ? {} : { source }) }
}

/** A labels file's entries, `count` expanded: each node's labels and slots. */
export function parseLabelsFile (text: string, fileName: string): { labels: Labels[], slots: number[] } {
  const entries = parseYamlDocument(labelsFileSchema, text, fileName)
  const nodes = entries.flatMap((entry) => Array.from({ length: entry.count ?? 1 }, () => entry))
  if (nodes.length > 100_000) throw new InputError(`${fileName}: ${nodes.length} nodes, more than 100000`)
  return { labels: nodes.map((node) => node.labels), slots: nodes.map((node) => node.slots ?? 10) }
}

async function readText (file: string): Promise<string> {
  return await readFile(file, 'utf8').catch((error: Error) => { throw new InputError(`cannot read ${file}: ${error.message}`) })
}

/** The Service policies, their workloads simulated (the same spec, the same simulated workload). */
function servicesOf (policies: readonly PolicySpec[]): ServiceSpec[] {
  return policies.filter((policy): policy is ServiceSpec => policy.kind === 'Service').map(simulated)
}

function simulated (service: ServiceSpec): ServiceSpec {
  const asMemory = (workload: ServiceSpec['workload']): ServiceSpec['workload'] => (workload.kind === 'memory' ? workload : { kind: 'memory', version: canonicalJson(workload) })
  return {
    ...service,
    workload: asMemory(service.workload),
    ...(service.previousWorkload === undefined ? {} : { previousWorkload: asMemory(service.previousWorkload) }),
  }
}

/** A daemon's data dir: the latest version of every record it holds, each signature checked. */
async function fromCluster (dataDir: string): Promise<FleetShape> {
  const store = new DataStore(dataDir)
  const envelopes = await store.loadRecords(defaultNetConfig.recordBytesMax).catch((error: Error) => { throw new InputError(`cannot read the records in ${dataDir}: ${error.message}`) })
  const db = new RecordDB()
  for (const envelope of envelopes) {
    const opened = await openRecord(envelope, defaultNetConfig.recordBytesMax)
    if (opened.ok) db.merge(opened.record, envelope)
  }
  const nodes = db.nodeRecords().sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1))
  if (nodes.length === 0) throw new InputError(`${dataDir}: no node records in it (is it a shoal daemon's data dir?)`)
  const policies = servicesOf(db.policies().flatMap((fragment) => (fragment.body === null ? [] : [fragment.body])))
  return { labels: nodes.map((node) => node.labels), slots: nodes.map((node) => node.slots), policies, source: `${nodes.length} nodes and ${policies.length} services from ${dataDir}` }
}

/** The scenario with `policies` applied first (and converged on) when there are any. */
export function withPolicies (scenario: Scenario, policies: readonly ServiceSpec[] | undefined): Scenario {
  if (policies === undefined || policies.length === 0) return scenario
  const first: Step[] = [{ apply: [...policies] }, { expect: { converged: 120_000, noDuplicates: true } }]
  return { ...scenario, steps: [...first, ...scenario.steps] }
}
