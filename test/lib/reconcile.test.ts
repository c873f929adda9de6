import {readdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/lib/config/load.js'
import {queueLayout} from '../../src/lib/queue/layout.js'
import {lockHolder, tryLock} from '../../src/lib/queue/lock.js'
import {readSessionRecord, writeSessionRecord} from '../../src/lib/sessions/record.js'
import {reconcile, type ReconcileOptions} from '../../src/lib/sessions/reconcile.js'
import {createTmux} from '../../src/lib/tmux/tmux.js'
import {makeMachine, type Machine} from '../support/reconcile.js'
import {tmuxEnv} from '../support/tmux.js'

let machine: Machine | undefined
afterEach(async () => {
  await machine?.cleanup()
  machine = undefined
})

const NOW = new Date('2026-11-25T12:00:00.000Z')
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000).toISOString()

async function pass(m: Machine, options: Partial<ReconcileOptions> = {}) {
  const config = loadConfig({flag: m.sandbox.configFile, env: {}, cwd: m.sandbox.dir})
  const tmux = await createTmux({socket: config.tmux.socket, env: tmuxEnv()})
  return {config, layout: queueLayout(config), result: await reconcile({config, tmux, now: NOW, ...options})}
}

describe('reconcile: the crash window (time injected)', () => {
  it('counts only crashes within crash_window: old ones do not hold the account', async () => {
    machine = await makeMachine({accounts: ['alpha'], config: {watchdog: {crash_limit: 1, crash_window: '30m'}}})
    const layout = queueLayout({queue: machine.sandbox.queue, state: path.join(machine.sandbox.queue, '.ccl')})
    await writeSessionRecord(layout, 'alpha', {crashes: [minutesAgo(45), minutesAgo(31)], failed_at: minutesAgo(31), created_at: minutesAgo(5), held: false})
    const {result} = await pass(machine)
    expect(result.accounts[0]).toMatchObject({found: 'absent', crashRecorded: true, crashesInWindow: 1, held: false, created: true})
    // the old crashes are dropped from the record, the new one kept; a session gone left no pane to say why
    const lastCrash = {at: NOW.toISOString(), state: 'absent', exit_status: null, signal: null, last_lines: []}
    expect(await readSessionRecord(layout, 'alpha')).toEqual({crashes: [NOW.toISOString()], failed_at: NOW.toISOString(), created_at: NOW.toISOString(), held: false, last_crash: lastCrash})
    expect(result.accounts[0]!.lastCrash).toEqual(lastCrash)
    expect(await machine.sessions()).toEqual(['ccl-alpha'])
  })

  it('holds when the crashes within the window exceed crash_limit', async () => {
    machine = await makeMachine({accounts: ['alpha'], config: {watchdog: {crash_limit: 1, crash_window: '30m'}}})
    const layout = queueLayout({queue: machine.sandbox.queue, state: path.join(machine.sandbox.queue, '.ccl')})
    await writeSessionRecord(layout, 'alpha', {crashes: [minutesAgo(29)], failed_at: minutesAgo(29), created_at: minutesAgo(5), held: false})
    const {result} = await pass(machine)
    expect(result.ok).toBe(false)
    expect(result.accounts[0]).toMatchObject({crashRecorded: true, crashesInWindow: 2, held: true, heldNow: true, created: false})
    expect(await machine.sessions()).toEqual([])
    expect((await machine.events()).map((e) => e.event)).toEqual(['session.crashed', 'session.held'])
  })

  it('does not count a session created before the machine booted as a crash', async () => {
    machine = await makeMachine({accounts: ['alpha'], config: {watchdog: {crash_limit: 1}}})
    const layout = queueLayout({queue: machine.sandbox.queue, state: path.join(machine.sandbox.queue, '.ccl')})
    await writeSessionRecord(layout, 'alpha', {crashes: [minutesAgo(20)], failed_at: minutesAgo(20), created_at: minutesAgo(10), held: false})
    const {result} = await pass(machine, {bootTime: new Date(NOW.getTime() - 2 * 60_000)})
    expect(result.accounts[0]).toMatchObject({crashRecorded: false, crashesInWindow: 1, held: false, created: true})
    expect((await readSessionRecord(layout, 'alpha')).crashes).toEqual([minutesAgo(20)])
  })
})

