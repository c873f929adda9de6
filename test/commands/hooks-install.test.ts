import {chmod, lstat, mkdir, readFile, readlink, rm, stat, symlink, utimes, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {BIN, makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
beforeEach(async () => {
  sandbox = await makeSandbox({accounts: ['alpha', 'beta']})
})
afterEach(async () => {
  await sandbox.cleanup()
})

const EVENTS = ['SessionStart', 'UserPromptSubmit', 'Stop', 'StopFailure', 'Notification', 'SessionEnd']
const run = (...args: string[]) => runCcl(['hooks', 'install', '--config', sandbox.configFile, ...args])
const settingsOf = (account: string) => path.join(sandbox.homes[account]!, 'settings.json')
const read = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as {hooks: Record<string, Group[]>} & Record<string, unknown>
const q = (word: string) => `'${word.replaceAll("'", "'\\''")}'`
/** What ccl installs when this test's node runs this package's bin with this sandbox's config. */
const expected = () => `${q(process.execPath)} ${q(BIN)} hook --config ${q(sandbox.configFile)} # ccl-hook`
const oldCommand = "'/old/node' '/old/ccl/bin/run.js' hook --config '/old/ccl.yaml' # ccl-hook"

interface Group {
  matcher?: string
  hooks: {type: string; command: string; timeout?: number}[]
}

/** Every ccl command on an event, wherever it stands. */
const cclCommands = (settings: {hooks: Record<string, Group[]>}, event: string) =>
  (settings.hooks[event] ?? []).flatMap((g) => g.hooks).filter((h) => h.command.endsWith(' # ccl-hook')).map((h) => h.command)

describe('ccl hooks install', () => {
  it('installs into an empty home: one entry per event, calling ccl by absolute paths, timeout 10', async () => {
    const result = await run()
    expect(result.stdout).toBe(
      `alpha: ${settingsOf('alpha')}: added 6 hooks (new file)\nbeta: ${settingsOf('beta')}: added 6 hooks (new file)\n`,
    )
    expect(result.code).toBe(0)
    const text = await readFile(settingsOf('alpha'), 'utf8')
    const entry = {type: 'command', command: expected(), timeout: 10}
    expect(JSON.parse(text)).toEqual({
      hooks: {
        SessionStart: [{matcher: '', hooks: [entry]}],
        UserPromptSubmit: [{hooks: [entry]}],
        Stop: [{hooks: [entry]}],
        StopFailure: [{matcher: '', hooks: [entry]}],
        Notification: [{matcher: '', hooks: [entry]}],
        SessionEnd: [{matcher: '', hooks: [entry]}],
      },
    })
    expect(text).toBe(JSON.stringify(JSON.parse(text), null, 2) + '\n')
  })

  it('creates a missing home with mode 0700, like Claude Code', async () => {
    await rm(sandbox.homes.beta!, {recursive: true})
    const result = await run()
    expect(result.code).toBe(0)
    expect((await stat(sandbox.homes.beta!)).mode & 0o777).toBe(0o700)
    expect(cclCommands(await read(settingsOf('beta')), 'Stop')).toEqual([expected()])
  })

  it("keeps the user's own keys and hooks, on the same events and on others", async () => {
    const mine = {
      model: 'opus',
      permissions: {defaultMode: 'acceptEdits', allow: ['Bash']},
      env: {FOO: 'bar'},
      hooks: {
        Stop: [{hooks: [{type: 'command', command: 'notify-send done'}]}],
        SessionStart: [
          {matcher: 'startup', hooks: [{type: 'command', command: 'echo started', timeout: 5}]},
          {matcher: '', hooks: [{type: 'command', command: 'date >> ~/sessions.log'}]},
        ],
        PreToolUse: [{matcher: 'Bash', hooks: [{type: 'command', command: '/usr/local/bin/guard'}]}],
      },
      statusLine: {type: 'command', command: '~/bin/status'},
    }
    await writeFile(settingsOf('alpha'), JSON.stringify(mine))
    await chmod(settingsOf('alpha'), 0o600)
    const result = await run()
    expect(result.stdout).toContain(`alpha: ${settingsOf('alpha')}: added 6 hooks\n`)
    const after = await read(settingsOf('alpha'))
    const {hooks, ...rest} = after
    const {hooks: myHooks, ...myRest} = mine
    expect(rest).toEqual(myRest)
    expect(Object.keys(rest)).toEqual(Object.keys(myRest))
    expect(hooks.PreToolUse).toEqual(myHooks.PreToolUse)
    // the user's groups come first and are unchanged; ccl's is a group of its own after them
    expect(hooks.Stop!.slice(0, 1)).toEqual(myHooks.Stop)
    expect(hooks.SessionStart!.slice(0, 2)).toEqual(myHooks.SessionStart)
    expect(hooks.Stop!.slice(1)).toEqual([{hooks: [{type: 'command', command: expected(), timeout: 10}]}])
    expect(hooks.SessionStart!.slice(2)).toEqual([{matcher: '', hooks: [{type: 'command', command: expected(), timeout: 10}]}])
    for (const event of EVENTS) expect(cclCommands(after, event)).toEqual([expected()])
    expect((await stat(settingsOf('alpha'))).mode & 0o777).toBe(0o600)
  })

  it('is idempotent: a second run writes nothing and says unchanged', async () => {
    await writeFile(settingsOf('alpha'), '{"model":"opus",   "hooks": {}}')
    await run()
    const before = await readFile(settingsOf('alpha'))
    const past = new Date('2020-01-01T00:00:00Z')
    await utimes(settingsOf('alpha'), past, past)
    const second = await run()
    expect(second.stdout).toBe(`alpha: ${settingsOf('alpha')}: unchanged\nbeta: ${settingsOf('beta')}: unchanged\n`)
    expect(second.code).toBe(0)
    expect(await readFile(settingsOf('alpha'))).toEqual(before)
    expect((await stat(settingsOf('alpha'))).mtime).toEqual(past)
  })

  it('replaces the entries of a moved ccl or another config instead of adding beside them', async () => {
    const stale = {type: 'command', command: oldCommand, timeout: 10}
    await writeFile(
      settingsOf('alpha'),
      JSON.stringify({
        hooks: {
          ...Object.fromEntries(EVENTS.map((event) => [event, [{matcher: '', hooks: [stale]}]])),
          Stop: [{hooks: [{type: 'command', command: 'notify-send done'}, stale]}],
        },
      }),
    )
    const result = await run()
    expect(result.stdout).toContain(`alpha: ${settingsOf('alpha')}: replaced 6 hooks\n`)
    const after = await read(settingsOf('alpha'))
    for (const event of EVENTS) expect(cclCommands(after, event)).toEqual([expected()])
    expect(after.hooks.Stop).toEqual([
      {hooks: [{type: 'command', command: 'notify-send done'}]},
      {hooks: [{type: 'command', command: expected(), timeout: 10}]},
    ])
    expect(after.hooks.UserPromptSubmit).toEqual([{hooks: [{type: 'command', command: expected(), timeout: 10}]}])
    expect((await run()).stdout).toContain(`alpha: ${settingsOf('alpha')}: unchanged\n`)
  })

  it('refuses a settings.json that is not JSON with file:line:column, leaves it byte for byte, and still does the others', async () => {
    const broken = '{\n  "model": "opus"\n  "hooks": {}\n}\n'
    await writeFile(settingsOf('alpha'), broken)
    const result = await run()
    expect(result.stdout).toBe(
      `alpha: refused: ${settingsOf('alpha')}:3:3: not valid JSON: unexpected '"', expected ',' or '}' after a property value; left as it was\n` +
        `beta: ${settingsOf('beta')}: added 6 hooks (new file)\n`,
    )
    expect(result.code).toBe(1)
    expect(await readFile(settingsOf('alpha'), 'utf8')).toBe(broken)
    expect(cclCommands(await read(settingsOf('beta')), 'Stop')).toEqual([expected()])
  })

  it('refuses a top level or a "hooks" that is not an object, naming the key', async () => {
    await writeFile(settingsOf('alpha'), '[]\n')
    await writeFile(settingsOf('beta'), '{"hooks": [{"Stop": []}]}')
    const result = await run('--json')
    expect(result.code).toBe(1)
    const report = JSON.parse(result.stdout)
    expect(report.accounts.map((a: {error: string}) => a.error)).toEqual([
      `${settingsOf('alpha')}: (top level): expected a JSON object, got an array`,
      `${settingsOf('beta')}: hooks: expected an object of events, got an array`,
    ])
    expect(await readFile(settingsOf('alpha'), 'utf8')).toBe('[]\n')
    expect(await readFile(settingsOf('beta'), 'utf8')).toBe('{"hooks": [{"Stop": []}]}')
  })

  it('refuses a dangling settings.json link, creating nothing behind it', async () => {
    const gone = path.join(sandbox.dir, 'gone', 'settings.json')
    await symlink(gone, settingsOf('alpha'))
    const result = await run()
    expect(result.stdout).toContain(
      `alpha: refused: ${settingsOf('alpha')}: a symlink to ${gone}, which does not exist; point it at a settings file or remove it; left as it was\n`,
    )
    expect(result.code).toBe(1)
    expect(await readlink(settingsOf('alpha'))).toBe(gone)
    await expect(lstat(gone)).rejects.toMatchObject({code: 'ENOENT'})
  })

  it('writes through a settings.json symlink shared by two accounts, once, and keeps the links', async () => {
    const shared = path.join(sandbox.dir, 'shared-settings', 'settings.json')
    await mkdir(path.dirname(shared))
    await writeFile(shared, JSON.stringify({model: 'opus'}))
    await symlink(shared, settingsOf('alpha'))
    await symlink(path.relative(sandbox.homes.beta!, shared), settingsOf('beta'))
    const result = await run('--json')
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report.accounts).toEqual([
      expect.objectContaining({account: 'alpha', file: settingsOf('alpha'), target: shared, status: 'added'}),
      expect.objectContaining({account: 'beta', file: settingsOf('beta'), target: shared, status: 'added', sharedWith: 'alpha'}),
    ])
    expect(report.accounts[0].sharedWith).toBeUndefined()
    expect((await lstat(settingsOf('alpha'))).isSymbolicLink()).toBe(true)
    expect(await readlink(settingsOf('beta'))).toBe(path.relative(sandbox.homes.beta!, shared))
    const after = await read(shared)
    expect(after.model).toBe('opus')
    for (const event of EVENTS) expect(cclCommands(after, event)).toEqual([expected()])
    const human = await run()
    expect(human.stdout).toBe(
      `alpha: ${settingsOf('alpha')} -> ${shared}: unchanged\n` +
        `beta: ${settingsOf('beta')} -> ${shared} (the same file as alpha, written once): unchanged\n`,
    )
  })

  it('--dry-run shows what would change and writes nothing', async () => {
    await rm(sandbox.homes.beta!, {recursive: true})
    const stale = {type: 'command', command: oldCommand, timeout: 10}
    const text = JSON.stringify({hooks: {Stop: [{hooks: [stale]}], SessionEnd: [{matcher: '', hooks: [stale]}]}})
    await writeFile(settingsOf('alpha'), text)
    const result = await run('--dry-run')
    expect(result.stdout).toBe(
      [
        `command: ${expected()}`,
        `alpha: ${settingsOf('alpha')}: would add 4 hooks, would replace 2 hooks`,
        `  - Stop, SessionEnd: ${oldCommand}`,
        `  + ${EVENTS.join(', ')}`,
        `beta: ${settingsOf('beta')}: would add 6 hooks (new file)`,
        `  + ${EVENTS.join(', ')}`,
        'dry run: nothing written',
        '',
      ].join('\n'),
    )
    expect(result.code).toBe(0)
    expect(await readFile(settingsOf('alpha'), 'utf8')).toBe(text)
    await expect(lstat(sandbox.homes.beta!)).rejects.toMatchObject({code: 'ENOENT'})
  })

  it('--json: one document with every account, its status and events; exit 0, or 1 with a refusal', async () => {
    const ok = await run('--json')
    expect(ok.code).toBe(0)
    const report = JSON.parse(ok.stdout)
    expect(report).toEqual({
      schemaVersion: 1,
      command: expected(),
      dryRun: false,
      accounts: ['alpha', 'beta'].map((account) => ({
        account,
        file: settingsOf(account),
        status: 'added',
        created: true,
        events: EVENTS.map((event) => ({event, change: 'added', removed: []})),
      })),
    })
    await writeFile(settingsOf('beta'), '{')
    const refused = await run('--json')
    expect(refused.code).toBe(1)
    const second = JSON.parse(refused.stdout)
    expect(second.accounts[0]).toMatchObject({account: 'alpha', status: 'unchanged'})
    expect(second.accounts[0].events.every((e: {change: string}) => e.change === 'unchanged')).toBe(true)
    expect(second.accounts[1]).toEqual({
      account: 'beta',
      file: settingsOf('beta'),
      status: 'refused',
      events: [],
      error: `${settingsOf('beta')}:1:2: not valid JSON: unexpected end of file, expected a property name in double quotes`,
    })
  })

  it('exits 3 on a bad config, like every command', async () => {
    await writeFile(sandbox.configFile, 'queue: [oops\n')
    const result = await run()
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
  })

  it('is listed under its topic in ccl --help', async () => {
    expect((await runCcl(['--help'])).stdout).toMatch(/hooks\s+Wire ccl into Claude Code/)
    expect((await runCcl(['hooks', '--help'])).stdout).toMatch(/hooks install\s+Add ccl's hook entries/)
  })
})
