// The daemon's local HTTP API (hono on node:http). Loopback by default; every route needs the bearer
// token from the data dir (DESIGN.md §8). Policy arrives already signed by an operator key: the API
// never signs anything, so holding the token lets one read and relay, not write policy.
//
//   GET  /v1/status               node, view hash, converged, reachable, assigned, running (StatusReport)
//   GET  /v1/nodes                every node record held, with whether it is reachable
//   GET  /v1/policies             every policy fragment held (tombstones included)
//   GET  /v1/policies/:kind/:name one fragment (the CLI reads its version before changing it)
//   GET  /v1/view                 the target view of this node's component
//   GET  /v1/explain/:kind/:name  why a service is placed where it is; what a node is given and why
//   POST /v1/records              a signed record (application/octet-stream): validated, merged, flooded
//   GET  /v1/events               server-sent events: views, actions, adjacencies, policies
//   GET  /metrics                 Prometheus text format (the API token, or the read-only metrics token)
//
// Bounded: a request body past `maxBodyBytes` is refused with 413 before it is read whole; an event
// stream client that falls `sseQueueMax` events behind is dropped (with a last event saying so) rather
// than queueing without end.

import type { AddressInfo } from 'node:net'
import { serve, type ServerType } from '@hono/node-server'
import { Hono } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import { streamSSE } from 'hono/streaming'
import { Counter, Gauge, Registry } from 'prom-client'
import { describeReplica, describeRollout, policyKey, rolloutOf, serviceSpecOf, type PolicyFragment } from '../core/index.ts'
import type { Daemon } from './daemon.ts'

const kinds = new Set(['Service', 'Node', 'Admission'])

export interface ApiServer {
  readonly url: string
  close(): Promise<void>
}

export interface ApiOptions {
  readonly token: string
  /** A token that reads /metrics only. */
  readonly metricsToken?: string
  /** The largest request body accepted (a signed record); default: the mesh's recordBytesMax. */
  readonly maxBodyBytes?: number
  /** Events an event-stream client may fall behind before it is dropped. */
  readonly sseQueueMax?: number
}

export async function startApi (daemon: Daemon, options: ApiOptions & { host: string, port: number }): Promise<ApiServer> {
  const app = buildApp(daemon, options)
  const server = await new Promise<ServerType>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, () => { resolve(started) })
    started.once('error', reject)
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}`,
    async close () {
      await new Promise<void>((resolve) => {
        server.close(() => { resolve() })
        ;(server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
      })
    },
  }
}

export function buildApp (daemon: Daemon, options: ApiOptions): Hono {
  const app = new Hono()
  const metrics = buildMetrics(daemon)
  const apiAuth = bearerAuth({ token: options.token })
  const metricsAuth = bearerAuth({ token: options.metricsToken === undefined ? options.token : [options.token, options.metricsToken] })
  app.use('*', async (c, next) => await (c.req.path === '/metrics' ? metricsAuth(c, next) : apiAuth(c, next)))
  const maxBodyBytes = options.maxBodyBytes ?? daemon.mesh.config.recordBytesMax
  const sseQueueMax = options.sseQueueMax ?? 1_000
  app.onError((error, c) => (error instanceof HTTPException ? error.getResponse() : c.json({ error: error.message }, 500)))
  app.notFound((c) => c.json({ error: `no such route: ${c.req.method} ${c.req.path}` }, 404))

  app.get('/v1/status', (c) => c.json(daemon.status()))

  app.get('/v1/nodes', (c) => {
    const view = daemon.computeView()
    const reachable = new Set(view.component)
    const nodes = daemon.mesh.db.nodeRecords().map((record) => ({
      id: record.nodeId,
      reachable: reachable.has(record.nodeId) && !view.held.includes(record.nodeId),
      held: view.held.includes(record.nodeId),
      version: record.version,
      agentVersion: record.agentVersion ?? null,
      ageMs: Date.now() - record.originatedAtMs,
      labels: record.labels,
      slots: record.slots,
      adjacencies: record.adjacencies.length,
      viewHash: record.viewHash,
      resources: record.resources,
      addresses: record.addresses,
    }))
    return c.json(nodes)
  })

  app.get('/v1/policies', (c) => c.json(daemon.mesh.db.policies()))

  app.get('/v1/policies/:kind/:name', (c) => {
    const { kind, name } = c.req.param()
    if (!kinds.has(kind)) return c.json({ error: `unknown kind ${kind}: must be Service, Node or Admission` }, 400)
    const fragment = daemon.mesh.db.get(policyKey(kind as PolicyFragment['policyKind'], name))
    return fragment === undefined ? c.json({ error: `no policy ${kind}/${name}` }, 404) : c.json(fragment)
  })

  app.get('/v1/view', (c) => {
    const view = daemon.computeView()
    return c.json({ viewHash: view.viewHash, component: view.component, held: view.held, assignments: view.assignments, shortfalls: view.shortfalls })
  })

  app.get('/v1/explain/:kind/:name', (c) => {
    const { kind, name } = c.req.param()
    if (kind === 'Service') {
      const view = daemon.computeView([name])
      const explanation = view.explanations.get(name)
      if (explanation === undefined) return c.json({ error: `no service ${name} in this node's policies` }, 404)
      const service = serviceSpecOf(daemon.mesh.db, name)
      const rollout = service === undefined ? undefined : rolloutOf(view.assignments, service, (nodeId) => daemon.mesh.db.nodeRecord(nodeId))
      return c.json({
        kind, name, viewHash: view.viewHash, ...explanation,
        ...(rollout === undefined ? {} : {
          rollout: {
            summary: describeRollout(rollout),
            replicas: rollout.replicas.map((replica) => ({ nodeId: replica.nodeId, state: replica.state, detail: describeReplica(replica, rollout) })),
          },
        }),
      })
    }
    if (kind === 'Node') {
      const view = daemon.computeView()
      const record = daemon.mesh.db.nodeRecord(name)
      if (record === undefined) return c.json({ error: `no node ${name} known` }, 404)
      const settings = daemon.mesh.db.get(policyKey('Node', name))
      return c.json({
        kind, name,
        reachable: view.component.includes(name) && !view.held.includes(name),
        held: view.held.includes(name),
        admitted: daemon.mesh.db.get(policyKey('Admission', name)) !== undefined,
        settings: settings?.kind === 'policy' ? settings.body : null,
        labels: record.labels,
        slots: record.slots,
        assigned: (view.byNode.get(name) ?? []).map((assignment) => assignment.resourceId),
        reports: record.resources,
      })
    }
    return c.json({ error: `explain takes Service/NAME or Node/NAME, not ${kind}` }, 400)
  })

  app.post('/v1/records', bodyLimit({
    maxSize: maxBodyBytes,
    onError: (c) => c.json({ error: `a record is at most ${maxBodyBytes} bytes` }, 413),
  }), async (c) => {
    const body = new Uint8Array(await c.req.arrayBuffer())
    const result = await daemon.mesh.publish(body)
    const status = result.verdict === 'accept' ? 200 : result.verdict === 'ignore' ? 409 : 400
    return c.json(result, status)
  })

  app.get('/v1/events', (c) => streamSSE(c, async (stream) => {
    const queue: string[] = []
    let wake: (() => void) | undefined
    let dropped = false
    const onEvent = (event: unknown): void => {
      if (queue.length >= sseQueueMax) dropped = true
      else queue.push(JSON.stringify(event))
      wake?.()
    }
    daemon.on('event', onEvent)
    stream.onAbort(() => { daemon.off('event', onEvent); wake?.() })
    await stream.write(': subscribed\n\n') // tells the client its events start here
    while (!stream.aborted && !stream.closed) {
      if (dropped) {
        await stream.writeSSE({ event: 'dropped', data: JSON.stringify({ error: `this client fell ${sseQueueMax} events behind` }) })
        break
      }
      const next = queue.shift()
      if (next !== undefined) {
        await stream.writeSSE({ data: next })
        continue
      }
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, 15_000) // a comment line now and then keeps proxies from closing the stream
      })
      wake = undefined
      if (queue.length === 0 && !stream.aborted) await stream.write(': keep-alive\n\n')
    }
    daemon.off('event', onEvent)
  }))

  app.get('/metrics', async (c) => c.text(await metrics.metrics(), 200, { 'content-type': metrics.contentType }))
  return app
}

