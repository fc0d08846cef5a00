// Benchmark: a rolling update with an HTTP health check, in the fault lab (issue 24's second figure).
//
//   sudo npx tsx scripts/bench-rollout-lab.ts [--daemons 5] [--min-healthy 1s] [--max-unavailable 1]
//
// Each daemon runs in a network namespace of its own, so every replica can listen on the same port
// (8080 on its namespace's loopback) and the service's one health check (`http://127.0.0.1:8080/`)
// means each replica's own. The replica answers 200 after 300 ms of warming up. Every 50 ms the script
// asks each replica over the lab's network whether it serves (GET http://NODE:8080/), and reports the
// fewest serving during the rollout and the time until every replica serves the new version.

import { request } from 'node:http'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startLab } from '../src/testing/index.ts'

const { values } = parseArgs({
  options: { daemons: { type: 'string', default: '5' }, 'min-healthy': { type: 'string', default: '1s' }, 'max-unavailable': { type: 'string', default: '1' } },
})
const count = Number(values.daemons)
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** What the replica at `address` serves: its version, or undefined when it does not answer 200. */
async function serving (address: string): Promise<string | undefined> {
  return await new Promise((resolve) => {
    const req = request(`http://${address}:8080/`, { timeout: 200 }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => { resolve(res.statusCode === 200 ? body : undefined) })
    })
    req.on('timeout', () => { req.destroy() })
    req.on('error', () => { resolve(undefined) })
    req.end()
  })
}

function serviceYaml (version: string): string {
  // Listens at once, answers 503 while warming up (300 ms), then 200 with its version.
  const program = `const t = Date.now(); require('http').createServer((q, s) => { const ok = Date.now() - t > 300; s.writeHead(ok ? 200 : 503); s.end(ok ? '${version}' : '') }).listen(8080)`
  return [
    'kind: Service', 'name: web', `replicas: ${count}`, 'process:', `  command: ${process.execPath}`,
    `  args: ["-e", ${JSON.stringify(program)}, "${version}"]`,
    '  health: { http: "http://127.0.0.1:8080/", intervalMs: 100 }',
    `update: { maxUnavailable: ${values['max-unavailable']}, minHealthyFor: ${values['min-healthy']} }`, '',
  ].join('\n')
}

const lab = await startLab({ nodes: count, net: { helloIntervalMs: 500, deadIntervalMs: 2_000 } })
try {
  const addresses = lab.nodes.map((node) => node.address)
  for (const version of ['v1', 'v2']) await writeFile(join(lab.state.dir, `${version}.yaml`), serviceYaml(version))
  await lab.shoal('apply', '-f', join(lab.state.dir, 'v1.yaml'), '--data', lab.node(0).dataDir)
  for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
    if ((await Promise.all(addresses.map(serving))).every((version) => version === 'v1')) break
    await sleep(100)
  }
  await sleep(3_000) // healthy for minHealthyFor everywhere, and reported so
  const start = performance.now()
  await lab.shoal('apply', '-f', join(lab.state.dir, 'v2.yaml'), '--data', lab.node(0).dataDir)
  let fewest = Infinity
  let finishedMs = Number.NaN
  while (performance.now() - start < 120_000) {
    const versions = await Promise.all(addresses.map(serving))
    fewest = Math.min(fewest, versions.filter((version) => version !== undefined).length)
    if (versions.every((version) => version === 'v2')) {
      finishedMs = performance.now() - start
      break
    }
    await sleep(50)
  }
  process.stdout.write(`rollout of ${count} replicas with an HTTP health check, ${count} daemons in the lab (maxUnavailable ${values['max-unavailable']}, minHealthyFor ${values['min-healthy']}): ` +
    `${Number.isNaN(finishedMs) ? 'not finished within 120 s' : `finished in ${finishedMs.toFixed(0)} ms`}, fewest serving ${fewest} of ${count}\n`)
} finally {
  await lab.stop()
}
