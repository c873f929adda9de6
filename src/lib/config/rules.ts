// What a config value must be, for the checks that need no schema library: shared by the full schema
// (schema.ts, zod) and the hot commands' reader (hot.ts), so both accept and word things the same.
import path from 'node:path'

import {hasControl} from '../control-chars.js'
import {MAX_DURATION_TEXT, MAX_TIMER_MS, parseDuration} from './duration.js'

/** Account and provider names. */
export const NAME = /^[a-z0-9][a-z0-9-]*$/
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
/** A host's name in the fleet (SPEC §8): it names per-host folders, so no / and no leading dot. */
export const HOST = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
export const HOST_MESSAGE = (value: unknown) => `expected a host name of letters, digits, ".", "_" and "-" (at most 63, starting with a letter or digit), got "${String(value)}"`

export const NAME_MESSAGE = (value: unknown) => `expected a name of a-z, 0-9 and - that starts with a letter or digit, got "${String(value)}"`
export const PROVIDER_MESSAGE = 'expected a provider name of a-z, 0-9 and -'
export const LOCAL_PROVIDER_MESSAGE = '"claude-code" is local, not a remote provider'
// Neither message quotes the value: it may be the key itself, pasted in the wrong place.
export const API_KEY_ENV_MESSAGE = 'expected the NAME of an environment variable, not the key itself'
export const API_KEY_LOOKS_LIKE_KEY_MESSAGE =
  'expected the NAME of an environment variable (such as SECUTOOLS_API_KEY), but this looks like a key itself (not shown); put the key in the environment, its name here'
export const DURATION_MESSAGE = 'expected a duration such as 300ms, 30s, 45m, 6h or 1d'

export const DEFAULT_API_KEY_ENV = 'SECUTOOLS_API_KEY'
export const DEFAULT_PROVIDERS = ['gpu', 'gemini', 'claude-api']
export const DEFAULT_COMPLEXITY_MAP = {low: 'gemini', medium: 'gemini', high: 'claude-api'}
export const DEFAULT_PROVIDER = 'gemini'
export const DEFAULT_FAILOVER_TIMES = {margin: 60_000, default_cooldown: 5 * 3_600_000, transient_cooldown: 2 * 60_000}

// Prefixes of well-known secret keys (Stripe, GitHub, Slack, AWS, OpenAI/Anthropic-style sk_).
const KEY_PREFIX = /^(?:sk_|pk_|rk_|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|xox[abprs]_|glpat_|A[KS]IA[0-9A-Z]{12})/

/**
 * A value of api_key_env that is more likely a key than a variable's name: a known key prefix, or
 * 24+ characters mixing lower case, upper case and digits (names are SHOUTING_SNAKE_CASE by habit).
 */
export function looksLikeKey(value: string): boolean {
  if (KEY_PREFIX.test(value) && /\d/.test(value) && value.length >= 16) return true
  return value.length >= 24 && /[a-z]/.test(value) && /[A-Z]/.test(value) && /\d/.test(value)
}

/** Why a path value is not usable, or undefined. */
export function absolutePathProblem(value: string): string | undefined {
  if (value === '' || !path.isAbsolute(value)) return value === '' ? 'expected an absolute path' : `expected an absolute path, got "${value}"`
  // Paths end up in prompts pasted into sessions: a control character there could end the paste.
  if (hasControl(value)) return 'expected a path without control characters'
  return undefined
}

/** A duration's milliseconds, or the problem with it. */
export function readDuration(value: string): {ms: number} | {problem: string} {
  const ms = parseDuration(value)
  if (ms === undefined) return {problem: `${DURATION_MESSAGE}, got "${value}"`}
  // Node fires a longer timer after 1 ms (with a TimeoutOverflowWarning): 25d would time out at once.
  if (ms > MAX_TIMER_MS) return {problem: `expected a duration of at most ${MAX_DURATION_TEXT} (${MAX_TIMER_MS} ms, the longest a timer holds), got "${value}"`}
  return {ms}
}

/** Why an api_key_env value is not a variable's name, or undefined. */
export function apiKeyEnvProblem(value: string): string | undefined {
  if (!ENV_NAME.test(value)) return API_KEY_ENV_MESSAGE
  if (looksLikeKey(value)) return API_KEY_LOOKS_LIKE_KEY_MESSAGE
  return undefined
}

/** The complexity_map and default_provider checks against providers: [key path, message] per problem. */
export function providerProblems(value: {providers: readonly string[]; complexity_map: Record<'low' | 'medium' | 'high', string>; default_provider: string}): [string[], string][] {
  const problems: [string[], string][] = []
  for (const level of ['low', 'medium', 'high'] as const) {
    if (!value.providers.includes(value.complexity_map[level])) {
      problems.push([['complexity_map', level], `"${value.complexity_map[level]}" is not in providers [${value.providers.join(', ')}]`])
    }
  }

  if (!value.providers.includes(value.default_provider)) {
    problems.push([['default_provider'], `"${value.default_provider}" is not in providers [${value.providers.join(', ')}]`])
  }

  return problems
}
