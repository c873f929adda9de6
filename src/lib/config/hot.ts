/*
 * The config as the hot commands read it (`ccl route`, `ccl hook`: started once per task by
 * dispatchers, and at every turn of every session by Claude Code). They read only the keys they use,
 * checked by hand with the full schema's rules and words (rules.ts), and never load the schema
 * library: building the full zod schema costs more than the whole rest of such a run (measured on
 * Node 24: ~37 ms to import and build it against ~35 ms for `node -e 0`). The other keys are not
 * looked at: a mistake there is reported by every other command and by `ccl doctor`, not by these two
 * (docs/route.md). A test keeps this reader equal to the full load on every config the full load takes.
 */
import path from 'node:path'

import {ConfigError} from '../errors.js'
import {useConfigHost} from '../queue/holder.js'
import {type ConfigSource, keyPath, readConfigText} from './read.js'
import {parseConfigYaml} from './yaml.js'
import {
  absolutePathProblem,
  apiKeyEnvProblem,
  DEFAULT_API_KEY_ENV,
  DEFAULT_COMPLEXITY_MAP,
  DEFAULT_FAILOVER_TIMES,
  DEFAULT_PROVIDER,
  DEFAULT_PROVIDERS,
  DURATION_MESSAGE,
  HOST,
  HOST_MESSAGE,
  LOCAL_PROVIDER_MESSAGE,
  NAME,
  NAME_MESSAGE,
  PROVIDER_MESSAGE,
  providerProblems,
  readDuration,
} from './rules.js'

/** What route and hook use of the config; the full Config has all of it, so both take either. */
export interface HotConfig {
  file: string
  /** The config's `host`; absent: the machine's hostname (holder.ts currentHost). */
  host?: string
  queue: string
  state: string
  accounts: {name: string; home: string}[]
  failover: {spill_to_remote: boolean; margin: number; default_cooldown: number; transient_cooldown: number}
  delegation?: HotDelegation
}

export interface HotDelegation {
  api_key_env: string
  providers: string[]
  complexity_map: {low: string; medium: string; high: string}
  default_provider: string
}

type Path = (string | number)[]

class Problem extends Error {
  constructor(
    readonly at: Path,
    message: string,
  ) {
    super(message)
  }
}

const isMapping = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value)

function mapping(value: unknown, at: Path, what = 'expected a mapping'): Record<string, unknown> {
  if (!isMapping(value)) throw new Problem(at, what)
  return value
}

function absolutePath(value: unknown, at: Path): string {
  if (typeof value !== 'string') throw new Problem(at, 'expected an absolute path')
  const problem = absolutePathProblem(value)
  if (problem) throw new Problem(at, problem)
  return path.normalize(value)
}

function duration(value: unknown, at: Path, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'string') throw new Problem(at, DURATION_MESSAGE)
  const read = readDuration(value)
  if ('problem' in read) throw new Problem(at, read.problem)
  return read.ms
}

function provider(value: unknown, at: Path): string {
  if (typeof value !== 'string') throw new Problem(at, 'expected a provider name')
  if (!NAME.test(value)) throw new Problem(at, PROVIDER_MESSAGE)
  if (value === 'claude-code') throw new Problem(at, LOCAL_PROVIDER_MESSAGE)
  return value
}

function accounts(value: unknown): HotConfig['accounts'] {
  if (value === undefined) throw new Problem(['accounts'], 'required key is missing (expected a list of accounts)')
  if (!Array.isArray(value)) throw new Problem(['accounts'], 'expected a list of accounts')
  if (value.length === 0) throw new Problem(['accounts'], 'expected at least one account')
  const seen = new Map<string, number>()
  return value.map((entry: unknown, index) => {
    const account = mapping(entry, ['accounts', index], 'expected an account (a mapping with name and home)')
    const {name} = account
    if (typeof name !== 'string') throw new Problem(['accounts', index, 'name'], 'expected an account name')
    if (!NAME.test(name)) throw new Problem(['accounts', index, 'name'], NAME_MESSAGE(name))
    const first = seen.get(name)
    if (first !== undefined) throw new Problem(['accounts', index, 'name'], `duplicate account name "${name}" (also accounts[${first}].name)`)
    seen.set(name, index)
    return {name, home: absolutePath(account.home, ['accounts', index, 'home'])}
  })
}

