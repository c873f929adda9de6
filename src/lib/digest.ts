// Hashes and random names without loading node:crypto at start. Loading it costs 6–8 ms on Node 24
// (2 ms on Node 20), a tenth of a hook's or a route's whole run (docs/performance.md), and most
// runs need no hash at all. So:
// - sha256Hex loads node:crypto on its first call: the names other processes must agree on (claim
//   files, idempotency keys, task digests) stay sha256, and only a run that needs one pays for it.
// - fnv1a64 is for fingerprints only this program compares with itself (the config cache's file
//   name, the prompts a hook saw, the head of the event log): no attacker chooses what is hashed,
//   and 64 bits make an accidental match negligible.
// - randomHex is for names made unique by O_EXCL or a link (temp files, nonces of claims and locks),
//   never for secrets: V8 seeds Math.random per process from the system's entropy.
import type * as Crypto from 'node:crypto'
import {createRequire} from 'node:module'

let createHash: typeof Crypto.createHash | undefined

/** sha256 of the parts, in order, as lowercase hex. */
export function sha256Hex(...parts: ReadonlyArray<string | Uint8Array>): string {
  createHash ??= (createRequire(import.meta.url)('node:crypto') as typeof Crypto).createHash
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part)
  return hash.digest('hex')
}

/** FNV-1a, 64 bits, over the bytes (a string: its UTF-8), as 16 lowercase hex digits. */
export function fnv1a64(data: string | Uint8Array): string {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  // The 64-bit state in four 16-bit limbs (h3 highest): the product with the FNV prime
  // 2^40 + 0x1b3 is kept exact without BigInt, which is several times slower here.
  let h0 = 0x2325
  let h1 = 0x8422
  let h2 = 0x9ce4
  let h3 = 0xcbf2
  for (const byte of bytes) {
    h0 ^= byte
    // × 0x1b3 (low part of the prime) …
    const t0 = h0 * 0x1b3
    const t1 = h1 * 0x1b3
    const t2 = h2 * 0x1b3
    const t3 = h3 * 0x1b3
    // … plus × 2^40 (1 << 8 in limb 2): h0 << 8 lands in limb 2, h1 << 8 in limb 3.
    const c2 = t2 + (h0 << 8)
    const c3 = t3 + (h1 << 8)
    h0 = t0 & 0xffff
    const s1 = t1 + (t0 >>> 16)
    h1 = s1 & 0xffff
    const s2 = c2 + Math.floor(s1 / 0x10000)
    h2 = s2 & 0xffff
    h3 = (c3 + Math.floor(s2 / 0x10000)) & 0xffff
  }

  return [h3, h2, h1, h0].map((limb) => limb.toString(16).padStart(4, '0')).join('')
}

/** `bytes` random bytes as hex, from Math.random: for names that O_EXCL or link(2) keep unique, not for secrets. */
export function randomHex(bytes: number): string {
  let out = ''
  for (let i = 0; i < bytes; i++) out += Math.floor(Math.random() * 256).toString(16).padStart(2, '0')
  return out
}
