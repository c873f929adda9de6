// The fast entries of the hot commands (src/fast/) against oclif: the same command lines through
// both paths (CCL_FAST=0 forces oclif) give the same stdout, stderr and exit code, and the fast path
// really runs without oclif (nor zod) for the lines it takes: the import recorder tells which path ran.
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadedPackages} from './support/loaded-packages.js'
import {makeSandbox, runCcl, type Sandbox} from './support/sandbox.js'

const RECORDER = path.join(import.meta.dirname, 'support', 'record-imports.mjs')

async function loadedBy(log: string): Promise<Set<string>> {
  return loadedPackages((await readFile(log, 'utf8').catch(() => '')).split('\n'))
}

/** Which path a run took, from what it loaded: oclif, or a fast entry without it. */
async function pathTaken(log: string): Promise<string> {
  const loaded = await loadedBy(log)
  if (loaded.has('@oclif/core')) return 'oclif'
  return [...loaded].some((p) => p.startsWith('ccl:dist/fast/')) ? 'fast' : 'nothing'
}
let sandbox: Sandbox

beforeAll(async () => {
  sandbox = await makeSandbox({accounts: ['alpha']})
  await sandbox.writeConfig({
    ...sandbox.config,
    delegation: {base_url: 'https://secutools.example/api/v1', providers: ['gpu', 'gemini', 'claude-api']},
  })
  const pending = path.join(sandbox.queue, 'pending')
  await writeFile(path.join(pending, 'local.md'), '---\nneeds_claude_code: true\n---\nFix it.\n')
  await writeFile(path.join(pending, 'remote.md'), '---\nallow_delegation: true\ncomplexity_hint: high\n---\nSummarise.\n')
  await writeFile(path.join(pending, 'bad.md'), '---\ncomplexity_hint: huge\nallow_delegation: [1\n---\nx\n')
  await writeFile(path.join(pending, '50%%.md'), 'plain %s %% task\n')
  await writeFile(path.join(pending, 'tab\there.md'), 'x\n')
  await writeFile(path.join(pending, '-dash.md'), 'x\n')
  await writeFile(path.join(sandbox.dir, 'invalid.yaml'), 'queue: relative/path\nshared: {root: /x}\naccounts: []\n')
})
afterAll(async () => sandbox?.cleanup())

async function both(args: string[], extra: {input?: string; env?: Record<string, string>} = {}) {
  const run = async (fast: boolean) => {
    const log = path.join(sandbox.dir, `imports-${fast ? 'fast' : 'oclif'}.log`)
    await rm(log, {force: true})
    const result = await runCcl(args, {
      cwd: path.join(sandbox.queue, 'pending'),
      ...(extra.input === undefined ? {} : {input: extra.input}),
      env: {SECUTOOLS_API_KEY: 'k-test-fast-path', NODE_OPTIONS: `--import=${RECORDER}`, CCL_IMPORT_LOG: log, ...(fast ? {} : {CCL_FAST: '0'}), ...extra.env},
    })
    return {result, ran: await pathTaken(log)}
  }

  const fast = await run(true)
  const oclif = await run(false)
  expect(oclif.ran).toBe('oclif')
  return {fast, oclif}
}

const config = () => ['--config', sandbox.configFile]

/** Both paths printed the same bytes on stdout and stderr and exited alike. */
function expectSameOutput(fast: {stdout: string; stderr: string; code: number}, oclif: {stdout: string; stderr: string; code: number}): void {
  expect({stdout: fast.stdout, stderr: fast.stderr, code: fast.code}).toEqual({stdout: oclif.stdout, stderr: oclif.stderr, code: oclif.code})
}

