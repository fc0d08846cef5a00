// Where Shoal's package is, and its version from its package.json (the one place it is written).
// Found once, synchronously, by walking up from this file to the package.json named "shoal": this
// file runs from src/ (sources), dist/src/ (the tsc build, behind `shoal/testing`) and dist/cli/ (the
// bundled `shoal` command), so no fixed relative path fits all three.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let found: { root: string, version: string } | undefined

function findPackage (): { root: string, version: string } {
  if (found !== undefined) return found
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let depth = 0; depth < 5; depth++, dir = dirname(dir)) {
    const text = (() => { try { return readFileSync(join(dir, 'package.json'), 'utf8') } catch { return undefined } })()
    const manifest = text === undefined ? undefined : JSON.parse(text) as { name?: string, version?: string }
    if (manifest?.name === 'shoal' && typeof manifest.version === 'string') return (found = { root: dir, version: manifest.version })
  }
  throw new Error(`cannot find Shoal's package.json above ${fileURLToPath(import.meta.url)}`)
}

/** The Shoal release this is (`shoal --version`). */
export function shoalVersion (): string {
  return findPackage().version
}

/** A file shipped with the package (e.g. sim/scenarios/demo.yaml), by its path in the package. */
export function packageFile (path: string): string {
  return join(findPackage().root, path)
}
