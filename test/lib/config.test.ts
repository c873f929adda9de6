import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'

import {configCandidates, delegationState, loadConfig, parseConfig} from '../../src/lib/config/load.js'
import {formatDuration, parseDuration} from '../../src/lib/config/duration.js'
import {ConfigError} from '../../src/lib/errors.js'
import {makeSandbox, type Sandbox} from '../support/sandbox.js'

const minimal = {
  queue: '/srv/q',
  shared: {root: '/srv/shared'},
  accounts: [{name: 'alpha', home: '/home/ops/.claude-alpha'}],
}

function errorOf(text: string, file = '/etc/ccl.yaml'): ConfigError {
  try {
    parseConfig(text, file)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }

  throw new Error('expected a ConfigError')
}

describe('parseConfig', () => {
  it('fills every default of SPEC §2', () => {
    const config = parseConfig(stringify(minimal), '/etc/ccl.yaml')
    expect(config.state).toBe('/srv/q/.ccl')
    expect(config.shared.dirs).toEqual(['projects', 'file-history', 'session-env'])
    expect(config.accounts[0]).toMatchObject({name: 'alpha', session: 'ccl-alpha', command: 'claude'})
    expect(path.isAbsolute(config.accounts[0]!.cwd)).toBe(true)
    expect(config.watchdog).toEqual({stale_after: 45 * 60_000, crash_limit: 5, crash_window: 30 * 60_000, waiting_after: 5 * 60_000})
    expect(config.assign.enter_delay).toBe(300)
    expect(config.assign.prompt).toContain('{task}')
    expect(config.tmux.socket).toBeUndefined()
    expect(config.delegation).toBeUndefined()
  })

  it('fills the delegation defaults when the block is present', () => {
    const config = parseConfig(stringify({...minimal, delegation: {base_url: 'https://x.example/api/v1/'}}), '/f')
    expect(config.delegation).toEqual({
      base_url: 'https://x.example/api/v1',
      api_key_env: 'SECUTOOLS_API_KEY',
      providers: ['gpu', 'gemini', 'claude-api'],
      complexity_map: {low: 'gemini', medium: 'gemini', high: 'claude-api'},
      default_provider: 'gemini',
      timeout: 30_000,
      retries: 5,
      concurrency: 8,
      job_timeout: 6 * 3_600_000,
    })
  })

  it('names the file, line and column of a YAML syntax error', () => {
    const error = errorOf('queue: /srv/q\naccounts: [\n  - name: a\n', '/etc/bad.yaml')
    expect(error.message).toMatch(/^\/etc\/bad\.yaml: YAML syntax error at line \d+, column \d+/)
    expect(error.exitCode).toBe(3)
  })

  it('rejects an unknown key, naming its full path', () => {
    const text = stringify({...minimal, accounts: [{name: 'alpha', home: '/h', colour: 'red'}]})
    expect(errorOf(text).message).toBe('/etc/ccl.yaml: accounts[0].colour: unknown key')
    expect(errorOf(stringify({...minimal, queues: '/x'})).message).toContain('queues: unknown key')
  })

  it('rejects a wrong type, saying what was expected', () => {
    const text = stringify({...minimal, watchdog: {crash_limit: 'five'}})
    expect(errorOf(text).message).toMatch(/watchdog\.crash_limit: expected a whole number/)
  })

  it('rejects a relative path', () => {
    const text = stringify({...minimal, accounts: [{name: 'alpha', home: 'claude-alpha'}]})
    expect(errorOf(text).message).toBe('/etc/ccl.yaml: accounts[0].home: expected an absolute path, got "claude-alpha"')
  })

  it('rejects duplicate account names', () => {
    const text = stringify({...minimal, accounts: [{name: 'a', home: '/a'}, {name: 'b', home: '/b'}, {name: 'a', home: '/c'}]})
    expect(errorOf(text).message).toContain('accounts[2].name: duplicate account name "a" (also accounts[0].name)')
  })

  it('rejects a bad account name', () => {
    const text = stringify({...minimal, accounts: [{name: 'Alpha_1', home: '/a'}]})
    expect(errorOf(text).message).toMatch(/accounts\[0\]\.name: expected a name of a-z, 0-9 and -/)
  })

  it('rejects an empty account list', () => {
    expect(errorOf(stringify({...minimal, accounts: []})).message).toContain('accounts: expected at least one account')
  })

  it('rejects a bad duration, naming the key', () => {
    expect(errorOf(stringify({...minimal, watchdog: {stale_after: '45 minutes'}})).message).toContain(
      'watchdog.stale_after: expected a duration such as 300ms, 30s, 45m, 6h or 1d, got "45 minutes"',
    )
  })

  it('rejects a complexity map naming a provider that is not configured', () => {
    const text = stringify({...minimal, delegation: {base_url: 'https://x/api', providers: ['gpu'], default_provider: 'gpu'}})
    expect(errorOf(text).message).toContain('delegation.complexity_map.low: "gemini" is not in providers [gpu]')
  })

  it('rejects a document that is not a mapping', () => {
    expect(errorOf('- a\n- b\n').message).toContain('expected a YAML mapping')
  })
})

