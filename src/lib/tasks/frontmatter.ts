import type * as Yaml from 'yaml'

// The yaml package is loaded only for frontmatter beyond the simple subset (parseSimpleYaml): most
// tasks have none or `key: word` lines, and compiling yaml's ~200 KB was a sixth of a cold
// `ccl route FILE` on Node 24 (docs/performance.md). readTask loads it when a file needs it.
let yaml: typeof Yaml | undefined

/** Thrown by a synchronous parse that needs the yaml package before anyone loaded it (loadYaml). */
export class YamlNotLoadedError extends Error {
  constructor() {
    super('frontmatter beyond the simple subset needs the yaml package: await loadYaml() first')
    this.name = 'YamlNotLoadedError'
  }
}

/** Loads the yaml package for the frontmatter parsers; once is enough for the process. */
export async function loadYaml(): Promise<void> {
  yaml ??= await import('yaml')
}

/** Frontmatter larger than this is not parsed: a task's routing fields fit in a few lines. */
export const MAX_FRONTMATTER_CHARS = 64 * 1024

export interface SplitTask {
  /** The YAML between the fences, or undefined when the file has no (usable) frontmatter. */
  yaml?: string
  /** The text after the closing fence (or the whole text, BOM removed, when there is no frontmatter). */
  body: string
  /** Why a block that opens like frontmatter could not be used. */
  problem?: string
}

const FENCE = /^---[ \t]*\r?$/

/**
 * Splits a task file into frontmatter and body. Frontmatter exists only when the very first line
 * (after an optional BOM) is `---`; it ends at the next line that is exactly `---`, so `---` lines
 * further down the body are body. CRLF and LF both work. Nothing here throws.
 */
export function splitFrontmatter(text: string): SplitTask {
  const start = text.charCodeAt(0) === 0xfe_ff ? 1 : 0
  const firstEnd = lineEnd(text, start)
  if (!FENCE.test(text.slice(start, firstEnd))) return {body: text.slice(start)}

  const yamlStart = firstEnd + 1
  let pos = yamlStart
  while (pos < text.length) {
    if (pos - yamlStart > MAX_FRONTMATTER_CHARS) {
      return {body: text.slice(start), problem: `frontmatter is longer than ${MAX_FRONTMATTER_CHARS / 1024} KiB; not parsed`}
    }

    const end = lineEnd(text, pos)
    if (FENCE.test(text.slice(pos, end))) {
      return {yaml: text.slice(yamlStart, pos), body: end < text.length ? text.slice(end + 1) : ''}
    }

    pos = end + 1
  }

  return {body: text.slice(start), problem: 'the opening --- line has no closing --- line'}
}

function lineEnd(text: string, from: number): number {
  const end = text.indexOf('\n', from)
  return end === -1 ? text.length : end
}

export type ParsedYaml = {ok: true; data: Record<string, unknown>} | {ok: false; problem: string}

/**
 * Parses frontmatter YAML with the `yaml` package (YAML 1.2 core schema, as the config: `no` is a
 * string, not false). Never throws: syntax errors, duplicate keys, alias bombs and non-mappings
 * come back as a problem. `lineOffset` turns YAML line numbers into file line numbers.
 */
export function parseFrontmatterYaml(source: string, lineOffset = 1): ParsedYaml {
  const simple = parseSimpleYaml(source)
  if (simple) return {ok: true, data: simple}
  if (!yaml) throw new YamlNotLoadedError()
  const {parseDocument} = yaml
  try {
    // logLevel 'error': yaml's own warnings would reach stderr through process.emitWarning.
    const doc = parseDocument(source, {uniqueKeys: true, logLevel: 'error'})
    if (doc.errors.length > 0) {
      const first = doc.errors[0]!
      const where = first.linePos?.[0]
      const at = where ? ` at line ${where.line + lineOffset}, column ${where.col}` : ''
      const message = (first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')
      return {ok: false, problem: `YAML error${at}: ${message}`}
    }

    const data: unknown = doc.toJS({maxAliasCount: 100})
    if (data === null || data === undefined) return {ok: true, data: {}}
    if (typeof data !== 'object' || Array.isArray(data) || data instanceof Map || data instanceof Set) {
      return {ok: false, problem: `expected "key: value" lines, got ${describeValue(data)}`}
    }

    return {ok: true, data: data as Record<string, unknown>}
  } catch (error) {
    return {ok: false, problem: `YAML error: ${(error as Error).message.split('\n')[0]}`}
  }
}

const SIMPLE_LINE = /^([A-Za-z_][A-Za-z0-9_]*):(?: +([A-Za-z][\w./ -]*?))? *$/
const SKIP_LINE = /^ *(#.*)?$/
const NON_STRING_KEY = /^(?:true|True|TRUE|false|False|FALSE|null|Null|NULL|__proto__)$/

/**
 * The common frontmatter — top-level `key: word` lines, blanks and comments — read without the
 * yaml parser, which is most of batch routing's cost. The accepted subset is chosen so the YAML 1.2
 * core schema gives the same result (a value that starts with a letter and holds no `:`, `#` or
 * quote is a boolean, a null or a string, never a number); anything else returns undefined and goes
 * to the real parser. A test checks the two agree on generated input.
 */
export function parseSimpleYaml(source: string): Record<string, unknown> | undefined {
  const data: Record<string, unknown> = {}
  for (const raw of source.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (SKIP_LINE.test(line)) continue
    const match = SIMPLE_LINE.exec(line)
    if (!match) return undefined
    const key = match[1]!
    if (NON_STRING_KEY.test(key) || Object.hasOwn(data, key)) return undefined
    data[key] = scalar(match[2])
  }

  return data
}

function scalar(text: string | undefined): unknown {
  switch (text) {
    case undefined:
    case 'null':
    case 'Null':
    case 'NULL': {
      return null
    }

    case 'true':
    case 'True':
    case 'TRUE': {
      return true
    }

    case 'false':
    case 'False':
    case 'FALSE': {
      return false
    }

    default: {
      return text
    }
  }
}

/** A short, safe description of a user's value for a warning line. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  switch (typeof value) {
    case 'string': {
      const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value
      return `${JSON.stringify(shown)} (a string)`
    }

    case 'number':
    case 'bigint': {
      return `${String(value)} (a number)`
    }

    case 'boolean': {
      return String(value)
    }

    case 'object': {
      return value instanceof Date ? 'a date' : 'a mapping'
    }

    default: {
      return `a ${typeof value}`
    }
  }
}