describe('ccl route: the fast path and oclif print the same', () => {
  // [argv, which path the fast entry must take]
  const table: [string, () => string[], 'fast' | 'oclif'][] = [
    ['one file', () => [...config(), 'local.md'], 'fast'],
    ['several files', () => [...config(), 'local.md', 'remote.md', 'bad.md'], 'fast'],
    ['a missing file among others (exit 2)', () => [...config(), 'local.md', 'nope.md', 'remote.md'], 'fast'],
    ['--json', () => [...config(), '--json', 'local.md', 'remote.md'], 'fast'],
    ['--json with a missing file', () => [...config(), '--json', 'nope.md'], 'fast'],
    ['--explain', () => [...config(), '--explain', 'remote.md'], 'fast'],
    ['--explain --json, flags after the files', () => ['remote.md', 'bad.md', '--explain', ...config(), '--json'], 'fast'],
    ['--config=PATH', () => [`--config=${sandbox.configFile}`, 'local.md'], 'fast'],
    ['-- then a name that starts with a dash', () => [...config(), '--', '-dash.md'], 'fast'],
    ['a name with %% and %s (no printf formatting)', () => [...config(), '50%%.md', 'local.md'], 'fast'],
    ['a name with a tab (escaped)', () => [...config(), 'tab\there.md', 'local.md'], 'fast'],
    ['an invalid config (exit 3)', () => ['--config', path.join(sandbox.dir, 'invalid.yaml'), 'local.md'], 'fast'],
    ['an invalid config with --json', () => ['--json', '--config', path.join(sandbox.dir, 'invalid.yaml'), 'local.md'], 'fast'],
    ['a config that does not exist', () => ['--config', path.join(sandbox.dir, 'none.yaml'), 'local.md'], 'fast'],
    ['no file (missing argument)', () => [...config()], 'oclif'],
    ['no file, --json', () => [...config(), '--json'], 'oclif'],
    ['--help', () => ['--help'], 'oclif'],
    ['-h with a file', () => ['-h', 'local.md'], 'oclif'],
    ['an unknown flag', () => [...config(), '--bogus', 'local.md'], 'oclif'],
    ['an unknown short flag', () => [...config(), '-x', 'local.md'], 'oclif'],
    ['--config without its value', () => ['local.md', '--config'], 'oclif'],
    ['--config followed by a flag', () => ['--config', '--json', 'local.md'], 'oclif'],
    ['--json twice', () => [...config(), '--json', '--json', 'local.md'], 'oclif'],
    ['--config twice', () => [...config(), ...config(), 'local.md'], 'oclif'],
    ['--explain=yes', () => [...config(), '--explain=yes', 'local.md'], 'oclif'],
  ]
  for (const [what, argv, path_] of table) {
    it(what, async () => {
      const {fast, oclif} = await both(['route', ...argv()])
      expect(fast.ran).toBe(path_)
      expectSameOutput(fast.result, oclif.result)
      if (what === 'one file') expect(fast.result.stdout).toBe('claude-code\n')
      if (path_ === 'fast') expect(fast.ran).toBe('fast')
      if (what.startsWith('a name with %%')) expect(fast.result.stdout).toContain('50%%.md\t')
    })
  }

  it('DEBUG or CCL_CONTENT_TYPE send even a plain line through oclif', async () => {
    for (const env of [{DEBUG: 'ccl:nothing'}, {CCL_CONTENT_TYPE: 'json'}] as Record<string, string>[]) {
      const {fast, oclif} = await both(['route', ...config(), 'local.md'], {env})
      expect(fast.ran).toBe('oclif')
      expect(fast.result.stdout).toBe(oclif.result.stdout)
    }
  })
})

