// The core stays pure: nothing under src/core imports outside it, reads a clock, draws randomness,
// sets timers, touches `process` or a `node:` module. The checker is tested on bad samples first,
// so this test can fail.

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const coreDir = resolve(dirname(fileURLToPath(import.meta.url)), '../src/core')

const forbidden: Array<[RegExp, string]> = [
  [/\bDate\.now\b/, 'Date.now'],
  [/\bnew\s+Date\b/, 'new Date'],
  [/\bDate\s*\(/, 'Date()'],
  [/\bperformance\.now\b/, 'performance.now'],
  [/\bMath\.random\b/, 'Math.random'],
  [/\bcrypto\.getRandomValues\b/, 'crypto.getRandomValues'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask|clearTimeout|clearInterval)\b/, 'timers'],
  [/\bprocess\b/, 'process'],
  [/\brequire\s*\(/, 'require'],
]

/** Problems found in one source file of the core, given its path relative to src/core. */
export function purityProblems (source: string, fileInCore: string): string[] {
  const problems: string[] = []
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1')
  const specifiers = [
    ...code.matchAll(/\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g),
    ...code.matchAll(/\bimport\s*['"]([^'"]+)['"]/g),
    ...code.matchAll(/\bimport\s*\(\s*['"`]([^'"`]+)['"`]/g),
  ].map((match) => match[1] as string)
  if (/\bimport\s*\(\s*[^'"`\s]/.test(code)) problems.push('dynamic import of a computed specifier')
  for (const specifier of specifiers) {
    if (!specifier.startsWith('.')) {
      problems.push(`imports '${specifier}' from outside src/core`)
      continue
    }
    const target = relative(coreDir, resolve(dirname(join(coreDir, fileInCore)), specifier))
    if (target.startsWith('..')) problems.push(`imports '${specifier}' from outside src/core`)
  }
  for (const [pattern, name] of forbidden) if (pattern.test(code)) problems.push(`uses ${name}`)
  return problems
}

function coreFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? coreFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [])
}

describe('core purity', () => {
  it('the checker catches each forbidden thing', () => {
    expect(purityProblems("import { x } from 'node:fs'", 'a.ts')).toContain("imports 'node:fs' from outside src/core")
    expect(purityProblems("import { x } from '../net/index.ts'", 'a.ts')).toContain("imports '../net/index.ts' from outside src/core")
    expect(purityProblems("export * from 'libp2p'", 'a.ts')).toContain("imports 'libp2p' from outside src/core")
    expect(purityProblems("const m = await import('node:os')", 'a.ts')).toContain("imports 'node:os' from outside src/core")
    expect(purityProblems('const t = Date.now()', 'a.ts')).toContain('uses Date.now')
    expect(purityProblems('const d = new Date()', 'a.ts')).toContain('uses new Date')
    expect(purityProblems('const r = Math.random()', 'a.ts')).toContain('uses Math.random')
    expect(purityProblems('setTimeout(f, 1)', 'a.ts')).toContain('uses timers')
    expect(purityProblems('const e = process.env.X', 'a.ts')).toContain('uses process')
    expect(purityProblems("import { y } from './hash.ts'\n// Date.now in a comment is fine", 'a.ts')).toEqual([])
  })

  it('every file under src/core is pure', () => {
    const files = coreFiles(coreDir)
    expect(files.length).toBeGreaterThan(5)
    const problems = files.flatMap((file) => {
      const inCore = relative(coreDir, file)
      return purityProblems(readFileSync(file, 'utf8'), inCore).map((problem) => `${inCore}: ${problem}`)
    })
    expect(problems).toEqual([])
  })
})

describe('one clock for a node\'s decisions (issue 25)', () => {
  // The reconciler, its safe-change gates and the memory actuator take wall time, monotonic time and
  // timers from their Clock (src/clock.ts), so that a node runs under virtual time; randomness would
  // make a virtual run differ from the next.
  const clockOnly = forbidden.filter(([, name]) => ['Date.now', 'new Date', 'Date()', 'performance.now', 'Math.random', 'timers'].includes(name))
  const root = resolve(coreDir, '..')
  for (const file of ['daemon/reconciler.ts', 'daemon/safe-change.ts', 'actuators/memory.ts']) {
    it(`${file} reads no clock, sets no timer and draws no randomness of its own`, () => {
      const code = readFileSync(join(root, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1')
      expect(clockOnly.filter(([pattern]) => pattern.test(code)).map(([, name]) => name)).toEqual([])
    })
  }
})

describe('the protocol engine is sans-IO (issue 25)', () => {
  // src/engine decides; the adapters (src/net for libp2p) move bytes and keep time. So the engine
  // imports only the core, itself and the Clock interface (time and timers are handed to it), and
  // reads no clock, sets no timer, draws no randomness of its own.
  const engineDir = resolve(coreDir, '../engine')
  for (const file of readdirSync(engineDir).filter((name) => name.endsWith('.ts'))) {
    it(`engine/${file} imports only the core and the engine, and keeps no time of its own`, () => {
      const code = readFileSync(join(engineDir, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1')
      const specifiers = [...code.matchAll(/\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g)].map((match) => match[1] as string)
      expect(specifiers.filter((specifier) => !specifier.startsWith('./') && !specifier.startsWith('../core/') && specifier !== '../clock.ts')).toEqual([])
      expect(forbidden.filter(([pattern]) => pattern.test(code)).map(([, name]) => name)).toEqual([])
    })
  }
})

