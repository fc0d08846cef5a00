// The file actuator: atomic writes, idempotent ensure and remove, relative paths under DATA/files,
// drift repaired by the planner, a hand-edited file never deleted, and confinement: no '..', absolute
// paths only under the daemon's fileRoots, no symlinked way out, no setuid bits, bounded reads.

import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from './fixtures/temp.ts'
import { plan, type Assignment } from '../src/core/index.ts'
import { FileActuator } from '../src/actuators/index.ts'
import { sweepTemporaryFiles, writeFileAtomically } from '../src/actuators/file.ts'

const workload = { kind: 'file', path: 'etc/motd', content: 'hello\n', mode: 0o640 }
const assignment: Assignment = { resourceId: 'motd@me', service: 'motd', nodeId: 'me', slots: 1, specHash: 'h1', workload }

describe('file actuator', () => {
  it('writes the file under the data dir with its mode, and observes it running; ensure twice changes nothing', async () => {
    const dataDir = await tempDir('shoal-file-')
    const actuator = new FileActuator(dataDir)
    await actuator.ensure('motd@me', workload, 'h1')
    await actuator.ensure('motd@me', workload, 'h1')
    expect(await readFile(join(dataDir, 'files/etc/motd'), 'utf8')).toBe('hello\n')
    expect((await stat(join(dataDir, 'files/etc/motd'))).mode & 0o777).toBe(0o640)
    expect(await actuator.observe()).toEqual([{ resourceId: 'motd@me', specHash: 'h1', phase: 'running', restarts: 0 }])
    expect(plan([assignment], await actuator.observe())).toEqual([])
  })

  it('a file changed by hand is reported as drifted, and the planner rewrites it', async () => {
    const dataDir = await tempDir('shoal-file-')
    const actuator = new FileActuator(dataDir)
    await actuator.ensure('motd@me', workload, 'h1')
    await writeFile(join(dataDir, 'files/etc/motd'), 'edited\n')
    const actions = plan([assignment], await actuator.observe())
    expect(actions.map((action) => action.kind)).toEqual(['replace'])
    await actuator.ensure('motd@me', workload, 'h1')
    expect(await readFile(join(dataDir, 'files/etc/motd'), 'utf8')).toBe('hello\n')
  })

  it('remove deletes the file Shoal wrote, leaves a hand-edited one, and is idempotent', async () => {
    const dataDir = await tempDir('shoal-file-')
    const actuator = new FileActuator(dataDir)
    await actuator.ensure('a@me', { ...workload, path: 'a' }, 'h1')
    await actuator.ensure('b@me', { ...workload, path: 'b' }, 'h1')
    await writeFile(join(dataDir, 'files/b'), 'mine now\n')
    await actuator.remove('a@me')
    await actuator.remove('b@me')
    await actuator.remove('b@me')
    await expect(stat(join(dataDir, 'files/a'))).rejects.toThrow()
    expect(await readFile(join(dataDir, 'files/b'), 'utf8')).toBe('mine now\n')
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

  it('keeps relative paths inside DATA/files and absolute ones inside the daemon\'s fileRoots', async () => {
    const dataDir = await tempDir('shoal-file-')
    const root = await tempDir('shoal-file-root-')
    const outside = await tempDir('shoal-file-outside-')
    const actuator = new FileActuator(dataDir, { roots: [root] })
    await expect(actuator.ensure('x@me', { ...workload, path: '../identity.key' }, 'h')).rejects.toThrow("climbs out of the files directory ('..')")
    await expect(actuator.ensure('x@me', { ...workload, path: 'a/../../x' }, 'h')).rejects.toThrow("('..')")
    await expect(actuator.ensure('x@me', { ...workload, path: join(outside, 'x') }, 'h')).rejects.toThrow(`is outside the daemon's fileRoots (${root})`)
    await expect(new FileActuator(dataDir).ensure('x@me', { ...workload, path: '/etc/motd' }, 'h')).rejects.toThrow('(none set)')
    await actuator.ensure('ok@me', { ...workload, path: join(root, 'sub/motd') }, 'h')
    expect(await readFile(join(root, 'sub/motd'), 'utf8')).toBe('hello\n')
    // A directory inside the files dir that is a symlink out of it.
    await mkdir(join(dataDir, 'files'), { recursive: true })
    await symlink(outside, join(dataDir, 'files', 'escape'))
    await expect(actuator.ensure('y@me', { ...workload, path: 'escape/x' }, 'h')).rejects.toThrow('leads out of')
    await expect(stat(join(outside, 'x'))).rejects.toThrow()
  })

  it('refuses setuid, setgid and sticky modes', async () => {
    const actuator = new FileActuator(await tempDir('shoal-file-'))
    await expect(actuator.ensure('x@me', { ...workload, mode: 0o4755 }, 'h')).rejects.toThrow('setuid, setgid and sticky bits are refused')
  })

  it('reads no more of a file than a workload could have written: a huge one is reported changed', async () => {
    const dataDir = await tempDir('shoal-file-')
    const actuator = new FileActuator(dataDir)
    await actuator.ensure('motd@me', workload, 'h1')
    await writeFile(join(dataDir, 'files/etc/motd'), Buffer.alloc(5 * 1024 * 1024, 0x61))
    expect(await actuator.observe()).toMatchObject([{ resourceId: 'motd@me', phase: 'failed', specHash: '' }])
  })
})

describe('writeFileAtomically and the temporary-file sweep (issue 22 item 17)', () => {
  it('a write that fails leaves no temporary file; the sweep removes those a crash left, and nothing else', async () => {
    const dir = await tempDir('shoal-atomic-')
    await mkdir(join(dir, 'target-is-a-directory'))
    await expect(writeFileAtomically(join(dir, 'target-is-a-directory'), Buffer.from('x'), 0o600)).rejects.toThrow()
    expect(await readdir(dir)).toEqual(['target-is-a-directory'])

    await mkdir(join(dir, 'actuators', 'process'), { recursive: true })
    await mkdir(join(dir, 'work', 'web'), { recursive: true })
    await writeFile(join(dir, '.k3j2h1.shoal-tmp'), 'half a records file')
    await writeFile(join(dir, 'actuators', 'process', '.a1b2c3.shoal-tmp'), 'half a state file')
    await writeFile(join(dir, 'actuators', 'process', 'web%40n1.json'), '{}')
    await writeFile(join(dir, 'work', 'web', '.x9y8.shoal-tmp'), 'a workload\'s own file')
    expect(await sweepTemporaryFiles(dir, ['work', 'logs'])).toBe(2)
    expect((await readdir(dir)).sort()).toEqual(['actuators', 'target-is-a-directory', 'work'])
    expect(await readdir(join(dir, 'actuators', 'process'))).toEqual(['web%40n1.json'])
    expect(await readdir(join(dir, 'work', 'web'))).toEqual(['.x9y8.shoal-tmp'])
  })
})
