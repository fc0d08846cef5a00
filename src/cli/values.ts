// Parsers for the values a person writes in flags and in the daemon's config file (durations,
// HOST:PORT, KEY=VALUE, multiaddrs). Each returns the value or throws an Error whose message says
// what was expected; the flag parsers (main.ts) and the config-file schema (daemon-config.ts) share
// them, so a value means the same in both places. No dependencies: the CLI loads this up front.

export function parsePositiveInteger (value: string): number {
  const number = Number(value)
  if (!Number.isInteger(number) || number < 1) throw new Error('must be a whole number of at least 1')
  return number
}

export function parseInteger (value: string): number {
  const number = Number(value)
  if (!Number.isSafeInteger(number)) throw new Error('must be a whole number')
  return number
}

export function parseDuration (value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value)
  if (match === null) throw new Error('must be like 500ms, 30s or 2m')
  return Number(match[1]) * (match[2] === 'ms' ? 1 : match[2] === 's' ? 1_000 : 60_000)
}

export interface HostPort { readonly host: string, readonly port: number }

export function parseHostPort (value: string): HostPort {
  const match = /^(.+):(\d{1,5})$/.exec(value)
  const port = Number(match?.[2])
  if (match === null || port > 65_535) throw new Error('must be HOST:PORT, e.g. 127.0.0.1:7421 (port 0 picks a free one)')
  return { host: (match[1] as string).replace(/^\[(.*)\]$/, '$1'), port }
}

export function parseMultiaddr (value: string): string {
  if (!value.startsWith('/')) throw new Error(`'${value}' is not a multiaddr (like /ip4/127.0.0.1/tcp/7420)`)
  return value
}

export function parseLabel (value: string): [string, string] {
  const match = /^([^=]+)=(.*)$/.exec(value)
  if (match === null) throw new Error(`'${value}' is not KEY=VALUE`)
  return [match[1] as string, match[2] as string]
}
