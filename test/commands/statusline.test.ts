// `ccl statusline` and its install, run as Claude Code runs them: the built binary, a real settings.json,
// the command line read back from it and run through sh -c with CLAUDE_CONFIG_DIR and the payload on stdin.
import {execFile} from 'node:child_process'
import {mkdir, readFile, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {loadedPackages} from '../support/loaded-packages.js'
import {BIN, makeSandbox, REPO, runCcl, type Sandbox} from '../support/sandbox.js'
import {allLogText} from '../support/events.js'

let sandbox: Sandbox
beforeEach(async () => {
  sandbox = await makeSandbox({accounts: ['alpha', 'beta'], config: {failover: {headroom: true}}})
})
afterEach(async () => {
  await sandbox.cleanup()
})

const FIXTURES = path.join(REPO, 'test/fixtures/claude-code-2.1.328/statusline')
const payload = (name = 'rate-limits.json') => readFile(path.join(FIXTURES, name), 'utf8')
const settingsOf = (account: string) => path.join(sandbox.homes[account]!, 'settings.json')
const stateOf = (account: string) => path.join(sandbox.queue, '.ccl', 'accounts', `${account}.json`)
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const readJson = async (file: string): Promise<Record<string, any>> => JSON.parse(await readFile(file, 'utf8'))
const events = async () =>
  allLogText(path.join(sandbox.queue, '.ccl'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as {event: string; reason?: string; source?: string})

const statusline = (account: string | undefined, input: string, ...args: string[]) =>
  runCcl(['statusline', '--config', sandbox.configFile, ...args], {input, env: account ? {CLAUDE_CONFIG_DIR: sandbox.homes[account]!} : {}})

/** Runs settings.json's statusLine command the way Claude Code does: `sh -c COMMAND`, the payload on stdin. */
async function runInstalled(account: string, input: string): Promise<{code: number; stdout: Buffer; stderr: string}> {
  const command = (await readJson(settingsOf(account))).statusLine.command as string
  return new Promise((resolve) => {
    const child = execFile(
      'sh',
      ['-c', command],
      {encoding: 'buffer', env: {PATH: process.env.PATH, HOME: sandbox.dir, CLAUDE_CONFIG_DIR: sandbox.homes[account]!}, timeout: 60_000},
      (error, stdout, stderr) => resolve({code: error ? Number(error.code ?? 1) : 0, stdout, stderr: String(stderr)}),
    )
    child.stdin?.end(input)
  })
}

describe('ccl statusline', {timeout: 60_000}, () => {
  it("records the payload's rate limits in the account's record, and prints a short line when nothing is chained", async () => {
    const run = await statusline('alpha', await payload())
    expect(run).toEqual({code: 0, stdout: 'ccl alpha · 5h 0% · 7d 0%\n', stderr: ''})
    const state = await readJson(stateOf('alpha'))
    expect(state.usage).toEqual({
      five_hour: {used_percentage: 42.3, resets_at: '2026-03-22T00:00:00.000Z'},
      seven_day: {used_percentage: 14.000000000000002, resets_at: '2026-03-26T04:40:00.000Z'},
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    })
    // beta's record is not touched
    await expect(stat(stateOf('beta'))).rejects.toThrow(/ENOENT/)
  })

  it('writes the record only when the numbers changed; a payload without rate limits keeps the last ones', async () => {
    const future = Math.floor(Date.now() / 1000) + 3600
    const body = (pct: number) => JSON.stringify({session_id: 's', rate_limits: {five_hour: {used_percentage: pct, resets_at: future}}})
    expect((await statusline('alpha', body(10))).stdout).toBe('ccl alpha · 5h 10%\n')
    const first = await stat(stateOf('alpha'))
    const text = await readFile(stateOf('alpha'), 'utf8')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect((await statusline('alpha', body(10))).code).toBe(0)
    const second = await stat(stateOf('alpha'))
    // the same numbers: not rewritten (a rewrite is a rename: a new inode)
    expect([second.ino, second.mtimeMs]).toEqual([first.ino, first.mtimeMs])
    expect(await readFile(stateOf('alpha'), 'utf8')).toBe(text)
    expect((await statusline('alpha', await payload('no-rate-limits.json'))).stdout).toBe('ccl alpha · 5h 10%\n')
    expect(await readFile(stateOf('alpha'), 'utf8')).toBe(text)
    await statusline('alpha', body(11))
    expect((await readJson(stateOf('alpha'))).usage.five_hour.used_percentage).toBe(11)
  })

  it('passes the chained command its stdin and its output through unchanged, with its exit code', async () => {
    // bytes that are not a line, not ASCII, with ANSI colour, and stderr kept apart
    const chain = `printf '\\033[32m5h\\033[0m ┃ %s' "$(wc -c)"; printf 'to stderr' >&2; exit 3`
    const input = await payload()
    const run = await statusline('alpha', input, `--chain=${chain}`)
    expect(run.code).toBe(3)
    expect(run.stdout).toBe(`\u001B[32m5h\u001B[0m ┃ ${Buffer.byteLength(input)}`)
    expect(run.stderr).toBe('to stderr')
    expect((await readJson(stateOf('alpha'))).usage.five_hour.used_percentage).toBe(42.3)
  })

  it('bad JSON, an unknown home, an unreadable record, a broken config: exit 0, the chained command still runs, hook.error', async () => {
    const chain = '--chain=cat; echo " <- mine"'
    expect(await statusline('alpha', 'not json', chain)).toEqual({code: 0, stdout: 'not json <- mine\n', stderr: ''})
    expect(await statusline('alpha', 'not json')).toEqual({code: 0, stdout: '', stderr: ''})
    expect(await statusline(undefined, '{}', chain)).toEqual({code: 0, stdout: '{} <- mine\n', stderr: ''})
    await mkdir(path.dirname(stateOf('beta')), {recursive: true})
    await writeFile(stateOf('beta'), '{"version": 1, "torn')
    const input = await payload()
    const broken = await statusline('beta', input, chain)
    expect(broken).toEqual({code: 0, stdout: `${input} <- mine\n`, stderr: ''})
    expect(await readFile(stateOf('beta'), 'utf8')).toBe('{"version": 1, "torn')
    expect((await events()).map((e) => [e.event, e.source, e.reason])).toEqual([
      ['hook.error', 'statusline', 'the statusLine payload is not JSON'],
      ['hook.error', 'statusline', 'the statusLine payload is not JSON'],
      ['hook.error', 'statusline', 'no configured account has CLAUDE_CONFIG_DIR null'],
      ['hook.error', 'statusline', expect.stringContaining(`${stateOf('beta')}: not an account state record`)],
    ])
    const noConfig = await runCcl(['statusline', '--config', '/nonexistent/ccl.yaml', chain], {input: 'x'})
    expect(noConfig.code).toBe(0)
    expect(noConfig.stdout).toBe('x <- mine\n')
    expect(noConfig.stderr).toMatch(/^ccl statusline: .*\/nonexistent\/ccl\.yaml/)
  })
})

describe('ccl statusline start-up', {timeout: 60_000}, () => {
  it('runs on every status refresh, so it loads no oclif, zod, got, listr2 or execa, nor the queue core (and the recorder sees what it loads)', async () => {
    const log = path.join(sandbox.dir, 'imports.log')
    const recorder = fileURLToPath(new URL('../support/record-imports.mjs', import.meta.url))
    const input = await payload()
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        ['--import', recorder, BIN, 'statusline', '--config', sandbox.configFile],
        {env: {PATH: process.env.PATH, HOME: sandbox.dir, CCL_IMPORT_LOG: log, CLAUDE_CONFIG_DIR: sandbox.homes.alpha!}},
        (error, out) => (error ? reject(error) : resolve(String(out))),
      )
      child.stdin?.end(input)
    })
    expect(stdout).toBe('ccl alpha · 5h 0% · 7d 0%\n')
    const urls = (await readFile(log, 'utf8')).split('\n')
    const loaded = loadedPackages(urls)
    expect(loaded).toContain('ccl:dist/fast/statusline.js')
    expect(loaded).toContain('yaml')
    for (const heavy of ['@oclif/core', 'zod', 'got', 'listr2', 'execa', 'gray-matter', 'p-limit']) expect(loaded).not.toContain(heavy)
    const meta = JSON.parse(await readFile(path.join(REPO, 'dist/meta.json'), 'utf8')) as {outputs: Record<string, {inputs: Record<string, unknown>}>}
    const sources = urls
      .filter((url) => url.startsWith('file:'))
      .flatMap((url) => Object.keys(meta.outputs[path.relative(REPO, fileURLToPath(url))]?.inputs ?? {}))
    expect(sources).toContain('src/lib/accounts/statusline.ts')
    expect(sources).not.toContain('src/lib/queue/transitions.ts')
  })
})

