// Scenario files: what `shoal sim` runs, parsed and checked before a node starts (sim/scenario.ts
// runs them). One file runs on either engine; `network` options and `clockSkew` need the virtual one,
// which models the network (sim/virtual/network.ts) and each node's clock.
//
//   nodes: 12                 # optional (the --nodes flag overrides it)
//   zones: 3                  # optional: nodes are labelled zone=a, b, c, … in turn
//   network:                  # optional, virtual engine only: the network model
//     latency: { floor: 1ms, tail: 2ms }        # each message: the floor plus an exponential tail (its mean)
//     betweenZones: { floor: 20ms, tail: 5ms }  # messages between zones instead (per-zone latency)
//     loss: 0.01                                # the chance a message is lost
//     processing: 0.2ms                         # what handling a message costs its receiver
//     bandwidth: 10mbit                         # each node's uplink (kbit, mbit, gbit per second)
//   steps:
//     - apply: { kind: Service, name: web, replicas: 3, spread: zone }   # workload defaults to memory
//     - expect: { converged: 10s }
//     - kill: 4                                  # a node index, or { random: true } (seeded)
//     - partition: { groups: [[0, 1, 2], [3, 4, 5, 6, 7]], oneWay: false }
//     - expect: { converged: 10s, replicas: { web: 3 }, noDuplicates: true }
//     - heal: {}
//     - delete: Service/web
//     - sleep: 2s
//     - restart: 4                               # a crashed node starts again (next generation)
//     - churn: { count: 3, every: 1s }           # crash and restart random nodes, one at a time
//     - stall: { node: 2, for: 500ms, movesNothing: true }  # stops answering, connections left open
//     - stall: { node: { runs: web }, for: 8s }  # …or the first node running web (or node: random)
//     - rollout: { service: web, within: 30s, minAvailable: 5 }  # after an apply that changed the spec
//     - drain: { node: 3, within: 20s, minAvailable: { web: 3 } }   # an operator drains node 3
//     - drain: { node: { runs: web }, within: 20s }                  # …or the first node running web
//     - partition: { size: 4, holding: db }      # the node running db and 3 others, against the rest
//     - singleton: { service: db, for: 8s }      # never on two nodes at once; on one at the end
//     - outage: { zone: b }                      # zone b's nodes cut off from the rest (heal ends it)
//     - outage: { zone: b, power: true }         # …or all of them crash
//     - flap: { halves: true, every: 1s, count: 3 }  # split, wait, heal, wait; 3 times (or groups: …)
//     - clockSkew: { node: 3, by: -5s }          # node 3's wall clock jumps (virtual engine only)
//
// A memory workload's spec may say `startMs: 300` (slow to come up) or `healthy: false` (never healthy),
// so that applying a changed spec rolls out a slow or a broken version. `rollout` samples the fleet
// every 50 ms from outside (the actuators themselves, not records): it waits until every replica runs
// the newest spec (and no more replicas than the service wants run: after a drain, until the replica let
// go has stopped), and fails if fewer than `minAvailable` replicas were running at any sample. With
// `finishes: false` it expects the rollout to stop (a broken spec) and watches for all of `within`;
// with `reverts: true`, that every replica ends on the previous spec (a failed rollout, autoRevert).
// `drain` publishes a Node policy draining a node, then samples likewise until the node runs nothing
// and each named service runs its replicas, failing if one had fewer than its minimum at any sample.
//
// `expect` checks, per component: converged within the time given (judged from outside, DESIGN.md §1),
// each named service running exactly that many replicas, and nothing running twice. A failed expect
// fails the run; the report names the step and the seed that reproduces it.

import { z } from 'zod'
import type { PolicySpec } from '../src/core/index.ts'
import { describeSchemaError, policySpecSchema } from '../src/net/index.ts'
import { parseYamlDocument } from '../src/yaml-input.ts'

export const duration = z.union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?(ms|s)$/, 'must be like 500ms or 2s')])
  .transform((value) => (typeof value === 'number' ? value : value.endsWith('ms') ? Number(value.slice(0, -2)) : Number(value.slice(0, -1)) * 1_000))

const signedDuration = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?(ms|s)$/, 'must be like 500ms, 2s or -2s')])
  .transform((value) => (typeof value === 'number' ? value : value.endsWith('ms') ? Number(value.slice(0, -2)) : Number(value.slice(0, -1)) * 1_000))

const latency = z.strictObject({ floor: duration, tail: duration })

/** Bits per second from "100kbit", "10mbit" or "1gbit". */
const bandwidth = z.string().regex(/^\d+(\.\d+)?(kbit|mbit|gbit)$/, 'must be like 100kbit, 10mbit or 1gbit')
  .transform((value) => Number(value.slice(0, -4)) * { k: 1e3, m: 1e6, g: 1e9 }[value.at(-4) as 'k' | 'm' | 'g'])

export const networkSchema = z.strictObject({
  latency: latency.optional(),
  betweenZones: latency.optional(),
  loss: z.number().min(0).max(0.9).optional(),
  processing: duration.optional(),
  bandwidth: bandwidth.optional(),
})
export type NetworkOptions = z.output<typeof networkSchema>

const policyInput = z.record(z.string(), z.unknown()).transform((value, context) => {
  const withDefaults = value.kind === 'Service' ? { selector: {}, slots: 1, workload: { kind: 'memory' }, ...value } : value
  const parsed = policySpecSchema.safeParse(withDefaults)
  if (!parsed.success) {
    context.addIssue({ code: 'custom', message: describeSchemaError(parsed.error) })
    return z.NEVER
  }
  return parsed.data as PolicySpec
})

