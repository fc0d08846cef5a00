// The host's processes by what their command lines hold: how the lab's nemesis, the end-to-end tests
// and the benchmarks count real workload processes (a marker in their arguments), whatever any daemon
// says of them. A process that exits while being read is left out.

import { readdirSync, readFileSync } from 'node:fs'

/** Processes (all of /proc, or `among`) whose arguments include `argument`, each with its arguments, by pid. */
export function processesWithArgument (argument: string, among?: Iterable<number>): Array<{ pid: number, args: string[] }> {
  const pids = among === undefined ? readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number) : [...among]
  const found: Array<{ pid: number, args: string[] }> = []
  for (const pid of pids) {
    let args: string[]
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    } catch {
      continue // gone
    }
    if (args.includes(argument)) found.push({ pid, args })
  }
  return found.sort((a, b) => a.pid - b.pid)
}

/** The pids of processesWithArgument, ascending. */
export function pidsWithArgument (argument: string, among?: Iterable<number>): number[] {
  return processesWithArgument(argument, among).map((process) => process.pid)
}
