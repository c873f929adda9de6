// The YAML side of reading a config: apart from read.ts so that a start which finds its config in
// the cache (cached.ts) never loads the yaml package (~200 KB of code to compile).
import {parseDocument} from 'yaml'

import {ConfigError} from '../errors.js'

/** Aliases resolved while building the config object: a real config uses a handful, a bomb billions. */
const MAX_ALIAS_COUNT = 100

/** The config text as a YAML mapping; a config error (naming the file and the position) otherwise. */
export function parseConfigYaml(text: string, file: string): Record<string, unknown> {
  let doc: ReturnType<typeof parseDocument>
  let data: unknown
  try {
    // logLevel 'error': the yaml package's warnings would reach stderr through process.emitWarning.
    doc = parseDocument(text, {prettyErrors: true, uniqueKeys: true, logLevel: 'error'})
    data = doc.errors.length > 0 ? undefined : doc.toJS({maxAliasCount: MAX_ALIAS_COUNT})
  } catch (error) {
    // Only the text decides what the yaml package throws here (an alias bomb's "Excessive alias
    // count", a nesting too deep for the stack): a config error, never an internal one.
    throw new ConfigError(`${file}: YAML cannot be read: ${(error as Error).message.split('\n')[0]}`)
  }

  if (doc.errors.length > 0) {
    const first = doc.errors[0]!
    const where = first.linePos?.[0]
    const at = where ? `line ${where.line}, column ${where.col}` : 'unknown position'
    throw new ConfigError(`${file}: YAML syntax error at ${at}: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`)
  }

  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`${file}: expected a YAML mapping with at least "queue", "shared" and "accounts"`)
  }

  return data as Record<string, unknown>
}

