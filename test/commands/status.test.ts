import {execFileSync} from 'node:child_process'
import {chmod, mkdir, readFile, rm, stat, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
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
    // No task waits, so no session being alive is nothing to act on (reconcile creates them).
    await configure(noServer())
    const run = await status()
    expect(run.code).toBe(0)
    const lines = run.stdout.split('\n')
    expect(lines[0]).toBe('ok: nothing needs an operator (0/2 sessions alive, 0 pending, 0 active, 0 delegated)')
    expect(run.stdout).toMatch(/^alpha +\S+ +ccl-alpha +absent +dead +- +- +0 +no$/m)
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
        // A config without host: is the machine's hostname (SPEC §8).
        host: os.hostname(),
        owner_refreshed_at: null,
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
        // A config without host: is the machine's hostname (SPEC §8).
        host: os.hostname(),
        owner_refreshed_at: null,
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
    expect(report.queue).toEqual({pending: 0, settling: 0, delegated: 2, active: 1, done: 0, failed: 0, oldest_pending: null, next: []})
    // Longest waiting first.
    expect(report.delegated).toEqual([
      {task: 'zz-older.md', provider: 'gemini', job_id: 'j-zz-older', state: 'submitted', since: older, age_ms: expect.any(Number), overdue: false, last_error: null},
      {task: 'remote.md', provider: 'gpu', job_id: 'j-remote', state: 'submitted', since: expect.any(String), age_ms: expect.any(Number), overdue: false, last_error: null},
    ])
    expect(report.attention).toEqual([])
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
    expect(run.stdout).toMatch(/^- stale: alpha has stuck\.md in active\/ for 1h\S* \(stale_after 45m\); look at that session: tmux -L \S+ attach -t ccl-alpha$/m)
    expect(run.stdout).toContain('- held: account beta is on hold after 5 crashes; fix it, then run: ccl reconcile --release beta')
    expect(run.stdout).toMatch(/^- symlinks: beta projects: missing: /m)
    expect(run.stdout).toMatch(/^- marker: .*bad\.md\.delegated: delegation marker is not valid JSON$/m)
    expect(run.stdout).toMatch(/^remote\.md +gemini +j-remote +submitted +2h\S* \(past job_timeout\)$/m)
    expect(run.stdout).not.toMatch(/remote\.md.*stale/)

    const json = JSON.parse((await status(['--json'])).stdout)
    expect(json.stale.map((t: {task: string}) => t.task)).toEqual(['stuck.md'])
    expect(json.problems).toHaveLength(4)
    expect(json.attention.map((a: {kind: string}) => a.kind)).toEqual(['stale', 'account-held', 'symlinks', 'marker'])
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
    expect(value('ccl_session_up', {account: 'alpha', host: os.hostname()})).toBe(0)
    expect(value('ccl_stale_tasks')).toBe(0)
    expect(value('ccl_symlinks_valid')).toBe(1)
    for (const name of ['ccl_queue_tasks', 'ccl_delegated_jobs', 'ccl_delegations_total', 'ccl_delegation_cost_usd_total', 'ccl_session_up', 'ccl_stale_tasks', 'ccl_symlinks_valid']) {
      expect(run.stdout).toContain(`# HELP ${name} `)
      expect(run.stdout).toMatch(new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'))
    }

    const both = await status(['--prometheus', '--json'])
    expect(both.code).toBe(2)
  })

})

