// The hot commands' config reader (src/lib/config/hot.ts: route and hook read only the keys they use,
// without zod) against the full schema: on every config the full load accepts it gives the same values;
// it never accepts a value of one of its keys that the full load refuses; it refuses nothing the full
// load accepts. Fuzzed with a fixed seed over a valid config with some of its keys replaced.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {stringify} from 'yaml'

import {hotConfigOf, type HotConfig} from '../../src/lib/config/hot.js'
import {parseConfig} from '../../src/lib/config/load.js'
import {parseConfigYaml} from '../../src/lib/config/yaml.js'
import type {Config} from '../../src/lib/config/schema.js'
import {ConfigError} from '../../src/lib/errors.js'

const FILE = '/etc/ccl.yaml'

const valid = {
  queue: '/srv/q',
  shared: {root: '/srv/shared'},
  accounts: [
    {name: 'alpha', home: '/home/ops/.claude-alpha', cwd: '/srv/work'},
    {name: 'beta', home: '/home/ops/.claude-beta'},
  ],
  watchdog: {stale_after: '45m'},
  failover: {margin: '1m', spill_to_remote: false, resume: true},
  delegation: {base_url: 'https://secutools.example/api/v1', providers: ['gemini', 'gpu', 'claude-api']},
}

function subset(config: Config): HotConfig {
  return {
    file: config.file,
    ...(config.host === undefined ? {} : {host: config.host}),
    queue: config.queue,
    state: config.state,
    accounts: config.accounts.map(({name, home}) => ({name, home})),
    failover: {
      spill_to_remote: config.failover.spill_to_remote,
      margin: config.failover.margin,
      default_cooldown: config.failover.default_cooldown,
      transient_cooldown: config.failover.transient_cooldown,
    },
    ...(config.delegation
      ? {
          delegation: {
            api_key_env: config.delegation.api_key_env,
            providers: config.delegation.providers,
            complexity_map: config.delegation.complexity_map,
            default_provider: config.delegation.default_provider,
          },
        }
      : {}),
  }
}

/** Only the keys hot.ts reads, with the full schema's other required keys from `valid`: what the full load must then accept. */
function hotKeysOnly(data: Record<string, unknown>): Record<string, unknown> {
  const pick = (from: unknown, keys: string[]) =>
    from && typeof from === 'object' && !Array.isArray(from) ? Object.fromEntries(keys.filter((k) => k in from).map((k) => [k, (from as Record<string, unknown>)[k]])) : from
  const out: Record<string, unknown> = {shared: valid.shared}
  for (const key of ['host', 'queue', 'state'] as const) if (key in data) out[key] = data[key]
  if ('accounts' in data) out.accounts = Array.isArray(data.accounts) ? data.accounts.map((a) => pick(a, ['name', 'home'])) : data.accounts
  if ('failover' in data) out.failover = pick(data.failover, ['spill_to_remote', 'margin', 'default_cooldown', 'transient_cooldown'])
  if ('delegation' in data) {
    const d = pick(data.delegation, ['api_key_env', 'providers', 'complexity_map', 'default_provider'])
    out.delegation = d && typeof d === 'object' && !Array.isArray(d) ? {...d, base_url: valid.delegation.base_url} : d
  }

  return out
}

const values = fc.oneof(
  fc.constantFrom<unknown>(
    undefined, null, true, false, 0, 1, '', '/abs', '/abs/../x', 'rel', '/a\u0007b', '30s', '25d', '24d', '1h30m', 'soon', '-1s',
    'alpha', 'beta', 'Alpha', 'claude-code', 'gemini', 'gpu', 'claude-api', 'llama', 'SECUTOOLS_API_KEY', 'sk_live_abcdef0123456789abcdef',
    'lowerUPPER0123456789abcdefXYZ', '1BAD', 'vm-2.fleet', '.hidden', 'a/b', 'x'.repeat(64), ['gemini'], [], ['gemini', 'claude-code'], {low: 'gemini', medium: 'gpu', high: 'llama'},
    {low: 'gemini', medium: 'gemini', high: 'gemini'}, [{name: 'alpha', home: '/h'}], [{name: 'x', home: 'rel'}], [{name: 'a', home: '/h'}, {name: 'a', home: '/i'}], {},
  ),
  fc.string({maxLength: 12}),
  fc.integer(),
)

