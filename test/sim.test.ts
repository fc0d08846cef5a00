// `shoal sim` scenarios: parse errors name the line and field, a small scenario runs to PASS, a failed
// expectation names the step and the seed, and the CLI answers a wrong flag or file with one line.

import { spawnSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from './fixtures/temp.ts'
import { renderReportHtml } from '../sim/report.ts'
import { parseScenario, runScenario } from '../sim/scenario.ts'
import { builtCli } from './fixtures/build.ts'

describe('scenario files', () => {
  it('a YAML syntax error names the line', () => {
    expect(() => parseScenario('steps:\n  - sleep: 1s\n - kill: 1\n', 'bad.yaml')).toThrow(/^bad\.yaml:3: A block sequence may not be used as an implicit map key$/)
  })

  it('a bad field names its path and line', () => {
    const text = 'steps:\n  - sleep: 1s\n  - expect: { converged: soon }\n'
    expect(() => parseScenario(text, 's.yaml')).toThrow(/s\.yaml:3: steps\.1/)
    expect(() => parseScenario('steps:\n  - apply: { kind: Service, name: Web, replicas: 1 }\n', 'p.yaml')).toThrow(/name: must be lower-case/)
    expect(() => parseScenario('steps: []\n', 'e.yaml')).toThrow(/e\.yaml:1: steps: /)
  })

  it('a split, per-component expectations and a heal run to PASS', async () => {
    const scenario = parseScenario([
      'steps:',
      '  - apply: { kind: Service, name: web, replicas: 2 }',
      '  - expect: { converged: 20s, replicas: { web: 2 }, noDuplicates: true }',
      '  - partition: { groups: [[0, 1, 2], [3, 4, 5]] }',
      '  - expect: { converged: 20s, replicas: { web: 2 } }',
      '  - heal: {}',
      '  - expect: { converged: 20s, replicas: { web: 2 }, noDuplicates: true }',
    ].join('\n'), 'inline.yaml')
    const report = await runScenario(scenario, { nodes: 6, seed: 1 })
    expect(report.failure).toBeUndefined()
    expect(report.verdict).toBe('pass')
    expect(report.steps).toHaveLength(6)
    expect(report.steps[4]?.effectMs).toBeGreaterThan(0) // the heal, seen by every node
    const html = renderReportHtml(report)
    expect(html).toContain('<svg')
    expect(html).toContain('PASS')
    expect(html).toContain('partition {&quot;groups&quot;')
    expect(html).not.toMatch(/(src|href)=|https?:\/\//) // self-contained: nothing to fetch
  })

  it('a rolling update keeps all but maxUnavailable replicas up and finishes; a broken version stops after one replica', async () => {
    const scenario = parseScenario([
      'steps:',
      '  - apply: { kind: Service, name: web, replicas: 4, workload: { kind: memory, version: 1 } }',
      '  - expect: { converged: 20s, replicas: { web: 4 } }',
      '  - apply: { kind: Service, name: web, replicas: 4, workload: { kind: memory, version: 2, startMs: 100 }, update: { minHealthyForMs: 200 } }',
      '  - rollout: { service: web, within: 30s, minAvailable: 3 }',
      '  - expect: { converged: 20s, replicas: { web: 4 }, noDuplicates: true }',
      '  - apply: { kind: Service, name: web, replicas: 4, workload: { kind: memory, version: 3, healthy: false } }',
      '  - rollout: { service: web, within: 2s, minAvailable: 3, finishes: false }',
    ].join('\n'), 'rollout.yaml')
    const report = await runScenario(scenario, { nodes: 6, seed: 5 })
    expect(report.failure).toBeUndefined()
    expect(report.steps[3]?.note).toMatch(/^min 3 available; 4 of 4 on the new spec and running, finished in \d+ ms$/)
    expect(report.steps[6]?.note).toBe('min 3 available; 0 of 4 on the new spec and running, 1 moved to it')
  })

  it('with maxSurge 1 and maxUnavailable 0, a rollout never has fewer than all replicas up, and ends with exactly them', async () => {
    const scenario = parseScenario([
      'steps:',
      '  - apply: { kind: Service, name: web, replicas: 4, workload: { kind: memory, version: 1 } }',
      '  - expect: { converged: 20s, replicas: { web: 4 } }',
      '  - apply: { kind: Service, name: web, replicas: 4, workload: { kind: memory, version: 2, startMs: 100 }, update: { maxUnavailable: 0, maxSurge: 1, minHealthyForMs: 200 } }',
      '  - rollout: { service: web, within: 30s, minAvailable: 4 }',
      '  - expect: { converged: 20s, replicas: { web: 4 }, noDuplicates: true }',
    ].join('\n'), 'surge.yaml')
    const report = await runScenario(scenario, { nodes: 6, seed: 5 })
    expect(report.failure).toBeUndefined()
    expect(report.steps[3]?.note).toMatch(/^min 4 available; 4 of 4 on the new spec and running, finished in \d+ ms$/)
  })

  it('canaries wait for a promote; a version not healthy within the deadline is reverted everywhere (autoRevert)', async () => {
    const scenario = parseScenario([
      'steps:',
      '  - apply: { kind: Service, name: web, replicas: 3, workload: { kind: memory, version: 1 } }',
      '  - expect: { converged: 20s, replicas: { web: 3 } }',
      '  - apply: { kind: Service, name: web, replicas: 3, workload: { kind: memory, version: 2 }, update: { canary: 1 } }',
      '  - rollout: { service: web, within: 2s, minAvailable: 2, finishes: false }',
      '  - apply: { kind: Service, name: web, replicas: 3, workload: { kind: memory, version: 2 }, update: { canary: 1, promoted: true } }',
      '  - rollout: { service: web, within: 20s, minAvailable: 2 }',
      '  - apply: { kind: Service, name: web, replicas: 3, workload: { kind: memory, version: 3, healthy: false }, update: { healthyDeadlineMs: 1000, autoRevert: true } }',
      '  - rollout: { service: web, within: 20s, minAvailable: 2, reverts: true }',
    ].join('\n'), 'canary.yaml')
    const report = await runScenario(scenario, { nodes: 5, seed: 13 })
    expect(report.failure).toBeUndefined()
    expect(report.steps[3]?.note).toBe('min 3 available; 1 of 3 on the new spec and running, 1 moved to it')
    expect(report.steps[7]?.note).toMatch(/^min 2 available; 3 of 3 on the previous spec and running, finished in \d+ ms$/)
  })

  it('a drain starts the replacement before stopping the replica let go; with maxSurge 0 it does not', async () => {
    const drains = (update: string): string => [
      'steps:',
      `  - apply: { kind: Service, name: web, replicas: 2, workload: { kind: memory, startMs: 300 }${update} }`,
      '  - expect: { converged: 20s, replicas: { web: 2 } }',
      '  - drain: { node: { runs: web }, within: 20s, minAvailable: { web: 2 } }',
      '  - expect: { converged: 20s, replicas: { web: 2 }, noDuplicates: true }',
    ].join('\n')
    const makeBeforeBreak = await runScenario(parseScenario(drains(''), 'drain.yaml'), { nodes: 5, seed: 7 })
    expect(makeBeforeBreak.failure).toBeUndefined()
    expect(makeBeforeBreak.steps[2]?.note).toMatch(/^fewest running: web 2; drained in \d+ ms$/)
    const breakBeforeMake = await runScenario(parseScenario(drains(', update: { maxSurge: 0 }'), 'drain.yaml'), { nodes: 5, seed: 7 })
    expect(breakBeforeMake.failure).toMatch(/web fell below 2 running \(fewest running: web 1;/)
  })

  it('a majority singleton never runs on both sides of a split that cuts off its holder; an available one does', async () => {
    const splits = (partition: string): string => [
      'steps:',
      `  - apply: { kind: Service, name: db, replicas: 1, partition: ${partition} }`,
      '  - expect: { converged: 20s, replicas: { db: 1 } }',
      '  - partition: { size: 2, holding: db }',
      '  - singleton: { service: db, for: 5s }',
      '  - heal: {}',
      '  - expect: { converged: 20s, replicas: { db: 1 }, noDuplicates: true }',
    ].join('\n')
    const majority = await runScenario(parseScenario(splits('majority'), 'split.yaml'), { nodes: 5, seed: 11 })
    expect(majority.failure).toBeUndefined()
    expect(majority.steps[3]?.note).toMatch(/^at most 1 at once; none for ~\d+ ms; now on node \d \(epoch 2\)$/)
    const available = await runScenario(parseScenario(splits('available'), 'split.yaml'), { nodes: 5, seed: 11 })
    expect(available.failure).toMatch(/ran on 2 nodes at once/)
  })

  it('kill, restart (same identity, next generation) and churn come back to one converged fleet', async () => {
    const scenario = parseScenario([
      'steps:',
      '  - apply: { kind: Service, name: web, replicas: 2 }',
      '  - expect: { converged: 20s, replicas: { web: 2 } }',
      '  - kill: 1',
      '  - expect: { converged: 20s, replicas: { web: 2 }, noDuplicates: true }',
      '  - restart: 1',
      '  - expect: { converged: 20s, replicas: { web: 2 }, noDuplicates: true }',
      '  - churn: { count: 2, every: 300ms }',
      '  - expect: { converged: 30s, replicas: { web: 2 }, noDuplicates: true }',
    ].join('\n'), 'churn.yaml')
    const report = await runScenario(scenario, { nodes: 5, seed: 3 })
    expect(report.failure).toBeUndefined()
    expect(report.steps.map((step) => step.ok)).toEqual(Array(8).fill(true))
  })

  it('a step that names a node the run does not have is refused before anything starts', async () => {
    const scenario = parseScenario('steps:\n  - sleep: 1ms\n  - kill: 7\n', 'k.yaml')
    await expect(runScenario(scenario, { nodes: 4, seed: 1 })).rejects.toThrow('step 2 names node 7, but the run has 4 nodes (0 to 3)')
  })

  it('stall: a short one passes movesNothing; a long one is a hang, and fails it, saying what moved', async () => {
    const scenario = parseScenario([
      'steps:', '  - apply: { kind: Service, name: web, replicas: 2 }', '  - expect: { converged: 20s }',
      '  - stall: { node: 1, for: 300ms, movesNothing: true }', '  - stall: { node: { runs: web }, for: 8s, movesNothing: true }', '',
    ].join('\n'), 's.yaml')
    const report = await runScenario(scenario, { nodes: 5, seed: 3 })
    expect(report.steps[2]).toMatchObject({ ok: true, note: 'nobody dropped the node; nothing moved' })
    expect(report.steps[3]?.ok).toBe(false)
    // A host of web hung past the dead interval: the others drop it and its replica is placed again.
    expect(report.failure).toMatch(/^step 4 \(stall .*\) failed: dropped by 4 node\(s\); work moved; reproduce with --seed 3$/)
    expect(report.steps[1]?.agreement.at(-1)?.[1]).toBe(1)
    expect(() => parseScenario('steps:\n  - stall: { node: 1 }\n', 'b.yaml')).toThrow(/b\.yaml:2: steps\.0\.stall\.for: /)
  }, 60_000)

  it('a failed expectation fails the run, naming the step and the seed', async () => {
    const scenario = parseScenario('steps:\n  - apply: { kind: Service, name: web, replicas: 2 }\n  - expect: { converged: 20s, replicas: { web: 3 } }\n', 'x.yaml')
    const report = await runScenario(scenario, { nodes: 4, seed: 42 })
    expect(report.verdict).toBe('fail')
    expect(report.failure).toMatch(/^step 2 \(expect .*\) failed: web: 2 running in a component of 4, expected 3; reproduce with --seed 42$/)
  })
})

describe('shoal CLI', () => {
  const shoal = (...args: string[]) => spawnSync(process.execPath, [builtCli, ...args], { encoding: 'utf8', timeout: 60_000 })

  it('a wrong flag gets a one-line error and exit code 2', () => {
    const result = shoal('sim', '--nodes', 'many')
    expect(result.status).toBe(2)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toMatch(/--nodes.*must be a whole number/)
  })

  it('a transport that does not exist gets a one-line error naming the choices', () => {
    const result = shoal('sim', '--transport', 'udp')
    expect(result.status).toBe(2)
    expect(result.stderr.trim()).toMatch(/--transport.*udp.*memory, tcp/)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('--engine virtual runs the demo and reports engine, seed and trace; the libp2p engine refuses a fleet past its size in one line', () => {
    const result = shoal('sim', '--engine', 'virtual', '--nodes', '12', '--seed', '9', '--json')
    expect(result.status).toBe(0)
    const report = JSON.parse(result.stdout) as { engine: string, seed: number, verdict: string, traceHash: string, events: number }
    expect(report).toMatchObject({ engine: 'virtual', seed: 9, verdict: 'pass' })
    expect(result.stderr).toContain(`engine virtual, seed 9: `)
    expect(result.stderr).toContain(`trace ${report.traceHash}`)
    const refused = shoal('sim', '--nodes', '600')
    expect(refused.status).toBe(2)
    expect(refused.stderr.trim()).toBe('shoal: the libp2p engine runs at most 500 nodes in one process (asked for 600); use --engine virtual')
  })

  it('a bad scenario file gets a one-line error naming file, line and field, and exit code 2', async () => {
    const file = join(await tempDir('shoal-sim-'), 'bad.yaml')
    await writeFile(file, 'steps:\n  - kill: -1\n')
    const result = shoal('sim', '--scenario', file)
    expect(result.status).toBe(2)
    expect(result.stderr.trim()).toMatch(new RegExp(`^shoal: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: steps\\.0`))
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
  })
})
