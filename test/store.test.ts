// The daemon's data directory: identity kept across starts, generation bumped at each, records and
// peer book round-trip, damaged files set aside (never a crash), and the clean-shutdown marker; and
// how the daemon uses it: a start that fails keeps the marker, a save that fails is tried again.

import { createServer, type AddressInfo } from 'node:net'
import { mkdir, readFile, readdir, rmdir, stat, writeFile } from 'node:fs/promises'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { tempDir } from './fixtures/temp.ts'
import { DataStore } from '../src/daemon/index.ts'
import { initCluster, loadCluster } from '../src/daemon/cluster.ts'
import { Daemon } from '../src/daemon/daemon.ts'
import { silentLogger } from '../src/daemon/log.ts'
import { waitFor } from '../src/testing/index.ts'

async function freshStore (): Promise<DataStore> {
  const store = new DataStore(await tempDir('shoal-store-'))
  await store.prepare()
  return store
}

describe('data store', () => {
  it('keeps the identity across starts, in a 0600 file', async () => {
    const store = await freshStore()
    const first = peerIdFromPrivateKey(await store.loadOrCreateIdentity()).toString()
    const again = peerIdFromPrivateKey(await new DataStore(store.dataDir).loadOrCreateIdentity()).toString()
    expect(again).toBe(first)
    expect((await stat(join(store.dataDir, 'identity.key'))).mode & 0o777).toBe(0o600)
  })

  it('refuses to start over a damaged identity rather than silently becoming another node', async () => {
    const store = await freshStore()
    await writeFile(join(store.dataDir, 'identity.key'), 'garbage')
    await expect(store.loadOrCreateIdentity()).rejects.toThrow(/identity.key is damaged/)
  })

  it('bumps the generation at every start, and survives a damaged counter', async () => {
    const store = await freshStore()
    expect(await store.nextGeneration()).toBe(1)
    expect(await store.nextGeneration()).toBe(2)
    await writeFile(join(store.dataDir, 'generation'), 'oops')
    expect(await store.nextGeneration()).toBe(1)
    expect(store.problems.map((p) => p.problem)).toEqual(['not a generation number: "oops"'])
  })

  it('appends what changed to a log, and a torn append loses only its own tail', async () => {
    const store = await freshStore()
    const hex = (envelopes: Uint8Array[]): string[] => envelopes.map((e) => Buffer.from(e).toString('hex'))
    await store.saveRecords([Uint8Array.of(1), Uint8Array.of(2)])
    await store.appendRecords([Uint8Array.of(3)])
    await store.appendRecords([Uint8Array.of(4, 4)])
    // Appends never rewrite the snapshot: a stream of versions costs disk in proportion to the versions.
    expect((await stat(join(store.dataDir, 'records.bin'))).size).toBe(10)
    expect((await stat(join(store.dataDir, 'records.log'))).size).toBe(11)
    expect(store.recordBytes).toEqual({ snapshot: 10, log: 11 })
    expect(hex(await new DataStore(store.dataDir).loadRecords(64 * 1024))).toEqual(['01', '02', '03', '0404'])

    const log = join(store.dataDir, 'records.log')
    await writeFile(log, (await readFile(log)).subarray(0, 8)) // a crash half-way through the second append
    const reloaded = new DataStore(store.dataDir)
    expect(hex(await reloaded.loadRecords(64 * 1024))).toEqual(['01', '02', '03'])
    expect(reloaded.problems[0]?.problem).toMatch(/torn at byte 5/)
    await reloaded.appendRecords([Uint8Array.of(5)]) // lands after the good prefix, not behind the torn tail
    expect(hex(await new DataStore(store.dataDir).loadRecords(64 * 1024))).toEqual(['01', '02', '03', '05'])

    await reloaded.saveRecords([Uint8Array.of(9)]) // the snapshot takes in everything; the log empties
    expect((await stat(log)).size).toBe(0)
    expect(hex(await new DataStore(store.dataDir).loadRecords(64 * 1024))).toEqual(['09'])
  })

  it('round-trips records, and keeps the intact prefix of a damaged file', async () => {
    const store = await freshStore()
    const envelopes = [Uint8Array.of(1, 2, 3), Uint8Array.of(4), new Uint8Array(1000).fill(7)]
    await store.saveRecords(envelopes)
    expect((await store.loadRecords(64 * 1024)).map((e) => Buffer.from(e).toString('hex'))).toEqual(envelopes.map((e) => Buffer.from(e).toString('hex')))
    const whole = await readFile(join(store.dataDir, 'records.bin'))
    await writeFile(join(store.dataDir, 'records.bin'), whole.subarray(0, whole.byteLength - 10)) // torn tail
    expect(await store.loadRecords(64 * 1024)).toHaveLength(2)
    expect(store.problems[0]?.problem).toMatch(/damaged at byte 12; kept the 2 records before it/)
    expect((await readdir(store.dataDir)).some((name) => name.startsWith('records.bin.damaged-'))).toBe(true)
  })

  it('a clean stop is honoured within its grace time, until a start consumes it', async () => {
    const store = await freshStore()
    expect(await store.readCleanShutdown(1_000)).toBeUndefined()
    await store.markCleanShutdown(31_000)
    expect(await store.readCleanShutdown(30_000)).toBe(31_000)
    expect(await store.readCleanShutdown(30_000)).toBe(31_000) // a failed start reads it again
    await store.consumeCleanShutdown()
    expect(await store.readCleanShutdown(30_000)).toBeUndefined()
    await store.markCleanShutdown(31_000)
    expect(await store.readCleanShutdown(31_001)).toBeUndefined()
  })
})

