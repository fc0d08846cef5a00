// `shoal sim --engine virtual`: the same scenario files on the virtual network. The built-in demo
// passes and replays event for event from its seed; network options and the fault steps (zone
// outages, flapping, clock skew, stalls, restarts) run there and are refused by the libp2p engine,
// naming why; the operator's own fleet shape comes from a labels file, a policy file or a data dir.

import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { NodeRecord } from '../src/core/index.ts'
import { DataStore } from '../src/daemon/store.ts'
import { OperatorSigner, sealRecord } from '../src/net/index.ts'
import { loadFleetShape, parseLabelsFile, withPolicies } from '../sim/fleet-shape.ts'
import { parseScenario, runScenario } from '../sim/scenario.ts'
import { tempDir } from './fixtures/temp.ts'

const demo = parseScenario(await readFile(new URL('../sim/scenarios/demo.yaml', import.meta.url), 'utf8'), 'demo.yaml')

describe('the virtual engine runs scenario files', () => {
  it('the built-in demo passes, and the same seed replays it event for event; another seed does not', async () => {
    const run = async (seed: number) => await runScenario(demo, { nodes: 30, seed, engine: 'virtual' })
    const first = await run(4)
    expect(first.failure).toBeUndefined()
    expect(first).toMatchObject({ engine: 'virtual', verdict: 'pass', nodes: 30 })
    expect(first.events).toBeGreaterThan(10_000)
    expect(first.simulatedMs).toBeGreaterThan(5_000) // the split is seen only after the dead interval
    const again = await run(4)
    expect(again.traceHash).toBe(first.traceHash)
    expect(again.events).toBe(first.events)
    expect(again.steps.map(({ convergedMs, effectMs, messages, bytes, agreement }) => ({ convergedMs, effectMs, messages, bytes, agreement })))
      .toEqual(first.steps.map(({ convergedMs, effectMs, messages, bytes, agreement }) => ({ convergedMs, effectMs, messages, bytes, agreement })))
    expect((await run(5)).traceHash).not.toBe(first.traceHash)
  }, 60_000)

  const faults = [
    'nodes: 12',
    'network: { latency: { floor: 2ms, tail: 3ms }, betweenZones: { floor: 10ms, tail: 5ms }, loss: 0.01, processing: 0.2ms, bandwidth: 100mbit }',
    'steps:',
    '  - apply: [{ kind: Service, name: web, replicas: 3, spread: zone }, { kind: Service, name: api, replicas: 2 }]',
    '  - expect: { converged: 20s, replicas: { web: 3, api: 2 }, noDuplicates: true }',
    '  - outage: { zone: b }',
    '  - expect: { converged: 20s }',
    '  - heal: {}',
    '  - expect: { converged: 20s, replicas: { web: 3, api: 2 }, noDuplicates: true }',
    '  - outage: { zone: c, power: true }',
    '  - expect: { converged: 20s, replicas: { web: 3, api: 2 }, noDuplicates: true }',
    '  - restart: 2',
    '  - flap: { halves: true, every: 5s, count: 2 }',
    '  - expect: { converged: 30s, replicas: { web: 3, api: 2 }, noDuplicates: true }',
    '  - clockSkew: { node: 0, by: 30s }',
    '  - apply: { kind: Service, name: api, replicas: 3 }',
    '    at: 0',
    '  - expect: { converged: 20s, replicas: { api: 3 }, noDuplicates: true }',
    '  - stall: { node: 3, for: 500ms, movesNothing: true }',
    '  - stall: { node: { runs: web }, for: 8s }',
    '  - expect: { converged: 30s, replicas: { web: 3, api: 3 }, noDuplicates: true }',
  ].join('\n')

  it('zone outages, flapping, clock skew and stalls on a lossy, zoned network come back to one converged fleet', async () => {
    const report = await runScenario(parseScenario(faults, 'faults.yaml'), { nodes: 12, seed: 3, engine: 'virtual' })
    expect(report.failure).toBeUndefined()
    const step = (n: number) => report.steps[n - 1]
    expect(step(3)?.effectMs).toBeGreaterThanOrEqual(2_000) // a silent cut: seen after the dead interval (3 s) less a hello interval (1 s)
    expect(step(7)?.effectMs).toBeLessThan(3_000) // a power cut resets connections: seen at once, or by liveness if a reset was lost
    expect(step(10)?.effectMs).toBeDefined() // the last heal of the flapping split
    expect(step(15)?.note).toBe('nobody dropped the node; nothing moved')
    expect(step(16)?.note).toMatch(/^dropped by \d+ node\(s\); work moved$/) // 8 s is a hang
  }, 60_000)

  it('the zone-outage scenario file passes: a zone cut off, then powered off, a flapping link, a skewed clock', async () => {
    const file = new URL('../sim/scenarios/zone-outage.yaml', import.meta.url)
    const scenario = parseScenario(await readFile(file, 'utf8'), 'zone-outage.yaml')
    const report = await runScenario(scenario, { nodes: scenario.nodes ?? 60, seed: 1, engine: 'virtual' })
    expect(report.failure).toBeUndefined()
    expect(report.steps.find((step) => step.step.startsWith('singleton'))?.note).toMatch(/^at most 1 at once/)
  }, 60_000)

  it('the libp2p engine refuses what only the virtual one models, and fleets past its size, naming why', async () => {
    await expect(runScenario(parseScenario(faults, 'faults.yaml'), { nodes: 12, seed: 1 }))
      .rejects.toThrow('this scenario needs --engine virtual: `network` options model the network, which the libp2p engine does not')
    const skew = parseScenario('steps:\n  - clockSkew: { node: 0, by: -2s }\n', 'skew.yaml')
    await expect(runScenario(skew, { nodes: 3, seed: 1 })).rejects.toThrow(/needs --engine virtual: step 1 \(clockSkew\)/)
    await expect(runScenario(demo, { nodes: 501, seed: 1 })).rejects.toThrow('the libp2p engine runs at most 500 nodes in one process (asked for 501); use --engine virtual')
    expect(() => parseScenario('network: { bandwidth: fast }\nsteps:\n  - sleep: 1s\n', 'n.yaml')).toThrow(/n\.yaml:1: network\.bandwidth: must be like 100kbit/)
    expect(() => parseScenario('steps:\n  - flap: { every: 1s, count: 2 }\n', 'f.yaml')).toThrow(/give either groups or halves: true/)
  })
})

