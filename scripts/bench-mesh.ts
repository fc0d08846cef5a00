// Benchmark: time from publishing a policy at one node until every node has merged it, for N nodes in
// one process; beside it the plain gossipsub broadcast of a message of the same size on the same mesh
// (the floor: no signature check, no decode, no merge), and the ratio of the two.
//
//   npm run bench:mesh                      # N = 10, 50, 200 over the memory transport
//   npm run bench:mesh -- --nodes 10,50 --transport tcp --rounds 9   (use 25+ rounds: the floor itself is noisy)
//
// Goal (issue 3): ratio under 1.5.

import '../src/polyfill.ts'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { randomBytes } from 'node:crypto'
import type { ServiceSpec } from '../src/core/index.ts'
import { startMesh, waitFor, type TestMesh } from '../src/testing/index.ts'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '10,50,200' },
    transport: { type: 'string', default: 'memory' },
    rounds: { type: 'string', default: '25' },
  },
})
const sizes = (values.nodes ?? '').split(',').map(Number)
const rounds = Number(values.rounds)
const transport = values.transport === 'tcp' ? 'tcp' : 'memory'

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const pause = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

async function timeBroadcast (mesh: TestMesh, size: number, origin: number): Promise<number> {
  const data = randomBytes(size)
  const marker = data.toString('hex')
  let reached = 1
  const listeners = mesh.nodes.map((node) => {
    const listener = (received: Uint8Array): void => { if (Buffer.from(received).toString('hex') === marker) reached++ }
    node.on('probe:message', listener)
    return () => node.off('probe:message', listener)
  })
  const start = performance.now()
  await mesh.nodes[origin]!.publishProbe(data)
  await waitFor('the probe everywhere', () => reached >= mesh.nodes.length, 30_000, 1).catch((error) => { throw new Error(`${(error as Error).message}: reached ${reached} of ${mesh.nodes.length}; min peer score ${Math.min(...mesh.nodes.flatMap((node) => [...node.peerScores().values()]))}`) })
  const took = performance.now() - start
  for (const off of listeners) off()
  return took
}

async function timePolicy (mesh: TestMesh, round: number, origin: number): Promise<{ ms: number, bytes: number }> {
  const spec: ServiceSpec = { kind: 'Service', name: 'bench', replicas: 1 + (round % 5), selector: {}, slots: 1, workload: { kind: 'memory', round } }
  const { envelope, fragment } = await mesh.operator.sign(spec)
  const has = (index: number): boolean => mesh.nodes[index]!.db.get('policy:Service/bench') === fragment ||
    JSON.stringify(mesh.nodes[index]!.db.get('policy:Service/bench')) === JSON.stringify(fragment)
  let reached = 0
  const done = new Set<number>()
  const listeners = mesh.nodes.map((node, index) => {
    const listener = (): void => { if (!done.has(index) && has(index)) { done.add(index); reached++ } }
    node.on('record:merged', listener)
    return () => node.off('record:merged', listener)
  })
  const start = performance.now()
  await mesh.nodes[origin]!.publish(envelope)
  await waitFor('the policy everywhere', () => reached >= mesh.nodes.length, 30_000, 1)
  const took = performance.now() - start
  for (const off of listeners) off()
  return { ms: took, bytes: envelope.byteLength }
}

console.log(`node ${process.version}, transport ${transport}, ${rounds} rounds per size`)
console.log('nodes  start+connect  broadcast(median)  policy(median)  ratio  rss/node')
for (const count of sizes) {
  const startedAt = performance.now()
  const mesh = await startMesh(count, { transport, probeTopic: true, bootstrapCount: 3 })
  try {
    await waitFor(`one component of ${count}`, () => mesh.nodes.every((node) => node.component().size === count), 120_000, 50)
    const connectMs = performance.now() - startedAt
    await pause(3_000) // let gossipsub meshes form over a few heartbeats
    const floor: number[] = []
    const ours: number[] = []
    for (let round = 0; round < rounds; round++) {
      const origin = Math.floor(Math.random() * count)
      const policy = await timePolicy(mesh, round, origin)
      ours.push(policy.ms)
      await pause(300)
      floor.push(await timeBroadcast(mesh, policy.bytes, origin))
      await pause(300)
    }
    const rssMb = process.memoryUsage().rss / 1024 / 1024
    console.log(`${String(count).padStart(5)}  ${(connectMs / 1000).toFixed(1).padStart(11)} s  ${median(floor).toFixed(1).padStart(14)} ms  ${median(ours).toFixed(1).padStart(11)} ms  ${(median(ours) / median(floor)).toFixed(2).padStart(5)}  ${(rssMb / count).toFixed(1)} MB`)
  } finally {
    await mesh.stop()
  }
}
process.exit(0)
