import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {findJsonError, lineAndColumn, parseJson} from '../../src/lib/hooks/json.js'

describe('parseJson', () => {
  it('returns the value of valid JSON', () => {
    expect(parseJson('{"a": [1, true, null]}')).toEqual({ok: true, value: {a: [1, true, null]}})
  })

  it.each([
    ['{\n  "a": 1\n  "b": 2\n}', 3, 3, "unexpected '\"', expected ',' or '}' after a property value"],
    ['{"a": 1,}', 1, 9, "unexpected '}', expected a property name in double quotes"],
    ['{\n  // a comment\n}', 2, 3, "unexpected '/', expected a property name in double quotes"],
    ['{"a": tru}', 1, 10, 'unexpected \'}\', expected "true"'],
    ['{"a": 01}', 1, 8, "unexpected '1', expected ',' or '}' after a property value"],
    ['{"a": "x\ty"}', 1, 9, 'unexpected character U+0009, expected no control character inside a string (escape it)'],
    ['{"a": "\\q"}', 1, 9, 'unexpected \'q\', expected an escape: one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX'],
    ['{"hooks": {', 1, 12, 'unexpected end of file, expected a property name in double quotes'],
    ['{} {}', 1, 4, "unexpected '{', expected the end of the file after the JSON value"],
    ['{"é": x}', 1, 7, "unexpected 'x', expected a value"],
  ])('locates the error in %j at line %i, column %i', (text, line, column, message) => {
    expect(parseJson(text)).toEqual({ok: false, line, column, message})
  })

  it('counts columns in characters and lines by newlines', () => {
    expect(lineAndColumn('ab\r\nc😀d\n', 7)).toEqual({line: 2, column: 3}) // 😀 is one character, two UTF-16 units
    expect(lineAndColumn('', 0)).toEqual({line: 1, column: 1})
  })

  it('agrees with JSON.parse on what is JSON, valid or damaged', () => {
    const damaged = fc
      .tuple(fc.json(), fc.nat(), fc.constantFrom('', ',', '}', ']', '"', ':', '\\', '\n', '0', '-', '.', 'e', 'x'), fc.boolean())
      .map(([text, at, ch, cut]) => {
        const i = text.length === 0 ? 0 : at % text.length
        return text.slice(0, i) + ch + text.slice(cut ? i + 1 : i)
      })
    fc.assert(
      fc.property(fc.oneof(fc.json(), damaged), (text) => {
        let valid = true
        try {
          JSON.parse(text)
        } catch {
          valid = false
        }

        expect(findJsonError(text) === undefined).toBe(valid)
      }),
      {numRuns: 3000},
    )
  })
})
