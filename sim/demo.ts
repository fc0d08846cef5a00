// The built-in demo: 20 real libp2p nodes in one process, in 3 zones, with memory actuators. It applies
// a few services, crashes a node, splits the mesh in two, changes a policy on both sides, heals, and
// deletes a service — printing, for each step, the time to convergence and the gossip traffic, then a
// closing table and a verdict. Convergence is judged from outside, per component (DESIGN.md §1).
//
//   npm run demo
//
// This is the demo scenario of `shoal sim` (issue 5); scenario files, reports and the CLI come with it.

import '../src/polyfill.ts'
import { performance } from 'node:perf_hooks'
import type { ServiceSpec } from '../src/core/index.ts'
import {
  components, converged, crashNode, excessReplicas, heal, liveNodes, partition, runningResources, startFleet, stopFleet, waitFor,
  type Fleet,
} from '../src/testing/index.ts'

const nodeCount = 20
const stepTimeoutMs = 30_000

interface StepResult { step: string, convergedMs: number | null, messages: number, kilobytes: number, note: string }
const results: StepResult[] = []

function traffic (fleet: Fleet): { messages: number, bytes: number } {
  return fleet.mesh.nodes.reduce((sum, node) => ({ messages: sum.messages + node.counters.gossipMessages, bytes: sum.bytes + node.counters.gossipBytes }), { messages: 0, bytes: 0 })
}

async function step (fleet: Fleet, name: string, action: () => Promise<string | void>, settled: () => boolean = () => converged(fleet)): Promise<void> {
  const before = traffic(fleet)
  const start = performance.now()
  const note = (await action()) ?? ''
  let convergedMs: number | null = null
  try {
    await waitFor(name, settled, stepTimeoutMs, 10)
    convergedMs = performance.now() - start
  } catch {
    convergedMs = null
  }
  const after = traffic(fleet)
  const result = { step: name, convergedMs, messages: after.messages - before.messages, kilobytes: (after.bytes - before.bytes) / 1024, note }
  results.push(result)
  const time = convergedMs === null ? `NOT converged within ${stepTimeoutMs / 1000} s` : `converged in ${convergedMs.toFixed(0)} ms`
  console.log(`${name.padEnd(44)} ${time.padEnd(26)} ${String(result.messages).padStart(6)} msgs ${result.kilobytes.toFixed(0).padStart(6)} KB  ${note}`)
}

const service = (name: string, fields: Partial<ServiceSpec>): ServiceSpec => ({
  kind: 'Service', name, replicas: 1, selector: {}, slots: 1, workload: { kind: 'memory', app: name }, ...fields,
})

const web = service('web', { replicas: 3, spread: 'zone' })
const api = service('api', { replicas: 5, selector: { tier: 'app' } })
const agent = service('agent', { replicas: 'all' })
const cache = service('cache', { replicas: 2, spread: 'zone', slots: 2 })

console.log(`Shoal demo: ${nodeCount} nodes in one process (real libp2p over the memory transport), 3 zones\n`)
const startedAt = performance.now()
const fleet = await startFleet(nodeCount, (i) => ({ zone: ['a', 'b', 'c'][i % 3] as string, tier: i % 4 === 0 ? 'edge' : 'app' }))
let verdict = true
try {
  await waitFor('the mesh to form', () => components(fleet).length === 1 && converged(fleet), 60_000, 20)
  console.log(`mesh formed: ${nodeCount} nodes, one component, in ${((performance.now() - startedAt) / 1000).toFixed(1)} s\n`)
  const operator = fleet.mesh.operator
  const publish = async (nodeIndex: number, spec: ServiceSpec): Promise<void> => {
    await fleet.mesh.nodes[nodeIndex]!.publish((await operator.sign(spec)).envelope)
  }

  await step(fleet, 'apply web ×3 (spread), api ×5, agent on all, cache', async () => {
    for (const spec of [web, api, agent, cache]) await publish(0, spec)
  })
  console.log(`  running: ${runningResources(fleet).length} workloads`)

  const victim = [...fleet.live].find((i) => runningResources(fleet, [i]).some((id) => id.startsWith('web@'))) as number
  await step(fleet, `crash node ${victim} (runs a web replica)`, async () => {
    await crashNode(fleet, victim)
    return `${fleet.live.size} nodes left`
  }, () => converged(fleet) && components(fleet).length === 1)

  const live = [...fleet.live]
  const left = live.slice(0, Math.floor(live.length / 2)).map((i) => fleet.mesh.nodes[i]!)
  const right = live.slice(Math.floor(live.length / 2)).map((i) => fleet.mesh.nodes[i]!)
  await step(fleet, `split the mesh ${left.length}|${right.length}`, async () => {
    await partition([left, right])
    return 'each side places all work among its own nodes'
  }, () => components(fleet).length === 2 && converged(fleet))

  await step(fleet, 'change web on both sides (right side later)', async () => {
    await fleet.mesh.nodes[live[0]!]!.publish((await operator.sign({ ...web, replicas: 4 })).envelope)
    await fleet.mesh.nodes[live.at(-1)!]!.publish((await operator.sign({ ...web, replicas: 2 })).envelope)
  }, () => components(fleet).length === 2 && converged(fleet))

  await step(fleet, 'heal (unannounced: redial and digest sync)', async () => {
    heal(liveNodes(fleet))
  }, () => components(fleet).length === 1 && converged(fleet))
  const newestWins = liveNodes(fleet).every((node) => {
    const body = node.db.get('policy:Service/web')
    return body?.kind === 'policy' && body.body?.kind === 'Service' && body.body.replicas === 2
  })
  console.log(`  newest policy (web ×2) everywhere: ${newestWins ? 'yes' : 'NO'}`)
  verdict &&= newestWins

  await step(fleet, 'delete api', async () => {
    await fleet.mesh.nodes[live[1]!]!.publish((await operator.signDeletion('Service', 'api')).envelope)
  })

  const excess = excessReplicas(fleet, [{ ...web, replicas: 2 }, cache])
  const apiLeft = runningResources(fleet).filter((id) => id.startsWith('api@'))
  verdict &&= excess.length === 0 && apiLeft.length === 0 && results.every((result) => result.convergedMs !== null)

  console.log('\nstep                                          converged (ms)   msgs     KB')
  for (const result of results) {
    console.log(`${result.step.padEnd(46)}${(result.convergedMs === null ? 'no' : result.convergedMs.toFixed(0)).padStart(14)}${String(result.messages).padStart(7)}${result.kilobytes.toFixed(0).padStart(7)}`)
  }
  console.log(`\nnothing runs twice: ${excess.length === 0 ? 'yes' : excess.join('; ')}`)
  console.log(`verdict: ${verdict ? 'PASS — every step converged' : 'FAIL'}`)
} finally {
  await stopFleet(fleet)
}
process.exit(verdict ? 0 : 1)