describe('durations', () => {
  it('parses every suffix and compounds', () => {
    expect(parseDuration('300ms')).toBe(300)
    expect(parseDuration('30s')).toBe(30_000)
    expect(parseDuration('45m')).toBe(2_700_000)
    expect(parseDuration('6h')).toBe(21_600_000)
    expect(parseDuration('1d')).toBe(86_400_000)
    expect(parseDuration('1h30m')).toBe(5_400_000)
    expect(parseDuration('30')).toBeUndefined()
    expect(parseDuration('')).toBeUndefined()
    expect(formatDuration(5_400_000)).toBe('1h30m')
    expect(formatDuration(250)).toBe('250ms')
  })
})

describe('loadConfig search order', () => {
  let sandbox: Sandbox
  beforeEach(async () => {
    sandbox = await makeSandbox()
  })
  afterEach(async () => {
    await sandbox.cleanup()
  })

  it('prefers --config, then $CCL_CONFIG, then ./ccl.yaml, then XDG', async () => {
    const env = {HOME: '/home/u', XDG_CONFIG_HOME: '/xdg'}
    expect(configCandidates({flag: 'a.yaml', env: {...env, CCL_CONFIG: '/b.yaml'}, cwd: '/w'})).toEqual([{path: '/w/a.yaml', why: '--config'}])
    expect(configCandidates({env: {...env, CCL_CONFIG: '/b.yaml'}, cwd: '/w'})).toEqual([{path: '/b.yaml', why: '$CCL_CONFIG'}])
    expect(configCandidates({env, cwd: '/w'}).map((c) => c.path)).toEqual(['/w/ccl.yaml', '/xdg/ccl/config.yaml'])
    expect(configCandidates({env: {HOME: '/home/u'}, cwd: '/w'}).map((c) => c.path)).toEqual(['/w/ccl.yaml', '/home/u/.config/ccl/config.yaml'])
  })

  it('finds the XDG file when there is no ./ccl.yaml', async () => {
    const xdg = path.join(sandbox.dir, 'xdg')
    await mkdir(path.join(xdg, 'ccl'), {recursive: true})
    await writeFile(path.join(xdg, 'ccl', 'config.yaml'), stringify(minimal))
    const config = loadConfig({env: {XDG_CONFIG_HOME: xdg}, cwd: path.join(sandbox.dir, 'homes')})
    expect(config.file).toBe(path.join(xdg, 'ccl', 'config.yaml'))
  })

  it('says where it looked when no config is found', () => {
    const cwd = path.join(sandbox.dir, 'homes')
    expect(() => loadConfig({env: {XDG_CONFIG_HOME: '/nonexistent-xdg'}, cwd})).toThrow(
      `no config file found; looked in ${cwd}/ccl.yaml, /nonexistent-xdg/ccl/config.yaml`,
    )
  })

  it('fails on a named file that does not exist instead of falling back', () => {
    expect(() => loadConfig({flag: '/nope.yaml', env: {}, cwd: sandbox.dir})).toThrow('/nope.yaml: config file not found (named by --config)')
  })
})

describe('delegationState', () => {
  const withBlock = parseConfig(stringify({...minimal, delegation: {base_url: 'https://x/api', api_key_env: 'MY_KEY'}}), '/f.yaml')

  it('is on only with the block and a non-empty key variable', () => {
    expect(delegationState(withBlock, {MY_KEY: 'k'})).toMatchObject({on: true, apiKey: 'k'})
    expect(delegationState(withBlock, {MY_KEY: ''})).toEqual({on: false, reason: 'delegation is off: $MY_KEY is not set or empty'})
    expect(delegationState(withBlock, {})).toMatchObject({on: false})
    const without = parseConfig(stringify(minimal), '/f.yaml')
    expect(delegationState(without, {SECUTOOLS_API_KEY: 'k'})).toEqual({on: false, reason: 'delegation is off: /f.yaml has no "delegation" block'})
  })
})
