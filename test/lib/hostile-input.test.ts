// Hostile and clumsy input, in process (issue 15): what a config file, a task's frontmatter or a
// task's name can hold must end as a documented error or a decision the spec names, never a
// crash, a forged line of output or a wait on a FIFO. Fuzzed with fixed seeds.
import {execFileSync} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'

import {type DelegationState, loadConfig, parseConfig} from '../../src/lib/config/load.js'
import {MAX_TIMER_MS} from '../../src/lib/config/duration.js'
import {looksLikeKey} from '../../src/lib/config/schema.js'
import {ConfigError} from '../../src/lib/errors.js'
import {ENOTREG, readRegularFile} from '../../src/lib/regular-file.js'
import {printable} from '../../src/lib/render/names.js'
import {renderRoute} from '../../src/lib/render/route.js'
import {decide} from '../../src/lib/tasks/decide.js'
import {SPILL_NOT_ASKED} from '../../src/lib/tasks/spill.js'
import {loadYaml, parseTask} from '../../src/lib/tasks/task.js'
import {DELEGATION_ON} from '../support/delegation-state.js'

const minimal = {
  queue: '/srv/q',
  shared: {root: '/srv/shared'},
  accounts: [{name: 'alpha', home: '/home/ops/.claude-alpha'}],
}
const withDelegation = (delegation: Record<string, unknown>) => stringify({...minimal, delegation: {base_url: 'https://secutools.example/api/v1', ...delegation}})

function configErrorOf(text: string, file = '/etc/ccl.yaml'): ConfigError {
  try {
    parseConfig(text, file)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }

  throw new Error('expected a ConfigError')
}

// Every character that may break a line of output or reach a terminal raw.
// eslint-disable-next-line no-control-regex
const RAW = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/

describe('api_key_env holds a name, never the key', () => {
  it.each([
    ['a Stripe-style key', 'sk_live_51HxYzAbCdEf0123456789'],
    ['a key with dashes (not a name at all)', 'sk-ant-api03-AbCdEf0123456789'],
    ['a GitHub token', 'ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789'],
    ['an AWS key id', 'AKIAIOSFODNN7EXAMPLE'],
    ['a long mixed-case random string', 'aB3dE5gH7jK9mN1pQ3sT5vX7'],
    ['a value with a space', 'my key'],
  ])('%s is a config error naming file and field, without the value', (_label, value) => {
    const error = configErrorOf(withDelegation({api_key_env: value}))
    expect(error.exitCode).toBe(3)
    expect(error.message).toMatch(/^\/etc\/ccl\.yaml: delegation\.api_key_env: expected the NAME of an environment variable/)
    expect(error.message).not.toContain(value)
    expect(error.hint ?? '').not.toContain(value)
  })

  it('names as people write them pass', () => {
    for (const name of ['SECUTOOLS_API_KEY', 'MY_KEY', '_K', 'secutools_key', 'KEY_2026', 'SK_PROD', 'GITHUB_TOKEN_FOR_CCL_2']) {
      expect(looksLikeKey(name), name).toBe(false)
      expect(parseConfig(withDelegation({api_key_env: name}), '/etc/ccl.yaml').delegation?.api_key_env).toBe(name)
    }
  })

  it('property: a refused value never appears in the message', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({minLength: 1}), fc.stringMatching(/^sk_(live|test)_[A-Za-z0-9]{16,40}$/)), (value) => {
        let message = ''
        try {
          parseConfig(withDelegation({api_key_env: value}), '/etc/ccl.yaml')
          return
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError)
          message = (error as ConfigError).message
        }

        if (value.length >= 4) expect(message).not.toContain(value)
      }),
      {seed: 15_002, numRuns: 500},
    )
  })
})

describe('durations are capped at what a Node timer holds', () => {
  it.each([
    ['delegation.timeout', withDelegation({timeout: '25d'})],
    ['delegation.job_timeout', withDelegation({job_timeout: '30d'})],
    ['watchdog.stale_after', stringify({...minimal, watchdog: {stale_after: '2147483648ms'}})],
    ['dispatch.settle', stringify({...minimal, dispatch: {settle: '99999999999999999999d'}})],
  ])('%s above 2^31-1 ms is a config error naming the field', (field, text) => {
    const error = configErrorOf(text)
    expect(error.message).toContain(`/etc/ccl.yaml: ${field}: expected a duration of at most 24d20h31m23s (2147483647 ms`)
  })

  it('2147483647ms itself is accepted, and so is 24d', () => {
    expect(parseConfig(withDelegation({timeout: `${MAX_TIMER_MS}ms`}), 'f').delegation?.timeout).toBe(MAX_TIMER_MS)
    expect(parseConfig(withDelegation({job_timeout: '24d'}), 'f').delegation?.job_timeout).toBe(24 * 86_400_000)
  })
})