const HOT_PATHS = [
  ['host'], ['queue'], ['state'], ['accounts'], ['accounts', 0, 'name'], ['accounts', 1, 'home'], ['accounts', 0, 'home'],
  ['failover'], ['failover', 'spill_to_remote'], ['failover', 'margin'], ['failover', 'default_cooldown'], ['failover', 'transient_cooldown'],
  ['delegation'], ['delegation', 'api_key_env'], ['delegation', 'providers'], ['delegation', 'complexity_map'], ['delegation', 'complexity_map', 'high'],
  ['delegation', 'default_provider'],
] as const
const OTHER_PATHS = [['watchdog', 'stale_after'], ['failover', 'resume'], ['accounts', 0, 'cwd'], ['delegation', 'base_url'], ['shared', 'root'], ['bogus']] as const

function set(data: unknown, at: readonly (string | number)[], value: unknown): unknown {
  if (at.length === 0) return value
  const copy = Array.isArray(data) ? [...data] : {...(data as Record<string, unknown>)}
  const key = at[0]!
  const next = set((copy as Record<string | number, unknown>)[key] ?? {}, at.slice(1), value)
  if (next === undefined) delete (copy as Record<string | number, unknown>)[key]
  else (copy as Record<string | number, unknown>)[key] = next
  return copy
}

function attempt<T>(run: () => T): {ok: true; value: T} | {ok: false; error: ConfigError} {
  try {
    return {ok: true, value: run()}
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return {ok: false, error}
  }
}

const mutated = fc
  .array(fc.tuple(fc.constantFrom<readonly (string | number)[]>(...HOT_PATHS, ...OTHER_PATHS), values), {minLength: 0, maxLength: 3})
  .map((changes) => changes.reduce<unknown>((data, [at, value]) => set(data, at, value), valid) as Record<string, unknown>)

describe('the hot config reader', () => {
  it('equals the full load where the full load accepts, refuses what it refuses on its own keys, and adds no refusal', () => {
    let accepted = 0
    let refusedByBoth = 0
    fc.assert(
      fc.property(mutated, (data) => {
        const text = stringify(data)
        const full = attempt(() => parseConfig(text, FILE))
        const hot = attempt(() => hotConfigOf(parseConfigYaml(text, FILE), FILE))
        if (full.ok) {
          accepted++
          expect(hot).toEqual({ok: true, value: subset(full.value)})
          return
        }

        if (!hot.ok) {
          refusedByBoth++
          expect(hot.error.message.startsWith(`${FILE}: `)).toBe(true)
          // Never stricter than the full load on the same keys: with only them (and the full schema's other required keys), the full load refuses too.
          expect(attempt(() => parseConfig(stringify(hotKeysOnly(parseConfigYaml(text, FILE))), FILE)).ok).toBe(false)
          return
        }

        // Accepted here, refused by the full load: the reason is in a key hot.ts does not read.
        const only = attempt(() => parseConfig(stringify(hotKeysOnly(parseConfigYaml(text, FILE))), FILE))
        expect(only.ok, only.ok ? '' : only.error.message).toBe(true)
        if (only.ok) expect(hot.value).toEqual({...subset(only.value), file: FILE})
      }),
      {seed: 16_001, numRuns: 3000},
    )
    // The fuzz reaches all three outcomes, not one of them only.
    expect(accepted).toBeGreaterThan(100)
    expect(refusedByBoth).toBeGreaterThan(100)
  })

  it('names the file and the key, and never shows a key pasted as api_key_env', () => {
    const key = 'sk_live_abcdef0123456789abcdef'
    const text = stringify({...valid, delegation: {...valid.delegation, api_key_env: key}})
    const error = attempt(() => hotConfigOf(parseConfigYaml(text, FILE), FILE))
    expect(error.ok).toBe(false)
    if (!error.ok) {
      expect(error.error.message).toMatch(/^\/etc\/ccl\.yaml: delegation\.api_key_env: expected the NAME of an environment variable/)
      expect(error.error.message).not.toContain(key)
    }

    const relative = attempt(() => hotConfigOf(parseConfigYaml(stringify({...valid, queue: 'srv/q'}), FILE), FILE))
    expect(relative.ok ? '' : relative.error.message).toBe('/etc/ccl.yaml: queue: expected an absolute path, got "srv/q"')
  })

  it('a mistake in a key route and hook do not read does not stop them; the full load (every other command) reports it', () => {
    const text = stringify({...valid, watchdog: {stale_after: 'soon'}})
    expect(attempt(() => hotConfigOf(parseConfigYaml(text, FILE), FILE)).ok).toBe(true)
    const full = attempt(() => parseConfig(text, FILE))
    expect(full.ok ? '' : full.error.message).toMatch(/watchdog\.stale_after: expected a duration/)
  })
})
