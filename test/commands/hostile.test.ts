// Hostile and clumsy input through the built CLI (issue 15): forged output lines, a key pasted as
// api_key_env, a duration Node cannot hold, YAML that attacks the parser, FIFOs where files belong.
// Every FIFO test has a hard timeout: a regression fails instead of hanging the suite.
import {execFileSync} from 'node:child_process'
import {mkdir, readdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import fc from 'fast-check'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'

import {makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
beforeEach(async () => {
  sandbox = await makeSandbox({accounts: ['alpha']})
})
afterEach(async () => {
  await sandbox.cleanup()
})

// Raw control characters and line separators; route's columns are split on their tabs first.
// eslint-disable-next-line no-control-regex
const RAW = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/
const pendingDir = () => path.join(sandbox.queue, 'pending')
const ccl = (args: string[], options: {env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number} = {}) =>
  runCcl([...args, '--config', sandbox.configFile], {cwd: options.cwd ?? sandbox.dir, env: options.env, timeoutMs: options.timeoutMs ?? 20_000})
const DELEGATION = {base_url: 'http://127.0.0.1:9/api/v1', providers: ['gemini', 'gpu'], complexity_map: {low: 'gemini', medium: 'gemini', high: 'gpu'}}
const KEY = {SECUTOOLS_API_KEY: 'test-key-123'}

/** Lines of a command's output (aligned with spaces, never tabs); each must be free of raw control characters. */
function expectNoRawLines(text: string): string[] {
  const lines = text.split('\n').filter((line) => line !== '')
  for (const line of lines) expect(RAW.test(line), JSON.stringify(line)).toBe(false)
  return lines
}

describe('forged output lines', {timeout: 60_000}, () => {
  const forged = 'x.md\nvictim.md\tgemini\tforged.md'

  it('route: a name with a newline and tabs, a preferred_ai that holds a whole line, a U+2028: one line each, three columns', async () => {
    await sandbox.writeConfig({...sandbox.config, delegation: DELEGATION})
    await writeFile(path.join(pendingDir(), 'a.md'), 'a\n')
    await writeFile(path.join(pendingDir(), forged), 'x\n')
    await writeFile(path.join(pendingDir(), 'p.md'), '---\npreferred_ai: "x\\nvictim.md\\tgemini\\trule 5: forged"\n---\nhi\n')
    await writeFile(path.join(pendingDir(), 'sep\u2028victim.md'), '---\npreferred_ai: "gem\\u2029gpu"\n---\nhi\n')
    await writeFile(path.join(pendingDir(), 'b.md'), 'b\n')
    const run = await ccl(['route', 'a.md', forged, 'p.md', 'sep\u2028victim.md', 'b.md'], {cwd: pendingDir(), env: KEY})
    expect(run.code, run.stderr).toBe(0)
    const lines = run.stdout.split('\n').slice(0, -1)
    expect(lines.map((line) => line.split('\t'))).toEqual([
      ['a.md', 'claude-code', 'rule 8: no routing field sends the task elsewhere'],
      ['x.md\\nvictim.md\\tgemini\\tforged.md', 'claude-code', 'rule 8: no routing field sends the task elsewhere'],
      ['p.md', 'claude-code', 'rule 6: preferred_ai=x\\nvictim.md\\tgemini\\trule 5: forged is not a configured provider'],
      ['sep\\u2028victim.md', 'claude-code', 'rule 6: preferred_ai=gem\\u2029gpu is not a configured provider'],
      ['b.md', 'claude-code', 'rule 8: no routing field sends the task elsewhere'],
    ])
    expectNoRawLines(run.stderr)
  })

  it('retry, cancel, assign, requeue and events: a forged name never starts a line of its own', async () => {
    const evil = 'y.md\nvictim.md\u2028\u001B[31m.md'
    await writeFile(path.join(sandbox.queue, 'failed', evil), 'y\n')
    const retry = await ccl(['retry', evil])
    expect(retry.code, retry.stderr).toBe(0)
    expect(retry.stdout).toBe('failed/y.md\\nvictim.md\\u2028\\e[31m.md -> pending/y.md\\nvictim.md\\u2028\\e[31m.md\n')
    const again = await ccl(['retry', evil])
    expect(again.code).toBe(2)
    expect(expectNoRawLines(again.stderr)[0]).toMatch(/^ccl: \S+\/failed\/y\.md\\nvictim\.md\\u2028\\e\[31m\.md: not in failed\/ \(it is in pending\/\)/)
    for (const args of [['cancel', evil], ['assign', evil], ['requeue', evil], ['cancel', 'z\nvictim.md']]) {
      const run = await ccl(args)
      expect(run.code, args.join(' ')).toBeGreaterThan(1)
      const lines = expectNoRawLines(run.stderr)
      expect(lines[0], args.join(' ')).toMatch(/^ccl: /)
      expect(lines.every((line) => line.startsWith('ccl: ') || line.startsWith('  hint: ')), run.stderr).toBe(true)
    }

    const events = await ccl(['events'])
    expect(events.code, events.stderr).toBe(0)
    expect(expectNoRawLines(events.stdout).some((line) => line.includes('task.retried') && line.includes('y.md\\nvictim.md\\u2028\\e[31m.md'))).toBe(true)
    const status = await ccl(['status'])
    expectNoRawLines(status.stdout)
    expect(status.stdout).toContain('- held task: pending/y.md\\nvictim.md\\u2028\\e[31m.md: its name holds control characters (newline, ESC)')
  })
})

describe('a key pasted as api_key_env', {timeout: 120_000}, () => {
  // A valid identifier: before the fix, 6 of 9 commands echoed it as "$sk_live_… is not set or empty".
  const key = 'sk_live_51HxYzAbCdEf0123456789'

  it('is a config error (exit 3) naming file and field, and no command prints it', async () => {
    await sandbox.writeConfig({...sandbox.config, delegation: {...DELEGATION, api_key_env: key}})
    await writeFile(path.join(pendingDir(), 'a.md'), 'a\n')
    const commands = [
      ['route', 'a.md'],
      ['status'],
      ['reap'],
      ['dispatch'],
      ['reconcile'],
      ['assign', 'a.md'],
      ['cancel', 'a.md'],
      ['retry', '--all'],
      ['requeue', 'a.md'],
      ['events'],
      ['delegate', 'submit', 'a.md'],
      ['delegate', 'get', 'j-1'],
      ['validate-symlinks'],
      ['doctor'],
      ['status', '--json'],
    ]
    const runs = await Promise.all(commands.map((args) => ccl(args, {cwd: pendingDir(), env: {[key]: 'the-real-secret'}})))
    for (const [i, run] of runs.entries()) {
      const what = commands[i]!.join(' ')
      expect(run.stdout + run.stderr, what).not.toContain(key)
      expect(run.stdout + run.stderr, what).not.toContain('the-real-secret')
      expect(run.code, `${what}: ${run.stderr}`).toBe(3)
      expect(run.stdout + run.stderr, what).toContain(`${sandbox.configFile}: delegation.api_key_env: expected the NAME of an environment variable`)
    }

    // statusline never fails Claude Code's status bar: it says why on stderr, without the key.
    const line = await ccl(['statusline'], {env: {[key]: 'x'}})
    expect(line.stdout + line.stderr).not.toContain(key)
    expect(line.stderr).toContain('delegation.api_key_env')
  })
})

describe('config values Node or the parser cannot hold', {timeout: 60_000}, () => {
  it('delegation.timeout: 25d is a config error naming the field, not a 1 ms timer', async () => {
    await sandbox.writeConfig({...sandbox.config, delegation: {...DELEGATION, timeout: '25d'}})
    const run = await ccl(['delegate', 'get', 'j-1'], {env: KEY})
    expect(run).toEqual({
      code: 3,
      stdout: '',
      stderr: `ccl: ${sandbox.configFile}: delegation.timeout: expected a duration of at most 24d20h31m23s (2147483647 ms, the longest a timer holds), got "25d"\n`,
    })
  })

  it('an alias bomb is a config error (exit 3), not an internal error', async () => {
    const bomb = ['x: &a [x,x,x,x,x,x,x,x,x]', 'y: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'z: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'w: [*c,*c,*c,*c,*c,*c,*c,*c,*c]'].join('\n')
    await writeFile(sandbox.configFile, `${stringify(sandbox.config)}${bomb}\n`)
    const run = await ccl(['status'])
    expect(run.code).toBe(3)
    expect(run.stderr).toBe(`ccl: ${sandbox.configFile}: YAML cannot be read: Excessive alias count indicates a resource exhaustion attack\n`)
  })

  it('fuzzed broken configs: every command run exits 3 with one line naming the file (a sample of 40)', async () => {
    const valid = stringify(sandbox.config)
    const broken = fc.oneof(
      fc.string({unit: 'binary', maxLength: 200}).map((s) => `${valid}${s}`),
      fc.string({unit: 'binary', maxLength: 200}),
      fc.constantFrom('queue: [', 'a: &a b\nc: *d', '!!js/function x', '? [a]\n: b', 'queue: *x', '%YAML 9.9\n---\na: b', `${valid}queue: /again`),
      fc.tuple(fc.constantFrom('queue', 'shared', 'accounts', 'tmux', 'dispatch', 'watchdog', 'delegation'), fc.jsonValue()).map(([key, value]) => stringify({...sandbox.config, [key]: value})),
    )
    const samples = fc.sample(broken, {seed: 15_010, numRuns: 40})
    const dir = path.join(sandbox.dir, 'fuzz')
    await mkdir(dir)
    const results: {file: string; code: number; stderr: string}[] = []
    for (const [i, text] of samples.entries()) {
      const file = path.join(dir, `c${i}.yaml`)
      await writeFile(file, text)
      const run = await runCcl(['route', 'a.md', '--config', file], {cwd: sandbox.dir, timeoutMs: 20_000})
      results.push({file, code: run.code, stderr: run.stderr})
    }

    for (const result of results) {
      // A sample can be a valid config after all (route then says a.md is not found: exit 2); never 1.
      expect([2, 3], result.stderr).toContain(result.code)
      if (result.code === 3) expect(result.stderr, result.file).toMatch(new RegExp(`^ccl: ${result.file.replaceAll('.', '\\.')}[: ]`))
      expect(result.stderr).not.toContain('internal error')
      expect(result.stderr).not.toMatch(/\n\s+at /)
    }

    expect(results.filter((r) => r.code === 3).length).toBeGreaterThan(30)
  })
})

describe('FIFOs where files belong are reported, never waited on', {timeout: 90_000}, () => {
  const mkfifo = (file: string) => execFileSync('mkfifo', [file])

  it('--config FIFO: every command that loads the config exits 3 naming it', async () => {
    const fifo = path.join(sandbox.dir, 'fifo.yaml')
    mkfifo(fifo)
    const commands = [['status'], ['reap'], ['route', 'a.md'], ['delegate', 'submit', 'a.md'], ['assign', 'a.md'], ['dispatch']]
    const runs = await Promise.all(commands.map((args) => runCcl([...args, '--config', fifo], {cwd: sandbox.dir, timeoutMs: 20_000})))
    for (const run of runs) expect(run).toEqual({code: 3, stdout: '', stderr: `ccl: ${fifo}: cannot read config file: not a regular file (a FIFO)\n`})
  })

  it('a FIFO named X.md.delegated: status lists it, reap reports it and goes on, cancel names it', async () => {
    await sandbox.writeConfig({...sandbox.config, delegation: DELEGATION})
    await writeFile(path.join(pendingDir(), 'X.md'), 'x\n')
    const marker = path.join(pendingDir(), 'X.md.delegated')
    mkfifo(marker)
    const [status, reap, cancel] = await Promise.all([ccl(['status'], {env: KEY}), ccl(['reap'], {env: KEY}), ccl(['cancel', 'X.md'], {env: KEY})])
    expect(status.code).toBe(1)
    expect(status.stdout).toContain(`- marker: ${marker}: cannot read delegation marker: not a regular file (a FIFO)`)
    expect(reap.code).toBe(1)
    expect(reap.stdout).toContain(`error          ${marker}: cannot read delegation marker: not a regular file (a FIFO)`)
    expect(cancel).toEqual({code: 2, stdout: '', stderr: `ccl: ${marker}: not a regular file (a FIFO), so not a delegation marker: nothing was cancelled; remove it by hand\n`})
    expect((await readdir(pendingDir())).sort()).toEqual(['X.md', 'X.md.delegated'])
  })

  it('a FIFO as a task: route, submit and assign name it; status and dispatch hold it', async () => {
    await sandbox.writeConfig({...sandbox.config, delegation: DELEGATION})
    mkfifo(path.join(pendingDir(), 'F.md'))
    const [route, submit, assign, status, dispatch] = await Promise.all([
      ccl(['route', 'F.md'], {cwd: pendingDir(), env: KEY}),
      ccl(['delegate', 'submit', 'F.md'], {env: KEY}),
      ccl(['assign', 'F.md', '--account', 'alpha'], {env: KEY}),
      ccl(['status'], {env: KEY}),
      ccl(['dispatch'], {env: {...KEY, CCL_SETTLE: '0'}}),
    ])
    expect(route).toEqual({code: 2, stdout: '', stderr: 'ccl: F.md: is not a regular file, not a task file\n'})
    expect(submit.code).toBe(4)
    expect(submit.stderr).toBe('ccl: F.md: not delegated: a FIFO, not a regular file: never read, moved or sent\n')
    expect(assign.code).toBeGreaterThanOrEqual(2)
    expect(status.stdout).toContain('- held task: pending/F.md: a FIFO, not a regular file: never read, moved or sent')
    expect(dispatch.code, dispatch.stderr).toBe(0)
    expect(await readdir(pendingDir())).toEqual(['F.md'])
  })

  it("a FIFO as an account's state files: status and reconcile do not wait on it", async () => {
    const state = path.join(sandbox.queue, '.ccl')
    for (const dir of ['accounts', 'sessions', 'paused']) await mkdir(path.join(state, dir), {recursive: true})
    for (const file of ['accounts/alpha.json', 'sessions/alpha.json', 'paused/alpha.json']) mkfifo(path.join(state, file))
    const status = await ccl(['status'])
    expect(status.code).toBeGreaterThan(0)
    expect(status.stdout + status.stderr).toMatch(/not a regular file \(a FIFO\)/)
    expect(status.stderr).not.toContain('internal error')
  })
})

describe('task names, fuzzed, through the CLI: route and status never print a raw control character', {timeout: 120_000}, () => {
  it('40 random names in one route run and one status run', async () => {
    const unit = fc.oneof(fc.constantFrom('\n', '\t', '\r', '\u001B', '\u2028', '\u2029', '\u0085', '\u009B', '\u007F', '\\', ' '), fc.string({unit: 'binary', minLength: 1, maxLength: 1}))
    const names = [...new Set(fc.sample(fc.string({unit, minLength: 1, maxLength: 20}), {seed: 15_011, numRuns: 80}))]
      .map((s) => `${s.replaceAll('/', '_').replaceAll('\0', '_')}.md`)
      .filter((name) => !name.startsWith('.') && Buffer.byteLength(name) < 200)
      .slice(0, 40)
    for (const name of names) await writeFile(path.join(pendingDir(), name), '---\nallow_delegation: true\n---\nx\n')
    const route = await ccl(['route', ...names], {cwd: pendingDir()})
    expect(route.code, route.stderr).toBe(0)
    const lines = route.stdout.split('\n').slice(0, -1)
    expect(lines).toHaveLength(names.length)
    for (const line of lines) {
      const columns = line.split('\t')
      expect(columns).toHaveLength(3)
      for (const column of columns) expect(RAW.test(column), JSON.stringify(line)).toBe(false)
    }

    const status = await ccl(['status'])
    expectNoRawLines(status.stdout)
    expectNoRawLines(status.stderr)
  })
})
