// src/lib/digest.ts: the hashes and random names the hot commands use instead of node:crypto at start.
import {createHash} from 'node:crypto'
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {fnv1a64, randomHex, sha256Hex} from '../../src/lib/digest.js'

/** FNV-1a 64 the obvious way, with BigInt: the reference the limb arithmetic must equal. */
function reference(bytes: Uint8Array): string {
  let hash = 0xcbf29ce484222325n
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn
  return hash.toString(16).padStart(16, '0')
}

describe('digest', () => {
  it('fnv1a64 gives the published test vectors', () => {
    // From the FNV reference (isthe.com/chongo/tech/comp/fnv): "", "a", "foobar".
    expect(fnv1a64('')).toBe('cbf29ce484222325')
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c')
    expect(fnv1a64('foobar')).toBe('85944171f73967e8')
  })

  it('fnv1a64 equals the BigInt reference on any bytes, and hashes a string as its UTF-8', () => {
    fc.assert(
      fc.property(fc.uint8Array({maxLength: 300}), (bytes) => fnv1a64(bytes) === reference(bytes)),
      {seed: 1609, numRuns: 500},
    )
    fc.assert(
      fc.property(fc.string({unit: 'grapheme', maxLength: 60}), (text) => fnv1a64(text) === reference(Buffer.from(text, 'utf8'))),
      {seed: 1610, numRuns: 300},
    )
  })

  it('sha256Hex is node:crypto sha256 of the parts in order', () => {
    expect(sha256Hex('a.md', '\0', 'hello')).toBe(createHash('sha256').update('a.md\0hello').digest('hex'))
    expect(sha256Hex(Buffer.from('x'))).toBe(createHash('sha256').update('x').digest('hex'))
  })

  it('randomHex gives the asked number of bytes as hex, different each time', () => {
    const seen = new Set(Array.from({length: 1000}, () => randomHex(6)))
    expect(seen.size).toBe(1000)
    for (const value of seen) expect(value).toMatch(/^[0-9a-f]{12}$/)
  })
})