describe('ccl status: what needs a person', () => {
  const pending = (name: string, content = 'x', agoMs = 60_000) => {
    const file = path.join(sandbox.queue, 'pending', name)
    const at = new Date(Date.now() - agoMs)
    return writeFile(file, content).then(() => utimes(file, at, at))
  }

  const kinds = (report: {attention: {kind: string}[]}) => report.attention.map((a) => a.kind)

  it('a healthy site: both sessions alive, a task about to be dispatched, delegation on: exit 0, the attach hint names the socket', async () => {
    tmux = await startPrivateTmux()
    for (const name of ['ccl-alpha', 'ccl-beta']) await tmux.tmux('new-session', '-d', '-s', name, 'sleep 600')
    await configure(tmux.socket)
    await pending('a.md')
    await writeFile(path.join(sandbox.queue, 'done', 'old.md'), 'x')
    const run = await status()
    expect(run.code, run.stdout).toBe(0)
    expect(run.stdout.split('\n')[0]).toBe('ok: nothing needs an operator (2/2 sessions alive, 1 pending, 0 active, 0 delegated)')
    expect(run.stdout).toContain(`\nattach: tmux -L ${tmux.socket} attach -t ccl-alpha (the same with -t for the others)\n`)
    expect(run.stdout).toContain(`\nDELEGATION: on (${fake.url}, key from $SECUTOOLS_API_KEY)\n`)
    expect(run.stdout).not.toContain(fake.apiKey)
  })

  it('no session alive while tasks wait (a real tmux server with none of ours): exit 1, says to run ccl reconcile', async () => {
    tmux = await startPrivateTmux()
    await configure(tmux.socket)
    await pending('a.md')
    await delegatedTask(sandbox, fake, 'remote.md')
    const run = await status(['--json'])
    expect(run.code).toBe(1)
    const report = JSON.parse(run.stdout)
    expect(report.attention).toEqual([
      {
        kind: 'no-session',
        message: 'no session alive while 1 task waits in pending/ (0/2 sessions alive): ccl reconcile creates them; is its timer running? run: ccl reconcile',
        command: 'ccl reconcile',
        pending: 1,
      },
    ])
    const human = await status()
    expect(human.code).toBe(1)
    expect(human.stdout.split('\n')[0]).toBe('NEEDS OPERATOR: no session alive (0/2 sessions alive, 1 pending, 0 active, 1 delegated)')
  })

  it('tmux not installed (a PATH without it): exit 1, sessions unknown, and the rest is still reported', async () => {
    await configure(noServer())
    await pending('a.md')
    await writeFile(path.join(sandbox.queue, 'done', 'd.md'), 'x')
    // A PATH with no tmux on it (the binary runs from process.execPath, not from PATH).
    const run = await status(['--json'], {PATH: path.join(sandbox.dir, 'empty-bin')})
    expect(run.code).toBe(1)
    const report = JSON.parse(run.stdout)
    expect(report.sessions.map((s: {state: string}) => s.state)).toEqual(['unknown', 'unknown'])
    // tmux missing says it all: no second line that no session is alive.
    expect(kinds(report)).toEqual(['tmux-missing'])
    expect(report.attention[0].message).toMatch(/^tmux missing: tmux is not installed or not on PATH, so no session can run/)
    expect(report.attention[0].error).toMatch(/tmux is not installed or not on PATH/)
    expect(report.tmux).toMatchObject({missing: true, socket: expect.any(String)})
    expect(report.queue).toMatchObject({pending: 1, done: 1})
    expect(report.symlinks.valid).toBe(true)
    expect(report.queue.next).toEqual([expect.objectContaining({task: 'a.md', target: 'claude-code', account: null, waits: expect.stringMatching(/^no free account \(alpha: tmux could not be asked about session ccl-alpha; beta: /)})])
  })

  it('a claim stuck in "submitting" while secutools is down: reap records the error in the marker, status shows it, exit 1', async () => {
    await configure(noServer(), {delegation: {base_url: fake.url, job_timeout: '1h', retries: 1}})
    const claimed = new Date(Date.now() - 10 * 60_000).toISOString()
    await delegatedTask(sandbox, fake, 'stuck.md', {}, {state: 'submitting', job_id: null, submitted_at: null, claimed_at: claimed})
    // A claim made a minute ago is the ordinary moment between claim and answer: not stuck.
    await delegatedTask(sandbox, fake, 'young.md', {}, {state: 'submitting', job_id: null, submitted_at: null, claimed_at: new Date(Date.now() - 60_000).toISOString()})
    fake.failNext(10, {status: 503, method: 'POST'})
    const reap = await runCcl(['reap', '--config', sandbox.configFile], {env: {SECUTOOLS_API_KEY: fake.apiKey, CCL_TEST_BACKOFF_BASE_MS: '1', CCL_TEST_MAX_RETRY_AFTER_MS: '5'}, cwd: sandbox.dir})
    expect(reap.code, reap.stdout + reap.stderr).toBe(1)
    const marker = JSON.parse(await readFile(path.join(sandbox.queue, 'pending', 'stuck.md.delegated'), 'utf8'))
    expect(marker).toMatchObject({state: 'submitting', last_error: {at: expect.any(String), message: expect.stringContaining('503')}})

    const run = await status(['--json'])
    expect(run.code).toBe(1)
    const report = JSON.parse(run.stdout)
    expect(kinds(report)).toEqual(['submit-stuck'])
    expect(report.attention[0]).toMatchObject({task: 'stuck.md', provider: 'gemini', since: claimed, command: 'ccl reap', last_error: marker.last_error})
    expect(report.attention[0].message).toMatch(/^stuck submitting: stuck\.md \(gemini\) claimed 10m\S* ago and not yet accepted by secutools \(watchdog\.waiting_after 5m\); last error \S+ ago: .*503.*; ccl reap resubmits it/)
    const human = await status()
    expect(human.stdout.split('\n')[0]).toMatch(/^NEEDS OPERATOR: 1 claim stuck submitting \(/)
    expect(human.stdout + run.stdout + reap.stdout + reap.stderr).not.toContain(fake.apiKey)
  })

  it('failed tasks: each listed newest first with when, its footer\'s error line and `ccl retry NAME`; exit 1; ccl_attention counts them', async () => {
    await configure(noServer())
    const {appendFooter} = await import('../../src/lib/delegation/footer.js')
    const footer = {status: 'failed' as const, provider: 'gpu', job_id: 'j-9', cost_usd: null, submitted_at: null, finished_at: null, task: 'gpu job.md', reaped_at: new Date().toISOString()}
    await writeFile(path.join(sandbox.queue, 'failed', 'gpu job.md'), appendFooter('# do it\n', footer, {error: '\nCUDA out of memory\nstack…'}))
    await writeFile(path.join(sandbox.queue, 'failed', 'local.md'), 'a session gave up\n')
    // whole seconds: utimes takes seconds as a double, and a millisecond may not survive the round trip
    const hourAgo = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000)
    await utimes(path.join(sandbox.queue, 'failed', 'local.md'), hourAgo, hourAgo)
    const run = await status(['--json'])
    expect(run.code).toBe(1)
    const report = JSON.parse(run.stdout)
    expect(report.attention.map((a: Record<string, unknown>) => [a.kind, a.task, a.error, a.status, a.job_id, a.command])).toEqual([
      ['failed-task', 'gpu job.md', 'CUDA out of memory', 'failed', 'j-9', "ccl retry 'gpu job.md'"],
      ['failed-task', 'local.md', null, null, null, 'ccl retry local.md'],
    ])
    expect(report.attention[1].since).toBe(hourAgo.toISOString())
    const human = await status()
    expect(human.stdout.split('\n')[0]).toMatch(/^NEEDS OPERATOR: 2 failed tasks \(/)
    expect(human.stdout).toMatch(/^- failed: gpu job\.md \(job j-9 failed\) \S+ ago, at \S+: CUDA out of memory; once its cause is fixed: ccl retry 'gpu job\.md'$/m)
    expect(human.stdout).toMatch(/^- failed: local\.md 1h\S* ago, at \S+: no error recorded \(no ccl footer: a session or a person put it there\); once its cause is fixed: ccl retry local\.md$/m)
    const prom = await status(['--prometheus'])
    const {errors, samples} = checkExposition(prom.stdout)
    expect(errors).toEqual([])
    expect(samples.find((x) => x.name === 'ccl_attention' && x.labels.kind === 'failed-task')?.value).toBe(2)
    expect(samples.find((x) => x.name === 'ccl_attention' && x.labels.kind === 'no-session')?.value).toBe(0)
  })

  it('delegation off because its key variable is empty, with a delegation block: exit 1, says which variable; a gpu task shows it routes local', async () => {
    await configure(noServer())
    await pending('gpu.md', '---\npreferred_ai: gpu\n---\nRender it.\n')
    // No session is alive either (another item): this test looks at the delegation one.
    const run = await status(['--json'], {SECUTOOLS_API_KEY: ''})
    expect(run.code).toBe(1)
    const report = JSON.parse(run.stdout)
    expect(report.delegation).toEqual({on: false, configured: true, reason: 'delegation is off: $SECUTOOLS_API_KEY is not set or empty', api_key_env: 'SECUTOOLS_API_KEY', base_url: fake.url})
    const off = report.attention.find((a: {kind: string}) => a.kind === 'delegation-off')
    expect(off).toMatchObject({variable: 'SECUTOOLS_API_KEY', command: null})
    expect(off.message).toMatch(/^delegation off: \$SECUTOOLS_API_KEY is not set or empty here, though the config has a delegation block: every task routes local/)
    expect(report.queue.next[0]).toMatchObject({task: 'gpu.md', target: 'claude-code', remote: false, reason: expect.stringMatching(/^rule 4: /)})
    const human = await status([], {SECUTOOLS_API_KEY: ''})
    expect(human.stdout).toContain('\nDELEGATION: OFF: $SECUTOOLS_API_KEY is not set or empty (the config has a delegation block): every task routes local\n')

    // Without a delegation block, delegation off is the site's choice: nothing to act on.
    await sandbox.writeConfig({...sandbox.config, delegation: undefined})
    const plain = JSON.parse((await status(['--json'], {SECUTOOLS_API_KEY: ''})).stdout)
    expect(kinds(plain)).not.toContain('delegation-off')
    expect(plain.delegation).toMatchObject({on: false, configured: false})
  })

  it('the oldest pending task\'s age, and where each of the first few would go and why it waits', async () => {
    tmux = await startPrivateTmux()
    await tmux.tmux('new-session', '-d', '-s', 'ccl-alpha', 'sleep 600')
    // A settle far longer than a loaded machine needs to start the CLI: fresh.md must still be settling when status reads the clock.
    await configure(tmux.socket, {dispatch: {settle: '5m'}})
    await pending('l1.md', 'local, no frontmatter\n', 600_000)
    await pending('r1.md', '---\npreferred_ai: gpu\n---\nRender it.\n', 500_000)
    await pending('l2.md', 'also local\n', 400_000)
    await pending('fresh.md', 'still being written\n', 0)
    const run = await status(['--json'])
    const report = JSON.parse(run.stdout)
    expect(report.queue.oldest_pending).toEqual({task: 'l1.md', since: expect.any(String), age_ms: expect.any(Number)})
    expect(report.queue.oldest_pending.age_ms).toBeGreaterThanOrEqual(600_000)
    expect(report.queue.next.map((p: Record<string, unknown>) => [p.task, p.target, p.account, p.waits])).toEqual([
      ['l1.md', 'claude-code', 'alpha', 'alpha is free: the next ccl dispatch hands it over'],
      ['r1.md', 'gpu', null, 'goes to gpu: the next ccl dispatch submits it'],
      ['l2.md', 'claude-code', null, 'no free account (alpha: takes l1.md first; beta: session ccl-beta is not running)'],
      ['fresh.md', null, null, expect.stringMatching(/^settling: modified \S+ ago \(dispatch\.settle 5m\); the next dispatch pass takes it$/)],
    ])
    expect(report.queue.next[1].reason).toMatch(/^rule 5: /)
    const human = await status()
    expect(human.stdout).toMatch(/^oldest pending: l1\.md, waiting 10m\S*$/m)
    expect(human.stdout).toMatch(/^l1\.md +10m\S* +claude-code \(alpha\) +alpha is free: the next ccl dispatch hands it over$/m)
    expect(human.stdout).toMatch(/^r1\.md +\S+ +gpu +goes to gpu/m)
  })

  it('a queue folder that does not exist: exit 3, naming the config file\'s queue and the folder', async () => {
    const missing = path.join(sandbox.dir, 'no-such-queue')
    await configure(noServer(), {queue: missing})
    const run = await status()
    expect(run.code).toBe(3)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain(`ccl: ${sandbox.configFile}: queue: ${missing} does not exist or is not a folder`)
    const json = await status(['--json'])
    expect(json.code).toBe(3)
    expect(JSON.parse(json.stdout).error.code).toBe('config')
  })
})

describe('ccl status: account health (failovers, tasks waiting for an account)', () => {
  const state = () => path.join(sandbox.queue, '.ccl')
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')

  it('keeps its counters in counters.json (0600) and reads only what the log gained; they survive ccl events --rotate', async () => {
    await configure(noServer())
    // This host's log (the config has no host: the hostname), and the legacy log of an earlier ccl, counted too.
    const events = path.join(state(), 'hosts', os.hostname(), 'events.jsonl')
    const ago = (h: number) => new Date(Date.now() - h * 3_600_000)
    await appendEvent(path.join(state(), 'events.jsonl'), 'delegation.submitted', {task: 'old.md'}, ago(40))
    await appendEvent(events, 'delegation.completed', {task: 'a.md', cost_usd: 0.5}, ago(30))
    await appendEvent(events, 'delegation.completed', {task: 'b.md', cost_usd: 0.25}, ago(1))
    const first = JSON.parse((await status(['--json'])).stdout).counters
    const checkpoint = path.join(state(), 'counters.json')
    expect((await stat(checkpoint)).mode & 0o777).toBe(0o600)
    expect(JSON.parse(await readFile(checkpoint, 'utf8')).logs[`hosts/${os.hostname()}/events.jsonl`].offset).toBe((await stat(events)).size)

    const rotate = await runCcl(['events', '--rotate', '--config', sandbox.configFile], {cwd: sandbox.dir})
    expect(rotate.code).toBe(0)
    await appendEvent(events, 'delegation.failed', {task: 'c.md', cost_usd: 1}, ago(2))
    const after = JSON.parse((await status(['--json'])).stdout).counters
    expect(first.all_time).toMatchObject({submitted: 1, completed: 2, cost_usd: 0.75})
    expect(after.all_time).toMatchObject({completed: 2, failed: 1, cost_usd: 1.75})
    expect(after.last_24h).toMatchObject({completed: 1, failed: 1, cost_usd: 1.25})
    // A rebuild (checkpoint gone) reads the archive and the new log: the same counts.
    await rm(checkpoint)
    const {since: _since, ...rebuilt} = JSON.parse((await status(['--json'])).stdout).counters
    const {since: _before, ...same} = after
    expect(rebuilt).toEqual(same)
  })

  it('a read-only state folder (a tmpfs remounted read-only as root): right counters, no error, nothing written', async () => {
    const readOnly = path.join(sandbox.dir, 'ro-state')
    await mkdir(readOnly)
    const asRoot = process.getuid?.() === 0
    if (asRoot) execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', readOnly])
    try {
      await configure(noServer(), {state: readOnly})
      const events = path.join(readOnly, 'events.jsonl')
      await appendEvent(events, 'delegation.completed', {task: 'a.md', cost_usd: 0.5}, new Date(Date.now() - 3_600_000))
      await appendEvent(events, 'delegation.submitted', {task: 'b.md'}, new Date(Date.now() - 50 * 3_600_000))
      if (asRoot) execFileSync('mount', ['-o', 'remount,ro', readOnly])
      else await chmod(readOnly, 0o555)
      for (let i = 0; i < 2; i++) {
        const run = await status(['--json'])
        expect(run.stderr).not.toMatch(/internal error|EROFS|EACCES/)
        const {counters} = JSON.parse(run.stdout)
        expect(counters.all_time).toMatchObject({submitted: 1, completed: 1, cost_usd: 0.5})
        expect(counters.last_24h).toMatchObject({submitted: 0, completed: 1, cost_usd: 0.5})
      }

      await expect(stat(path.join(readOnly, 'counters.json'))).rejects.toMatchObject({code: 'ENOENT'})
    } finally {
      if (asRoot) execFileSync('umount', [readOnly])
      else await chmod(readOnly, 0o700)
    }
  })

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
