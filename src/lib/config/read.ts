// Finding, reading and parsing a config file, and what delegation it allows: everything about the
// config that needs no schema library, shared by the full load (load.ts, zod) and the hot commands'
// reader (hot.ts).
import os from 'node:os'
import path from 'node:path'

import {ConfigError, DelegationOffError} from '../errors.js'
import {readRegularText} from '../regular-file.js'
import type {Delegation} from './schema.js'

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

/** The config file's text and where it is (SPEC §2 search order); a config error when there is none. */
export function readConfigText(source: ConfigSource): {text: string; file: string} {
  const candidates = configCandidates(source)
  for (const candidate of candidates) {
    try {
      // A FIFO given as --config must not hang every command: it is ENOTREG, reported below.
      return {text: readRegularText(candidate.path, {maxBytes: MAX_CONFIG_BYTES}), file: candidate.path}
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      const named = candidate.why === '--config' || candidate.why === '$CCL_CONFIG'
      // The default places are only looked at; an explicitly named file must exist.
      if (code === 'ENOENT' && !named) continue
      if (code === 'ENOENT') throw new ConfigError(`${candidate.path}: config file not found (named by ${candidate.why})`)
      throw new ConfigError(`${candidate.path}: cannot read config file: ${(error as Error).message}`)
    }
  }

  throw new ConfigError(`no config file found; looked in ${candidates.map((c) => c.path).join(', ')}`, {
    hint: 'pass --config PATH or set CCL_CONFIG; the README shows the format',
  })
}

export function keyPath(parts: readonly PropertyKey[]): string {
  let out = ''
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out ? `.${String(part)}` : String(part)
  }

  return out || '(top level)'
}

/** The delegation a config and environment allow; `settings` is the config's delegation block (or the part of it a caller read). */
export type DelegationState<S = Delegation> = {on: true; apiKey: string; settings: S} | {on: false; reason: string}

/** Delegation is on only with a `delegation` block AND its key variable set and non-empty (SPEC §2). */
export function delegationState<S extends {api_key_env: string}>(config: {file: string; delegation?: S | undefined}, env: NodeJS.ProcessEnv): DelegationState<S> {
  const settings = config.delegation
  if (!settings) return {on: false, reason: `delegation is off: ${config.file} has no "delegation" block`}
  const apiKey = env[settings.api_key_env]
  if (!apiKey) return {on: false, reason: `delegation is off: $${settings.api_key_env} is not set or empty`}
  return {on: true, apiKey, settings}
}

export function requireDelegation<S extends {api_key_env: string}>(config: {file: string; delegation?: S | undefined}, env: NodeJS.ProcessEnv): Extract<DelegationState<S>, {on: true}> {
  const state = delegationState(config, env)
  if (!state.on) throw new DelegationOffError(state.reason)
  return state
}
