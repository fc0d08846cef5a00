// The file actuator: atomic writes, idempotent ensure and remove, relative paths under the data dir,
// drift repaired by the planner, and a hand-edited file never deleted.

import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from './fixtures/temp.ts'
import { plan, type Assignment } from '../src/core/index.ts'
import { FileActuator } from '../src/actuators/index.ts'

const workload = { kind: 'file', path: 'etc/motd', content: 'hello\n', mode: 0o640 }
const assignment: Assignment = { resourceId: 'motd@me', service: 'motd', nodeId: 'me', slots: 1, specHash: 'h1', workload }

describe('file actuator', () => {
  it('writes the file under the data dir with its mode, and observes it running; ensure twice changes nothing', async () => {
    const dataDir = await tempDir('shoal-file-')
    const actuator = new FileActuator(dataDir)
    await actuator.ensure('motd@me', workload, 'h1')
    await actuator.ensure('motd@me', workload, 'h1')
    expect(await readFile(join(dataDir, 'etc/motd'), 'utf8')).toBe('hello\n')
    expect((await stat(join(dataDir, 'etc/motd'))).mode & 0o777).toBe(0o640)
    expect(await actuator.observe()).toEqual([{ resourceId: 'motd@me', specHash: 'h1', phase: 'running', restarts: 0 }])
    expect(plan([assignment], await actuator.observe())).toEqual([])
  })

  it('a file changed by hand is reported as drifted, and the planner rewrites it', async () => {
    const dataDir = await tempDir('shoal-file-')
    const actuator = new FileActuator(dataDir)
    await actuator.ensure('motd@me', workload, 'h1')
    await writeFile(join(dataDir, 'etc/motd'), 'edited\n')
    const actions = plan([assignment], await actuator.observe())
    expect(actions.map((action) => action.kind)).toEqual(['replace'])
    await actuator.ensure('motd@me', workload, 'h1')
    expect(await readFile(join(dataDir, 'etc/motd'), 'utf8')).toBe('hello\n')
  })

  it('remove deletes the file Shoal wrote, leaves a hand-edited one, and is idempotent', async () => {
    const dataDir = await tempDir('shoal-file-')
    const actuator = new FileActuator(dataDir)
    await actuator.ensure('a@me', { ...workload, path: 'a' }, 'h1')
    await actuator.ensure('b@me', { ...workload, path: 'b' }, 'h1')
    await writeFile(join(dataDir, 'b'), 'mine now\n')
    await actuator.remove('a@me')
    await actuator.remove('b@me')
    await actuator.remove('b@me')
    await expect(stat(join(dataDir, 'a'))).rejects.toThrow()
    expect(await readFile(join(dataDir, 'b'), 'utf8')).toBe('mine now\n')
    expect(await actuator.observe()).toEqual([])
  })

  it('a new actuator over the same data dir (a restarted daemon) finds what the old one wrote', async () => {
    const dataDir = await tempDir('shoal-file-')
    await new FileActuator(dataDir).ensure('motd@me', workload, 'h1')
    expect((await new FileActuator(dataDir).observe()).map((w) => w.resourceId)).toEqual(['motd@me'])
  })

  it('refuses a malformed workload with a message that names the field', async () => {
    const actuator = new FileActuator(await tempDir('shoal-file-'))
    await expect(actuator.ensure('x@me', { kind: 'file', path: 'x' }, 'h')).rejects.toThrow(/content/)
  })
})
