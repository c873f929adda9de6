import {mkdir, utimes, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {type QueueLayout, ensureLayout, queueLayout} from '../../src/lib/queue/layout.js'
import {renderPrometheus} from '../../src/lib/render/prometheus.js'
import {renderStatus} from '../../src/lib/render/status.js'
import {renderTable} from '../../src/lib/render/table.js'
import {scanQueue} from '../../src/lib/status/queue.js'
import {attentionItems, operatorProblems, type StatusFacts, type StatusReport, verdictLine} from '../../src/lib/status/report.js'
import {checkExposition} from '../support/exposition.js'
import {makeSandbox, type Sandbox} from '../support/sandbox.js'

const now = new Date('2026-11-25T12:00:00.000Z')

function facts(overrides: Partial<StatusFacts> = {}): StatusFacts {
  return {
    generated_at: now.toISOString(),
    host: 'vm-a',
    warnings: [],
    sessions: [
      {account: 'alpha', host: 'vm-a', session: 'ccl-alpha', state: 'alive', owner_refreshed_at: null, task: 'fix.md', since: '2026-11-25T11:50:00.000Z', crashes: 0, held: false, activity: 'working', limited_until: null, limit: null, waiting: null, needs_login: null, session_id: null, failovers_in_24h: 0, failovers_out_24h: 0},
      {account: 'beta', host: 'vm-a', session: 'ccl-beta', state: 'absent', owner_refreshed_at: null, task: null, since: null, crashes: 1, held: false, activity: 'dead', limited_until: null, limit: null, waiting: null, needs_login: null, session_id: null, failovers_in_24h: 0, failovers_out_24h: 0},
    ],
    tmux: {socket: 'ccl', attach: 'tmux -L ccl attach -t SESSION', error: null, missing: false},
    delegation: {on: true, configured: true, reason: null, api_key_env: 'SECUTOOLS_API_KEY', base_url: 'https://secutools.example/api/v1'},
    queue: {pending: 3, settling: 0, delegated: 1, active: 1, done: 40, failed: 2, oldest_pending: null, next: []},
    held: [],
    active: [{account: 'alpha', task: 'fix.md', since: '2026-11-25T11:50:00.000Z', age_ms: 600_000, stale: false, host: 'vm-a'}],
    stale: [],
    stale_after_ms: 45 * 60_000,
    waiting_after_ms: 5 * 60_000,
    delegated: [{task: 'gen.md', provider: 'gemini', job_id: 'j-7', state: 'submitted', since: '2026-11-25T11:00:00.000Z', age_ms: 3_600_000, overdue: false, last_error: null}],
    counters: {
      all_time: {submitted: 10, completed: 8, failed: 1, timed_out: 0, cost_usd: 0.1234},
      last_24h: {submitted: 2, completed: 1, failed: 0, timed_out: 0, cost_usd: 0.01},
      since: '2026-11-24T12:00:00.000Z',
      local_done: {all_time: 12, last_24h: 3},
      failovers: {all_time: {resume: 0, fresh: 0}, last_24h: {resume: 0, fresh: 0}, by_account_24h: {}},
    },
    symlinks: {valid: true, checked: 6, problems: []},
    badMarkers: [],
    orphanedMarkers: [],
    badRecords: [],
    failed: [],
    waiting_for_account: [],
    pending_waiting: null,
    ...overrides,
  }
}

function report(f: StatusFacts = facts()): StatusReport {
  const {badMarkers: _bad, orphanedMarkers: _orphans, badRecords: _records, failed: _failed, ...rest} = f
  const attention = attentionItems(f)
  return {...rest, attention, problems: attention.map((a) => a.message), needs_operator: attention.length > 0}
}

describe('renderTable', () => {
  it('aligns columns with two spaces and leaves no trailing blanks', () => {
    expect(renderTable(['a', 'long header', 'c'], [['xxxx', 'y', ''], ['z', 'w', 'last']])).toBe(
      ['a     long header  c', 'xxxx  y', 'z     w            last'].join('\n'),
    )
  })
})

describe('renderTable escapes', () => {
  it('escapes control characters in cells (a task named with a terminal escape) as every human line does', () => {
    expect(renderTable(['task'], [['evil\u001b[2J.md']])).toBe('task\nevil\\e[2J.md')
  })
})

describe('status verdict and human view', () => {
  it('shows each activity in words: limited until when (which limit), waiting why since when, needs login; and needs an operator for the last two', () => {
    const session = facts().sessions[0]!
    const sessions = [
      {...session, account: 'a', activity: 'limited' as const, limited_until: '2026-11-25T20:31:00.000Z', limit: 'session'},
      {...session, account: 'b', activity: 'waiting' as const, waiting: {why: 'permission_prompt', since: '2026-11-25T11:50:00.000Z'}},
      {...session, account: 'c', activity: 'needs-login' as const, needs_login: {error: 'billing_error', since: '2026-11-25T11:00:00.000Z'}},
      {...session, account: 'd', activity: 'waiting' as const, waiting: {why: 'turn-ended', since: '2026-11-25T11:59:00.000Z'}},
    ]
    const r = report(facts({sessions}))
    const text = renderStatus(r)
    expect(text).toContain('limited until 20:31 UTC (session)')
    expect(text).toContain('waiting for permission since 11:50 UTC')
    expect(text).toContain('needs login (billing_error)')
    expect(r.problems).toContain('waiting: b has been waiting (for permission) for 10m (watchdog.waiting_after 5m); look at session ccl-alpha: tmux -L ccl attach -t ccl-alpha')
    expect(r.problems.some((p) => p.startsWith('needs login: account c (billing_error'))).toBe(true)
    // d waits 1 minute: not yet an operator's problem
    expect(r.problems.some((p) => p.startsWith('waiting: d'))).toBe(false)
    expect(verdictLine(r)).toMatch(/^NEEDS OPERATOR: 1 account needs login, 1 session waiting too long/)
    const prom = renderPrometheus(r)
    expect(prom).toContain('ccl_account_limited{account="a",host="vm-a"} 1')
    expect(prom).toContain(`ccl_account_limit_reset_timestamp_seconds{account="a",host="vm-a"} ${Date.parse('2026-11-25T20:31:00.000Z') / 1000}`)
    expect(prom).toContain('ccl_session_activity{account="b",host="vm-a",activity="waiting"} 1')
    expect(prom).toContain('ccl_session_activity{account="b",host="vm-a",activity="free"} 0')
    expect(checkExposition(prom).errors).toEqual([])
  })

  it('says ok in one line when nothing needs an operator, then aligned tables', () => {
    const r = report()
    expect(r.needs_operator).toBe(false)
    const text = renderStatus(r)
    const lines = text.split('\n')
    expect(lines[0]).toBe('ok: nothing needs an operator (1/2 sessions alive, 3 pending, 1 active, 1 delegated)')
    expect(text).toContain(
      'account  host  session    state   activity  working on  since    crashes  held\nalpha    vm-a  ccl-alpha  alive   working   fix.md      10m ago  0        no\nbeta     vm-a  ccl-beta   absent  dead      -           -        1        no',
    )
    expect(text).toContain('pending  settling  held  delegated  active  done  failed\n3        0         0     1          1       40    2')
    expect(text).toContain('gen.md  gemini    j-7  submitted  1h')
    expect(text).toContain('           all time  last 24 h\nsubmitted  10        2\ncompleted  8         1')
    expect(text).toContain('cost       $0.1234   $0.0100')
    expect(text).toContain('SYMLINKS\nvalid: 6 links checked')
    expect(text).not.toContain('NEEDS ATTENTION')
  })

  it('names each stale task, held account and link problem, and says what to do', () => {
    const stale = {account: 'alpha', task: 'fix.md', since: '2026-11-25T10:00:00.000Z', age_ms: 7_200_000, stale: true, host: 'vm-a'}
    const r = report(
      facts({
        stale: [stale],
        active: [stale],
        sessions: [{account: 'beta', host: 'vm-a', session: 'ccl-beta', state: 'absent', owner_refreshed_at: null, task: null, since: null, crashes: 5, held: true, activity: 'dead', limited_until: null, limit: null, waiting: null, needs_login: null, session_id: null, failovers_in_24h: 0, failovers_out_24h: 0}],
        symlinks: {valid: false, checked: 6, problems: ['alpha projects: missing: /x does not exist', 'beta projects: dangling: /y']},
      }),
    )
    expect(r.needs_operator).toBe(true)
    // No session alive while 3 tasks wait: that needs an operator too.
    expect(verdictLine(r)).toBe('NEEDS OPERATOR: no session alive, 1 stale task, 1 account held, symlinks invalid (2 problems) (0/1 sessions alive, 3 pending, 1 active, 1 delegated)')
    expect(r.problems).toEqual([
      'no session alive while 3 tasks wait in pending/ (0/1 sessions alive): ccl reconcile creates them; is its timer running? run: ccl reconcile',
      'stale: alpha has fix.md in active/ for 2h (stale_after 45m); look at that session',
      'held: account beta is on hold after 5 crashes; fix it, then run: ccl reconcile --release beta',
      'symlinks: alpha projects: missing: /x does not exist',
      'symlinks: beta projects: dangling: /y',
    ])
    const text = renderStatus(r)
    expect(text).toContain('STALE TASKS (in active/ longer than 45m)\naccount  host  task    age\nalpha    vm-a  fix.md  2h')
    expect(text).toContain('NEEDS ATTENTION\n- no session alive while 3 tasks wait')
    expect(text).toContain('\n- stale: alpha has fix.md')
  })

  it("another host's accounts: their pending work is not nobody's, and what to do names that host", () => {
    const base = facts().sessions[1]!
    const remote = {...base, account: 'gamma', host: 'vm-b', session: null, state: 'remote' as const, owner_refreshed_at: '2026-11-25T11:59:00.000Z', activity: 'free' as const}
    const held = {...remote, account: 'delta', crashes: 5, held: true}
    const waiting = {...remote, account: 'eps', activity: 'waiting' as const, waiting: {why: 'permission_prompt', since: '2026-11-25T11:00:00.000Z'}}
    const stale = {account: 'zeta', task: 'old.md', since: '2026-11-25T10:00:00.000Z', age_ms: 7_200_000, stale: true, host: 'vm-c'}
    const r = report(facts({sessions: [base, remote, held, waiting], stale: [stale], active: [stale]}))
    // beta is absent here, but vm-b's reconcile runs: 3 pending tasks are not left to nobody.
    expect(r.attention.map((a) => a.kind)).toEqual(['waiting', 'stale', 'account-held'])
    expect(r.problems).toEqual([
      'waiting: eps has been waiting (for permission) for 1h (watchdog.waiting_after 5m); look at its session on host vm-b',
      'stale: zeta has old.md in active/ for 2h (stale_after 45m); look at that session on host vm-c',
      'held: account delta is on hold after 5 crashes; fix it, then run on host vm-b: ccl reconcile --release delta',
    ])
    expect(r.attention[0]!.command).toBeNull()
    expect(verdictLine(r)).toMatch(/\(0\/1 sessions alive, 3 accounts on other hosts, 3 pending, 1 active, 1 delegated\)$/)
    const text = renderStatus(r)
    expect(text).toMatch(/^gamma +vm-b +- +remote +free /m)
    expect(text).toContain('attach: tmux -L ccl attach -t ccl-beta\n')

    // The same accounts with their owner records gone stale: nobody is known to run them, so no session alive.
    const gone = [remote, held, waiting].map((s) => ({...s, state: 'stale' as const}))
    expect(report(facts({sessions: [base, ...gone]})).attention.map((a) => a.kind)).toContain('no-session')
  })

  it("a free account whose host stopped refreshing its owner record is not one failover should have used", () => {
    const base = facts().sessions[0]!
    const limited = {...base, activity: 'limited' as const, limited_until: '2026-11-25T13:00:00.000Z'}
    const wait = {task: 'fix.md', account: 'alpha', reason: 'limited' as const, until: '2026-11-25T13:00:00.000Z', since: '2026-11-25T11:00:00.000Z', age_ms: 3_600_000}
    const other = {...base, account: 'omega', host: 'vm-b', session: null, owner_refreshed_at: '2026-11-25T11:00:00.000Z', activity: 'free' as const, task: null}
    const kinds = (state: 'remote' | 'stale') => report(facts({sessions: [limited, {...other, state}], waiting_for_account: [wait]})).attention.map((a) => a.kind)
    expect([kinds('remote'), kinds('stale')]).toEqual([['waiting-for-account'], []])
  })

  it('cuts long lists in the human view and says how many more there are', () => {
    const jobs = Array.from({length: 60}, (_, i) => ({task: `t${i}.md`, provider: 'gpu', job_id: `j-${i}`, state: 'submitted' as const, since: now.toISOString(), age_ms: 1000, overdue: false, last_error: null}))
    const text = renderStatus(report(facts({delegated: jobs})))
    expect(text).toContain('t49.md')
    expect(text).not.toContain('t50.md')
    expect(text).toContain('… and 10 more jobs (ccl status --json lists all)')
  })

  it('lists at most 50 failed tasks in the human view, newest first as given, and says how many more; the report keeps them all', () => {
    const failed = Array.from({length: 60}, (_, i) => ({task: `f${i}.md`, at: now.toISOString(), age_ms: 60_000, status: 'failed', job_id: `j-${i}`, error: `boom ${i}`}))
    const r = report(facts({failed}))
    expect(r.attention.filter((a) => a.kind === 'failed-task')).toHaveLength(60)
    const text = renderStatus(r)
    expect(text).toContain('- failed: f49.md (job j-49 failed) 1m ago, at 2026-11-25T12:00:00.000Z: boom 49; once its cause is fixed: ccl retry f49.md')
    expect(text).not.toContain('f50.md')
    expect(text).toContain('- … and 10 more failed tasks (ccl status --json lists all)')
    expect(verdictLine(r)).toMatch(/^NEEDS OPERATOR: 60 failed tasks \(/)
  })
})

describe('--prometheus rendering', () => {
  it('is valid text exposition format with HELP and TYPE for every family and the named metrics', () => {
    const text = renderPrometheus(report())
    const {errors, samples} = checkExposition(text)
    expect(errors).toEqual([])
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value
    expect(value('ccl_queue_tasks', {state: 'pending'})).toBe(3)
    expect(value('ccl_queue_tasks', {state: 'done'})).toBe(40)
    expect(value('ccl_delegated_jobs')).toBe(1)
    expect(value('ccl_delegations_total', {outcome: 'completed'})).toBe(8)
    expect(value('ccl_delegations_total', {outcome: 'failed'})).toBe(1)
    expect(value('ccl_delegation_cost_usd_total')).toBe(0.1234)
    expect(value('ccl_session_up', {account: 'alpha', host: 'vm-a'})).toBe(1)
    expect(value('ccl_session_up', {account: 'beta', host: 'vm-a'})).toBe(0)
    expect(value('ccl_stale_tasks')).toBe(0)
    expect(value('ccl_symlinks_valid')).toBe(1)
    expect(value('ccl_needs_operator')).toBe(0)
    expect(text).toMatch(/^# TYPE ccl_delegations_total counter$/m)
    expect(text).toMatch(/^# TYPE ccl_queue_tasks gauge$/m)
  })

  it('stays valid with no accounts to list and with odd label values', () => {
    expect(checkExposition(renderPrometheus(report(facts({sessions: []})))).errors).toEqual([])
    const odd = facts({sessions: [{account: 'a"b\\c\nd', host: 'h"o\\s\nt', session: 's', state: 'dead', owner_refreshed_at: null, task: null, since: null, crashes: 0, held: false, activity: 'dead', limited_until: null, limit: null, waiting: null, needs_login: null, session_id: null, failovers_in_24h: 0, failovers_out_24h: 0}]})
    const {errors, samples} = checkExposition(renderPrometheus(report(odd)))
    expect(errors).toEqual([])
    expect(samples.find((s) => s.name === 'ccl_session_up')?.labels.account).toBe('a"b\\c\nd')
    expect(samples.find((s) => s.name === 'ccl_session_up')?.labels.host).toBe('h"o\\s\nt')
  })

  it('the format checker itself rejects what the format forbids', () => {
    const bad = [
      'ccl_x 1\n', // no HELP/TYPE
      '# HELP ccl_x h\n# TYPE ccl_x gauge\nccl_x 1', // no final newline
      '# HELP ccl_x h\n# TYPE ccl_x gauge\nccl_x 1\n# HELP ccl_y h\n# TYPE ccl_y gauge\nccl_y 1\nccl_x{a="b"} 2\n', // not grouped
      '# HELP ccl_x h\n# TYPE ccl_x gauge\nccl_x 1\nccl_x 2\n', // duplicate series
      '# HELP ccl_x h\n# TYPE ccl_x gauge\nccl_x one\n', // bad value
      '# HELP ccl_x h\n# TYPE ccl_x gauge\nccl_x{a="b\\q"} 1\n', // bad escape
      '# HELP ccl_x h\n# TYPE ccl_x gauge\nccl_x 1 1700000000000\n', // timestamp
      '# HELP ccl_x h\n# TYPE ccl_x gaugey\nccl_x 1\n', // unknown type
      '# HELP ccl_x h\nccl_x 1\n# TYPE ccl_x gauge\n', // TYPE after samples
    ]
    for (const text of bad) expect(checkExposition(text).errors, text).not.toEqual([])
  })
})

describe('scanQueue', () => {
  let sandbox: Sandbox | undefined
  afterEach(async () => sandbox?.cleanup())

  async function layoutWith(): Promise<QueueLayout> {
    sandbox = await makeSandbox()
    const layout = queueLayout({queue: sandbox.queue, state: path.join(sandbox.queue, '.ccl')})
    await ensureLayout(layout, ['alpha', 'beta'])
    return layout
  }

  it('counts pending without delegated tasks, and done/failed by name, ignoring temp and hidden files', async () => {
    const layout = await layoutWith()
    for (const n of ['a.md', 'b.md', 'c.md']) await writeFile(path.join(layout.pending, n), 'x')
    await writeFile(path.join(layout.pending, 'c.md.delegated'), '{}')
    await writeFile(path.join(layout.pending, '.hidden.md'), 'x')
    await writeFile(path.join(layout.pending, 'notes.txt'), 'x')
    for (const n of ['d1.md', 'd2.md', '.ccl-reap-1-a.tmp']) await writeFile(path.join(layout.done, n), 'x')
    await writeFile(path.join(layout.failed, 'f.md'), 'x')
    const old = new Date(now.getTime() - 60_000)
    for (const n of ['a.md', 'b.md']) await utimes(path.join(layout.pending, n), old, old)
    const young = new Date(now.getTime() - 500)
    await utimes(path.join(layout.pending, 'b.md'), young, young)
    const scan = await scanQueue(layout, {accounts: ['alpha', 'beta'], staleAfterMs: 45 * 60_000, settleMs: 2000, now})
    // b.md was modified 0.5 s ago: it waits to settle (dispatch.settle 2 s)
    expect(scan.counts).toEqual({pending: 2, settling: 1, delegated: 1, active: 0, done: 2, failed: 1})
    expect(scan.held).toEqual([])
  })

  it('lists what an operator must fix in pending/: a name with control characters, a symlink; status needs an operator', async () => {
    const layout = await layoutWith()
    await writeFile(path.join(layout.pending, 'a\nb.md'), 'x')
    await writeFile(path.join(layout.pending, 'ok.md'), 'x')
    const {symlink} = await import('node:fs/promises')
    await symlink('/etc/passwd', path.join(layout.pending, 'link.md'))
    const scan = await scanQueue(layout, {accounts: ['alpha'], staleAfterMs: 45 * 60_000, settleMs: 0, now})
    expect(scan.held.map((h) => h.task).sort()).toEqual(['a\nb.md', 'link.md'])
    expect(scan.held.find((h) => h.task === 'link.md')?.why).toBe('a symbolic link, not a regular file: never read, moved or sent')
    const problems = operatorProblems(facts({held: scan.held}))
    expect(problems).toContain('held task: pending/a\\nb.md: its name holds control characters (newline), which a paste into a session or a line of output cannot carry; rename it')
    expect(verdictLine(report(facts({held: scan.held})))).toMatch(/^NEEDS OPERATOR: 2 tasks held in pending\//)
  })

  it('marks a task in active/ older than stale_after as stale, by its mtime, also in an unconfigured account folder', async () => {
    const layout = await layoutWith()
    const old = path.join(layout.active, 'alpha', 'old.md')
    const fresh = path.join(layout.active, 'beta', 'fresh.md')
    await mkdir(path.join(layout.active, 'gone'))
    const orphan = path.join(layout.active, 'gone', 'orphan.md')
    for (const f of [old, fresh, orphan]) await writeFile(f, 'x')
    await utimes(old, new Date(now.getTime() - 46 * 60_000), new Date(now.getTime() - 46 * 60_000))
    await utimes(fresh, new Date(now.getTime() - 44 * 60_000), new Date(now.getTime() - 44 * 60_000))
    await utimes(orphan, new Date(now.getTime() - 3_600_000), new Date(now.getTime() - 3_600_000))
    const scan = await scanQueue(layout, {accounts: ['alpha', 'beta'], staleAfterMs: 45 * 60_000, settleMs: 2000, now})
    expect(scan.counts.active).toBe(3)
    expect(scan.active.map((t) => [t.account, t.task, t.stale])).toEqual([
      ['alpha', 'old.md', true],
      ['beta', 'fresh.md', false],
      ['gone', 'orphan.md', true],
    ])
    expect(scan.active[0]!.age_ms).toBe(46 * 60_000)
  })
})