describe('ccl hook: the fast path and oclif behave the same', () => {
  const stop = () =>
    JSON.stringify({session_id: '9b1c7a3e-2f4d-4e8a-9c1b-7a3e2f4d4e8a', transcript_path: '/x.jsonl', cwd: sandbox.dir, hook_event_name: 'Stop', stop_hook_active: false})
  const table: [string, () => string[], () => string, Record<string, string>, 'fast' | 'oclif'][] = [
    ['a Stop payload', () => config(), stop, {CLAUDE_CONFIG_DIR: ''}, 'fast'],
    ['not JSON', () => config(), () => '{torn', {CLAUDE_CONFIG_DIR: ''}, 'fast'],
    ['a config that does not exist', () => ['--config', '/nonexistent/ccl.yaml'], stop, {}, 'fast'],
    ['--json (not a flag of hook)', () => [...config(), '--json'], stop, {}, 'oclif'],
    ['an extra argument', () => [...config(), 'extra'], stop, {}, 'oclif'],
    ['--help', () => ['--help'], () => '', {}, 'oclif'],
  ]
  for (const [what, argv, input, env, path_] of table) {
    it(what, async () => {
      const withHome = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === '' ? sandbox.homes.alpha! : v]))
      const {fast, oclif} = await both(['hook', ...argv()], {input: input(), env: withHome})
      expect(fast.ran).toBe(path_)
      expectSameOutput(fast.result, oclif.result)
      if (path_ === 'fast') expect(fast.result.code).toBe(0)
    })
  }

  it('a Stop payload through the fast path is recorded in the account state', async () => {
    const state = path.join(sandbox.queue, '.ccl', 'accounts', 'alpha.json')
    await rm(state, {force: true})
    const log = path.join(sandbox.dir, 'imports-record.log')
    const run = await runCcl(['hook', ...config()], {
      input: stop(),
      env: {CLAUDE_CONFIG_DIR: sandbox.homes.alpha!, NODE_OPTIONS: `--import=${RECORDER}`, CCL_IMPORT_LOG: log},
    })
    expect(run).toMatchObject({code: 0, stdout: '', stderr: ''})
    expect(await pathTaken(log)).toBe('fast')
    expect(await loadedBy(log)).not.toContain('zod')
    const record = JSON.parse(await readFile(state, 'utf8')) as {last_event?: string; session_id?: string; turn?: string}
    expect(record).toMatchObject({last_event: 'Stop', session_id: '9b1c7a3e-2f4d-4e8a-9c1b-7a3e2f4d4e8a', turn: 'idle'})
  })
})

describe('ccl reconcile: the fast path and oclif print the same', () => {
  // Every account is held (a crash loop), so a pass changes nothing and both paths see the same queue.
  beforeAll(async () => {
    await sandbox.writeConfig({...sandbox.config, tmux: {socket: `ccl-test-fast-${process.pid}`}})
  })
  const table: [string, () => string[], 'fast' | 'oclif'][] = [
    ['--dry-run', () => [...config(), '--dry-run'], 'fast'],
    ['--dry-run --json', () => [...config(), '--dry-run', '--json'], 'fast'],
    ['--release of an unknown account', () => [...config(), '--dry-run', '--release', 'nobody'], 'fast'],
    ['--release=NAME', () => [...config(), '--dry-run', '--release=nobody'], 'fast'],
    ['an invalid config', () => ['--config', path.join(sandbox.dir, 'invalid.yaml'), '--dry-run'], 'fast'],
    ['an operand', () => [...config(), 'extra'], 'oclif'],
    ['--release without its name', () => [...config(), '--release'], 'oclif'],
    ['--help', () => ['--help'], 'oclif'],
    ['an unknown flag', () => [...config(), '--bogus'], 'oclif'],
  ]
  for (const [what, argv, path_] of table) {
    it(what, async () => {
      const {fast, oclif} = await both(['reconcile', ...argv()])
      expect(fast.ran).toBe(path_)
      expectSameOutput(fast.result, oclif.result)
    })
  }
})