function hostName(value: unknown): string {
  if (typeof value !== 'string' || !HOST.test(value)) throw new Problem(['host'], HOST_MESSAGE(value))
  return value
}

function failover(value: unknown): HotConfig['failover'] {
  const block = value === undefined ? {} : mapping(value, ['failover'])
  const spill = block.spill_to_remote === undefined ? false : block.spill_to_remote
  if (typeof spill !== 'boolean') throw new Problem(['failover', 'spill_to_remote'], 'expected boolean')
  return {
    spill_to_remote: spill,
    margin: duration(block.margin, ['failover', 'margin'], DEFAULT_FAILOVER_TIMES.margin),
    default_cooldown: duration(block.default_cooldown, ['failover', 'default_cooldown'], DEFAULT_FAILOVER_TIMES.default_cooldown),
    transient_cooldown: duration(block.transient_cooldown, ['failover', 'transient_cooldown'], DEFAULT_FAILOVER_TIMES.transient_cooldown),
  }
}

function delegation(value: unknown): HotDelegation | undefined {
  if (value === undefined) return undefined
  const block = mapping(value, ['delegation'])
  const keyEnv = block.api_key_env === undefined ? DEFAULT_API_KEY_ENV : block.api_key_env
  if (typeof keyEnv !== 'string') throw new Problem(['delegation', 'api_key_env'], apiKeyEnvProblem('')!)
  const keyProblem = apiKeyEnvProblem(keyEnv)
  if (keyProblem) throw new Problem(['delegation', 'api_key_env'], keyProblem)
  const providers = block.providers === undefined ? DEFAULT_PROVIDERS : block.providers
  if (!Array.isArray(providers)) throw new Problem(['delegation', 'providers'], 'expected array')
  if (providers.length === 0) throw new Problem(['delegation', 'providers'], 'expected at least one provider')
  const names = providers.map((p: unknown, i) => provider(p, ['delegation', 'providers', i]))
  const map = block.complexity_map === undefined ? DEFAULT_COMPLEXITY_MAP : mapping(block.complexity_map, ['delegation', 'complexity_map'])
  const complexityMap = {
    low: provider(map.low, ['delegation', 'complexity_map', 'low']),
    medium: provider(map.medium, ['delegation', 'complexity_map', 'medium']),
    high: provider(map.high, ['delegation', 'complexity_map', 'high']),
  }
  const defaultProvider = block.default_provider === undefined ? DEFAULT_PROVIDER : provider(block.default_provider, ['delegation', 'default_provider'])
  const settings = {api_key_env: keyEnv, providers: names, complexity_map: complexityMap, default_provider: defaultProvider}
  const [problem] = providerProblems(settings)
  if (problem) throw new Problem(['delegation', ...problem[0]], problem[1])
  return settings
}

/** Checks the keys route and hook use of parsed config data; a ConfigError naming the file and key otherwise. */
export function hotConfigOf(data: Record<string, unknown>, file: string): HotConfig {
  try {
    if (data.queue === undefined) throw new Problem(['queue'], 'required key is missing (expected an absolute path)')
    const queue = absolutePath(data.queue, ['queue'])
    const state = data.state === undefined ? path.join(queue, '.ccl') : absolutePath(data.state, ['state'])
    const settings = delegation(data.delegation)
    const host = data.host === undefined ? undefined : hostName(data.host)
    useConfigHost({host})
    return {file, ...(host === undefined ? {} : {host}), queue, state, accounts: accounts(data.accounts), failover: failover(data.failover), ...(settings ? {delegation: settings} : {})}
  } catch (error) {
    if (!(error instanceof Problem)) throw error
    throw new ConfigError(`${file}: ${keyPath(error.at)}: ${error.message}`)
  }
}

/** The hot commands' config (SPEC §2 search order, the same file the full load would read). */
export function loadHotConfig(source: ConfigSource): HotConfig {
  const {text, file} = readConfigText(source)
  return hotConfigOf(parseConfigYaml(text, file), file)
}
