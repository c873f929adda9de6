import {spawn} from 'node:child_process'
import {chmod, mkdir, readdir, readFile, stat, utimes, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {idempotencyKey, type Marker, serializeMarker} from '../../src/lib/delegation/marker.js'
import {currentHolder} from '../../src/lib/queue/holder.js'
import {writeAccountRecord} from '../support/accounts.js'
import {linkAll, makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
let state: string
let pending: string

beforeEach(async () => {
  sandbox = await makeSandbox()
  state = path.join(sandbox.queue, '.ccl')
  pending = path.join(sandbox.queue, 'pending')
  // A private state folder, so the mode warnings do not mix into every case.
  await mkdir(state, {recursive: true, mode: 0o700})
  await chmod(state, 0o700)
})
afterEach(async () => {
  await sandbox.cleanup()
})

interface Report {
  schemaVersion: number
  problems: {kind: string; severity: string; path: string; detail: string; repair: string; repairable: boolean}[]
  repaired: {kind: string; path: string; detail: string}[]
  sound: boolean
}

const fsck = (...args: string[]) => runCcl(['fsck', '--config', sandbox.configFile, ...args])
async function fsckJson(...args: string[]): Promise<{code: number; report: Report}> {
  const result = await fsck('--json', ...args)
  return {code: result.code, report: JSON.parse(result.stdout) as Report}
}

const ago = (ms: number) => new Date(Date.now() - ms)
const hourAgo = () => ago(3_600_000)

function marker(task: string, content: string, extra: Partial<Marker> = {}): string {
  const at = new Date(Date.now() - 60_000).toISOString()
  return serializeMarker({version: 1, task, state: 'submitted', provider: 'gemini', idempotency_key: idempotencyKey(task, content), claimed_at: at, job_id: 'j-1', submitted_at: at, ...extra})
}

/** A pid that is not running: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'])
  await new Promise((resolve) => child.on('exit', resolve))
  return child.pid!
}

describe('ccl fsck', () => {
  it('a sound queue: exit 0, one ok line, JSON {problems: [], repaired: []}', async () => {
    await writeFile(path.join(pending, 'a.md'), 'a\n')
    await writeFile(path.join(sandbox.queue, 'done', 'b.md'), 'b\n')
    const human = await fsck()
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout.trim()).toBe('ok: sound')
    const {code, report} = await fsckJson()
    expect(code).toBe(0)
    expect(report).toEqual({schemaVersion: 1, problems: [], repaired: [], sound: true})
  })

  it('task-duplicate: the same bytes in pending/ and done/; --repair removes the pending copy, a differing copy is no problem', async () => {
    await writeFile(path.join(pending, 'twice.md'), 'same\n')
    await writeFile(path.join(sandbox.queue, 'done', 'twice.md'), 'same\n')
    await writeFile(path.join(pending, 'recurring.md'), 'today\n')
    await writeFile(path.join(sandbox.queue, 'done', 'recurring.md'), 'yesterday\n')
    const check = await fsck()
    expect(check.code).toBe(1)
    expect(check.stdout).toMatch(/^PROBLEM task-duplicate \S+\/pending\/twice\.md: the same task \(identical content\) is in pending\/ and done\/: it may run twice; --repair removes the copy in pending\//m)
    expect(check.stdout).not.toContain('recurring.md')
    expect(await readdir(pending)).toContain('twice.md') // check alone changes nothing

    const {code, report} = await fsckJson('--repair')
    expect(code).toBe(0)
    expect(report.repaired).toEqual([{kind: 'task-duplicate', path: path.join(pending, 'twice.md'), detail: 'removed pending/twice.md: the same task is in done/'}])
    expect((await readdir(pending)).sort()).toEqual(['recurring.md'])
    expect(await readFile(path.join(sandbox.queue, 'done', 'twice.md'), 'utf8')).toBe('same\n')
  })

  it('task-duplicate in done/ and failed/: reported, left for a person', async () => {
    await writeFile(path.join(sandbox.queue, 'done', 'x.md'), 'x\n')
    await writeFile(path.join(sandbox.queue, 'failed', 'x.md'), 'x\n')
    const {code, report} = await fsckJson('--repair')
    expect(code).toBe(1)
    expect(report.repaired).toEqual([])
    expect(report.problems).toMatchObject([{kind: 'task-duplicate', repairable: false}])
    expect(report.problems[0]!.repair).toContain('keep the copy in the place it belongs')
  })

  it('marker-orphaned: --repair moves it to <queue>/lost+found/, kept byte for byte', async () => {
    const text = marker('gone.md', 'gone\n')
    await writeFile(path.join(pending, 'gone.md.delegated'), text)
    const check = await fsck()
    expect(check.code).toBe(1)
    expect(check.stdout).toMatch(/^PROBLEM marker-orphaned \S+gone\.md\.delegated: orphaned marker .*no task of that name is anywhere in the queue.*--repair moves it to \S+\/lost\+found\//m)

    const {code, report} = await fsckJson('--repair')
    expect(code).toBe(0)
    expect(report.repaired.map((r) => r.kind)).toEqual(['marker-orphaned'])
    expect(await readdir(pending)).toEqual([])
    expect(await readFile(path.join(sandbox.queue, 'lost+found', 'gone.md.delegated'), 'utf8')).toBe(text)
    expect((await fsck()).code).toBe(0)
  })

  it('marker-finished: the marker of a task already in done/; a marker beside its task is no problem', async () => {
    await writeFile(path.join(sandbox.queue, 'done', 'fin.md'), 'fin\n')
    await writeFile(path.join(pending, 'fin.md.delegated'), marker('fin.md', 'fin\n'))
    await writeFile(path.join(pending, 'live.md'), 'live\n')
    await writeFile(path.join(pending, 'live.md.delegated'), marker('live.md', 'live\n'))
    const {code, report} = await fsckJson()
    expect(code).toBe(1)
    expect(report.problems).toMatchObject([{kind: 'marker-finished', path: path.join(pending, 'fin.md.delegated'), repairable: true}])
    expect(report.problems[0]!.detail).toContain('a task of that name is in done/')
    const repaired = await fsckJson('--repair')
    expect(repaired.report.repaired.map((r) => r.kind)).toEqual(['marker-finished'])
    expect((await readdir(pending)).sort()).toEqual(['live.md', 'live.md.delegated'])
  })

  it('marker-malformed: beside its task it is left for a person; without one --repair sets it aside', async () => {
    await writeFile(path.join(pending, 'held.md'), 'held\n')
    await writeFile(path.join(pending, 'held.md.delegated'), '{not json')
    await writeFile(path.join(pending, 'lone.md.delegated'), '{"version": 1}')
    const {code, report} = await fsckJson('--repair')
    expect(code).toBe(1)
    expect(report.repaired).toMatchObject([{kind: 'marker-malformed', path: path.join(pending, 'lone.md.delegated')}])
    expect(report.problems).toMatchObject([{kind: 'marker-malformed', path: path.join(pending, 'held.md.delegated'), repairable: false}])
    expect(report.problems[0]!.detail).toContain('not valid JSON')
    expect((await readdir(pending)).sort()).toEqual(['held.md', 'held.md.delegated'])
  })

  it('temp-stale: a dead writer\'s temp file is removed by --repair; a fresh one and a live writer\'s are left alone', async () => {
    const dead = path.join(pending, `.ccl-tmp-${await deadPid()}-aaaaaaaaaaaa`)
    const fresh = path.join(pending, `.ccl-tmp-${process.pid}-bbbbbbbbbbbb`)
    const old = path.join(sandbox.queue, 'done', '.ccl-tmp-1-cccccccccccc')
    for (const file of [dead, fresh, old]) await writeFile(file, 'part')
    await utimes(dead, ago(120_000), ago(120_000))
    await utimes(old, hourAgo(), hourAgo())
    const check = await fsckJson()
    expect(check.code).toBe(1)
    expect(check.report.problems.map((p) => [p.kind, p.path]).sort()).toEqual([['temp-stale', dead], ['temp-stale', old]].sort())
    const {code, report} = await fsckJson('--repair')
    expect(code).toBe(0)
    expect(report.repaired).toHaveLength(2)
    expect(await readdir(pending)).toEqual([path.basename(fresh)])
  })

  it('handoff-stale: a hand-off whose process is gone is settled by --repair (the task back in pending/, its place kept)', async () => {
    const active = path.join(sandbox.queue, 'active', 'alpha')
    await mkdir(active, {recursive: true})
    await writeFile(path.join(active, 'cut.md'), 'cut\n')
    const holder = {...currentHolder(), pid: await deadPid()}
    const placed = hourAgo().getTime()
    const record = {nonce: 'n1', holder, version: 2, account: 'alpha', task: 'cut.md', state: 'delivering', started_at: new Date().toISOString(), pending_mtime_ms: placed, delivered_at: null}
    await mkdir(path.join(state, 'handoff'), {recursive: true, mode: 0o700})
    await writeFile(path.join(state, 'handoff', 'alpha.json'), JSON.stringify(record) + '\n')
    const check = await fsckJson()
    expect(check.code).toBe(1)
    expect(check.report.problems).toMatchObject([{kind: 'handoff-stale', path: path.join(state, 'handoff', 'alpha.json'), repairable: true}])
    const {code, report} = await fsckJson('--repair')
    expect(code, JSON.stringify(report)).toBe(0)
    expect(report.repaired[0]!.detail).toBe('undid the hand-off to alpha: cut.md back in pending/ as cut.md')
    expect(await readdir(pending)).toEqual(['cut.md'])
    expect(Math.round((await stat(path.join(pending, 'cut.md'))).mtimeMs)).toBe(placed)
    expect(await readdir(active)).toEqual([])
  })

  it('handoff-stale whose session recorded the prompt: --repair completes the hand-off, the task stays with the session', async () => {
    const active = path.join(sandbox.queue, 'active', 'alpha')
    await mkdir(active, {recursive: true})
    const task = path.join(active, 'got.md')
    await writeFile(task, 'got\n')
    const started = new Date(Date.now() - 30_000)
    const record = {nonce: 'n3', holder: {...currentHolder(), pid: await deadPid()}, version: 2, account: 'alpha', task: 'got.md', state: 'delivering', started_at: started.toISOString(), pending_mtime_ms: 0, delivered_at: null}
    await mkdir(path.join(state, 'handoff'), {recursive: true, mode: 0o700})
    await writeFile(path.join(state, 'handoff', 'alpha.json'), JSON.stringify(record) + '\n')
    await writeAccountRecord(state, 'alpha', {prompts: [{sha256: 'x', head: `Read the task in ${task} and do it.`, at: new Date(started.getTime() + 1000).toISOString()}]})
    await chmod(path.join(state, 'accounts'), 0o700)
    const {code, report} = await fsckJson('--repair')
    expect(code, JSON.stringify(report)).toBe(0)
    expect(report.repaired[0]!.detail).toBe('completed the hand-off of got.md to alpha: its session had received the prompt')
    expect(await readdir(active)).toEqual(['got.md'])
    expect(await readdir(pending)).toEqual([])
  })

  it('failover-stale and a torn failover journal: reported, left to reconcile and a person', async () => {
    await mkdir(path.join(state, 'failover'), {recursive: true, mode: 0o700})
    const holder = {...currentHolder(), pid: await deadPid()}
    const record = {nonce: 'n2', holder, version: 1, from: 'alpha', to: 'beta', task: 'f.md', session_id: null, cwd: null, mode: 'fresh', why: null, step: 'moved', started_at: new Date().toISOString(), target_started_at: null, pasted_at: null, pending_mtime_ms: 0}
    await writeFile(path.join(state, 'failover', 'alpha.json'), JSON.stringify(record) + '\n')
    await writeFile(path.join(state, 'failover', 'beta.json'), '{"torn')
    const {code, report} = await fsckJson('--repair')
    expect(code).toBe(1)
    expect(report.repaired).toEqual([])
    expect(report.problems.map((p) => p.kind).sort()).toEqual(['failover-stale', 'state-unparsable'])
    expect(report.problems.find((p) => p.kind === 'failover-stale')!.repair).toContain('run ccl reconcile')
  })

  it('active-unknown-account and active-several: reported with what to do, nothing moved', async () => {
    const ghost = path.join(sandbox.queue, 'active', 'ghost')
    const alpha = path.join(sandbox.queue, 'active', 'alpha')
    await mkdir(ghost, {recursive: true})
    await mkdir(alpha, {recursive: true})
    await writeFile(path.join(ghost, 'g.md'), 'g\n')
    await writeFile(path.join(alpha, 'one.md'), '1\n')
    await writeFile(path.join(alpha, 'two.md'), '2\n')
    const human = await fsck('--repair')
    expect(human.code).toBe(1)
    expect(human.stdout).toMatch(/^PROBLEM active-unknown-account \S+\/active\/ghost: no account ghost in the config; it holds g\.md/m)
    expect(human.stdout).toMatch(/^PROBLEM active-several \S+\/active\/alpha: 2 tasks \(one\.md, two\.md\); an account works on at most one; .*ccl requeue/m)
    expect(human.stdout).toMatch(/^NOT SOUND: 2 problems left for a person, 0 repaired$/m)
    expect(await readdir(alpha)).toEqual(['one.md', 'two.md'])
  })

  it('state-unparsable: a session record that does not parse', async () => {
    await mkdir(path.join(state, 'sessions'), {recursive: true, mode: 0o700})
    await writeFile(path.join(state, 'sessions', 'alpha.json'), '{"crashes": ')
    const {code, report} = await fsckJson()
    expect(code).toBe(1)
    expect(report.problems).toMatchObject([{kind: 'state-unparsable', path: path.join(state, 'sessions', 'alpha.json')}])
    expect(report.problems[0]!.repair).toContain('ccl reconcile --release alpha')
  })

  it('events-torn: --repair truncates the log to its last whole line; a fresh torn line may be a writer mid-append and is left', async () => {
    const log = path.join(state, 'events.jsonl')
    const whole = '{"ts":"2026-01-01T00:00:00.000Z","event":"task.done","task":"a.md"}\n'
    await writeFile(log, whole + '{"ts":"2026-01-0', {mode: 0o600})
    expect((await fsckJson()).code).toBe(0) // just written: not judged yet
    await utimes(log, ago(60_000), ago(60_000))
    const check = await fsckJson()
    expect(check.code).toBe(1)
    expect(check.report.problems).toMatchObject([{kind: 'events-torn', path: log, repairable: true}])
    const {code, report} = await fsckJson('--repair')
    expect(code).toBe(0)
    expect(report.repaired.map((r) => r.kind)).toEqual(['events-torn'])
    expect(await readFile(log, 'utf8')).toBe(whole)
  })

  it('events-torn in every log: each host\'s log and the legacy one are checked, each repaired on its own; a host folder open to others is a warning', async () => {
    const whole = '{"ts":"2026-01-01T00:00:00.000Z","event":"task.done","task":"a.md"}\n'
    const logs = [path.join(state, 'events.jsonl'), path.join(state, 'hosts', 'host-a', 'events.jsonl'), path.join(state, 'hosts', 'host-b', 'events.jsonl')]
    for (const log of logs) {
      await mkdir(path.dirname(log), {recursive: true, mode: 0o700})
      await writeFile(log, whole + '{"ts":"2026-01-0', {mode: 0o600})
      await utimes(log, ago(60_000), ago(60_000))
    }

    const check = await fsckJson()
    expect(check.code).toBe(1)
    expect(check.report.problems.filter((p) => p.kind === 'events-torn').map((p) => p.path).sort()).toEqual([...logs].sort())
    const {code, report} = await fsckJson('--repair')
    expect(code).toBe(0)
    expect(report.repaired.map((r) => r.kind)).toEqual(['events-torn', 'events-torn', 'events-torn'])
    for (const log of logs) expect(await readFile(log, 'utf8')).toBe(whole)
    await chmod(path.join(state, 'hosts', 'host-b'), 0o755)
    expect((await fsckJson()).report.problems).toMatchObject([{kind: 'state-readable', path: path.join(state, 'hosts', 'host-b'), severity: 'warning'}])
  })

  it('modes: an unreadable task is a problem; group-writable tasks and world-readable state are warnings (exit 0)', async () => {
    await writeFile(path.join(pending, 'shut.md'), 'x\n')
    await chmod(path.join(pending, 'shut.md'), 0o200)
    await writeFile(path.join(pending, 'open.md'), 'y\n')
    await chmod(path.join(pending, 'open.md'), 0o664)
    const first = await fsckJson()
    expect(first.code).toBe(1)
    expect(first.report.problems.map((p) => [p.kind, p.severity]).sort()).toEqual([['mode-writable', 'warning'], ['task-unreadable', 'problem']])
    await chmod(path.join(pending, 'shut.md'), 0o600)
    await chmod(state, 0o755)
    const human = await fsck()
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/^warn state-readable \S+\.ccl: mode 755: readable by everyone on the machine.*; chmod 700 /m)
    expect(human.stdout).toMatch(/^ok: sound, 2 warnings$/m)
  })

  it('not-regular: a symlink with a task name', async () => {
    const {symlink} = await import('node:fs/promises')
    await symlink('/etc/passwd', path.join(pending, 'link.md'))
    const {code, report} = await fsckJson()
    expect(code).toBe(1)
    expect(report.problems).toMatchObject([{kind: 'not-regular', path: path.join(pending, 'link.md')}])
  })

  it('--repair refuses while a live reap holds its lock (exit 1), changing nothing', async () => {
    const stale = path.join(pending, '.ccl-tmp-1-dddddddddddd')
    await writeFile(stale, 'x')
    await utimes(stale, hourAgo(), hourAgo())
    await mkdir(path.join(state, 'locks'), {recursive: true})
    const record = {nonce: 'lock', holder: currentHolder(), acquired_at: new Date().toISOString()}
    await writeFile(path.join(state, 'locks', 'reap.lock'), JSON.stringify(record) + '\n')
    const result = await runCcl(['fsck', '--config', sandbox.configFile, '--repair'], {env: {}, timeoutMs: 60_000})
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/another ccl reap is running \(pid \d+/)
    expect(await readdir(pending)).toEqual([path.basename(stale)])
  }, 30_000)
})

describe('an orphaned marker in status and doctor', () => {
  const socket = () => `ccl-test-none-${process.pid}-${Math.random().toString(36).slice(2, 8)}`

  it('status: exit 1, an attention line naming it and ccl fsck --repair, not listed as a delegated job; fine again after the repair', async () => {
    await linkAll(sandbox)
    await sandbox.writeConfig({...sandbox.config, tmux: {socket: socket()}})
    await writeFile(path.join(pending, 'gone.md.delegated'), marker('gone.md', 'gone\n'))
    await writeFile(path.join(pending, 'live.md'), 'live\n')
    await writeFile(path.join(pending, 'live.md.delegated'), marker('live.md', 'live\n', {job_id: 'j-2'}))
    const status = await runCcl(['status', '--config', sandbox.configFile, '--json'])
    expect(status.code, status.stderr).toBe(1)
    const report = JSON.parse(status.stdout) as {attention: {kind: string; message: string; command: string | null; task?: string}[]; delegated: {task: string}[]; queue: {delegated: number}}
    expect(report.attention).toMatchObject([{kind: 'marker-orphaned', command: 'ccl fsck --repair', task: 'gone.md'}])
    expect(report.attention[0]!.message).toContain(`orphaned marker ${path.join(pending, 'gone.md.delegated')}`)
    expect(report.delegated.map((j) => j.task)).toEqual(['live.md'])
    expect(report.queue.delegated).toBe(1)
    const human = await runCcl(['status', '--config', sandbox.configFile])
    expect(human.stdout).toMatch(/^NEEDS OPERATOR: 1 orphaned marker/m)
    expect(human.stdout).toMatch(/orphaned marker \S+gone\.md\.delegated: .*run: ccl fsck --repair/)

    expect((await fsck('--repair')).code).toBe(0)
    const after = await runCcl(['status', '--config', sandbox.configFile, '--json'])
    expect(after.code, after.stdout).toBe(0)
  })

  it('a marker whose finish was prepared (reap killed between its steps) is no orphan: the next reap completes it', async () => {
    await sandbox.writeConfig({...sandbox.config, tmux: {socket: socket()}})
    const text = marker('half.md', 'half\n')
    await writeFile(path.join(pending, 'half.md.delegated'), text)
    const {resultJournalName} = await import('../../src/lib/queue/transitions.js')
    const key = (JSON.parse(text) as Marker).idempotency_key
    await writeFile(path.join(pending, resultJournalName(key, 'done')), 'half\n\nfooter\n')
    const status = await runCcl(['status', '--config', sandbox.configFile, '--json'])
    expect((JSON.parse(status.stdout) as {attention: {kind: string}[]}).attention.map((a) => a.kind)).not.toContain('marker-orphaned')
    const {report} = await fsckJson('--repair')
    expect(report.repaired).toEqual([])
    expect(await readdir(pending)).toContain('half.md.delegated')
  })

  it('doctor: one queue.fsck line, FAIL with the kinds and the fsck command; ok once repaired', async () => {
    await sandbox.writeConfig({...sandbox.config, tmux: {socket: socket()}})
    await writeFile(path.join(pending, 'gone.md.delegated'), marker('gone.md', 'gone\n'))
    const check = async () => {
      const result = await runCcl(['doctor', '--config', sandbox.configFile, '--json'])
      const report = JSON.parse(result.stdout) as {checks: {id: string; severity: string; message: string; fix: string | null}[]}
      return report.checks.filter((c) => c.id === 'queue.fsck')
    }

    expect(await check()).toEqual([
      {id: 'queue.fsck', ok: false, severity: 'fail', message: 'fsck: 1 problem in the queue or the state (1 marker-orphaned)', fix: 'run ccl fsck for the list; ccl fsck --repair fixes 1 of them'},
    ])
    await fsck('--repair')
    expect(await check()).toMatchObject([{id: 'queue.fsck', severity: 'ok', message: 'fsck: the queue and the state are sound'}])
  })
})
