// Policy files as operators write them: the file form maps onto the record form, and every mistake
// is refused with file:line: field, before anything is signed.

import { describe, expect, it } from 'vitest'
import { parsePolicyFile } from '../src/daemon/policy-file.ts'

describe('policy files', () => {
  it('maps a process service, a file service, node settings and an admission', () => {
    const text = [
      'kind: Service', 'name: web', 'replicas: 3', 'selector: {role: web}', 'spread: zone', 'process:', '  command: node', '  args: [server.js]', '  env: {PORT: "8080"}',
      '---', 'kind: Service', 'name: motd', 'replicas: all', 'file: {path: motd.txt, content: "hi\\n", mode: "0644"}',
      '---', '- {kind: Node, name: node-a, drain: true}', '- {kind: Admission, name: node-b}', '',
    ].join('\n')
    expect(parsePolicyFile(text, 'p.yaml')).toEqual([
      { kind: 'Service', name: 'web', replicas: 3, selector: { role: 'web' }, spread: 'zone', slots: 1, workload: { kind: 'process', command: 'node', args: ['server.js'], env: { PORT: '8080' } } },
      { kind: 'Service', name: 'motd', replicas: 'all', selector: {}, slots: 1, workload: { kind: 'file', path: 'motd.txt', content: 'hi\n', mode: 0o644 } },
      { kind: 'Node', name: 'node-a', drain: true },
      { kind: 'Admission', name: 'node-b' },
    ])
  })

  it('maps update settings, durations written as durations', () => {
    const text = 'kind: Service\nname: web\nreplicas: 4\nprocess: {command: x}\nupdate: {maxUnavailable: "25%", minHealthyFor: 5s, maxSurge: "50%", moveDeadline: 2m, healthyDeadline: 90s, autoRevert: true, canary: 1}\npartition: majority\n'
    expect(parsePolicyFile(text, 'p.yaml')[0]).toMatchObject({
      update: { maxUnavailable: '25%', minHealthyForMs: 5_000, maxSurge: '50%', moveDeadlineMs: 120_000, healthyDeadlineMs: 90_000, autoRevert: true, canary: 1 },
      partition: 'majority',
    })
  })

  it('reads JSON too', () => {
    expect(parsePolicyFile('{"kind": "Admission", "name": "n1"}', 'a.json')).toEqual([{ kind: 'Admission', name: 'n1' }])
  })

  it.each([
    ['kind: Service\nname: web\nreplicas: three\nprocess: {command: x}\n', 'f.yaml:3: replicas: must be a whole number or "all"'],
    ['kind: Service\nname: Web\nreplicas: 1\nprocess: {command: x}\n', 'f.yaml:2: name: must be lower-case letters, digits and dashes, starting and ending with a letter or digit'],
    ['kind: Service\nname: web\nreplicas: 1\n', 'f.yaml:1: process: a Service needs exactly one of process or file'],
    ['kind: Service\nname: web\nreplicas: 1\nfile: {path: a, content: b, mode: 644}\n', 'f.yaml:4: file.mode: '],
    ['kind: Service\nname: web\nreplicas: 1\nfile: {path: a, content: b, mode: "4755"}\n', 'f.yaml:4: file.mode: setuid, setgid and sticky bits are refused'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess: {command: x, colour: red}\n', 'f.yaml:4: process: Unrecognized key: "colour"'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess:\n  command: x\n  health: {http: "ftp://h/"}\n', 'f.yaml:6: process.health.http: must be an http:// or https:// url'],
    ['kind: Servce\nname: web\n', 'f.yaml:1: kind: must be Service, Node or Admission'],
    ['kind: Service\n  name: web\n', 'f.yaml:1: Nested mappings are not allowed in compact mappings'],
    ['---\n- {kind: Admission, name: a}\n- {kind: Admission}\n', 'f.yaml:3: 1.name: '],
    ['kind: Admission\nname: a\n---\nkind: Admission\nname: a\n', 'f.yaml: Admission/a appears twice'],
    ['', 'f.yaml: no policies in it'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess: {command: x}\nupdate: {maxUnavailable: 0}\n', 'f.yaml:5: update.maxUnavailable: maxUnavailable 0 needs a maxSurge above 0'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess: {command: x}\nupdate: {maxUnavailable: -1}\n', 'f.yaml:5: update.maxUnavailable: must be at least 0'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess: {command: x}\nupdate: {maxSurge: "0%"}\n', 'f.yaml:5: update.maxSurge: must be a whole number or a percentage from 1% to 100%'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess: {command: x}\nupdate: {maxUnavailable: "0%"}\n', 'f.yaml:5: update.maxUnavailable: must be a whole number or a percentage from 1% to 100%'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess: {command: x}\nupdate: {minHealthyFor: soon}\n', 'f.yaml:5: update.minHealthyFor: must be a duration like 500ms'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess: {command: x}\nupdate: {minHealthyFor: 2h}\n', 'f.yaml:5: update.minHealthyFor: must be a duration like 500ms'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess: {command: x}\nupdate: {moveDeadline: 90000m}\n', 'f.yaml:5: update.moveDeadline: Too big'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess: {command: x}\nupdate: {promoted: true}\n', 'f.yaml:5: update: Unrecognized key: "promoted"'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess: {command: x}\nupdate: {healthyDeadline: 10ms}\n', 'f.yaml:5: update.healthyDeadline: Too small'],
    ['kind: Service\nname: web\nreplicas: 1\nprocess: {command: x}\npartition: quorum\n', 'f.yaml:5: partition: must be "available" (run on every side of a split) or "majority"'],
  ])('refuses %j naming the place', (text, message) => {
    expect(() => parsePolicyFile(text, 'f.yaml')).toThrow(message)
  })
})