describe('YAML that attacks the parser is a config error', () => {
  it('an alias bomb', () => {
    const bomb = ['a: &a [x,x,x,x,x,x,x,x,x]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]'].join('\n')
    expect(configErrorOf(`${stringify(minimal)}${bomb}\n`).message).toMatch(/^\/etc\/ccl\.yaml: YAML cannot be read: Excessive alias count/)
  })

  it('nesting deep enough to exhaust the stack', () => {
    const error = configErrorOf(`queue: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`)
    expect(error.message).toMatch(/^\/etc\/ccl\.yaml: /)
  })
})

// Random text, random YAML and valid configs with one field broken: parseConfig either returns a
// config or throws ConfigError (exit 3) naming the file; nothing else escapes it.
const scalar = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom('25d', '1ms', '0', '-1s', '/abs', 'rel/path', 'sk_live_x', '~', '*a', '&a', '!!binary x', '<<'))
const yamlValue = fc.letrec((tie) => ({
  value: fc.oneof({depthSize: 'small', withCrossShrink: true}, scalar, fc.array(tie('value'), {maxLength: 4}), fc.dictionary(fc.string({maxLength: 12}), tie('value'), {maxKeys: 4})),
})).value
const validConfig = {
  queue: '/srv/q',
  shared: {root: '/srv/shared', dirs: ['projects']},
  accounts: [{name: 'alpha', home: '/home/ops/.claude-alpha'}, {name: 'beta', home: '/home/ops/.claude-beta'}],
  delegation: {base_url: 'https://secutools.example/api/v1', timeout: '30s', providers: ['gemini', 'gpu', 'claude-api']},
  watchdog: {stale_after: '45m'},
  failover: {margin: '1m', spill_to_remote: false},
}
const leafPaths: string[][] = []
const walk = (value: unknown, at: string[]) => {
  if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...at, k])
  leafPaths.push(at)
}

walk(validConfig, [])
function withLeaf(config: unknown, at: readonly string[], leaf: unknown): unknown {
  if (at.length === 0) return leaf
  const copy: Record<string, unknown> = Array.isArray(config) ? ([...config] as unknown as Record<string, unknown>) : {...(config as Record<string, unknown>)}
  copy[at[0]!] = withLeaf(copy[at[0]!] ?? {}, at.slice(1), leaf)
  return copy
}

const brokenConfigText = fc.oneof(
  fc.string({unit: 'binary', maxLength: 400}),
  yamlValue.map((value) => stringify(value)),
  fc.tuple(fc.constantFrom(...leafPaths), yamlValue).map(([at, leaf]) => stringify(withLeaf(validConfig, at, leaf))),
  fc.tuple(fc.constantFrom(...leafPaths), fc.string({maxLength: 40})).map(([at, text]) => `${stringify(withLeaf(validConfig, at, 'PLACEHOLDER'))}`.replace('PLACEHOLDER', text)),
)


const CONFIG_FUZZ_SEED = 15_004

describe('config files, fuzzed', () => {
  it('the config the mutations start from is itself valid', () => {
    expect(parseConfig(stringify(validConfig), '/etc/fuzz.yaml').watchdog.stale_after).toBe(45 * 60_000)
  })

  it('parseConfig returns a config or throws ConfigError naming the file, for any text', () => {
    fc.assert(
      fc.property(brokenConfigText, (text) => {
        try {
          parseConfig(text, '/etc/fuzz.yaml')
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError)
          expect((error as ConfigError).exitCode).toBe(3)
          expect((error as ConfigError).message.startsWith('/etc/fuzz.yaml: ') || (error as ConfigError).message.startsWith('/etc/fuzz.yaml')).toBe(true)
        }
      }),
      {seed: CONFIG_FUZZ_SEED, numRuns: 2500},
    )
  })
})

// ---- Frontmatter against SPEC §4.1, by an oracle that reads the generated fields itself. ----