describe('the daemon and its data dir', () => {
  async function daemonOptions (dir: string, listen = '/ip4/127.0.0.1/tcp/0') {
    const { file } = await initCluster(join(dir, 'cluster'), 'store-test')
    return { cluster: await loadCluster(file), dataDir: join(dir, 'data'), listen: [listen], bootstrap: [], labels: {}, slots: 1, graceMs: 30_000, logger: silentLogger() }
  }

  it('a start that fails half-way keeps the clean-stop marker for the next start', async () => {
    const dir = await tempDir('shoal-store-')
    const busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    try {
      const options = await daemonOptions(dir, `/ip4/127.0.0.1/tcp/${(busy.address() as AddressInfo).port}`)
      const store = new DataStore(options.dataDir)
      await store.prepare()
      const graceUntil = Date.now() + 60_000
      await store.markCleanShutdown(graceUntil)
      await expect(Daemon.start(options)).rejects.toThrow()
      expect(await store.readCleanShutdown(Date.now())).toBe(graceUntil)
    } finally {
      busy.close()
    }
  })

  it('saves a change by appending it to records.log, not by rewriting records.bin; a restart reads both', async () => {
    const dir = await tempDir('shoal-store-')
    const options = await daemonOptions(dir)
    let daemon = await Daemon.start(options)
    const records = join(dir, 'data', 'records.bin')
    const log = join(dir, 'data', 'records.log')
    try {
      await waitFor('records saved', () => isFile(records), 5_000)
      const snapshot = await readFile(records)
      for (let i = 0; i < 3; i++) {
        daemon.mesh.updateLocalState({ labels: { step: String(i) } })
        await waitFor(`change ${i} appended`, () => isFile(log) && statSync(log).size > 0 && daemon.mesh.db.nodeRecord(daemon.mesh.peerId)?.labels.step === String(i), 5_000)
        await new Promise((resolve) => setTimeout(resolve, 1_200)) // a save tick
      }
      expect(await readFile(records)).toEqual(snapshot)
      expect(statSync(log).size).toBeGreaterThan(0)
    } finally {
      await daemon.stop('final')
    }
    const peerId = daemon.mesh.peerId
    daemon = await Daemon.start(options)
    try {
      expect(daemon.mesh.restoredOwnRecord?.nodeId).toBe(peerId)
      expect(daemon.mesh.restoredOwnRecord?.labels.step).toBe('2')
    } finally {
      await daemon.stop('final')
    }
  })

  it('a save that fails is tried again, though nothing changed since', async () => {
    const dir = await tempDir('shoal-store-')
    const daemon = await Daemon.start(await daemonOptions(dir))
    try {
      const records = join(dir, 'data', 'records.bin')
      await mkdir(records) // a directory where the file goes: the atomic write's rename fails
      await new Promise((resolve) => setTimeout(resolve, 1_500)) // the first save (after 1 s) fails
      await rmdir(records)
      await waitFor('records saved', () => isFile(records), 5_000)
    } finally {
      await daemon.stop('final')
    }
  })
})

function isFile (path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}
