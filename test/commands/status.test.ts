import {mkdir, utimes, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {appendEvent} from '../../src/lib/events/log.js'
import {limitedFields, needsLoginFields, writeAccountRecord} from '../support/accounts.js'
import {delegatedTask} from '../support/delegated.js'
import {checkExposition} from '../support/exposition.js'
import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'
import {linkAll, makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'
import {type PrivateTmux, startPrivateTmux, tmuxEnv} from '../support/tmux.js'

let sandbox: Sandbox
let fake: FakeSecutools
let tmux: PrivateTmux | undefined

beforeEach(async () => {
  sandbox = await makeSandbox()
  fake = await startFakeSecutools()
  await linkAll(sandbox)
})
afterEach(async () => {
  await tmux?.kill()
  tmux = undefined
  await fake.close()
  await sandbox.cleanup()
})

/** A socket name no server listens on: the machine right after boot. */
const noServer = () => `ccl-test-none-${process.pid}-${Math.random().toString(36).slice(2, 8)}`

async function configure(socket: string, extra: Record<string, unknown> = {}) {
  await sandbox.writeConfig({
    ...sandbox.config,
    tmux: {socket},
    delegation: {base_url: fake.url, job_timeout: '1h'},
    ...extra,
  })
}

const status = (args: string[] = [], env: NodeJS.ProcessEnv = {}) =>
  runCcl(['status', '--config', sandbox.configFile, ...args], {env: {...tmuxEnv(), SECUTOOLS_API_KEY: fake.apiKey, ...env}, cwd: sandbox.dir})

describe('ccl status', () => {
  it('says ok in one line on an idle machine with no tmux server running, and exits 0', async () => {
    await configure(noServer())
    await writeFile(path.join(sandbox.queue, 'pending', 'a.md'), 'x')
    const run = await status()
    expect(run.code).toBe(0)
    const lines = run.stdout.split('\n')
    expect(lines[0]).toBe('ok: nothing needs an operator (0/2 sessions alive, 1 pending, 0 active, 0 delegated)')
    expect(run.stdout).toMatch(/^alpha +ccl-alpha +absent +dead +- +- +0 +no$/m)
    expect(run.stdout).toContain('SYMLINKS\nvalid: 6 links checked')
    expect(run.stdout).toContain('- warning: session ccl-alpha of alpha is absent; ccl reconcile recreates it')
    expect(run.stderr).toBe('')
  })

  it('shows sessions from tmux, the task each works on, delegated jobs and counters; never calls the API', async () => {
    tmux = await startPrivateTmux()
    await tmux.tmux('new-session', '-d', '-s', 'ccl-alpha', 'sleep 600')
    await configure(tmux.socket)
    await mkdir(path.join(sandbox.queue, 'active', 'alpha'), {recursive: true})
    await writeFile(path.join(sandbox.queue, 'active', 'alpha', 'work.md'), 'x')
    await delegatedTask(sandbox, fake, 'remote.md', {}, {provider: 'gpu'})
    const older = new Date(Date.now() - 600_000).toISOString()
    await delegatedTask(sandbox, fake, 'zz-older.md', {}, {submitted_at: older, claimed_at: older})
    const events = path.join(sandbox.queue, '.ccl', 'events.jsonl')
    await appendEvent(events, 'delegation.submitted', {task: 'old.md', job_id: 'j-old'}, new Date(Date.now() - 3 * 86_400_000))
    await appendEvent(events, 'delegation.completed', {task: 'old.md', job_id: 'j-old', cost_usd: 0.5}, new Date(Date.now() - 3 * 86_400_000))
    await appendEvent(events, 'delegation.submitted', {task: 'remote.md', job_id: 'j-remote'})
    await appendEvent(events, 'delegation.failed', {task: 'x.md', job_id: 'j-x', cost_usd: 0.25})

    const run = await status(['--json'])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout)
    expect(report.schemaVersion).toBe(1)
    expect(report.needs_operator).toBe(false)
    expect(report.sessions).toEqual([
      {
        account: 'alpha',
        session: 'ccl-alpha',
        state: 'alive',
        task: 'work.md',
        since: expect.any(String),
        crashes: 0,
        held: false,
        // no hooks installed: a task in active/ is work
        activity: 'working',
        limited_until: null,
        limit: null,
        waiting: null,
        needs_login: null,
        session_id: null,
        failovers_in_24h: 0,
        failovers_out_24h: 0,
        last_crash: null,
      },
      {
        account: 'beta',
        session: 'ccl-beta',
        state: 'absent',
        task: null,
        since: null,
        crashes: 0,
        held: false,
        activity: 'dead',
        limited_until: null,
        limit: null,
        waiting: null,
        needs_login: null,
        session_id: null,
        failovers_in_24h: 0,
        failovers_out_24h: 0,
        last_crash: null,
      },
    ])
    expect(report.queue).toEqual({pending: 0, settling: 0, delegated: 2, active: 1, done: 0, failed: 0})
    // Longest waiting first.
    expect(report.delegated).toEqual([
      {task: 'zz-older.md', provider: 'gemini', job_id: 'j-zz-older', state: 'submitted', since: older, age_ms: expect.any(Number), overdue: false},
      {task: 'remote.md', provider: 'gpu', job_id: 'j-remote', state: 'submitted', since: expect.any(String), age_ms: expect.any(Number), overdue: false},
    ])
    expect(report.counters.all_time).toEqual({submitted: 2, completed: 1, failed: 1, timed_out: 0, cost_usd: 0.75})
    expect(report.counters.last_24h).toEqual({submitted: 1, completed: 0, failed: 1, timed_out: 0, cost_usd: 0.25})
    expect(fake.requests).toEqual([])
  })

  it('exits 1 and names what needs an operator: a stale task, a held account, a broken link, an unreadable marker', async () => {
    await configure(noServer(), {watchdog: {stale_after: '45m'}})
    const stale = path.join(sandbox.queue, 'active', 'alpha', 'stuck.md')
    await mkdir(path.dirname(stale), {recursive: true})
    await writeFile(stale, 'x')
    const hourAgo = new Date(Date.now() - 3_600_000)
    await utimes(stale, hourAgo, hourAgo)
    // A delegated task waits in pending/ however old it is: never stale.
    await delegatedTask(sandbox, fake, 'remote.md', {}, {submitted_at: new Date(Date.now() - 7_200_000).toISOString()})
    await mkdir(path.join(sandbox.queue, '.ccl', 'sessions'), {recursive: true})
    const now = new Date().toISOString()
    await writeFile(path.join(sandbox.queue, '.ccl', 'sessions', 'beta.json'), JSON.stringify({crashes: [now, now, now, now, now], failed_at: now, created_at: null, held: true}))
    const {rm} = await import('node:fs/promises')
    await rm(path.join(sandbox.homes.beta!, 'projects'))
    await writeFile(path.join(sandbox.queue, 'pending', 'bad.md.delegated'), '{not json')

    const run = await status()
    expect(run.code).toBe(1)
    expect(run.stdout.split('\n')[0]).toBe(
      'NEEDS OPERATOR: 1 stale task, 1 account held, symlinks invalid (1 problem), 1 unreadable marker (0/2 sessions alive, 0 pending, 1 active, 2 delegated)',
    )
    expect(run.stdout).toMatch(/^- stale: alpha has stuck\.md in active\/ for 1h\S* \(stale_after 45m\); look at that session$/m)
    expect(run.stdout).toContain('- held: account beta is on hold after 5 crashes; fix it, then run: ccl reconcile --release beta')
    expect(run.stdout).toMatch(/^- symlinks: beta projects: missing: /m)
    expect(run.stdout).toMatch(/^- marker: .*bad\.md\.delegated: delegation marker is not valid JSON$/m)
    expect(run.stdout).toMatch(/^remote\.md +gemini +j-remote +submitted +2h\S* \(past job_timeout\)$/m)
    expect(run.stdout).not.toMatch(/remote\.md.*stale/)

    const json = JSON.parse((await status(['--json'])).stdout)
    expect(json.stale.map((t: {task: string}) => t.task)).toEqual(['stuck.md'])
    expect(json.problems).toHaveLength(4)
  })

  it('--prometheus prints valid textfile-collector metrics and keeps the exit code', async () => {
    await configure(noServer())
    await delegatedTask(sandbox, fake, 'remote.md')
    await appendEvent(path.join(sandbox.queue, '.ccl', 'events.jsonl'), 'delegation.completed', {task: 'y.md', job_id: 'j-y', cost_usd: 0.125})
    const run = await status(['--prometheus'])
    expect(run.code).toBe(0)
    const {errors, samples} = checkExposition(run.stdout)
    expect(errors).toEqual([])
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value
    expect(value('ccl_queue_tasks', {state: 'delegated'})).toBe(1)
    expect(value('ccl_delegated_jobs')).toBe(1)
    expect(value('ccl_delegations_total', {outcome: 'completed'})).toBe(1)
    expect(value('ccl_delegation_cost_usd_total')).toBe(0.125)
    expect(value('ccl_session_up', {account: 'alpha'})).toBe(0)
    expect(value('ccl_stale_tasks')).toBe(0)
    expect(value('ccl_symlinks_valid')).toBe(1)
    for (const name of ['ccl_queue_tasks', 'ccl_delegated_jobs', 'ccl_delegations_total', 'ccl_delegation_cost_usd_total', 'ccl_session_up', 'ccl_stale_tasks', 'ccl_symlinks_valid']) {
      expect(run.stdout).toContain(`# HELP ${name} `)
      expect(run.stdout).toMatch(new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'))
    }

    const both = await status(['--prometheus', '--json'])
    expect(both.code).toBe(2)
  })

  it('works without tmux installed: sessions unknown, a warning, and no failure for that alone', async () => {
    await configure(noServer())
    // A PATH with no tmux on it (the binary runs from process.execPath, not from PATH).
    const run = await status(['--json'], {PATH: path.join(sandbox.dir, 'empty-bin')})
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout)
    expect(report.sessions.map((s: {state: string}) => s.state)).toEqual(['unknown', 'unknown'])
    expect(report.warnings[0]).toMatch(/^tmux could not be asked, sessions shown as unknown: .*tmux is not installed or not on PATH/)
  })
})

describe('ccl status: account health (failovers, tasks waiting for an account)', () => {
  const state = () => path.join(sandbox.queue, '.ccl')
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')

  it('counts failovers per account over 24 h (in-place resumes in neither) and in ccl_failovers_total by mode', async () => {
    await configure(noServer())
    const events = path.join(state(), 'events.jsonl')
    const ago = (h: number) => new Date(Date.now() - h * 3_600_000)
    const moved = (h: number, from: string, to: string, mode: 'resume' | 'fresh') => appendEvent(events, 'task.failed_over', {task: 't.md', from, to, session_id: 'sess-1', mode}, ago(h))
    await moved(1, 'alpha', 'beta', 'resume')
    await moved(2, 'alpha', 'beta', 'fresh')
    await moved(0.5, 'beta', 'beta', 'resume')
    await moved(50, 'beta', 'alpha', 'fresh')

    const json = JSON.parse((await status(['--json'])).stdout)
    expect(json.sessions.map((s: Record<string, unknown>) => [s.account, s.failovers_in_24h, s.failovers_out_24h])).toEqual([
      ['alpha', 0, 2],
      ['beta', 2, 0],
    ])
    expect(json.counters.failovers).toMatchObject({all_time: {resume: 2, fresh: 2}, last_24h: {resume: 2, fresh: 1}})

    const human = await status()
    expect(human.stdout).toContain('FAILOVERS: 4 all time, 3 in the last 24 h (2 resumed, 1 started afresh)')
    expect(human.stdout).toMatch(/^alpha +0 +2$/m)
    expect(human.stdout).toMatch(/^beta +2 +0$/m)

    const prom = await status(['--prometheus'])
    const {errors, samples} = checkExposition(prom.stdout)
    expect(errors).toEqual([])
    expect(prom.stdout).toMatch(/^# TYPE ccl_failovers_total counter$/m)
    expect(samples.filter((s) => s.name === 'ccl_failovers_total').map((s) => [s.labels.mode, s.value])).toEqual([
      ['resume', 2],
      ['fresh', 2],
    ])
  })

  it('names a task waiting on its limited account and since when; exit 1 only past waiting_after while another account is free', async () => {
    tmux = await startPrivateTmux()
    for (const name of ['ccl-alpha', 'ccl-beta']) await tmux.tmux('new-session', '-d', '-s', name, 'sleep 600')
    await configure(tmux.socket)
    await mkdir(path.join(sandbox.queue, 'active', 'alpha'), {recursive: true})
    const work = path.join(sandbox.queue, 'active', 'alpha', 'work.md')
    await writeFile(work, 'x')
    const handed = new Date(Date.now() - 20 * 60_000)
    await utimes(work, handed, handed)
    const until = new Date(Date.now() + 3_600_000)
    const limitedSince = new Date(Date.now() - 10 * 60_000)
    await writeAccountRecord(state(), 'alpha', limitedFields(until, limitedSince))
    const line = `work.md waits for a free account (alpha limited until ${iso(until.getTime() + 60_000)}) since ${iso(limitedSince.getTime())}`

    // Ten minutes (waiting_after is 5m) while beta is free: failover should have moved it.
    const long = await status(['--json'])
    expect(long.code).toBe(1)
    const report = JSON.parse(long.stdout)
    expect(report.waiting_for_account).toEqual([
      {task: 'work.md', account: 'alpha', reason: 'limited', until: iso(until.getTime() + 60_000), since: iso(limitedSince.getTime()), age_ms: expect.any(Number)},
    ])
    expect(report.problems).toEqual([expect.stringMatching(new RegExp(`^waiting for an account: ${line.replace(/[.()]/g, '\\$&')}, 10m(\\d+s)? \\(watchdog\\.waiting_after 5m\\) while beta is free; failover should have moved it`))])
    const human = await status()
    expect(human.code).toBe(1)
    expect(human.stdout.split('\n')[0]).toMatch(/^NEEDS OPERATOR: 1 task waiting too long for an account \(/)
    expect(human.stdout).toContain(`- waiting for an account: ${line}`)
    expect(checkExposition((await status(['--prometheus'])).stdout).samples.find((s) => s.name === 'ccl_tasks_waiting_for_account')?.value).toBe(1)

    // beta limited too: no account to move it to, so it waits for the reset; listed, no exit 1.
    await writeAccountRecord(state(), 'beta', limitedFields(new Date(Date.now() + 7_200_000)))
    const none = await status()
    expect(none.code).toBe(0)
    expect(none.stdout).toContain(`- warning: ${line}`)

    // Just limited (a minute ago) with beta free: the ordinary moment before failover acts.
    await writeAccountRecord(state(), 'beta', {})
    const recent = new Date(Date.now() - 60_000)
    await writeAccountRecord(state(), 'alpha', limitedFields(until, recent))
    const short = await status()
    expect(short.code).toBe(0)
    expect(short.stdout).toContain(`- warning: work.md waits for a free account (alpha limited until ${iso(until.getTime() + 60_000)}) since ${iso(recent.getTime())}`)

    // Needs login: the same line, and the login problem makes it exit 1 on its own.
    const loginSince = new Date(Date.now() - 30_000)
    await writeAccountRecord(state(), 'alpha', needsLoginFields(loginSince))
    const login = JSON.parse((await status(['--json'])).stdout)
    expect(login.waiting_for_account).toEqual([{task: 'work.md', account: 'alpha', reason: 'needs-login', until: null, since: iso(loginSince.getTime()), age_ms: expect.any(Number)}])
    expect(login.warnings).toContain(`work.md waits for a free account (alpha needs login) since ${iso(loginSince.getTime())}`)
    expect(login.needs_operator).toBe(true)

    // Nothing limited: nothing waits.
    await writeAccountRecord(state(), 'alpha', {})
    const fine = JSON.parse((await status(['--json'])).stdout)
    expect(fine.waiting_for_account).toEqual([])
  })
})