it('a reconcile whose config was validated before (its cache) loads neither oclif nor zod', async () => {
  const env = {CCL_CONFIG: sandbox.configFile}
  // (The sandbox's links are not made, so the pass exits 1 on them: the same run each time.)
  const first = await runCcl(['reconcile', '--dry-run'], {cwd: sandbox.dir, env})
  const log = path.join(sandbox.dir, 'imports-cached.log')
  const again = await runCcl(['reconcile', '--dry-run'], {cwd: sandbox.dir, env: {...env, NODE_OPTIONS: `--import=${RECORDER}`, CCL_IMPORT_LOG: log}})
  expect({code: again.code, stdout: again.stdout, stderr: again.stderr}).toEqual({code: first.code, stdout: first.stdout, stderr: first.stderr})
  expect(again.stderr).not.toContain('internal error')
  const loaded = await loadedBy(log)
  expect(loaded).toContain('ccl:dist/fast/reconcile.js')
  for (const heavy of ['@oclif/core', 'zod', 'execa']) expect(loaded).not.toContain(heavy)
})

describe('ccl reap: the fast path and oclif print the same', () => {
  // No markers in pending/: each pass has nothing to ask the platform, the same output both ways.
  const table: [string, () => string[], 'fast' | 'oclif'][] = [
    ['a plain pass', () => [...config()], 'fast'],
    ['--quiet', () => [...config(), '--quiet'], 'fast'],
    ['--dry-run --json', () => [...config(), '--dry-run', '--json'], 'fast'],
    ['an invalid config', () => ['--config', path.join(sandbox.dir, 'invalid.yaml'), '--quiet'], 'fast'],
    ['an invalid config, --json', () => ['--json', '--config', path.join(sandbox.dir, 'invalid.yaml')], 'fast'],
    ['an operand', () => [...config(), 'extra'], 'oclif'],
    ['an unknown flag', () => [...config(), '--bogus'], 'oclif'],
    ['--help', () => ['--help'], 'oclif'],
  ]
  for (const [what, argv, path_] of table) {
    it(what, async () => {
      const {fast, oclif} = await both(['reap', ...argv()])
      expect(fast.ran).toBe(path_)
      expectSameOutput(fast.result, oclif.result)
    })
  }
})

describe('warm starts load only what they use', () => {
  // Once the config is in its cache (src/lib/config/cached.ts), a hook, a route, a statusline and a
  // status run load neither the schema (zod) nor the YAML parser for the config, nor node:crypto
  // (6-8 ms on Node 24) nor debug (docs/performance.md); nor yaml for frontmatter of the simple kind.
  const stop = () => JSON.stringify({session_id: '9b1c7a3e-2f4d-4e8a-9c1b-7a3e2f4d4e8a', transcript_path: '/x.jsonl', cwd: sandbox.dir, hook_event_name: 'Stop', stop_hook_active: false})
  const table: [string, () => string[], () => string | undefined, string[]][] = [
    ['hook, a Stop payload', () => ['hook', ...config()], stop, ['yaml', 'zod', 'debug', 'node:crypto']],
    ['status --json (its plan reads bad.md, whose frontmatter needs yaml)', () => ['status', ...config(), '--json'], () => undefined, ['zod', 'debug', 'node:crypto']],
    ['status --prometheus', () => ['status', ...config(), '--prometheus'], () => undefined, ['zod', 'debug', 'node:crypto']],
    ['route FILE (simple frontmatter)', () => ['route', ...config(), 'local.md'], () => undefined, ['yaml', 'zod', 'debug', 'node:crypto']],
  ]
  for (const [what, argv, input, absent] of table) {
    it(what, async () => {
      const env = {CLAUDE_CONFIG_DIR: sandbox.homes.alpha!, SECUTOOLS_API_KEY: 'k-test-fast-path'}
      const options = (log?: string) => ({cwd: path.join(sandbox.queue, 'pending'), ...(input() === undefined ? {} : {input: input()!}), env: log ? {...env, NODE_OPTIONS: `--import=${RECORDER}`, CCL_IMPORT_LOG: log} : env})
      const first = await runCcl(argv(), options())
      const log = path.join(sandbox.dir, 'imports-warm.log')
      await rm(log, {force: true})
      const again = await runCcl(argv(), options(log))
      expect(again.code).toBe(first.code)
      expect(again.stderr).not.toContain('internal error')
      const lines = (await readFile(log, 'utf8')).split('\n')
      const loaded = loadedPackages(lines)
      expect([...loaded].some((p) => p.startsWith('ccl:dist/fast/'))).toBe(true)
      for (const name of absent) {
        if (name.startsWith('node:')) expect(lines).not.toContain(name)
        else expect(loaded).not.toContain(name)
      }
    })
  }
})