/** A YAML value as written in a frontmatter line, and what YAML 1.2 (core schema) makes of it. */
type Written = {text: string; is: {kind: 'bool'; value: boolean} | {kind: 'string'; value: string} | {kind: 'null'} | {kind: 'other'}}
const written: fc.Arbitrary<Written> = fc.oneof(
  fc.constantFrom<Written>(
    {text: 'true', is: {kind: 'bool', value: true}},
    {text: 'True', is: {kind: 'bool', value: true}},
    {text: 'FALSE', is: {kind: 'bool', value: false}},
    {text: 'false', is: {kind: 'bool', value: false}},
    {text: '', is: {kind: 'null'}},
    {text: '~', is: {kind: 'null'}},
    {text: 'null', is: {kind: 'null'}},
    {text: 'yes', is: {kind: 'string', value: 'yes'}},
    {text: 'no', is: {kind: 'string', value: 'no'}},
    {text: '"true"', is: {kind: 'string', value: 'true'}},
    {text: '""', is: {kind: 'string', value: ''}},
    {text: '1', is: {kind: 'other'}},
    {text: '0.5', is: {kind: 'other'}},
    {text: '[gemini]', is: {kind: 'other'}},
    {text: '{a: 1}', is: {kind: 'other'}},
    {text: '"x\\nvictim.md\\tgemini\\trule 5: forged"', is: {kind: 'string', value: 'x\nvictim.md\tgemini\trule 5: forged'}},
    {text: '"gem\\u2028ini"', is: {kind: 'string', value: 'gem\u2028ini'}},
  ),
  fc.constantFrom('gemini', 'gpu', 'claude-api', 'claude-code', 'llama', 'GEMINI', 'low', 'medium', 'high', 'extreme').chain((word) =>
    fc.constantFrom<Written>({text: word, is: {kind: 'string', value: word}}, {text: `'${word}'`, is: {kind: 'string', value: word}}, {text: `"${word}"`, is: {kind: 'string', value: word}}),
  ),
)
const KEYS = ['needs_claude_code', 'preferred_ai', 'allow_delegation', 'complexity_hint', 'title', 'owner'] as const
type Front = {kind: 'fields'; lines: [typeof KEYS[number], Written][]} | {kind: 'broken'; text: string} | {kind: 'none'}
const front: fc.Arbitrary<Front> = fc.oneof(
  {weight: 8, arbitrary: fc.uniqueArray(fc.tuple(fc.constantFrom(...KEYS), written), {selector: ([key]) => key, maxLength: 6}).map((lines): Front => ({kind: 'fields', lines}))},
  {weight: 1, arbitrary: fc.constantFrom('allow_delegation: true\npreferred_ai: [gemini', 'allow_delegation: true\nallow_delegation: true', '- allow_delegation: true', 'allow_delegation: true\n\tpreferred_ai: gpu').map((text): Front => ({kind: 'broken', text}))},
  {weight: 1, arbitrary: fc.constant<Front>({kind: 'none'})},
)

const render = (f: Front): string => {
  if (f.kind === 'none') return 'just a body\n'
  const yaml = f.kind === 'broken' ? f.text : f.lines.map(([key, value]) => (value.text === '' ? `${key}:` : `${key}: ${value.text}`)).join('\n')
  return `---\n${yaml}\n---\nthe body\n`
}

interface Expected {target: string; rule: number}

/** SPEC §3.1 (what a field may hold; a bad one fails safe) and §4.1 (first match wins), read from the generator's own record. */
function oracle(f: Front, delegation: DelegationState): Expected {
  let needs: boolean | undefined
  let preferred: string | undefined
  let allow: boolean | undefined
  let hint: string | undefined
  let bad = f.kind === 'broken'
  if (f.kind === 'fields') {
    for (const [key, {is}] of f.lines) {
      if (key === 'title' || key === 'owner' || is.kind === 'null') continue
      if (key === 'needs_claude_code' || key === 'allow_delegation') {
        if (is.kind !== 'bool') bad = true
        else if (key === 'needs_claude_code') needs = is.value
        else allow = is.value
      } else if (key === 'preferred_ai') {
        if (is.kind !== 'string' || is.value === '') bad = true
        else preferred = is.value
      } else if (is.kind === 'string' && ['low', 'medium', 'high'].includes(is.value)) hint = is.value
      else bad = true
    }
  }

  if (bad) allow = false
  if (needs === true) return {target: 'claude-code', rule: 1}
  if (preferred === 'claude-code') return {target: 'claude-code', rule: 2}
  if (allow === false) return {target: 'claude-code', rule: 3}
  if (!delegation.on) return {target: 'claude-code', rule: 4}
  if (preferred !== undefined && delegation.settings.providers.includes(preferred)) return {target: preferred, rule: 5}
  if (preferred !== undefined) return {target: 'claude-code', rule: 6}
  if (allow === true) return {target: hint ? delegation.settings.complexity_map[hint as 'low'] : delegation.settings.default_provider, rule: 7}
  return {target: 'claude-code', rule: 8}
}

const ON = DELEGATION_ON
const delegationArb = fc.constantFrom<DelegationState>(ON, {on: false, reason: 'delegation is off: $SECUTOOLS_API_KEY is not set or empty'}, {
  ...ON,
  settings: {...ON.settings, providers: ['gemini'], complexity_map: {low: 'gemini', medium: 'gemini', high: 'gemini'}},
} as DelegationState)

