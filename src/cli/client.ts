// How a `shoal` client command reaches its daemon and signs what it sends.
//
// The daemon is found, in this order: `--api URL --token TOKEN`; `--data DIR` (its daemon.json);
// the environment (SHOAL_API, SHOAL_TOKEN, or SHOAL_DATA). The operator key: `--operator-key FILE`,
// SHOAL_OPERATOR_KEY, or operator.key beside the cluster file the daemon runs with.
// Every failure is a CliError with one line that says what to do; none is a stack trace.

import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { PolicyFragment, PolicyKind, PolicySpec } from '../core/index.ts'
import type { OperatorSigner } from '../net/index.ts'
import { processIsRunning } from '../daemon/dir-lock.ts'
import { CliError } from '../errors.ts'

export { CliError }

export interface ClientOptions {
  readonly data?: string
  readonly api?: string
  readonly token?: string
  readonly operatorKey?: string
}

/** What a client needs of daemon.json (written by the daemon when it is ready; daemon.ts). */
interface DaemonJson {
  readonly pid: number
  readonly api: { readonly url: string, readonly token: string }
  readonly cluster: string
}

function isDaemonJson (json: unknown): json is DaemonJson {
  const info = json as Partial<DaemonJson> | null
  return typeof info === 'object' && info !== null && Number.isInteger(info.pid) && typeof info.cluster === 'string' &&
    typeof info.api?.url === 'string' && typeof info.api.token === 'string'
}

/**
 * One HTTP request with node:http, not fetch: Node's fetch loads and compiles undici on first use,
 * ~0.4 s on this machine (measured: a one-request script, 0.57 s with fetch, 0.20 s with node:http,
 * node -e 0 0.16 s), which would be most of a client command's time.
 */
async function httpRequest (method: 'GET' | 'POST', url: string, token: string, body?: Uint8Array): Promise<{ status: number, text: string }> {
  const { request } = await import('node:http')
  return await new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` }
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/octet-stream', 'content-length': String(body.byteLength) })
    const req = request(url, { method, headers, timeout: 10_000 }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => { resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }) })
      response.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(Object.assign(new Error('no answer within 10 s'), { code: 'ETIMEDOUT' })) })
    req.on('error', reject)
    req.end(body)
  })
}

export class ApiClient {
  private constructor (readonly url: string, private readonly token: string, readonly clusterFile: string | undefined) {}

  static async connect (options: ClientOptions): Promise<ApiClient> {
    const api = options.api ?? (options.data === undefined ? process.env.SHOAL_API : undefined)
    const token = options.token ?? process.env.SHOAL_TOKEN
    if (api !== undefined) {
      if (token === undefined) throw new CliError('--api needs a token: give --token or set SHOAL_TOKEN')
      return new ApiClient(api.replace(/\/$/, ''), token, undefined)
    }
    const dataDir = options.data ?? process.env.SHOAL_DATA
    if (dataDir === undefined) throw new CliError('which daemon? give --data DIR (its data directory), or --api URL --token TOKEN, or set SHOAL_API and SHOAL_TOKEN')
    const path = join(dataDir, 'daemon.json')
    const text = await readFile(path, 'utf8').catch(() => {
      throw new CliError(`the daemon for ${dataDir} is not running (no daemon.json there yet): start it with shoal daemon --data ${dataDir}, or wait until it is ready`)
    })
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new CliError(`${path} is not JSON`)
    }
    if (!isDaemonJson(json)) throw new CliError(`${path} is not a daemon.json`)
    if (!processIsRunning(json.pid)) throw new CliError(`the daemon for ${dataDir} is not running (pid ${json.pid} exited)`)
    return new ApiClient(json.api.url, json.api.token, json.cluster)
  }

  async get<T = unknown> (path: string): Promise<T> {
    return await this.request<T>('GET', path)
  }

  /** GET that answers undefined for 404. */
  async find<T = unknown> (path: string): Promise<T | undefined> {
    return await this.request<T>('GET', path, undefined, true)
  }

  async postRecord (envelope: Uint8Array): Promise<{ verdict: string, reason?: string, detail?: string }> {
    return await this.request('POST', '/v1/records', envelope, false, true)
  }

  private async request<T> (method: 'GET' | 'POST', route: string, body?: Uint8Array, notFoundIsUndefined = false, anyVerdict = false): Promise<T> {
    let response: { status: number, text: string }
    try {
      response = await httpRequest(method, `${this.url}${route}`, this.token, body)
    } catch (error) {
      const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message
      throw new CliError(`cannot reach the daemon at ${this.url} (${why}): is it running?`)
    }
    if (response.status === 401) throw new CliError(`the daemon at ${this.url} refused the token`)
    if (response.status === 404 && notFoundIsUndefined) return undefined as T
    const json = (() => { try { return JSON.parse(response.text) as { error?: string } } catch { return {} } })()
    const ok = response.status >= 200 && response.status < 300
    if (!ok && !(anyVerdict && (response.status === 400 || response.status === 409))) {
      throw new CliError(`${this.url}${route}: ${json.error ?? `HTTP ${response.status}`}`)
    }
    return json as T
  }

  /** The operator's signer: its key from the options, the environment, or beside the cluster file. */
  async signer (options: ClientOptions): Promise<OperatorSigner> {
    const file = options.operatorKey ?? process.env.SHOAL_OPERATOR_KEY ?? (this.clusterFile === undefined ? undefined : join(dirname(this.clusterFile), 'operator.key'))
    if (file === undefined) throw new CliError('this needs an operator key: give --operator-key FILE or set SHOAL_OPERATOR_KEY')
    // Loaded here, not at the top: signing needs libp2p's crypto, which reading commands never load.
    const [{ loadOperatorKey }, { OperatorSigner }] = await Promise.all([import('../daemon/cluster.ts'), import('../net/operator.ts')])
    try {
      return new OperatorSigner(await loadOperatorKey(file))
    } catch (error) {
      throw new CliError((error as Error).message)
    }
  }

  /** Signs and sends `spec` (or the deletion of kind/name), after the version it replaces. */
  async submit (signer: OperatorSigner, change: { spec: PolicySpec } | { delete: { kind: PolicyKind, name: string } }): Promise<string> {
    const kind = 'spec' in change ? change.spec.kind : change.delete.kind
    const name = 'spec' in change ? change.spec.name : change.delete.name
    const current = await this.find<PolicyFragment>(`/v1/policies/${kind}/${encodeURIComponent(name)}`)
    if (current !== undefined) signer.advancePast(current.version.hlc)
    const { envelope } = 'spec' in change ? await signer.sign(change.spec) : await signer.signDeletion(kind, name)
    const result = await this.postRecord(envelope)
    if (result.verdict === 'accept') return `${kind}/${name} ${'spec' in change ? (current?.body == null ? 'created' : 'configured') : 'deleted'}`
    if (result.reason === 'not-an-operator') throw new CliError(`${kind}/${name}: the cluster does not trust this operator key (${signer.operatorId})`)
    throw new CliError(`${kind}/${name}: refused (${result.reason ?? result.verdict}${result.detail === undefined ? '' : `: ${result.detail}`})`)
  }
}
