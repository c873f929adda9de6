// JSON.parse with the line and column of a syntax error. Node 20's messages often carry no position
// at all ("Unexpected token 'x', "..." is not valid JSON"), so on a failure a strict RFC 8259
// scanner finds where the text stops being JSON. Synchronous.

export type JsonParse =
  | {ok: true; value: unknown}
  | {ok: false; line: number; column: number; message: string}

export function parseJson(text: string): JsonParse {
  try {
    return {ok: true, value: JSON.parse(text) as unknown}
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error
    const found = findJsonError(text) ?? {offset: text.length, message: error.message}
    return {ok: false, ...lineAndColumn(text, found.offset), message: found.message}
  }
}

/** Line and column (both from 1, columns in characters) of an offset into `text`. */
export function lineAndColumn(text: string, offset: number): {line: number; column: number} {
  const before = text.slice(0, offset)
  const lineStart = before.lastIndexOf('\n') + 1
  return {line: before.split('\n').length, column: [...before.slice(lineStart)].length + 1}
}

class Stop {
  constructor(
    readonly offset: number,
    readonly message: string,
  ) {}
}

/** The first place where `text` is not JSON, or undefined when it is JSON. */
export function findJsonError(text: string): {offset: number; message: string} | undefined {
  let i = 0
  const fail = (expected: string): never => {
    throw new Stop(i, i < text.length ? `unexpected ${describe(text.codePointAt(i)!)}, expected ${expected}` : `unexpected end of file, expected ${expected}`)
  }

  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++
  }

  const word = (literal: string) => {
    for (const ch of literal) {
      if (text[i] !== ch) fail(`"${literal}"`)
      i++
    }
  }

  const digits = (what: string) => {
    if (!/[0-9]/.test(text[i] ?? '')) fail(what)
    while (/[0-9]/.test(text[i] ?? '')) i++
  }

  const number = () => {
    if (text[i] === '-') i++
    if (text[i] === '0') i++
    else digits('a digit')
    if (text[i] === '.') {
      i++
      digits('a digit after the decimal point')
    }

    if (text[i] === 'e' || text[i] === 'E') {
      i++
      if (text[i] === '+' || text[i] === '-') i++
      digits('a digit in the exponent')
    }
  }

  const string = () => {
    i++ // the opening quote
    for (;;) {
      const ch = text[i]
      if (ch === undefined) fail('the closing \'"\' of a string')
      if (ch === '"') {
        i++
        return
      }

      if (ch! < ' ') fail('no control character inside a string (escape it)')
      if (ch === '\\') {
        i++
        const escape = text[i]
        if (escape === 'u') {
          i++
          for (let n = 0; n < 4; n++) {
            if (!/[0-9A-Fa-f]/.test(text[i] ?? '')) fail('four hex digits after \\u')
            i++
          }
        } else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) i++
        else fail('an escape: one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX')
      } else i++
    }
  }

  const value = (): void => {
    space()
    const ch = text[i]
    if (ch === '{') {
      i++
      space()
      if (text[i] === '}') {
        i++
        return
      }

      for (;;) {
        space()
        if (text[i] !== '"') fail('a property name in double quotes')
        string()
        space()
        if (text[i] !== ':') fail("':' after a property name")
        i++
        value()
        space()
        if (text[i] === ',') i++
        else if (text[i] === '}') {
          i++
          return
        } else fail("',' or '}' after a property value")
      }
    }

    if (ch === '[') {
      i++
      space()
      if (text[i] === ']') {
        i++
        return
      }

      for (;;) {
        value()
        space()
        if (text[i] === ',') i++
        else if (text[i] === ']') {
          i++
          return
        } else fail("',' or ']' after an array element")
      }
    }

    if (ch === '"') return string()
    if (ch === 't') return word('true')
    if (ch === 'f') return word('false')
    if (ch === 'n') return word('null')
    if (ch === '-' || /[0-9]/.test(ch ?? '')) return number()
    fail('a value')
  }

  try {
    value()
    space()
    if (i < text.length) fail('the end of the file after the JSON value')
    return undefined
  } catch (error) {
    if (error instanceof Stop) return {offset: error.offset, message: error.message}
    throw error
  }
}

function describe(codePoint: number): string {
  const ch = String.fromCodePoint(codePoint)
  // Control characters, a byte-order mark and other invisible ones are named by their code.
  if (codePoint < 0x20 || (codePoint >= 0x7f && codePoint < 0xa0) || /[\p{Z}\uFEFF\u200B-\u200F]/u.test(ch)) {
    return `character U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`
  }

  return `'${ch}'`
}
