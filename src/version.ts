// Shoal's version, from its package.json: the one place it is written. Read once, synchronously (a
// few hundred bytes), by walking up from this file, which sits at src/ in the sources and at
// dist/src/ in the build and the installed package.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let cached: string | undefined

export function shoalVersion (): string {
  if (cached !== undefined) return cached
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let depth = 0; depth < 4; depth++, dir = dirname(dir)) {
    const text = (() => { try { return readFileSync(join(dir, 'package.json'), 'utf8') } catch { return undefined } })()
    const manifest = text === undefined ? undefined : JSON.parse(text) as { name?: string, version?: string }
    if (manifest?.name === 'shoal' && typeof manifest.version === 'string') return (cached = manifest.version)
  }
  return (cached = 'unknown')
}
