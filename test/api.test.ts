// The daemon's local API, in process: a real daemon (one node, TCP on loopback) behind the HTTP API.
// The token is required; status has the promised fields; garbage is refused with its reason; a
// signed policy is accepted and shows up in the event stream and in the Prometheus metrics; the
// metrics token reads /metrics only; an oversized body is refused with 413 and a client that falls
// behind on the event stream is dropped.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startApi, type ApiServer } from '../src/daemon/api.ts'
import { initCluster, loadCluster, loadOperatorKey } from '../src/daemon/cluster.ts'
import { Daemon } from '../src/daemon/daemon.ts'
import { silentLogger } from '../src/daemon/log.ts'
import { OperatorSigner } from '../src/net/index.ts'

describe('the local API', () => {
  let dir: string
  let daemon: Daemon
  let api: ApiServer
  let token: string
  let metricsToken: string
  const call = async (path: string, init: RequestInit = {}, auth = true): Promise<Response> =>
    await fetch(`${api.url}${path}`, { ...init, headers: { ...init.headers, ...(auth ? { authorization: `Bearer ${token}` } : {}) } })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-api-'))
    const { file } = await initCluster(join(dir, 'cluster'), 'api-test')
    daemon = await Daemon.start({
      cluster: await loadCluster(file), dataDir: join(dir, 'data'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [],
      labels: { zone: 'a' }, slots: 4, graceMs: 30_000, logger: silentLogger(),
    })
    token = await daemon.apiToken()
    metricsToken = await daemon.metricsToken()
    api = await startApi(daemon, { host: '127.0.0.1', port: 0, token, metricsToken })
    await daemon.announce({ url: api.url, token })
  })

  afterAll(async () => {
    await api.close()
    await daemon.stop('final')
    await rm(dir, { recursive: true, force: true })
  })

  it('needs the token, which is kept with mode 0600 like daemon.json', async () => {
    expect((await call('/v1/status', {}, false)).status).toBe(401)
    expect((await call('/v1/status', { headers: { authorization: 'Bearer nope' } }, false)).status).toBe(401)
    expect((await stat(join(dir, 'data', 'api.token'))).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'data', 'daemon.json'))).mode & 0o777).toBe(0o600)
  })

  it('serves status with the promised fields', async () => {
    const status = await (await call('/v1/status')).json() as Record<string, unknown>
    expect(status.node).toBe(daemon.mesh.peerId)
    for (const field of ['viewHash', 'converged', 'reachable', 'assigned', 'running']) expect(status).toHaveProperty(field)
    expect(status.reachable).toEqual([daemon.mesh.peerId])
  })

  it('refuses garbage with its reason, accepts a signed policy, streams it as an event and counts it', async () => {
    const garbage = await call('/v1/records', { method: 'POST', body: new Uint8Array([1, 2, 3]) })
    expect(garbage.status).toBe(400)
    expect(await garbage.json()).toMatchObject({ verdict: 'reject', reason: 'malformed' })

    const events = await call('/v1/events')
    const reader = events.body!.getReader()
    const signer = new OperatorSigner(await loadOperatorKey(join(dir, 'cluster', 'operator.key')))
    const { envelope } = await signer.sign({ kind: 'Admission', name: daemon.mesh.peerId })
    const accepted = await call('/v1/records', { method: 'POST', body: envelope, headers: { 'content-type': 'application/octet-stream' } })
    expect(await accepted.json()).toEqual({ verdict: 'accept' })
    let text = ''
    while (!text.includes(`"key":"Admission/${daemon.mesh.peerId}"`)) {
      const { done, value } = await reader.read()
      if (done) throw new Error(`the event stream ended before the policy event: ${text}`)
      text += new TextDecoder().decode(value)
    }
    await reader.cancel()

    const replay = await call('/v1/records', { method: 'POST', body: envelope })
    expect(replay.status).toBe(409)
    const metrics = await (await call('/metrics')).text()
    expect(metrics).toMatch(/^shoal_records_rejected_total\{reason="malformed"\} 1$/m)
    expect(metrics).toMatch(/^shoal_records_ignored_total\{reason="stale"\} 1$/m)
    expect(metrics).toMatch(/^shoal_component_nodes 1$/m)
  })

  it('the metrics token reads /metrics and nothing else', async () => {
    expect(metricsToken).toMatch(/^[0-9a-f]{64}$/)
    expect(metricsToken).not.toBe(token)
    const withMetricsToken = { headers: { authorization: `Bearer ${metricsToken}` } }
    expect((await call('/metrics', withMetricsToken, false)).status).toBe(200)
    expect((await call('/v1/status', withMetricsToken, false)).status).toBe(401)
    expect((await call('/v1/policies', withMetricsToken, false)).status).toBe(401)
    expect((await stat(join(dir, 'data', 'metrics.token'))).mode & 0o777).toBe(0o600)
  })

  it('refuses a body over the record size with 413, without merging anything', async () => {
    const before = daemon.mesh.db.size
    const response = await call('/v1/records', { method: 'POST', body: new Uint8Array(daemon.mesh.config.recordBytesMax + 1) })
    expect(response.status).toBe(413)
    expect(await response.json()).toEqual({ error: `a record is at most ${daemon.mesh.config.recordBytesMax} bytes` })
    expect(daemon.mesh.db.size).toBe(before)
  })

  it('drops an event-stream client that falls behind, with a last event saying so', async () => {
    const small = await startApi(daemon, { host: '127.0.0.1', port: 0, token, sseQueueMax: 3 })
    try {
      const response = await fetch(`${small.url}/v1/events`, { headers: { authorization: `Bearer ${token}` } })
      const reader = response.body!.getReader()
      await reader.read() // the stream is open and the client subscribed
      for (let i = 0; i < 10; i++) daemon.emit('event', { type: 'adjacency', peers: [], at: `burst-${i}` })
      let text = ''
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        text += new TextDecoder().decode(value)
      }
      expect(text).toContain('event: dropped')
      expect(text).toContain('fell 3 events behind')
      expect(daemon.listenerCount('event')).toBe(0)
    } finally {
      await small.close()
    }
  })
})
