// `shoal daemon`'s settings, so that a host's settings can live in one file an operator manages:
// `--config FILE` (YAML) holds any of the flags' settings, a flag given on the command line wins over
// the file, and what neither says takes the default. Paths in the file (cluster, data, log) are
// relative to the file. `net:` overrides the mesh's timing (net/config.ts), e.g. a longer hello
// interval for less CPU at rest and a slower hang detection. `fileRoots:` lists the directories file
// workloads may write absolute paths under (none by default). A bad file is one line: file:line: field.

import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { z } from 'zod'
import { holdMaxMs } from '../core/records.ts'
import { InputError } from '../errors.ts'
import { defaultNetConfig, validateNetConfig, type NetConfig } from '../net/config.ts'
import { parseYamlDocument } from '../yaml-input.ts'
import type { DaemonCommandOptions } from './daemon-command.ts'
import { parseDuration, parseHostPort, parseMultiaddr, type HostPort } from './values.ts'

/** What commander hands over: only the flags given on the command line are set. */
export interface DaemonFlags {
  readonly config?: string
  readonly cluster?: string
  readonly data?: string
  readonly listen?: string[]
  readonly api?: HostPort
  readonly bootstrap?: string[]
  readonly label?: Record<string, string>
  readonly slots?: number
  readonly grace?: number
  readonly log?: string
  readonly logLevel?: string
  readonly fileRoot?: string[]
}

function parsed<T> (parse: (value: string) => T) {
  return z.string().transform((value, context) => {
    try {
      return parse(value)
    } catch (error) {
      context.addIssue({ code: 'custom', message: (error as Error).message })
      return z.NEVER
    }
  })
}

const netOverrides = z.strictObject(Object.fromEntries(Object.keys(defaultNetConfig).map((key) => [key, z.number().positive().optional()])) as Record<keyof NetConfig, z.ZodOptional<z.ZodNumber>>)

const configFileSchema = z.strictObject({
  cluster: z.string().min(1).optional(),
  data: z.string().min(1).optional(),
  listen: z.array(parsed(parseMultiaddr)).min(1).optional(),
  api: parsed(parseHostPort).optional(),
  bootstrap: z.array(parsed(parseMultiaddr)).optional(),
  labels: z.record(z.string().min(1), z.string()).optional(),
  slots: z.number().int().positive().optional(),
  grace: parsed(parseDuration).optional(),
  log: z.string().min(1).optional(),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).optional(),
  net: netOverrides.optional(),
  fileRoots: z.array(z.string().startsWith('/', 'must be an absolute path')).optional(),
})

const daemonDefaults = {
  listen: ['/ip4/0.0.0.0/tcp/7420'],
  api: { host: '127.0.0.1', port: 7421 },
  slots: 10,
  graceMs: 30_000,
  logLevel: 'info',
} as const

/** The daemon's settings from the config file (if any) and the flags; throws InputError naming what is wrong. */
export async function daemonSettings (flags: DaemonFlags): Promise<DaemonCommandOptions> {
  let file: z.output<typeof configFileSchema> = {}
  let fromFile = (path: string): string => path
  if (flags.config !== undefined) {
    const configPath = flags.config
    const text = await readFile(configPath, 'utf8').catch((error: Error) => { throw new InputError(`cannot read ${configPath}: ${error.message}`) })
    file = parseYamlDocument(configFileSchema, text, configPath)
    fromFile = (path) => resolve(dirname(configPath), path)
  }
  const cluster = flags.cluster ?? (file.cluster === undefined ? undefined : fromFile(file.cluster))
  const data = flags.data ?? (file.data === undefined ? undefined : fromFile(file.data))
  if (cluster === undefined) throw new InputError('daemon: which cluster? give --cluster FILE, or cluster: in the --config file')
  if (data === undefined) throw new InputError('daemon: which data directory? give --data DIR, or data: in the --config file')
  const graceMs = flags.grace ?? file.grace ?? daemonDefaults.graceMs
  if (graceMs > holdMaxMs) throw new InputError(`daemon: grace: at most ${holdMaxMs / 60_000}m (the longest the others hold a restarting node's work)`)
  const log = flags.log ?? (file.log === undefined ? undefined : fromFile(file.log))
  const overrides = Object.entries(file.net ?? {}).filter(([, value]) => value !== undefined)
  const net: NetConfig = { ...defaultNetConfig, ...Object.fromEntries(overrides) }
  const problems = validateNetConfig(net)
  if (problems.length > 0) throw new InputError(`${flags.config ?? 'daemon'}: net: ${problems.join('; ')}`)
  return {
    cluster,
    data,
    listen: flags.listen ?? file.listen ?? [...daemonDefaults.listen],
    api: flags.api ?? file.api ?? daemonDefaults.api,
    bootstrap: flags.bootstrap ?? file.bootstrap ?? [],
    label: { ...file.labels, ...flags.label },
    slots: flags.slots ?? file.slots ?? daemonDefaults.slots,
    graceMs,
    logLevel: flags.logLevel ?? file.logLevel ?? daemonDefaults.logLevel,
    net,
    fileRoots: flags.fileRoot ?? file.fileRoots ?? [],
    ...(log === undefined ? {} : { log }),
  }
}