/** Prometheus metrics, read from the daemon at scrape time (nothing is counted twice). */
function buildMetrics (daemon: Daemon): Registry {
  const registry = new Registry()
  const mesh = daemon.mesh
  const gauge = (name: string, help: string, read: () => number): void => {
    registry.registerMetric(new Gauge({ name, help, registers: [], collect () { this.set(read()) } }))
  }
  const counter = (name: string, help: string, read: () => number): void => {
    registry.registerMetric(new Counter({ name, help, registers: [], collect () { this.reset(); this.inc(read()) } }))
  }
  const byReason = (name: string, help: string, read: () => Record<string, number>): void => {
    registry.registerMetric(new Counter({
      name, help, labelNames: ['reason'], registers: [],
      collect () {
        this.reset()
        for (const [reason, count] of Object.entries(read())) this.inc({ reason }, count)
      },
    }))
  }
  gauge('shoal_records', 'Records held in the database', () => mesh.db.size)
  gauge('shoal_connected_peers', 'Peers with an open connection', () => mesh.connectedPeers().length)
  gauge('shoal_component_nodes', 'Nodes reachable from this node, itself included', () => mesh.component().size)
  gauge('shoal_converged', '1 when this node judges its component converged', () => (daemon.status().converged ? 1 : 0))
  gauge('shoal_resources_assigned', 'Resources the view assigns to this node', () => daemon.status().assigned.length)
  gauge('shoal_resources_running', 'Resources running on this node', () => daemon.status().running.length)
  gauge('shoal_generation', 'This daemon\'s generation (bumped at every start)', () => daemon.generation)
  counter('shoal_gossip_messages_total', 'Gossip messages received on the records topic', () => mesh.counters.gossipMessages)
  counter('shoal_gossip_bytes_total', 'Bytes of gossip messages received on the records topic', () => mesh.counters.gossipBytes)
  counter('shoal_records_accepted_total', 'Records validated and merged', () => mesh.counters.accepted)
  counter('shoal_records_originated_total', 'Own node records originated', () => mesh.counters.originated)
  counter('shoal_sync_runs_total', 'Digest syncs run', () => mesh.counters.syncRuns)
  counter('shoal_sync_failures_total', 'Digest syncs that failed', () => mesh.counters.syncFailures)
  byReason('shoal_records_rejected_total', 'Records refused as invalid, by reason', () => mesh.counters.rejected)
  byReason('shoal_records_ignored_total', 'Records ignored (stale, not yet admitted, …), by reason', () => mesh.counters.ignored)
  byReason('shoal_connections_refused_total', 'Connections refused by the gater, by reason', () => mesh.counters.gaterRefusals)
  return registry
}