describe('the operator\'s own fleet', () => {
  it('a labels file gives each node its labels (count expands an entry; `shoal get nodes --json` fields are ignored)', () => {
    const nodes = parseLabelsFile('- { labels: { zone: a, role: web }, count: 2 }\n- { id: 12D3KooW, labels: { zone: b }, slots: 4, reachable: true }\n', 'l.yaml')
    expect(nodes.labels).toEqual([{ zone: 'a', role: 'web' }, { zone: 'a', role: 'web' }, { zone: 'b' }])
    expect(nodes.slots).toEqual([10, 10, 4])
    expect(() => parseLabelsFile('- { zone: a }\n', 'bad.yaml')).toThrow(/bad\.yaml:1: 0\.labels: /)
  })

  it('policies run first, their workloads simulated; a zone of the operator\'s fleet fails', async () => {
    const dir = await tempDir('shoal-shape-')
    await writeFile(join(dir, 'labels.yaml'), '- { labels: { zone: a, role: web }, slots: 1, count: 3 }\n- { labels: { zone: b, role: web }, slots: 1, count: 3 }\n- { labels: { zone: c }, count: 4 }\n')
    await writeFile(join(dir, 'web.yaml'), 'kind: Service\nname: web\nreplicas: 4\nselector: { role: web }\nspread: zone\nprocess: { command: /usr/bin/web, args: [--port, "80"] }\n' +
      '---\nkind: Service\nname: api\nreplicas: 2\nselector: { role: web }\nprocess: { command: /usr/bin/api }\n')
    const shape = await loadFleetShape({ labels: join(dir, 'labels.yaml'), policies: join(dir, 'web.yaml') })
    expect(shape.labels).toHaveLength(10)
    expect(shape.policies?.[0]?.workload).toMatchObject({ kind: 'memory' })
    // Six one-slot web nodes run web's 4 and api's 2. Zone b loses power: three slots are left for six
    // replicas, and web takes them (with the default 10 slots, api would run beside it: the test's check).
    const scenario = withPolicies(parseScenario('steps:\n  - outage: { zone: b, power: true }\n  - expect: { converged: 20s, replicas: { web: 3, api: 0 }, noDuplicates: true }\n', 'zone-b.yaml'), shape.policies)
    const report = await runScenario(scenario, { nodes: 10, seed: 2, engine: 'virtual', labels: shape.labels as NonNullable<typeof shape.labels>, slots: shape.slots as NonNullable<typeof shape.slots> })
    expect(report.failure).toBeUndefined()
    expect(report.steps.map((step) => step.step.split(' ')[0])).toEqual(['apply', 'expect', 'outage', 'expect'])
  })

  it('--from-cluster reads a daemon\'s data dir: its nodes\' labels and its Service policies, signatures checked', async () => {
    const dir = await tempDir('shoal-cluster-')
    const envelopes: Uint8Array[] = []
    for (const zone of ['a', 'b', 'c']) {
      const key = await generateKeyPair('Ed25519')
      const record: NodeRecord = {
        kind: 'node', nodeId: peerIdFromPrivateKey(key).toString(), version: { generation: 1, seq: 1 }, originatedAtMs: 1, addresses: [],
        labels: { zone }, slots: 4, adjacencies: [], resources: [], viewHash: '', policyDigest: '',
      }
      envelopes.push(await sealRecord(record, key))
    }
    const operator = new OperatorSigner(await generateKeyPair('Ed25519'))
    envelopes.push((await operator.sign({ kind: 'Service', name: 'db', replicas: 1, selector: {}, slots: 1, workload: { kind: 'process', command: ['/bin/db'] } })).envelope)
    envelopes.push((await operator.sign({ kind: 'Node', name: 'someone', drain: true })).envelope)
    envelopes.push(Uint8Array.from([1, 2, 3])) // damage: skipped
    const store = new DataStore(dir)
    await store.saveRecords(envelopes)
    const shape = await loadFleetShape({ fromCluster: dir })
    expect(shape.labels?.map((labels) => labels.zone).sort()).toEqual(['a', 'b', 'c'])
    expect(shape.slots).toEqual([4, 4, 4])
    expect(shape.policies?.map((policy) => policy.name)).toEqual(['db'])
    expect(shape.source).toBe(`3 nodes and 1 services from ${dir}`)
    await expect(loadFleetShape({ fromCluster: await tempDir('shoal-empty-') })).rejects.toThrow(/no node records in it/)
    await expect(loadFleetShape({ fromCluster: dir, labels: 'x' })).rejects.toThrow(/leave out --labels and --policies/)
  })
})