describe('reconcile: safety', () => {
  it('a pass that finds the reconcile lock taken does nothing at all', async () => {
    machine = await makeMachine({accounts: ['alpha']})
    const lock = await tryLock(path.join(machine.sandbox.queue, '.ccl', 'locks'), 'reconcile', {staleMs: 30_000})
    try {
      const {result} = await pass(machine)
      expect(result.skipped).toBe(`another reconcile is running (pid ${process.pid}, since ${lockHolder(path.join(machine.sandbox.queue, '.ccl', 'locks'), 'reconcile')!.acquired_at})`)
      expect(await machine.sessions()).toEqual([])
    } finally {
      await lock?.release()
    }

    const {result} = await pass(machine)
    expect(result.accounts[0]!.created).toBe(true)
  })

  it('a pass with every session alive reads only: it needs no lock and writes nothing', async () => {
    machine = await makeMachine({accounts: ['alpha']})
    await pass(machine)
    const lock = await tryLock(path.join(machine.sandbox.queue, '.ccl', 'locks'), 'reconcile', {staleMs: 30_000})
    try {
      const {result} = await pass(machine)
      expect(result).toMatchObject({skipped: null, ok: true, accounts: [{found: 'alive', created: false}]})
    } finally {
      await lock?.release()
    }

    expect((await machine.events()).map((e) => e.event)).toEqual(['session.created'])
  })

  it('two overlapping passes create each session once', async () => {
    machine = await makeMachine({accounts: ['alpha', 'beta']})
    const [a, b] = await Promise.all([pass(machine), pass(machine)])
    const created = [...a.result.accounts, ...b.result.accounts].filter((o) => o.created).map((o) => o.account).sort()
    expect(created).toEqual(['alpha', 'beta'])
    expect([a.result.skipped, b.result.skipped].filter(Boolean)).toHaveLength(1)
    expect((await machine.events()).filter((e) => e.event === 'session.created')).toHaveLength(2)
  })

  it('a corrupt crash record fails that account only, naming the file; --release clears it', async () => {
    machine = await makeMachine({accounts: ['alpha', 'beta']})
    const file = path.join(machine.sandbox.queue, '.ccl', 'sessions', 'alpha.json')
    const {layout} = await pass(machine, {dryRun: true})
    await writeSessionRecord(layout, 'beta', {crashes: [], failed_at: null, created_at: null, held: false})
    await writeFile(file, '{"crashes": "often"}')
    const {result} = await pass(machine)
    expect(result.ok).toBe(false)
    expect(result.accounts[0]!.error).toBe(`${file}: not a session record: crashes: Invalid input: expected array, received string`)
    expect(result.accounts[1]!.created).toBe(true)
    expect(await machine.sessions()).toEqual(['ccl-beta'])

    const released = await pass(machine, {release: 'alpha'})
    expect(released.result.accounts[0]!.created).toBe(true)
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({held: false, crashes: []})
  })

  it('a tmux failure fails that account only, naming the tmux command; its task is still requeued', async () => {
    machine = await makeMachine({accounts: ['alpha', 'beta']})
    // Two accounts configured with one session name: tmux refuses the second.
    const config = machine.sandbox.config as {accounts: {session?: string}[]}
    for (const account of config.accounts) account.session = 'ccl-same'
    await machine.sandbox.writeConfig(config)
    await machine.active('beta', 'b.md', 'beta work\n')
    const {result} = await pass(machine)
    expect(result.ok).toBe(false)
    expect(result.accounts[0]!.created).toBe(true)
    expect(result.accounts[1]!.error).toMatch(/^`tmux -L ccl-test-\S+ new-session -d -s ccl-same -c \S+ -e CLAUDE_CONFIG_DIR=\S+\/\.claude-beta "sleep 3600" \\; set-option -w -t =ccl-same: remain-on-exit on` failed: duplicate session: ccl-same$/)
    expect(result.accounts[1]!.requeued).toEqual([{account: 'beta', task: 'b.md', as: 'b.md', renamed: false, restored: false}])
    expect(await readdir(path.join(machine.sandbox.queue, 'pending'))).toEqual(['b.md'])
  })

  it('a requeued task never lands beside a stale delegation marker of the same name', async () => {
    machine = await makeMachine({accounts: ['alpha']})
    const pending = path.join(machine.sandbox.queue, 'pending')
    await writeFile(path.join(pending, 'job.md.delegated'), '{}')
    await machine.active('alpha', 'job.md', 'local work\n')
    const {result} = await pass(machine)
    expect(result.accounts[0]!.requeued).toEqual([{account: 'alpha', task: 'job.md', as: 'job.2.md', renamed: true, restored: false}])
    expect((await readdir(pending)).sort()).toEqual(['job.2.md', 'job.md.delegated'])
  })

  it('resumes after being killed between recording a crash and recreating: no second crash, task requeued, session created', async () => {
    // The state a kill right after the crash record was written leaves behind.
    machine = await makeMachine({accounts: ['alpha']})
    const layout = queueLayout({queue: machine.sandbox.queue, state: path.join(machine.sandbox.queue, '.ccl')})
    await writeSessionRecord(layout, 'alpha', {crashes: [minutesAgo(1)], failed_at: minutesAgo(1), created_at: null, held: false})
    await machine.active('alpha', 'job.md', 'work\n')
    const {result} = await pass(machine)
    expect(result.accounts[0]).toMatchObject({crashRecorded: false, crashesInWindow: 1, created: true, requeued: [{task: 'job.md', as: 'job.md', renamed: false}]})
    expect((await readSessionRecord(layout, 'alpha')).crashes).toEqual([minutesAgo(1)])
  })
})
