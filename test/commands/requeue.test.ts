import {spawn} from 'node:child_process'
import {mkdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {type LoopSandbox, makeLoopSandbox, mtimeMs, waitFor} from '../support/loop.js'
import {BIN} from '../support/sandbox.js'
import {allLogText} from '../support/events.js'

let loop: LoopSandbox | undefined

afterEach(async () => {
  await loop?.cleanup()
  loop = undefined
})

/** One account whose stand-in works `workMs` on a task: long enough for a task to be stuck. */
async function started(workMs: number): Promise<LoopSandbox> {
  loop = await makeLoopSandbox({accounts: ['alpha'], workMs})
  const reconciled = await loop.ccl(['reconcile'])
  expect(reconciled.code, reconciled.stderr).toBe(0)
  await loop.ready()
  return loop
}

/** From now on the account's stand-in finishes a task in `workMs` (taken when its session is next created). */
async function workFor(l: LoopSandbox, workMs: number): Promise<void> {
  const accounts = (l.sandbox.config.accounts as {command: string}[]).map((a) => ({...a, command: a.command.replace(/STANDIN_WORK_MS=\d+/, `STANDIN_WORK_MS=${workMs}`)}))
  await l.sandbox.writeConfig({...l.sandbox.config, accounts})
}

const panePid = async (l: LoopSandbox) => Number((await l.server.tmux('list-panes', '-t', '=ccl-alpha:', '-F', '#{pane_pid}')).trim())
const events = async (l: LoopSandbox) =>
  allLogText(path.join(l.sandbox.queue, '.ccl'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>)
const record = async (l: LoopSandbox) => JSON.parse(await readFile(path.join(l.sandbox.queue, '.ccl', 'sessions', 'alpha.json'), 'utf8')) as {crashes: string[]; created_at: string | null}

/** A stuck task: handed to alpha, whose stand-in is busy with it for a minute. */
async function stuck(l: LoopSandbox, name: string, ageS: number): Promise<number> {
  const file = await l.addTask(name, `Do ${name}.\n`, ageS)
  const placed = await mtimeMs(file)
  const assigned = await l.ccl(['assign', name])
  expect(assigned.code, assigned.stderr).toBe(0)
  expect(await waitFor(async () => (await l.received()).some((e) => e.task?.endsWith(name)))).toBe(true)
  return placed
}

describe('ccl requeue', {timeout: 120_000}, () => {
  it('puts a stuck task back in its place in line and restarts the session; the task then runs once', async () => {
    const l = await started(60_000)
    const placed = await stuck(l, 'stuck.md', 3600)
    await l.addTask('later.md', 'Do later.md.\n', 600)
    const pid = await panePid(l)
    await workFor(l, 150)

    const run = await l.ccl(['requeue', 'stuck.md', '--json'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({schemaVersion: 1, account: 'alpha', task: 'stuck.md', as: 'stuck.md', renamed: false, restored: true, session: 'ccl-alpha', restarted: true})
    expect(await l.where()).toEqual({pending: ['later.md', 'stuck.md']})
    expect(Math.abs((await mtimeMs(path.join(l.sandbox.queue, 'pending', 'stuck.md'))) - placed)).toBeLessThan(1) // its mtime from before the hand-off
    expect(await panePid(l)).not.toBe(pid)
    const log = await events(l)
    expect(log.filter((e) => e.event === 'task.requeued')).toEqual([expect.objectContaining({task: 'stuck.md', account: 'alpha', reason: 'operator'})])
    expect(log.filter((e) => e.event === 'session.created').at(-1)).toMatchObject({account: 'alpha', after: 'requeue'})
    expect(log.some((e) => e.event === 'session.crashed')).toBe(false)
    expect((await record(l)).crashes).toEqual([])
    expect((await record(l)).created_at).not.toBeNull()

    // The old session got it once and was stopped; the new one takes it first (its place) and does it once.
    await l.ready()
    const before = (await l.received()).length
    const dispatched = await l.ccl(['dispatch', '--max', '1'])
    expect(dispatched.code, dispatched.stderr).toBe(0)
    expect(await waitFor(async () => (await l.where()).done?.includes('stuck.md') ?? false)).toBe(true)
    const after = (await l.received()).slice(before)
    expect(after.map((e) => path.basename(e.task ?? ''))).toEqual(['stuck.md'])
    expect((await l.standInEvents()).filter((e) => e.event === 'done' && e.task?.endsWith('stuck.md'))).toHaveLength(1)
    expect(await l.where()).toEqual({pending: ['later.md'], done: ['stuck.md']})
  })

  it('is refused while a hand-off to the account is under way: nothing changes, the session keeps running', async () => {
    const l = await started(150)
    await l.addTask('t.md', 'Do t.md.\n', 60)
    const dir = path.join(l.sandbox.dir, 'failpoints')
    await mkdir(dir, {recursive: true})
    const child = spawn(process.execPath, [BIN, 'assign', 't.md'], {cwd: l.sandbox.dir, env: {...l.env, CCL_FAILPOINTS: 'assign.after-move=pause', CCL_FAILPOINT_DIR: dir}, stdio: 'ignore'})
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const flag = path.join(dir, 'assign.after-move.reached')
    expect(await waitFor(async () => stat(flag).then(() => true, () => false), 20_000)).toBe(true)
    const pid = await panePid(l)

    const run = await l.ccl(['requeue', 't.md'])
    expect(run.code).toBe(4)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(/^ccl: \S+\/active\/alpha\/t\.md: not requeued: a hand-off of t\.md to alpha is under way \(pid \d+.*\); nothing changed\n$/)
    expect(await l.where()).toEqual({'active/alpha': ['t.md']})
    expect(await panePid(l)).toBe(pid)

    await rm(flag)
    expect(await exited).toBe(0)
    expect(await waitFor(async () => (await l.where()).done?.includes('t.md') ?? false)).toBe(true)
    expect((await events(l)).some((e) => e.event === 'task.requeued')).toBe(false)
  })

  it('is refused while a failover journal names the account, and says where a task not in active/ is (exit 2)', async () => {
    loop = await makeLoopSandbox({accounts: ['alpha']})
    const l = loop
    await mkdir(path.join(l.sandbox.queue, 'active', 'alpha'), {recursive: true})
    await writeFile(path.join(l.sandbox.queue, 'active', 'alpha', 'f.md'), 'x\n')
    await mkdir(path.join(l.sandbox.queue, '.ccl', 'failover'), {recursive: true})
    await writeFile(path.join(l.sandbox.queue, '.ccl', 'failover', 'alpha.json'), '{}\n')
    const run = await l.ccl(['requeue', 'f.md', '--json'])
    expect(run.code).toBe(4)
    expect(JSON.parse(run.stdout).error).toMatchObject({code: 'refused', message: expect.stringContaining('a failover journal in')})
    expect(await l.where()).toEqual({'active/alpha': ['f.md']})

    await writeFile(path.join(l.sandbox.queue, 'done', 'd.md'), 'x\n')
    const done = await l.ccl(['requeue', 'd.md'])
    expect(done.code).toBe(2)
    expect(done.stderr).toBe("ccl: d.md: not in any account's active/ folder (it is in done/); only a task an account holds can be requeued\n")
    await l.addTask('p.md')
    expect((await l.ccl(['requeue', 'p.md'])).stderr).toContain('(it is in pending/ already)')
  })
})

describe('crash safety', {timeout: 120_000}, () => {
  for (const point of ['requeue.after-kill', 'requeue.after-move']) {
    it(`killed at ${point}: the next reconcile finishes it: the task once in pending/ in its place, the session created, no crash counted`, async () => {
      const l = await started(60_000)
      const placed = await stuck(l, 'k.md', 3600)
      const killed = await l.ccl(['requeue', 'k.md'], {env: {CCL_FAILPOINTS: `${point}=kill`}})
      expect(killed.code).not.toBe(0)
      expect((await l.server.tmux('list-sessions', '-F', '#{session_name}').catch(() => '')).includes('ccl-alpha')).toBe(false)

      const reconciled = await l.ccl(['reconcile'])
      expect(reconciled.code, reconciled.stderr).toBe(0)
      expect(await l.where()).toEqual({pending: ['k.md']})
      expect(Math.abs((await mtimeMs(path.join(l.sandbox.queue, 'pending', 'k.md'))) - placed)).toBeLessThan(1)
      expect((await l.server.tmux('list-sessions', '-F', '#{session_name}')).split('\n')).toContain('ccl-alpha')
      expect((await record(l)).crashes).toEqual([])
      expect((await events(l)).filter((e) => e.event === 'task.requeued')).toHaveLength(1)
    })
  }
})
