import {describe, expect, it} from 'vitest'

import type {DispatchEntry, DispatchResult} from '../../src/lib/dispatch/dispatch.js'
import {describeEntry, renderDispatch} from '../../src/lib/render/dispatch.js'
import {hasControl, printable} from '../../src/lib/render/names.js'

describe('hasControl', () => {
  it('is true for C0, DEL and C1 characters, and only those', () => {
    for (const code of [0x00, 0x01, 0x09, 0x0a, 0x0d, 0x1b, 0x1f, 0x7f, 0x80, 0x85, 0x9b, 0x9f]) {
      expect(hasControl(`a${String.fromCodePoint(code)}b.md`), code.toString(16)).toBe(true)
    }

    for (const name of ['plain.md', ' spaced name.md', 'back\\slash.md', 'ünï©ødé.md', '\u00A0nbsp.md', '\u2028sep.md', '😀.md', '~!@#$%^&*()[]{}.md']) {
      expect(hasControl(name), name).toBe(false)
    }
  })
})

describe('printable', () => {
  it('escapes newline, CR, tab and ESC by name, other controls as \\xHH', () => {
    expect(printable('a\nb')).toBe('a\\nb')
    expect(printable('a\rb')).toBe('a\\rb')
    expect(printable('a\tb')).toBe('a\\tb')
    expect(printable('paste\u001B[201~.md')).toBe('paste\\e[201~.md')
    expect(printable('\u0000\u0001\u001F\u007F\u0080\u009B\u009F')).toBe('\\x00\\x01\\x1F\\x7F\\x80\\x9B\\x9F')
  })

  it('leaves everything else as it is, a backslash included', () => {
    for (const name of ['plain.md', 'back\\slash\\n.md', 'ünï©ødé 😀.md', '\u00A0\u00FF.md']) expect(printable(name)).toBe(name)
  })

  it('never leaves a control character behind', () => {
    const all = Array.from({length: 0xa0}, (_, i) => String.fromCodePoint(i)).join('')
    const out = printable(all)
    expect(hasControl(out)).toBe(false)
    expect(out.split('\n')).toHaveLength(1)
  })
})

describe('dispatch human output', () => {
  const entry = (task: string, more: Partial<DispatchEntry>): DispatchEntry => ({task, target: 'claude-code', reason: null, outcome: 'assigned', warnings: [], ...more})

  it('escapes task names and details, one line per task', () => {
    const entries = [
      entry('a\nb.md', {account: 'alpha'}),
      entry('c\u001B[201~.md', {outcome: 'failed', detail: 'c\u001B[201~.md: cannot read\nsecond line'}),
      entry('w\t1.md', {outcome: 'waiting', detail: 'no free account'}),
      entry('w\r2.md', {outcome: 'waiting', detail: 'no free account'}),
    ]
    const result: DispatchResult = {
      entries,
      counts: {assigned: 1, submitted: 0, waiting: 2, skipped: 0, failed: 1, held: 0},
      delegated: 0,
      recovered: [],
      settling: 0,
      limited: false,
      ok: false,
    }
    expect(renderDispatch(result).split('\n')).toEqual([
      'a\\nb.md: assigned to alpha',
      'c\\e[201~.md: FAILED (claude-code): c\\e[201~.md: cannot read\\nsecond line',
      'waiting: w\\t1.md, w\\r2.md (no free account)',
      'dispatch: 1 assigned, 0 submitted, 2 waiting, 1 failed, 0 already delegated',
    ])
    expect(describeEntry(entries[1]!)).toBe('c\\e[201~.md: FAILED (claude-code): c\\e[201~.md: cannot read\\nsecond line')
  })
})
