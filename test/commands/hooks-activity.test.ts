// Account state from Claude Code's hooks, end to end: `ccl hooks install`, then the stand-in for
// Claude Code running in a private tmux server runs `ccl hook` with real-shaped payloads.
import {readFile, stat} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {type LoopSandbox, makeLoopSandbox, waitFor} from '../support/loop.js'
import {runCcl} from '../support/sandbox.js'
import {allLogText} from '../support/events.js'

let loop: LoopSandbox | undefined

afterEach(async () => {
  await loop?.cleanup()
  loop = undefined
})

interface Options {
  hooks?: boolean
  accounts?: string[]
  standInEnv?: Record<string, Record<string, string>>
  config?: Record<string, unknown>
  workMs?: number
}

async function started(options: Options = {}): Promise<LoopSandbox> {
  loop = await makeLoopSandbox({
    workMs: options.workMs ?? 300,
    accounts: options.accounts ?? ['alpha'],
    ...(options.standInEnv ? {standInEnv: options.standInEnv} : {}),
    config: options.config ?? {},
  })
  if (options.hooks !== false) {
    const installed = await loop.ccl(['hooks', 'install'])
    expect(installed.code, installed.stdout + installed.stderr).toBe(0)
  }

  const reconciled = await loop.ccl(['reconcile'])
  expect(reconciled.code, reconciled.stderr).toBe(0)
  await loop.ready()
  if (options.hooks !== false) {
    // hooks work for this session once its SessionStart is recorded
    for (const account of options.accounts ?? ['alpha']) {
      expect(await waitFor(async () => (await accountState(loop!, account))?.session_started_at != null, 15_000)).toBe(true)
    }
  }

  return loop
}

// What the tests read back from ccl's JSON files: loosely typed on purpose, asserted field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

async function accountState(l: LoopSandbox, account: string): Promise<Json | undefined> {
  return readFile(path.join(l.sandbox.queue, '.ccl', 'accounts', `${account}.json`), 'utf8').then((t) => JSON.parse(t), () => undefined)
}

async function events(l: LoopSandbox): Promise<Json[]> {
  const text = allLogText(path.join(l.sandbox.queue, '.ccl'))
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line))
}

async function status(l: LoopSandbox): Promise<{code: number; json: Json}> {
  const run = await l.ccl(['status', '--json'])
  return {code: run.code, json: JSON.parse(run.stdout)}
}

describe('ccl hook', {timeout: 120_000}, () => {
  it('garbage on stdin: exit 0, nothing on stdout, a hook.error event', async () => {
    loop = await makeLoopSandbox({accounts: ['alpha']})
    const run = await runCcl(['hook', '--config', loop.sandbox.configFile], {input: 'this is not json', env: {CLAUDE_CONFIG_DIR: loop.sandbox.homes.alpha!}})
    expect(run).toMatchObject({code: 0, stdout: ''})
    const bad = await runCcl(['hook', '--config', '/nonexistent/ccl.yaml'], {input: '{}'})
    expect(bad).toMatchObject({code: 0, stdout: ''})
    expect((await events(loop)).map((e) => [e.event, e.reason])).toEqual([['hook.error', 'the payload is not JSON']])
  })

  it("the stand-in's hooks record the session: its id, the submitted prompt, the turn; a finished task is task.done", async () => {
    const l = await started()
    const before = await accountState(l, 'alpha')
    expect(before).toMatchObject({session_id: expect.any(String), turn: 'idle', last_event: 'SessionStart'})
    await l.addTask('t.md', 'Do it.\n', 60)
    const assigned = await l.ccl(['assign', 't.md'])
    expect(assigned.code, assigned.stderr).toBe(0)
    expect(await waitFor(async () => (await l.where()).done?.includes('t.md') ?? false, 20_000)).toBe(true)
    expect(await waitFor(async () => (await events(l)).some((e) => e.event === 'task.done'), 20_000)).toBe(true)
    const all = await events(l)
    expect(all.find((e) => e.event === 'task.assigned')).toMatchObject({task: 't.md', account: 'alpha', confirmed: true})
    expect(all.find((e) => e.event === 'task.done')).toMatchObject({task: 't.md', account: 'alpha', duration_ms: expect.any(Number)})
    const state = await accountState(l, 'alpha')
    expect(state?.prompts.at(-1).head).toContain(path.join(l.sandbox.queue, 'active', 'alpha', 't.md'))
    expect((await status(l)).json.sessions[0]).toMatchObject({activity: 'free', session_id: before?.session_id})
  })
})