describe('ccl status: the fast path and oclif print the same', () => {
  // Another host's account in the shared state (its owner record): both paths show it the same way.
  beforeAll(async () => {
    const dir = path.join(sandbox.queue, '.ccl', 'fleet', 'accounts')
    await mkdir(dir, {recursive: true})
    await writeFile(path.join(dir, 'omega.json'), JSON.stringify({host: 'vm-other', since: new Date().toISOString()}) + '\n')
  })
  const table: [string, () => string[], 'fast' | 'oclif'][] = [
    ['--json', () => [...config(), '--json'], 'fast'],
    ['--prometheus', () => [...config(), '--prometheus'], 'fast'],
    ['an invalid config', () => ['--config', path.join(sandbox.dir, 'invalid.yaml')], 'fast'],
    ['an invalid config, --json', () => ['--json', '--config', path.join(sandbox.dir, 'invalid.yaml')], 'fast'],
    ['--json with --prometheus (they exclude each other)', () => [...config(), '--json', '--prometheus'], 'oclif'],
    ['an operand', () => [...config(), 'extra'], 'oclif'],
    ['--help', () => ['--help'], 'oclif'],
  ]
  for (const [what, argv, path_] of table) {
    it(what, async () => {
      const {fast, oclif} = await both(['status', ...argv()])
      expect(fast.ran).toBe(path_)
      // Ages and times move between the two runs: compared with them masked.
      const mask = (text: string) => text.replaceAll(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T').replaceAll(/"(\w*_(?:s|ms))": [\d.]+/g, "\"$1\": N")
      expect({stdout: mask(fast.result.stdout), stderr: fast.result.stderr, code: fast.result.code}).toEqual({
        stdout: mask(oclif.result.stdout),
        stderr: oclif.result.stderr,
        code: oclif.result.code,
      })
    })
  }
})

describe('ccl statusline: the fast path and oclif print the same', () => {
  const payload = () => JSON.stringify({session_id: 's-1', model: {id: 'claude-opus'}, rate_limits: {five_hour: {used_percentage: 12, resets_at: 1_900_000_000}}})
  const table: [string, () => string[], Record<string, string>, 'fast' | 'oclif'][] = [
    ['a payload with rate limits', () => config(), {CLAUDE_CONFIG_DIR: ''}, 'fast'],
    ['--chain with the operator\'s command', () => [...config(), '--chain', 'printf "mine %s" "$(wc -c)"'], {CLAUDE_CONFIG_DIR: ''}, 'fast'],
    ['an unknown home', () => config(), {CLAUDE_CONFIG_DIR: '/nowhere'}, 'fast'],
    ['a config that does not exist', () => ['--config', '/nonexistent/ccl.yaml'], {}, 'fast'],
    ['--chain without its command', () => [...config(), '--chain'], {}, 'oclif'],
    ['an extra argument', () => [...config(), 'extra'], {}, 'oclif'],
  ]
  for (const [what, argv, env, path_] of table) {
    it(what, async () => {
      const withHome = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === '' ? sandbox.homes.alpha! : v]))
      const {fast, oclif} = await both(['statusline', ...argv()], {input: payload(), env: withHome})
      expect(fast.ran).toBe(path_)
      expectSameOutput(fast.result, oclif.result)
      if (what === 'a payload with rate limits') expect(fast.result.stdout).toMatch(/^ccl alpha · 5h 12%/)
    })
  }
})