describe('frontmatter, fuzzed, against SPEC §4.1', () => {
  it('parseTask + decide route every generated task as the oracle says, and the route line stays one line of three columns', async () => {
    await loadYaml()
    fc.assert(
      fc.property(front, delegationArb, (f, delegation) => {
        const parsed = parseTask(render(f), 't.md')
        const decision = decide({name: 't.md', ...parsed}, delegation, SPILL_NOT_ASKED)
        const expected = oracle(f, delegation)
        expect({target: decision.target, rule: decision.rule}).toEqual(expected)
        const lines = renderRoute([{file: 't.md', decision}, {file: 'u.md', decision: {...decision, task: 'u.md'}}] as never).split('\n')
        expect(lines).toHaveLength(2)
        for (const line of lines) {
          expect(line.split('\t')).toHaveLength(3)
          expect(RAW.test(line.replaceAll('\t', ''))).toBe(false)
        }
      }),
      {seed: 15_005, numRuns: 3000},
    )
  })
})


describe('task names, fuzzed: human output never holds a raw control character', () => {
  const name = fc.string({unit: fc.oneof(fc.constantFrom('\n', '\t', '\r', '\u001B', '\u2028', '\u2029', '\u0085', '\u009B', '\u0000', '\u007F', '\\', ' '), fc.string({unit: 'binary', minLength: 1, maxLength: 1})), minLength: 1, maxLength: 30}).map((s) => `${s}.md`)

  it('renderRoute: one line per task, three columns, nothing raw', () => {
    fc.assert(
      fc.property(fc.array(name, {minLength: 2, maxLength: 6}), (names) => {
        const routed = names.map((task) => ({file: task, decision: decide({name: task, fields: {preferred_ai: task}, warnings: []}, ON, SPILL_NOT_ASKED)}))
        const lines = renderRoute(routed as never).split('\n')
        expect(lines).toHaveLength(names.length)
        for (const [i, line] of lines.entries()) {
          const columns = line.split('\t')
          expect(columns).toHaveLength(3)
          expect(columns[0]).toBe(printable(names[i]!))
          expect(RAW.test(columns.join(''))).toBe(false)
        }
      }),
      {seed: 15_006, numRuns: 3000},
    )
  })

  it('printable: nothing raw is left, and distinct names stay distinct', () => {
    fc.assert(
      fc.property(name, name, (a, b) => {
        expect(RAW.test(printable(a))).toBe(false)
        if (a !== b && !a.includes('\\') && !b.includes('\\')) expect(printable(a)).not.toBe(printable(b))
      }),
      {seed: 15_007, numRuns: 3000},
    )
  })
})

describe('readRegularFile: a FIFO is reported, never waited on', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-regular-'))
  })
  afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('a FIFO without a writer: ENOTREG naming what it is', {timeout: 5000}, () => {
    const fifo = path.join(dir, 'pipe')
    execFileSync('mkfifo', [fifo])
    let code: unknown
    try {
      readRegularFile(fifo)
    } catch (error) {
      code = (error as NodeJS.ErrnoException).code
      expect((error as Error).message).toBe('not a regular file (a FIFO)')
    }

    expect(code).toBe(ENOTREG)
  })

  it('a folder, a device: ENOTREG; a link with noFollow: ELOOP; too big: EFBIG', async () => {
    const codeOf = (run: () => unknown) => {
      try {
        run()
      } catch (error) {
        return [(error as NodeJS.ErrnoException).code, (error as Error).message]
      }

      return ['none']
    }

    expect(codeOf(() => readRegularFile(dir))).toEqual([ENOTREG, 'not a regular file (a folder)'])
    expect(codeOf(() => readRegularFile('/dev/null'))).toEqual([ENOTREG, 'not a regular file (a device)'])
    const file = path.join(dir, 'f.txt')
    await writeFile(file, 'x'.repeat(100))
    execFileSync('ln', ['-sf', file, path.join(dir, 'link')])
    expect(codeOf(() => readRegularFile(path.join(dir, 'link'), {noFollow: true}))[0]).toBe('ELOOP')
    expect(readRegularFile(path.join(dir, 'link')).toString()).toBe('x'.repeat(100))
    expect(codeOf(() => readRegularFile(file, {maxBytes: 99}))[0]).toBe('EFBIG')
    expect(readRegularFile(file, {maxBytes: 100}).length).toBe(100)
    expect(readRegularFile('/proc/self/status').toString()).toMatch(/^Name:/)
  })

  it('loadConfig: a FIFO as --config is a config error naming the file', {timeout: 5000}, () => {
    const fifo = path.join(dir, 'ccl.yaml')
    execFileSync('mkfifo', [fifo])
    expect(() => loadConfig({flag: fifo, env: {}, cwd: dir})).toThrow(new ConfigError(`${fifo}: cannot read config file: not a regular file (a FIFO)`))
  })
})
