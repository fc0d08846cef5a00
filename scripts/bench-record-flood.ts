// Benchmark: what an admitted node publishing 1,000 versions of its record a second costs the others
// (issue 22 item 6). Three real `shoal daemon` processes on loopback, and a fourth node in this process,
// admitted like any other, that floods signed versions of its own record straight into gossip.
//
//   npx tsx scripts/bench-record-flood.ts [--seconds 20] [--rate 1000]
//
// For each daemon, over a window at rest and a window of the same length under the flood: CPU (utime +
// stime from /proc/<pid>/stat) and bytes written to disk (write_bytes from /proc/<pid>/io), and how many
// versions of the flooder's record it took in (its /metrics `accepted` does not say whose, so this reads
// the version each daemon ends the window on).

import '../src/polyfill.ts'
import { readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { NodeRecord } from '../src/core/index.ts'
import { loadCluster } from '../src/daemon/cluster.ts'
import { MeshNode, defaultNetConfig, sealRecord } from '../src/net/index.ts'
import { ShoalCli, daemonStatus, type DaemonHandle } from '../test/fixtures/shoal-cli.ts'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, rate: { type: 'string', default: '1000' } } })
const seconds = Number(values.seconds)
const rate = Number(values.rate)
const ticksPerSecond = 100 // USER_HZ on Linux

interface Sample { cpuTicks: number, writeBytes: number }

function sample (pid: number): Sample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const io = readFileSync(`/proc/${pid}/io`, 'utf8')
  return { cpuTicks: Number(fields[11]) + Number(fields[12]), writeBytes: Number(/write_bytes: (\d+)/.exec(io)?.[1] ?? 0) }
}

async function measure (daemons: readonly DaemonHandle[], during: (endAt: number) => Promise<void>): Promise<Array<{ cpuPercent: number, diskKBps: number }>> {
  const before = daemons.map((daemon) => sample(daemon.info.pid))
  const startedAt = performance.now()
  await during(startedAt + seconds * 1_000)
  const elapsed = (performance.now() - startedAt) / 1_000
  return daemons.map((daemon, i) => {
    const after = sample(daemon.info.pid)
    return {
      cpuPercent: 100 * (after.cpuTicks - (before[i] as Sample).cpuTicks) / ticksPerSecond / elapsed,
      diskKBps: (after.writeBytes - (before[i] as Sample).writeBytes) / 1024 / elapsed,
    }
  })
}

const dir = await mkdtemp(join(tmpdir(), 'shoal-flood-'))
const cli = new ShoalCli(dir)
const daemons: DaemonHandle[] = []
let flooder: MeshNode | undefined
try {
  await cli.startCluster(3, daemons)
  const cluster = await loadCluster(cli.clusterFile)
  const key = await generateKeyPair('Ed25519')
  flooder = await MeshNode.create({
    clusterName: cluster.name, privateKey: key, networkKey: cluster.networkKey, operators: cluster.operators, admission: cluster.admission,
    transport: 'tcp', listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [daemons[0]!.info.addresses[0]!], generation: 1, config: defaultNetConfig,
  })
  await cli.ok('admit', flooder.peerId, '--data', daemons[0]!.dataDir)
  const deadline = Date.now() + 60_000
  while (flooder.component().size < 4) {
    if (Date.now() > deadline) throw new Error('the flooder did not join within 60 s')
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  await new Promise((resolve) => setTimeout(resolve, 5_000)) // let the joins settle

  const rest = await measure(daemons, async (endAt) => { await new Promise((resolve) => setTimeout(resolve, endAt - performance.now())) })
  const base = flooder.db.nodeRecord(flooder.peerId) as NodeRecord
  let sent = 0
  const flood = await measure(daemons, async (endAt) => {
    const perTick = Math.max(1, Math.round(rate / 100))
    while (performance.now() < endAt) {
      for (let i = 0; i < perTick; i++) {
        sent++
        const version = { generation: base.version.generation, seq: base.version.seq + 1_000_000 + sent }
        await flooder!.floodUnchecked(await sealRecord({ ...base, version, labels: { flood: String(sent) } }, key))
      }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })
  const statuses = await Promise.all(daemons.map(async (daemon) => await daemonStatus<{ node: string }>(daemon)))
  console.log(`3 daemons; a 4th node floods ${sent} versions of its record in ${seconds} s (${Math.round(sent / seconds)}/s); arrival limit ${defaultNetConfig.recordArrivalBurst} + ${defaultNetConfig.recordArrivalsPerSecond}/s`)
  console.log('daemon   CPU at rest   CPU flooded   disk at rest   disk flooded')
  daemons.forEach((daemon, i) => {
    console.log(`${daemon.name.padEnd(8)} ${rest[i]!.cpuPercent.toFixed(1).padStart(9)} %  ${flood[i]!.cpuPercent.toFixed(1).padStart(9)} %  ${rest[i]!.diskKBps.toFixed(1).padStart(8)} KB/s  ${flood[i]!.diskKBps.toFixed(1).padStart(8)} KB/s${statuses[i] === undefined ? '  (not answering)' : ''}`)
  })
} finally {
  await flooder?.stop()
  for (const daemon of daemons) await daemon.stop()
  await rm(dir, { recursive: true, force: true })
}
