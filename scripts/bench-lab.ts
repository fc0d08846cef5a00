// Benchmark: the fault lab's figures (issue 23) — 5 real daemons in network namespaces, real TCP.
//
//   sudo npx tsx scripts/bench-lab.ts [--nodes 5] [--rounds 3]
//
// Per round: a silent 2|3 partition (nftables drops) → each side converged over its own nodes; the heal
// → one view over all (nothing announces a heal: redials and heal probes find it); SIGSTOP of a replica
// host → its work running elsewhere, the others converged. The daemons run the default liveness
// (hello 500 ms, dead interval 2 s). Compare with the simulator's cooperative faults (benchmarks.md).

import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startLab, type Lab } from '../src/testing/index.ts'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } })
const count = Number(values.nodes)
const rounds = Number(values.rounds)
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

async function convergedOver (lab: Lab, group: readonly number[], replicas: number | null, timeoutMs = 30_000): Promise<number> {
  const start = performance.now()
  while (performance.now() - start < timeoutMs) {
    const statuses = await Promise.all(group.map(async (i) => await lab.status(i, 500)))
    const ok = statuses.every((status) => status?.converged === true && status.reachable.length === group.length) &&
      new Set(statuses.map((status) => status?.viewHash)).size === 1 &&
      (replicas === null || statuses.flatMap((status) => status?.running ?? []).filter((id) => id.startsWith('web@')).length === replicas)
    if (ok) return performance.now() - start
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`nodes ${group.join(',')} not converged within ${timeoutMs} ms`)
}

const lab = await startLab({ nodes: count, net: { helloIntervalMs: 500, deadIntervalMs: 2_000 }, grace: '5s' })
try {
  const all = lab.nodes.map((node) => node.index)
  const file = join(lab.state.dir, 'web.yaml')
  await writeFile(file, ['kind: Service', 'name: web', 'replicas: 3', 'process:', `  command: ${process.execPath}`, '  args: ["-e", "setInterval(() => {}, 1000)"]', ''].join('\n'))
  await lab.shoal('apply', '-f', file, '--data', lab.node(0).dataDir)
  await convergedOver(lab, all, 3)
  const split: number[] = []
  const heal: number[] = []
  const pause: number[] = []
  for (let round = 0; round < rounds; round++) {
    const small = [0, 1]
    const large = all.filter((i) => !small.includes(i))
    let start = performance.now()
    await lab.partition([small, large])
    await Promise.all([convergedOver(lab, small, null), convergedOver(lab, large, null)])
    split.push(performance.now() - start)
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    start = performance.now()
    await lab.heal()
    await convergedOver(lab, all, 3)
    heal.push(performance.now() - start)
    const statuses = await Promise.all(all.map(async (i) => await lab.status(i)))
    const host = all.find((i) => statuses[i]?.running.some((id) => id.startsWith('web@')) === true && i !== 0) as number
    start = performance.now()
    await lab.pause(host)
    await convergedOver(lab, all.filter((i) => i !== host), 3)
    pause.push(performance.now() - start)
    await lab.resume(host)
    await convergedOver(lab, all, 3)
    process.stdout.write(`round ${round + 1}: split ${split.at(-1)?.toFixed(0)} ms, heal ${heal.at(-1)?.toFixed(0)} ms, SIGSTOP → moved ${pause.at(-1)?.toFixed(0)} ms\n`)
  }
  process.stdout.write(`| figure (${count} daemons, dead interval 2 s) | median | all |\n|---|---|---|\n`)
  for (const [name, xs] of [['silent 2|3 partition → each side converged', split], ['heal → one view (unannounced)', heal], ['SIGSTOP of a replica host → work moved', pause]] as const) {
    process.stdout.write(`| ${name} | ${median(xs).toFixed(0)} ms | ${xs.map((x) => x.toFixed(0)).join(', ')} |\n`)
  }
} finally {
  await lab.stop()
}
