// The fault lab's network: one Linux network namespace per node, joined by a bridge that lives in a
// namespace of its own (the "hub"), so that nodes talk real TCP to each other through the kernel, and
// faults are the kernel's: nftables drop rules inside a node's namespace (silent loss — no reset, no
// FIN; connections hang until someone's dead interval fires), tc tbf for bandwidth.
//
// Addresses: 10.231.S.(i+1)/24 for node i, where S is a subnet no other lab on this host uses; the host
// gets 10.231.S.254 on a veth into the hub, so that the lab's driver (tests, the CLI) can reach each
// daemon's API. Nothing outside the namespaces this creates is ever addressed. Everything is named
// after the lab's id (`shoal-<id>-…`), and the names are written to the lab's state file before they
// are created, so `destroy` (and `shoal lab down` after a crash of the lab itself) removes them all.

import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface LabNetworkState {
  readonly id: string
  readonly subnet: number
  readonly nodes: number
}

/** Runs a command; a failure names the command and what it printed. */
export async function sh (command: string, args: readonly string[], input?: string): Promise<string> {
  try {
    if (input === undefined) return (await run(command, [...args], { encoding: 'utf8' })).stdout
    return await new Promise<string>((resolve, reject) => {
      const child = execFile(command, [...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
        if (error === null) resolve(stdout)
        else reject(Object.assign(error, { stderr }))
      })
      child.stdin?.end(input)
    })
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim() ?? ''
    throw new Error(`${command} ${args.join(' ')}: ${stderr === '' ? (error as Error).message : stderr}`)
  }
}

export const hubOf = (id: string): string => `shoal-${id}-hub`
export const namespaceOf = (id: string, index: number): string => `shoal-${id}-n${index}`
export const hostLinkOf = (id: string): string => `shl${id}h`
export const addressOf = (state: LabNetworkState, index: number): string => `10.231.${state.subnet}.${index + 1}`
export const hostAddressOf = (state: LabNetworkState): string => `10.231.${state.subnet}.254`

/** A /24 under 10.231.0.0/16 that no interface on this host has an address in. */
export async function freeSubnet (): Promise<number> {
  const used = new Set([...(await sh('ip', ['-o', '-4', 'addr', 'show'])).matchAll(/inet 10\.231\.(\d+)\./g)].map((match) => Number(match[1])))
  for (let subnet = 1; subnet < 250; subnet++) if (!used.has(subnet)) return subnet
  throw new Error('no free subnet under 10.231.0.0/16 for a lab: remove old labs with `shoal lab down`')
}

/** Creates the hub, one namespace per node, their links and addresses, and the host's link. */
export async function createNetwork (state: LabNetworkState): Promise<void> {
  const hub = hubOf(state.id)
  await sh('ip', ['netns', 'add', hub])
  await sh('ip', ['-n', hub, 'link', 'add', 'br0', 'type', 'bridge'])
  await sh('ip', ['-n', hub, 'link', 'set', 'br0', 'up'])
  for (let i = 0; i < state.nodes; i++) {
    const ns = namespaceOf(state.id, i)
    await sh('ip', ['netns', 'add', ns])
    const inner = `shl${state.id}a${i}`
    const outer = `shl${state.id}b${i}`
    await sh('ip', ['link', 'add', inner, 'type', 'veth', 'peer', 'name', outer])
    await sh('ip', ['link', 'set', inner, 'netns', ns])
    await sh('ip', ['link', 'set', outer, 'netns', hub])
    await sh('ip', ['-n', hub, 'link', 'set', outer, 'master', 'br0', 'up'])
    await sh('ip', ['-n', ns, 'link', 'set', inner, 'name', 'eth0'])
    await sh('ip', ['-n', ns, 'addr', 'add', `${addressOf(state, i)}/24`, 'dev', 'eth0'])
    await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
    await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    // One table per node for the lab's rules: input and output chains, empty until a fault.
    await sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], [
      'table inet shoal {',
      '  chain input { type filter hook input priority 0; policy accept; }',
      '  chain output { type filter hook output priority 0; policy accept; }',
      '}',
    ].join('\n'))
  }
  const host = hostLinkOf(state.id)
  await sh('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'host'])
  await sh('ip', ['link', 'set', 'host', 'netns', hub])
  await sh('ip', ['-n', hub, 'link', 'set', 'host', 'master', 'br0', 'up'])
  await sh('ip', ['addr', 'add', `${hostAddressOf(state)}/24`, 'dev', host])
  await sh('ip', ['link', 'set', host, 'up'])
}

/** Removes every namespace and link of the lab; what is already gone is not an error. */
export async function destroyNetwork (state: Pick<LabNetworkState, 'id' | 'nodes'>): Promise<void> {
  const namespaces = (await sh('ip', ['netns', 'list'])).split('\n').map((line) => line.split(' ')[0] ?? '')
  for (const ns of namespaces) if (ns.startsWith(`shoal-${state.id}-`)) await sh('ip', ['netns', 'del', ns]).catch(() => undefined)
  await sh('ip', ['link', 'del', hostLinkOf(state.id)]).catch(() => undefined) // gone with the hub, usually
}

/**
 * Drops packets between the groups: node a of one group no longer hears node b of another. One-way:
 * only what the first group sends to the others is lost (they still reach it). Replaces earlier cuts.
 */
export async function partitionNetwork (state: LabNetworkState, groups: ReadonlyArray<readonly number[]>, oneWay = false): Promise<void> {
  await healNetwork(state)
  const groupOf = new Map<number, number>()
  groups.forEach((group, g) => { for (const node of group) groupOf.set(node, g) })
  for (let i = 0; i < state.nodes; i++) {
    const mine = groupOf.get(i)
    if (mine === undefined) continue
    const others = [...groupOf].filter(([, g]) => g !== mine).map(([node]) => addressOf(state, node))
    if (others.length === 0) continue
    const set = `{ ${others.join(', ')} }`
    const rules: string[] = []
    if (!oneWay || mine === 0) rules.push(`add rule inet shoal output ip daddr ${set} drop`)
    if (!oneWay) rules.push(`add rule inet shoal input ip saddr ${set} drop`)
    if (rules.length > 0) await sh('ip', ['netns', 'exec', namespaceOf(state.id, i), 'nft', '-f', '-'], rules.join('\n'))
  }
}

/** Removes every drop rule (bandwidth limits stay). */
export async function healNetwork (state: LabNetworkState): Promise<void> {
  for (let i = 0; i < state.nodes; i++) {
    await sh('ip', ['netns', 'exec', namespaceOf(state.id, i), 'nft', '-f', '-'], 'flush chain inet shoal input\nflush chain inet shoal output')
  }
}

/** Limits what node `index` sends to `rate` (tc tbf, e.g. "1mbit"), or lifts the limit (null). */
export async function limitBandwidth (state: LabNetworkState, index: number, rate: string | null): Promise<void> {
  const ns = namespaceOf(state.id, index)
  if (rate === null) {
    await sh('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => undefined)
    return
  }
  await sh('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', rate, 'burst', '32kbit', 'latency', '400ms'])
}
