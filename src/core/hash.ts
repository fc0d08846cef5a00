// Hashing and canonical encoding for the pure core.
//
// The core may not import node:crypto, so it carries two small non-cryptographic hashes:
// - `hash32`: FNV-1a over UTF-16 code units, finished with murmur3's fmix32. Used for rendezvous
//   (highest-random-weight) placement scores, where speed matters: 1,000 × 1,000 pairs per view.
// - `Hasher64`: two independent 32-bit lanes → 16 hex digits. Used for view hashes and content
//   tie-breaks. A collision only makes two views look equal; it is never a security boundary
//   (records are signed by the network layer, not by this hash).
// `canonicalJson` gives one string per value (object keys sorted), so equal values hash equally.

export function fmix32 (value: number): number {
  let h = value >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export function hash32 (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return fmix32(h)
}

/** Score of `itemHash` for `bucketHash` in rendezvous hashing: a well-mixed function of both. */
export function pairScore (itemHash: number, bucketHash: number): number {
  return fmix32((itemHash ^ Math.imul(bucketHash, 0x9e3779b1)) >>> 0)
}

export class Hasher64 {
  private high = 0x811c9dc5
  private low = 0x2545f491

  update (text: string): this {
    let high = this.high
    let low = this.low
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i)
      high = Math.imul(high ^ code, 0x01000193)
      low = Math.imul(low ^ code, 0x5bd1e995)
      low ^= low >>> 15
    }
    // A separator, so that update("ab").update("c") differs from update("a").update("bc").
    this.high = Math.imul(high ^ 0xff, 0x01000193)
    this.low = Math.imul(low ^ 0xff, 0x5bd1e995)
    return this
  }

  digestHex (): string {
    const high = fmix32(this.high ^ fmix32(this.low))
    const low = fmix32(this.low ^ high)
    return high.toString(16).padStart(8, '0') + low.toString(16).padStart(8, '0')
  }
}

export function hash64Hex (text: string): string {
  return new Hasher64().update(text).digestHex()
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** JSON with object keys sorted at every depth; `undefined` properties are left out, as JSON does. */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']'
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, entryValue]) => entryValue !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return '{' + entries.map(([key, entryValue]) => JSON.stringify(key) + ':' + canonicalJson(entryValue)).join(',') + '}'
}

export function compareStrings (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