describe('hooks install with failover.headroom', {timeout: 60_000}, () => {
  const install = (...args: string[]) => runCcl(['hooks', 'install', '--config', sandbox.configFile, ...args])

  it("chains the operator's statusLine: Claude Code running the installed command sees exactly the operator's output", async () => {
    const mine = {type: 'command', command: `printf 'branch \\342\\216\\207 main'; cat > ${JSON.stringify(path.join(sandbox.dir, 'seen'))}`, padding: 0}
    await writeFile(settingsOf('alpha'), JSON.stringify({model: 'opus', statusLine: mine}))
    const run = await install()
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain(`alpha: ${settingsOf('alpha')}: added 6 hooks, set the statusLine (chaining: ${mine.command})\n`)
    expect(run.stdout).toContain(`beta: ${settingsOf('beta')}: added 6 hooks, set the statusLine (new file)\n`)
    const settings = await readJson(settingsOf('alpha'))
    expect(settings.model).toBe('opus')
    expect(settings.statusLine).toEqual({type: 'command', command: expect.stringMatching(/ statusline --config .* # ccl-hook$/), padding: 0})

    const input = await payload()
    const shown = await runInstalled('alpha', input)
    expect(shown.code).toBe(0)
    expect(shown.stdout.toString('utf8')).toBe('branch ⎇ main')
    expect(await readFile(path.join(sandbox.dir, 'seen'), 'utf8')).toBe(input)
    expect((await readJson(stateOf('alpha'))).usage.five_hour.used_percentage).toBe(42.3)
    // beta had none: ccl's short line
    expect((await runInstalled('beta', input)).stdout.toString()).toBe('ccl beta · 5h 0% · 7d 0%\n')
  })

  it('a second install changes nothing, and never chains ccl into itself', async () => {
    await writeFile(settingsOf('alpha'), JSON.stringify({statusLine: {type: 'command', command: 'echo mine'}}))
    await install()
    const text = await readFile(settingsOf('alpha'), 'utf8')
    const before = await stat(settingsOf('alpha'))
    const again = await install()
    expect(again.stdout).toBe(`alpha: ${settingsOf('alpha')}: unchanged\nbeta: ${settingsOf('beta')}: unchanged\n`)
    expect(await readFile(settingsOf('alpha'), 'utf8')).toBe(text)
    expect((await stat(settingsOf('alpha'))).mtimeMs).toBe(before.mtimeMs)
    // ccl's config moved: its entry is replaced, still chaining only the operator's command
    const other = path.join(sandbox.dir, 'other.yaml')
    await writeFile(other, await readFile(sandbox.configFile, 'utf8'))
    const moved = await runCcl(['hooks', 'install', '--config', other])
    expect(moved.stdout).toContain('alpha: ')
    expect(moved.stdout).toContain('replaced 6 hooks, replaced the statusLine (chaining: echo mine)')
    const command = (await readJson(settingsOf('alpha'))).statusLine.command as string
    expect(command.match(/statusline/g)).toHaveLength(1)
    expect(command).toContain(`--config '${other}' '--chain=echo mine' # ccl-hook`)
    expect((await runInstalled('alpha', '{}')).stdout.toString()).toBe('mine\n')
  })

  it("headroom off again: the operator's statusLine is put back, ccl's own removed where there was none", async () => {
    const mine = {type: 'command', command: '~/bin/status', padding: 1}
    await writeFile(settingsOf('alpha'), JSON.stringify({statusLine: mine, env: {A: '1'}}))
    await install()
    await sandbox.writeConfig({...sandbox.config, failover: {headroom: false}})
    const dry = await install('--dry-run')
    expect(dry.stdout).toContain("alpha: " + settingsOf('alpha') + ": would restore the operator's statusLine (~/bin/status)")
    expect(dry.stdout).toContain(`beta: ${settingsOf('beta')}: would remove ccl's statusLine`)
    const run = await install()
    expect(run.code).toBe(0)
    expect(run.stdout).toBe(
      `alpha: ${settingsOf('alpha')}: restored the operator's statusLine (~/bin/status)\nbeta: ${settingsOf('beta')}: removed ccl's statusLine\n`,
    )
    const alpha = await readJson(settingsOf('alpha'))
    expect(alpha.statusLine).toEqual(mine)
    expect(alpha.env).toEqual({A: '1'})
    expect(Object.keys(alpha.hooks)).toHaveLength(6)
    expect('statusLine' in (await readJson(settingsOf('beta')))).toBe(false)
    // and with headroom off from the start, a statusLine is never touched
    expect((await install()).stdout).toBe(`alpha: ${settingsOf('alpha')}: unchanged\nbeta: ${settingsOf('beta')}: unchanged\n`)
  })

  it('leaves a statusLine that is not a command alone (exit 0, said on its line); refuses a ccl entry it cannot read back', async () => {
    await writeFile(settingsOf('alpha'), JSON.stringify({statusLine: {type: 'static', text: 'hi'}}))
    const bad = "'/usr/bin/node' '/x/run.js' statusline '--chain=unterminated # ccl-hook"
    await writeFile(settingsOf('beta'), JSON.stringify({statusLine: {type: 'command', command: bad}}))
    const run = await install('--json')
    expect(run.code).toBe(1)
    const report = JSON.parse(run.stdout) as {accounts: {account: string; status: string; error?: string; statusLine?: unknown}[]}
    expect(report.accounts[0]).toMatchObject({
      account: 'alpha',
      status: 'added',
      statusLine: {change: 'skipped', chained: null, note: expect.stringContaining('its type is "static", not "command"')},
    })
    expect((await readJson(settingsOf('alpha'))).statusLine).toEqual({type: 'static', text: 'hi'})
    expect(report.accounts[1]).toMatchObject({account: 'beta', status: 'refused', error: expect.stringContaining("statusLine: ccl's command there cannot be read back")})
    expect((await readJson(settingsOf('beta'))).statusLine.command).toBe(bad)
  })
})
