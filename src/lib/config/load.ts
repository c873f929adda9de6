import os from 'node:os'
import path from 'node:path'
import {parseDocument} from 'yaml'
import type {z} from 'zod'

import {ConfigError, DelegationOffError} from '../errors.js'
import {readRegularText} from '../regular-file.js'
import {type Config, completeConfig, configSchema} from './schema.js'

export interface ConfigSource {
  /** `--config PATH`, when given. */
  flag?: string
  env: NodeJS.ProcessEnv
  cwd: string
}

/** The places searched, in order, per SPEC §2. */
export function configCandidates({flag, env, cwd}: ConfigSource): {path: string; why: string}[] {
  if (flag) return [{path: path.resolve(cwd, flag), why: '--config'}]
  if (env.CCL_CONFIG) return [{path: path.resolve(cwd, env.CCL_CONFIG), why: '$CCL_CONFIG'}]
  const xdg = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(env.HOME ?? os.homedir(), '.config')
  return [
    {path: path.join(cwd, 'ccl.yaml'), why: './ccl.yaml'},
    {path: path.join(xdg, 'ccl', 'config.yaml'), why: 'XDG config'},
  ]
}

/** A config is a few kilobytes; a bigger file is a mistake (a log named as --config), not read into memory. */
const MAX_CONFIG_BYTES = 1024 * 1024

/** Aliases resolved while building the config object: a real config uses a handful, a bomb billions. */
const MAX_ALIAS_COUNT = 100

export function loadConfig(source: ConfigSource): Config {
  const candidates = configCandidates(source)
  for (const candidate of candidates) {
    let text: string
    try {
      // A FIFO given as --config must not hang every command: it is ENOTREG, reported below.
      text = readRegularText(candidate.path, {maxBytes: MAX_CONFIG_BYTES})
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      const named = candidate.why === '--config' || candidate.why === '$CCL_CONFIG'
      // The default places are only looked at; an explicitly named file must exist.
      if (code === 'ENOENT' && !named) continue
      if (code === 'ENOENT') throw new ConfigError(`${candidate.path}: config file not found (named by ${candidate.why})`)
      throw new ConfigError(`${candidate.path}: cannot read config file: ${(error as Error).message}`)
    }

    return parseConfig(text, candidate.path)
  }

  throw new ConfigError(`no config file found; looked in ${candidates.map((c) => c.path).join(', ')}`, {
    hint: 'pass --config PATH or set CCL_CONFIG; the README shows the format',
  })
}

/** Parses and validates config text; every error names the file, the key path and what was expected. */
export function parseConfig(text: string, file: string): Config {
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

  const result = configSchema.safeParse(data, {reportInput: true})
  if (!result.success) throw new ConfigError(describeIssues(file, result.error.issues))
  return completeConfig(result.data, file)
}

export function keyPath(parts: readonly PropertyKey[]): string {
  let out = ''
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out ? `.${String(part)}` : String(part)
  }

  return out || '(top level)'
}

function describeIssues(file: string, issues: readonly z.core.$ZodIssue[]): string {
  const lines = issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${keyPath([...issue.path, key])}: unknown key`).join('; ')
    }

    if (issue.code === 'invalid_type' && issue.input === undefined) {
      return `${keyPath(issue.path)}: required key is missing (${issue.message.replace(/^Invalid input: /, '')})`
    }

    return `${keyPath(issue.path)}: ${issue.message.replace(/^Invalid input: /, '')}`
  })
  return `${file}: ${lines.join('; ')}`
}

export type DelegationState =
  | {on: true; apiKey: string; settings: NonNullable<Config['delegation']>}
  | {on: false; reason: string}

/** Delegation is on only with a `delegation` block AND its key variable set and non-empty (SPEC §2). */
export function delegationState(config: Config, env: NodeJS.ProcessEnv): DelegationState {
  const settings = config.delegation
  if (!settings) return {on: false, reason: `delegation is off: ${config.file} has no "delegation" block`}
  const apiKey = env[settings.api_key_env]
  if (!apiKey) return {on: false, reason: `delegation is off: $${settings.api_key_env} is not set or empty`}
  return {on: true, apiKey, settings}
}

export function requireDelegation(config: Config, env: NodeJS.ProcessEnv): Extract<DelegationState, {on: true}> {
  const state = delegationState(config, env)
  if (!state.on) throw new DelegationOffError(state.reason)
  return state
}