describe('confirmed delivery', {timeout: 120_000}, () => {
  it('a prompt whose Enter was lost is sent Enter again and delivered', async () => {
    const l = await started({standInEnv: {alpha: {STANDIN_IGNORE_ENTER: '1'}}, config: {assign: {enter_delay: '100ms', ready_after: '0s', confirm_within: '1500ms'}}})
    await l.addTask('t.md', 'Do it.\n', 60)
    const assigned = await l.ccl(['assign', 't.md'])
    expect(assigned.code, assigned.stderr).toBe(0)
    const log = await l.standInEvents()
    expect(log.filter((e) => e.event === 'enter-lost')).toHaveLength(1)
    expect(await waitFor(async () => (await l.received()).length === 1)).toBe(true)
    // Delivered once, not requeued: in active/alpha/, or already in done/ when the stand-in was quick (a loaded machine).
    const where = await l.where()
    expect([...(where['active/alpha'] ?? []), ...(where.done ?? [])]).toEqual(['t.md'])
    expect(where.pending ?? []).toEqual([])
  })

  it('a prompt never submitted: the task goes back to pending/ in its place, exit 1', async () => {
    const l = await started({standInEnv: {alpha: {STANDIN_IGNORE_ENTER: '10'}}, config: {assign: {enter_delay: '100ms', ready_after: '0s', confirm_within: '700ms', enter_retries: 1}}})
    const file = await l.addTask('t.md', 'Do it.\n', 600)
    const mtime = (await stat(file)).mtimeMs
    const assigned = await l.ccl(['assign', 't.md'])
    expect(assigned.code).toBe(1)
    expect(assigned.stderr).toContain('t.md: the session did not confirm the prompt (no UserPromptSubmit within 700ms after 2 Enter keys); the task is back in pending/ in its place')
    expect(await l.where()).toEqual({pending: ['t.md']})
    expect(Math.abs((await stat(file)).mtimeMs - mtime)).toBeLessThan(1)
    expect((await events(l)).filter((e) => e.event === 'task.requeued')).toEqual([expect.objectContaining({task: 't.md', reason: expect.stringContaining('delivery not confirmed')})])
  })

  it('assign killed right after its Enter: the next run completes the hand-off instead of requeueing a task the session is doing', async () => {
    const l = await started({workMs: 600_000})
    await l.addTask('t.md', 'Do it.\n', 60)
    const killed = await l.ccl(['assign', 't.md'], {env: {CCL_FAILPOINTS: 'assign.after-enter'}})
    expect(killed.code).not.toBe(0)
    expect(await waitFor(async () => (await l.received()).length === 1)).toBe(true)
    expect(await waitFor(async () => ((await accountState(l, 'alpha'))?.prompts ?? []).length === 1)).toBe(true)
    await l.addTask('u.md', 'Another.\n', 30)
    const next = await l.ccl(['dispatch'])
    expect(next.code, next.stderr).toBe(0)
    expect(next.stderr).not.toContain('interrupted')
    // t.md stays with the session that is doing it; u.md waits: the account is busy with t.md
    expect(await l.where()).toEqual({pending: ['u.md'], 'active/alpha': ['t.md']})
    expect((await events(l)).filter((e) => e.event === 'task.requeued')).toEqual([])
    expect(await l.received()).toHaveLength(1)
  })
})