const at = z.number().int().nonnegative().optional()
const stepSchemas = {
  // One policy or a list; normalised to a list first, so an error names the policy's own field.
  apply: z.strictObject({ apply: z.preprocess((value) => (Array.isArray(value) ? value : [value]), z.array(policyInput).min(1)), at }),
  delete: z.strictObject({ delete: z.string().regex(/^(Service|Node|Admission)\/[^/]+$/, 'must be KIND/NAME, e.g. Service/web'), at }),
  kill: z.strictObject({ kill: z.union([z.number().int().nonnegative(), z.strictObject({ random: z.literal(true) })]) }),
  restart: z.strictObject({ restart: z.number().int().nonnegative() }),
  churn: z.strictObject({ churn: z.strictObject({ count: z.number().int().min(1).max(100), every: duration }) }),
  partition: z.strictObject({
    partition: z.union([
      z.strictObject({ groups: z.array(z.array(z.number().int().nonnegative()).min(1)).min(2), oneWay: z.boolean().optional() }),
      z.strictObject({ halves: z.literal(true) }), // the live nodes, split into two halves by index
      // `size` live nodes around the one running `holding` (it, then the lowest indexes), and the rest
      z.strictObject({ size: z.number().int().min(1), holding: z.string() }),
    ]),
  }),
  heal: z.strictObject({ heal: z.union([z.strictObject({}), z.literal(true), z.null()]) }),
  // A node stops reading and writing on every connection for a while (a paused process); with
  // movesNothing, the step fails if any node drops it or any workload starts or stops meanwhile.
  stall: z.strictObject({
    stall: z.strictObject({ node: z.union([z.number().int().nonnegative(), z.literal('random'), z.strictObject({ runs: z.string() })]), for: duration, movesNothing: z.boolean().optional() }),
  }),
  sleep: z.strictObject({ sleep: duration }),
  // Samples every 50 ms for `for`: the service must never run (starting or running) on two nodes at
  // once, and must run on exactly one, in the largest component, at the end.
  singleton: z.strictObject({ singleton: z.strictObject({ service: z.string(), for: duration }) }),
  drain: z.strictObject({
    drain: z.strictObject({ node: z.union([z.number().int().nonnegative(), z.strictObject({ runs: z.string() })]), within: duration, minAvailable: z.record(z.string(), z.number().int().nonnegative()).optional() }),
  }),
  rollout: z.strictObject({
    rollout: z.strictObject({
      service: z.string(), within: duration, minAvailable: z.number().int().nonnegative().optional(), finishes: z.boolean().optional(), reverts: z.boolean().optional(),
    }),
  }),
  // A zone goes dark: its live nodes cut off from the rest (a network outage; `heal` ends it), or,
  // with power, crashed (`restart` brings each back).
  outage: z.strictObject({ outage: z.strictObject({ zone: z.string().min(1), power: z.boolean().optional() }) }),
  // A flapping link: the split, then a heal, each held for `every`, `count` times; the fleet ends healed.
  flap: z.strictObject({
    flap: z.strictObject({
      groups: z.array(z.array(z.number().int().nonnegative()).min(1)).min(2).optional(), halves: z.literal(true).optional(),
      every: duration, count: z.number().int().min(1).max(100),
    }).refine((flap) => (flap.groups === undefined) !== (flap.halves === undefined), 'give either groups or halves: true'),
  }),
  clockSkew: z.strictObject({ clockSkew: z.strictObject({ node: z.union([z.number().int().nonnegative(), z.literal('random')]), by: signedDuration }) }),
  expect: z.strictObject({
    expect: z.strictObject({
      converged: duration.optional(),
      replicas: z.record(z.string(), z.number().int().nonnegative()).optional(),
      noDuplicates: z.boolean().optional(),
    }),
  }),
}
type StepKind = keyof typeof stepSchemas
export type Step = z.output<(typeof stepSchemas)[StepKind]>

/** A step is chosen by its key, so that an error names the real field, not "no union member matched". */
const stepSchema = z.unknown().transform((value, context): Step => {
  const kind = typeof value === 'object' && value !== null ? Object.keys(value).find((key): key is StepKind => key in stepSchemas) : undefined
  if (kind === undefined) {
    context.addIssue({ code: 'custom', message: `a step must be one of: ${Object.keys(stepSchemas).join(', ')}` })
    return z.NEVER
  }
  const parsed = stepSchemas[kind].safeParse(value)
  if (!parsed.success) {
    for (const issue of parsed.error.issues) context.addIssue({ code: 'custom', message: issue.message, path: issue.path })
    return z.NEVER
  }
  return parsed.data
})

export const scenarioSchema = z.strictObject({
  nodes: z.number().int().min(1).max(100_000).optional(),
  zones: z.number().int().min(1).max(26).optional(),
  network: networkSchema.optional(),
  steps: z.array(stepSchema).min(1),
})

export type Scenario = z.infer<typeof scenarioSchema>

/** Parses scenario YAML; errors name the field and, where YAML knows it, the line. */
export function parseScenario (text: string, fileName: string): Scenario {
  return parseYamlDocument(scenarioSchema, text, fileName)
}


/** Why `scenario` cannot run on the libp2p engine (what only the virtual one models), or undefined. */
export function virtualOnly (scenario: Scenario): string | undefined {
  if (scenario.network !== undefined) return '`network` options model the network, which the libp2p engine does not'
  const skew = scenario.steps.findIndex((step) => 'clockSkew' in step)
  if (skew >= 0) return `step ${skew + 1} (clockSkew) moves a node's clock, which the libp2p engine's nodes share`
  return undefined
}