describe('usage limits', {timeout: 240_000}, () => {
  it('an account that hits its limit mid-task is limited until the parsed reset, gets no task meanwhile, then works again', async () => {
    // Banners show the reset to the minute: a whole minute at least 20 s away (so up to 80 s of waiting).
    const resetsAt = new Date(Math.ceil((Date.now() + 20_000) / 60_000) * 60_000)
    const l = await started({
      // The rate-limit menu swallows a paste: assign must close it (Esc) before it pastes the next prompt.
      standInEnv: {alpha: {STANDIN_LIMIT_AFTER: '1', STANDIN_LIMIT_RESETS_AT: resetsAt.toISOString(), STANDIN_NO_AUTO_CONTINUE: '1', STANDIN_RATE_LIMIT_MENU: '1'}},
      config: {failover: {margin: '1s'}},
    })
    await l.addTask('first.md', 'First.\n', 90)
    expect((await l.ccl(['dispatch'])).code).toBe(0)
    expect(await waitFor(async () => (await l.where()).done?.includes('first.md') ?? false, 20_000)).toBe(true)
    await l.addTask('second.md', 'Second.\n', 80)
    const second = await l.ccl(['dispatch'])
    expect(second.code, second.stderr).toBe(0)
    expect(await waitFor(async () => (await accountState(l, 'alpha'))?.limited != null, 20_000)).toBe(true)
    const state = await accountState(l, 'alpha')
    const printed = resetsAt
    expect(state?.limited).toMatchObject({reason: 'usage-limit', limit: 'five_hour'})
    expect(Date.parse(state!.limited.until)).toBe(printed.getTime())
    const limited = await status(l)
    expect(limited.json.sessions[0]).toMatchObject({activity: 'limited', limited_until: new Date(printed.getTime() + 1000).toISOString()})
    expect((await events(l)).filter((e) => e.event === 'account.limited')).toEqual([expect.objectContaining({account: 'alpha', reason: 'usage-limit', banner: expect.stringContaining('5-hour limit')})])

    // second.md is still with alpha (the stand-in left it); a third task waits: alpha is limited.
    await l.addTask('third.md', 'Third.\n', 70)
    const waiting = await l.ccl(['assign', 'third.md'])
    expect(waiting.code).toBe(4)
    expect(waiting.stderr).toMatch(/alpha: limited until \S+ \(five_hour; reset plus failover\.margin\)/)

    // After the reset plus the margin it is free again by itself.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, printed.getTime() + 1500 - Date.now())))
    const {rename} = await import('node:fs/promises')
    await rename(path.join(l.sandbox.queue, 'active', 'alpha', 'second.md'), path.join(l.sandbox.queue, 'done', 'second.md'))
    const again = await l.ccl(['assign', 'third.md'])
    expect(again.code, again.stderr).toBe(0)
    expect((await events(l)).filter((e) => e.event === 'account.available')).toEqual([expect.objectContaining({account: 'alpha'})])
    // delivered, not swallowed: the menu was closed first
    const log = await l.standInEvents()
    expect(log.filter((e) => e.event === 'swallowed')).toEqual([])
    expect(log.some((e) => e.event === 'menu-closed')).toBe(true)
    expect((await l.received()).map((e) => path.basename(e.task ?? ''))).toContain('third.md')
  })

  it('without hooks, reconcile reads the limit banner from the pane of a session holding a task', async () => {
    const l = await started({hooks: false, standInEnv: {alpha: {STANDIN_LIMIT_AFTER: '0', STANDIN_NO_AUTO_CONTINUE: '1'}}})
    await l.addTask('t.md', 'Do it.\n', 60)
    expect((await l.ccl(['assign', 't.md'])).code).toBe(0)
    expect(await waitFor(async () => (await l.standInEvents()).some((e) => e.event === 'limited'), 15_000)).toBe(true)
    const pass = await l.ccl(['reconcile'])
    expect(pass.code, pass.stderr).toBe(0)
    expect(pass.stderr).toContain('usage limit read from the pane: limited until')
    expect((await accountState(l, 'alpha'))?.limited).toMatchObject({reason: 'usage-limit', limit: 'five_hour'})
    expect((await status(l)).json.sessions[0].activity).toBe('limited')
  })
})

describe('waiting sessions', {timeout: 120_000}, () => {
  it('a session asking for permission shows as waiting and, past watchdog.waiting_after, needs an operator', async () => {
    const l = await started({standInEnv: {alpha: {STANDIN_ASK_PERMISSION: '1'}}, config: {watchdog: {waiting_after: '2s'}}})
    await l.addTask('t.md', 'Do it.\n', 60)
    expect((await l.ccl(['assign', 't.md'])).code).toBe(0)
    expect(await waitFor(async () => (await accountState(l, 'alpha'))?.turn === 'waiting', 15_000)).toBe(true)
    const early = await status(l)
    expect(early.json.sessions[0]).toMatchObject({activity: 'waiting', waiting: {why: 'permission_prompt'}})
    await new Promise((resolve) => setTimeout(resolve, 2500))
    const late = await l.ccl(['status'])
    expect(late.code).toBe(1)
    expect(late.stdout).toMatch(/waiting for permission since \d\d:\d\d UTC/)
    expect(late.stdout).toContain('- waiting: alpha has been waiting (for permission)')
    expect((await events(l)).filter((e) => e.event === 'session.waiting')).toEqual([expect.objectContaining({account: 'alpha', reason: 'permission_prompt'})])
  })

  it('a session that ended its turn without finishing shows as waiting (turn-ended)', async () => {
    const l = await started({standInEnv: {alpha: {STANDIN_END_TURN_UNFINISHED: '1'}}})
    await l.addTask('t.md', 'Do it.\n', 60)
    expect((await l.ccl(['assign', 't.md'])).code).toBe(0)
    expect(await waitFor(async () => (await l.standInEvents()).some((e) => e.event === 'unfinished'), 15_000)).toBe(true)
    expect(await waitFor(async () => (await status(l)).json.sessions[0].activity === 'waiting', 15_000)).toBe(true)
    expect((await status(l)).json.sessions[0].waiting).toMatchObject({why: 'turn-ended'})
  })
})
