// ccl events against real event logs in a temp folder, through the built binary: the human
// lines, the filters, --json, and --follow across appends, rotation, truncation and a missing log;
// and a fleet's logs (SPEC §8): one per host under hosts/<host>/, plus the legacy top-level one,
// merged by ts, each event with its host, rotated per host.
import {type ChildProcess, spawn} from 'node:child_process'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {appendFile, mkdir, rename, truncate, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'

import {MAX_LINE_BYTES, readEventStream} from '../../src/lib/events/stream.js'
import {waitFor} from '../support/loop.js'
import {BIN, makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
/** The log of this config's host, host-a: the one its ccl appends to. */
let log: string
let state: string
const HOST = 'host-a'
const children: ChildProcess[] = []

beforeEach(async () => {
  sandbox = await makeSandbox({config: {host: HOST}})
  state = path.join(sandbox.queue, '.ccl')
  log = path.join(state, 'hosts', HOST, 'events.jsonl')
})
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await sandbox.cleanup()
})

const ccl = (args: string[]) => runCcl(['events', '--config', sandbox.configFile, ...args], {cwd: sandbox.dir})
const line = (event: Record<string, unknown>) => JSON.stringify(event) + '\n'
const at = (iso: string) => `${iso}:00.000Z`

async function writeLog(...lines: string[]): Promise<void> {
  await mkdir(path.dirname(log), {recursive: true})
  await writeFile(log, lines.join(''))
}

const HISTORY = [
  line({ts: at('2026-12-01T10:00'), event: 'task.assigned', task: 'fix.md', account: 'alpha', session: 'ccl-alpha', confirmed: true}),
  line({ts: at('2026-12-01T10:01'), event: 'delegation.completed', task: 'sum.md', job_id: 'j-1', provider: 'gemini', status: 'completed', cost_usd: 0.0042, duration_ms: 65_000, destination: 'done/sum.md'}),
  '{"ts":"2026-12-01T10:01:30.000Z","event":"task.do', // torn by a crash: the next line is glued to it
  line({ts: at('2026-12-01T10:01'), event: 'task.lost'}),
  line({foreign: true}),
  line({ts: at('2026-12-01T10:02'), event: 'task.failed_over', task: 'fix.md', from: 'alpha', to: 'beta', session_id: 's-1', mode: 'resume', started_at: at('2026-12-01T10:01')}),
  line({ts: at('2026-12-01T10:03'), event: 'task.requeued', task: 'old.md', account: 'beta', as: 'fix.md', renamed: true, reason: 'session dead', from: 'active/beta'}),
  line({ts: at('2026-12-01T10:04'), event: 'task.done', task: 'fix.md', account: 'beta', duration_ms: 200_000, by: 'session'}),
]

/** A `ccl events --follow` running in the background, its output collected as it comes. */
function follow(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'events', '--config', sandbox.configFile, '--follow', ...args], {
    cwd: sandbox.dir,
    env: {PATH: process.env.PATH, HOME: sandbox.dir, XDG_CONFIG_HOME: path.join(sandbox.dir, '.config'), LANG: 'C.UTF-8'},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  const out = {stdout: '', stderr: ''}
  child.stdout.on('data', (chunk: Buffer) => (out.stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (out.stderr += chunk.toString()))
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  return {
    out,
    lines: () => out.stdout.split('\n').filter(Boolean),
    until: async (check: () => boolean, what: string) => {
      if (!(await waitFor(async () => check(), 8000))) throw new Error(`timed out waiting for ${what}; stdout: ${out.stdout}; stderr: ${out.stderr}`)
    },
    stop: async (signal: NodeJS.Signals) => {
      child.kill(signal)
      return exited
    },
  }
}

describe('ccl events', () => {
  it('prints one line per event: time, event, task, account, the key fields; torn and foreign lines skipped', async () => {
    await writeLog(...HISTORY)
    const run = await ccl([])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout.split('\n')).toEqual([
      '2026-12-01T10:00:00Z  task.assigned         fix.md  alpha  session=ccl-alpha confirmed=true',
      '2026-12-01T10:01:00Z  delegation.completed  sum.md  -  provider=gemini job_id=j-1 status=completed cost=$0.0042 duration=1m5s destination=done/sum.md',
      '2026-12-01T10:02:00Z  task.failed_over      fix.md  alpha→beta  mode=resume session_id=s-1',
      '2026-12-01T10:03:00Z  task.requeued         old.md  beta  reason="session dead" as=fix.md from=active/beta',
      '2026-12-01T10:04:00Z  task.done             fix.md  beta  duration=3m20s by=session',
      '',
    ])
  })

  it('escapes control characters in names and fields, so a task name cannot forge a line', async () => {
    const evil = 'a\n2026-12-01T10:09:00Z  task.done  \u001B[2Jx.md'
    await writeLog(line({ts: at('2026-12-01T10:00'), event: 'session.waiting', task: evil, account: 'al\tpha', reason: 'permission_prompt', message: 'ok?\r\u009B'}))
    const run = await ccl([])
    expect(run.code).toBe(0)
    expect(run.stdout).toBe(
      '2026-12-01T10:00:00Z  session.waiting       a\\n2026-12-01T10:09:00Z  task.done  \\e[2Jx.md  al\\tpha  reason=permission_prompt message="ok?\\r\\x9B"\n',
    )
    // JSON keeps the name as it is: JSON escapes it itself.
    expect(JSON.parse((await ccl(['--json'])).stdout).events[0].task).toBe(evil)
  })

  it('--task: the events of one task, also the requeue that renamed it; a path is cut to its name', async () => {
    await writeLog(...HISTORY)
    const run = await ccl(['--task', 'pending/fix.md'])
    expect(run.code).toBe(0)
    expect(run.stdout.split('\n').filter(Boolean).map((l) => l.split(/ +/)[1])).toEqual(['task.assigned', 'task.failed_over', 'task.requeued', 'task.done'])
    expect((await ccl(['--task', 'sum.md'])).stdout).toMatch(/^\S+ {2}delegation\.completed {2}sum\.md .*\n$/)
  })

  it('--account: its events, and failovers from or to it; combined with --task', async () => {
    await writeLog(...HISTORY)
    const events = async (args: string[]) => JSON.parse((await ccl([...args, '--json'])).stdout).events.map((e: {event: string}) => e.event)
    expect(await Promise.all([['--account', 'alpha'], ['--account', 'beta'], ['--account', 'beta', '--task', 'old.md'], ['--account', 'gamma']].map((a) => events(a)))).toEqual([
      ['task.assigned', 'task.failed_over'],
      ['task.failed_over', 'task.requeued', 'task.done'],
      ['task.requeued'],
      [],
    ])
  })

  it('--since takes a duration back from now or an ISO date; -n keeps the last N that match', async () => {
    const ago = (ms: number) => new Date(Date.now() - ms).toISOString()
    await writeLog(
      line({ts: ago(3 * 86_400_000), event: 'session.created', account: 'alpha', session: 'ccl-alpha'}),
      line({ts: ago(3 * 3_600_000), event: 'session.crashed', account: 'alpha', session: 'ccl-alpha', state: 'dead', crashes_in_window: 1, crash_window_ms: 1_800_000}),
      line({ts: ago(10 * 60_000), event: 'account.paused', account: 'beta', reason: 're-login'}),
      line({ts: 'sometime', event: 'account.unpaused', account: 'beta'}),
    )
    const names = async (args: string[]) => (await ccl(args)).stdout.split('\n').filter(Boolean).map((l) => l.split(/ +/)[1])
    const runs = [
      ['--since', '30m'],
      ['--since', '1d'],
      ['--since', ago(4 * 3_600_000).slice(0, 16) + 'Z'], // a date and time, 4 h ago
      ['--since', ago(5 * 86_400_000).slice(0, 10)], // a date alone: midnight UTC, 4 to 5 days ago
      ['-n', '2'],
      ['--account', 'alpha', '-n', '1'],
    ]
    expect(await Promise.all(runs.map((args) => names(args)))).toEqual([
      ['account.paused'],
      ['session.crashed', 'account.paused'],
      ['session.crashed', 'account.paused'],
      ['session.created', 'session.crashed', 'account.paused'],
      ['account.paused', 'account.unpaused'],
      ['session.crashed'],
    ])
  })

  it('a --since that is neither a duration nor a date: usage error naming the flag, exit 2, also under --json', async () => {
    await writeLog(...HISTORY)
    const bad = await ccl(['--since', 'yesterday'])
    expect(bad.code).toBe(2)
    expect(bad.stdout).toBe('')
    expect(bad.stderr.split('\n')[0]).toBe('ccl: --since yesterday: expected a duration back from now (30m, 2h, 1d) or an ISO date (2026-12-01, 2026-12-01T08:00Z)')
    const json = await ccl(['--since', '2026-13-45', '--json'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toMatchObject({schemaVersion: 1, error: {code: 'usage', exitCode: 2, message: expect.stringContaining('--since 2026-13-45')}})
  })

  it('--rotate: the log to an archive, its path printed; queries read the archives first; a second rotate has nothing to do', async () => {
    await writeLog(...HISTORY.slice(0, 2))
    const rotated = await ccl(['--rotate'])
    expect(rotated.stderr).toBe('')
    expect(rotated.code).toBe(0)
    const archive = rotated.stdout.trim()
    expect(path.dirname(archive)).toBe(path.dirname(log))
    expect(path.basename(archive)).toMatch(/^events-\d{8}T\d{6}Z\.jsonl$/)
    expect(readFileSync(archive, 'utf8')).toBe(HISTORY.slice(0, 2).join(''))
    // The live log is there again, empty and 0600, and status's checkpoint has moved onto it.
    expect(statSync(log).size).toBe(0)
    expect(statSync(log).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(path.join(state, 'counters.json'), 'utf8'))).toMatchObject({logs: {[`hosts/${HOST}/events.jsonl`]: {ino: statSync(log).ino, offset: 0}}, totals: {completed: 1}})
    await appendFile(log, HISTORY[7]!)
    const names = (await ccl(['--since', '2026-11-01'])).stdout.split('\n').filter(Boolean).map((l) => l.split(/ +/)[1])
    expect(names).toEqual(['task.assigned', 'delegation.completed', 'task.done'])
    expect(JSON.parse((await ccl(['--json', '-n', '2'])).stdout).events.map((e: {event: string}) => e.event)).toEqual(['delegation.completed', 'task.done'])

    const again = await ccl(['--rotate', '--json'])
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout)).toEqual({schemaVersion: 1, archive: expect.stringMatching(/events-\d{8}T\d{6}Z(-1)?\.jsonl$/), rotated: true})
    const empty = await ccl(['--rotate'])
    expect(empty.code).toBe(0)
    expect(empty.stdout).toBe('')
    expect(empty.stderr.trim()).toBe(`ccl events: nothing to rotate: ${log} is empty`)
  })

  it('--rotate with a filter or --follow: one line of usage error, exit 2, nothing rotated', async () => {
    await writeLog(...HISTORY)
    for (const extra of [['--follow'], ['--since', '1d', '-n', '3']]) {
      const run = await ccl(['--rotate', ...extra])
      expect(run.code).toBe(2)
      expect(run.stdout).toBe('')
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
      expect(run.stderr.trim()).toMatch(/^ccl: --rotate takes no other flag: --(follow|since, --lines) \(rotate, then query in a second run\)$/)
    }

    expect(readFileSync(log, 'utf8')).toBe(HISTORY.join(''))
  })

  it('--json: one document {schemaVersion: 1, events}, the events as logged with their host; no log yet is no event', async () => {
    expect(JSON.parse((await ccl(['--json'])).stdout)).toEqual({schemaVersion: 1, events: []})
    await writeLog(...HISTORY)
    const run = await ccl(['--json', '--task', 'sum.md'])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({schemaVersion: 1, events: [{...JSON.parse(HISTORY[1]!), host: HOST}]})
  })

  it('a config error exits 3', async () => {
    await writeFile(sandbox.configFile, 'queue: 42\n')
    const run = await ccl([])
    expect(run.code).toBe(3)
    expect(run.stderr).toContain(sandbox.configFile)
  })

  it('--help shows examples', async () => {
    const run = await runCcl(['events', '--help'], {cwd: sandbox.dir})
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('EXAMPLES')
    expect(run.stdout).toContain('ccl events --since 1h')
  })
})

describe('ccl events --follow', () => {
  it('prints the matching history, then each matching event as it is appended; Ctrl-C stops it, exit 0', async () => {
    await writeLog(...HISTORY)
    const f = follow(['--account', 'alpha'])
    await f.until(() => f.lines().length === 2, 'the history')
    await appendFile(log, line({ts: at('2026-12-01T11:00'), event: 'account.paused', account: 'beta', reason: 'not shown'}))
    await appendFile(log, line({ts: at('2026-12-01T11:01'), event: 'account.paused', account: 'alpha', reason: 're-login'}))
    await f.until(() => f.lines().length === 3, 'the appended event')
    expect(f.lines()[2]).toBe('2026-12-01T11:01:00Z  account.paused        -  alpha  reason=re-login')
    // half a line (a writer mid-write) waits for its newline
    const half = line({ts: at('2026-12-01T11:02'), event: 'account.unpaused', account: 'alpha', paused_since: at('2026-12-01T11:01')})
    await appendFile(log, half.slice(0, 30))
    await new Promise((resolve) => setTimeout(resolve, 600))
    await appendFile(log, half.slice(30))
    await f.until(() => f.lines().length === 4, 'the line completed')
    expect(f.lines()[3]).toMatch(/ {2}account\.unpaused {6}- {2}alpha {2}paused_since=2026-12-01T11:01:00\.000Z$/)
    expect(await f.stop('SIGINT')).toBe(0)
    expect(f.out.stderr).toBe('')
  })

  it('follows a rotated log: renamed away and a new file created, read from its start', async () => {
    await writeLog(...HISTORY)
    const f = follow(['-n', '1'])
    await f.until(() => f.lines().length === 1, 'the last event')
    expect(f.lines()[0]).toContain('task.done')
    await rename(log, `${log}.1`)
    await writeFile(log, line({ts: at('2026-12-01T12:00'), event: 'session.released', account: 'alpha'}) + line({ts: at('2026-12-01T12:01'), event: 'session.released', account: 'beta'}))
    await f.until(() => f.lines().length === 3, 'the new file')
    expect(f.lines().slice(1)).toEqual(['2026-12-01T12:00:00Z  session.released      -  alpha', '2026-12-01T12:01:00Z  session.released      -  beta'])
    await appendFile(log, line({ts: at('2026-12-01T12:02'), event: 'session.released', account: 'gamma'}))
    await f.until(() => f.lines().length === 4, 'an append to the new file')
    expect(f.out.stderr).toMatch(/events\.jsonl (was replaced \(rotated\)|is gone)/)
    expect(await f.stop('SIGTERM')).toBe(0)
  })

  it('follows across ccl events --rotate: the new live log is read from its start', async () => {
    await writeLog(...HISTORY)
    const f = follow(['-n', '1'])
    await f.until(() => f.lines().length === 1, 'the last event')
    expect((await ccl(['--rotate'])).code).toBe(0)
    await f.until(() => f.out.stderr.includes('was replaced (rotated)'), 'the rotation noticed')
    await appendFile(log, line({ts: at('2026-12-01T12:00'), event: 'session.released', account: 'alpha'}))
    await f.until(() => f.lines().length === 2, 'an event in the new log')
    expect(f.lines()[1]).toBe('2026-12-01T12:00:00Z  session.released      -  alpha')
    expect(await f.stop('SIGTERM')).toBe(0)
  })

  it('follows a truncated log from its start', async () => {
    await writeLog(...HISTORY)
    const f = follow(['-n', '1'])
    await f.until(() => f.lines().length === 1, 'the last event')
    await truncate(log, 0)
    await f.until(() => f.out.stderr.includes('was truncated; reading it again from its start'), 'the truncation noticed')
    await appendFile(log, line({ts: at('2026-12-01T13:00'), event: 'account.unpaused', account: 'beta', paused_since: at('2026-12-01T12:00')}))
    await f.until(() => f.lines().length === 2, 'the event after the truncation')
    expect(f.lines()[1]).toMatch(/^2026-12-01T13:00:00Z {2}account\.unpaused/)
    expect(await f.stop('SIGINT')).toBe(0)
  })

  it('waits for a log that does not exist yet; --json gives JSON lines, one event each', async () => {
    const f = follow(['--json', '--task', 'a.md'])
    await f.until(() => f.out.stderr.includes('no event log yet at'), 'the wait')
    const events = [
      {ts: at('2026-12-01T14:00'), event: 'task.assigned', task: 'a.md', account: 'alpha'},
      {ts: at('2026-12-01T14:01'), event: 'task.assigned', task: 'b.md', account: 'beta'},
      {ts: at('2026-12-01T14:02'), event: 'task.done', task: 'a.md', account: 'alpha', duration_ms: 60_000, by: 'session'},
    ]
    await writeLog(...events.map((e) => line(e)), '{"torn\n')
    await f.until(() => f.lines().length === 2, 'the events of a.md')
    expect(f.lines().map((l) => JSON.parse(l) as unknown)).toEqual([events[0], events[2]].map((e) => ({...e, host: HOST})))
    expect(await f.stop('SIGINT')).toBe(0)
    expect(f.out.stdout).not.toContain('schemaVersion')
  })
})

describe('a fleet: one log per host (SPEC §8)', () => {
  /** The same config on another host: its own `host:`, the same queue and state folder. */
  async function configOf(host: string): Promise<string> {
    const file = path.join(sandbox.dir, `ccl-${host}.yaml`)
    await writeFile(file, stringify({...sandbox.config, host}))
    return file
  }

  const hostLog = (host: string) => path.join(state, 'hosts', host, 'events.jsonl')
  async function writeHostLog(host: string, ...lines: string[]): Promise<void> {
    await mkdir(path.dirname(hostLog(host)), {recursive: true})
    await writeFile(hostLog(host), lines.join(''))
  }

  const json = async (args: string[] = [], config = sandbox.configFile) => {
    const run = await runCcl(['events', '--config', config, '--json', ...args], {cwd: sandbox.dir})
    expect(run.stderr).toBe('')
    return JSON.parse(run.stdout).events as Record<string, unknown>[]
  }

  it('two hosts appending at once each write only their own hosts/<host>/events.jsonl (0700 folders, 0600 files), never the legacy log; ccl events on either shows both, merged by ts', async () => {
    const b = await configOf('host-b')
    // Each host pauses and unpauses its own account five times, both at once: real processes, real appends.
    const churn = async (config: string, account: string) => {
      for (let i = 0; i < 5; i++) {
        expect((await runCcl(['pause', account, '--config', config], {cwd: sandbox.dir})).code).toBe(0)
        expect((await runCcl(['unpause', account, '--config', config], {cwd: sandbox.dir})).code).toBe(0)
      }
    }

    await Promise.all([churn(sandbox.configFile, 'alpha'), churn(b, 'beta')])
    const written = (host: string) => readFileSync(hostLog(host), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as {account: string})
    expect(new Set(written(HOST).map((e) => e.account))).toEqual(new Set(['alpha']))
    expect(new Set(written('host-b').map((e) => e.account))).toEqual(new Set(['beta']))
    expect(written(HOST)).toHaveLength(10)
    expect(written('host-b')).toHaveLength(10)
    expect(() => statSync(path.join(state, 'events.jsonl'))).toThrow(/ENOENT/)
    for (const host of [HOST, 'host-b']) {
      expect(statSync(hostLog(host)).mode & 0o777).toBe(0o600)
      expect(statSync(path.dirname(hostLog(host))).mode & 0o777).toBe(0o700)
    }

    expect(statSync(path.join(state, 'hosts')).mode & 0o777).toBe(0o700)
    for (const config of [sandbox.configFile, b]) {
      const events = await json([], config)
      expect(events).toHaveLength(20)
      expect(events.filter((e) => e.host === HOST).every((e) => e.account === 'alpha')).toBe(true)
      expect(events.filter((e) => e.host === 'host-b').every((e) => e.account === 'beta')).toBe(true)
      const times = events.map((e) => Date.parse(e.ts as string))
      expect(times).toEqual([...times].sort((x, y) => x - y))
    }
  })

  it('merges every host\'s log and the legacy one by ts, each event with its host (legacy: the host it holds, or none); a tie keeps file order, legacy first, then hosts by name; filters and -n apply to the merge', async () => {
    await mkdir(state, {recursive: true})
    await writeFile(path.join(state, 'events.jsonl'), line({ts: at('2026-12-01T09:00'), event: 'task.assigned', task: 'old.md', account: 'alpha'}) + line({ts: at('2026-12-01T10:02'), event: 'task.done', task: 'old.md', account: 'alpha', host: 'oldbox'}))
    await writeHostLog(HOST, line({ts: at('2026-12-01T10:00'), event: 'task.assigned', task: 'a.md', account: 'alpha'}), line({ts: at('2026-12-01T10:02'), event: 'task.done', task: 'a.md', account: 'alpha'}), line({ts: at('2026-12-01T10:02'), event: 'session.released', account: 'alpha'}))
    await writeHostLog('host-b', line({ts: at('2026-12-01T10:01'), event: 'task.assigned', task: 'b.md', account: 'beta'}), '{"torn', '\n', line({ts: at('2026-12-01T10:02'), event: 'task.done', task: 'b.md', account: 'beta'}), line({ts: at('2026-12-01T10:03'), event: 'session.released', account: 'beta'}))
    // Not a host's folder (no host is named so): never read.
    await mkdir(path.join(state, 'hosts', '.tmp'), {recursive: true})
    await writeFile(path.join(state, 'hosts', '.tmp', 'events.jsonl'), line({ts: at('2026-12-01T10:00'), event: 'task.lost'}))
    const events = await json()
    expect(events.map((e) => `${e.ts as string} ${e.event as string} ${(e.task as string | undefined) ?? '-'} ${(e.host as string | undefined) ?? 'none'}`)).toEqual([
      '2026-12-01T09:00:00.000Z task.assigned old.md none',
      '2026-12-01T10:00:00.000Z task.assigned a.md host-a',
      '2026-12-01T10:01:00.000Z task.assigned b.md host-b',
      '2026-12-01T10:02:00.000Z task.done old.md oldbox',
      '2026-12-01T10:02:00.000Z task.done a.md host-a',
      '2026-12-01T10:02:00.000Z session.released - host-a',
      '2026-12-01T10:02:00.000Z task.done b.md host-b',
      '2026-12-01T10:03:00.000Z session.released - host-b',
    ])
    expect((await json(['--account', 'beta'])).map((e) => e.event)).toEqual(['task.assigned', 'task.done', 'session.released'])
    expect((await json(['-n', '2'])).map((e) => `${e.event as string}@${e.host as string}`)).toEqual(['task.done@host-b', 'session.released@host-b'])
    expect((await json(['--task', 'old.md'])).map((e) => e.host)).toEqual([undefined, 'oldbox'])
    const human = await ccl(['--since', '2026-12-01T10:01Z'])
    expect(human.stdout.split('\n').filter(Boolean).map((l) => l.split(/ +/).slice(1, 3).join(' '))).toEqual(['task.assigned b.md', 'task.done old.md', 'task.done a.md', 'session.released -', 'task.done b.md', 'session.released -'])
    // More than one host has a log: each human line ends with the host whose log holds it (the legacy one's when it names one).
    expect(human.stdout.split('\n').filter(Boolean).map((l) => /host=(\S+)$/.exec(l)?.[1] ?? 'none')).toEqual(['host-b', 'oldbox', HOST, HOST, 'host-b', 'host-b'])
    // --host: one host's events, by line and as JSON, combined with the other filters.
    expect((await json(['--host', 'host-b'])).map((e) => `${e.event as string} ${(e.task as string | undefined) ?? '-'}`)).toEqual(['task.assigned b.md', 'task.done b.md', 'session.released -'])
    expect((await json(['--host', 'oldbox'])).map((e) => e.task)).toEqual(['old.md'])
    expect((await json(['--host', HOST, '--task', 'a.md'])).map((e) => e.event)).toEqual(['task.assigned', 'task.done'])
    expect(await json(['--host', 'nobody'])).toEqual([])
    const one = await ccl(['--host', 'host-b', '-n', '1'])
    expect(one.code).toBe(0)
    expect(one.stdout).toMatch(/^2026-12-01T10:03:00Z +session\.released +- +beta +host=host-b\n$/)
    expect((await ccl(['--rotate', '--host', 'host-b'])).code).toBe(2)
  })

  it('one host (with or without the legacy log): the human lines show no host, as before the fleet', async () => {
    await mkdir(state, {recursive: true})
    await writeFile(path.join(state, 'events.jsonl'), line({ts: at('2026-12-01T09:00'), event: 'task.assigned', task: 'old.md', account: 'alpha'}))
    await writeHostLog(HOST, line({ts: at('2026-12-01T10:00'), event: 'task.assigned', task: 'a.md', account: 'alpha'}), line({ts: at('2026-12-01T10:01'), event: 'task.noticed', note: 'x'}))
    const human = await ccl([])
    expect(human.code).toBe(0)
    expect(human.stdout.split('\n').filter(Boolean)).toHaveLength(3)
    // An event this version has no columns for (a newer ccl's) shows its own fields, not the host its log gave it.
    expect(human.stdout).toMatch(/task\.noticed +- +- +note=x\n/)
    expect(human.stdout).not.toContain('host=')
    expect((await json()).map((e) => e.host)).toEqual([undefined, HOST, HOST])
  })

  it('--rotate rotates only this host\'s log, into its own folder; the other hosts\' logs and the legacy log are left as they are, and still read', async () => {
    await mkdir(state, {recursive: true})
    await writeFile(path.join(state, 'events.jsonl'), line({ts: at('2026-12-01T09:00'), event: 'task.assigned', task: 'old.md', account: 'alpha'}))
    await writeHostLog(HOST, line({ts: at('2026-12-01T10:00'), event: 'task.assigned', task: 'a.md', account: 'alpha'}))
    await writeHostLog('host-b', line({ts: at('2026-12-01T10:01'), event: 'task.assigned', task: 'b.md', account: 'beta'}))
    const before = {b: statSync(hostLog('host-b')), legacy: statSync(path.join(state, 'events.jsonl'))}
    const rotated = await ccl(['--rotate'])
    expect(rotated.code).toBe(0)
    const archive = rotated.stdout.trim()
    expect(path.dirname(archive)).toBe(path.join(state, 'hosts', HOST))
    expect(statSync(log).size).toBe(0)
    for (const [file, was] of [[hostLog('host-b'), before.b], [path.join(state, 'events.jsonl'), before.legacy]] as const) {
      const now = statSync(file)
      expect({ino: now.ino, size: now.size}).toEqual({ino: was.ino, size: was.size})
    }

    expect((await json()).map((e) => e.task)).toEqual(['old.md', 'a.md', 'b.md'])
    // host-b rotates its own, and the counters (fleet-wide) still hold all three.
    const b = await configOf('host-b')
    const other = await runCcl(['events', '--rotate', '--config', b], {cwd: sandbox.dir})
    expect(path.dirname(other.stdout.trim())).toBe(path.join(state, 'hosts', 'host-b'))
    expect((await json()).map((e) => e.task)).toEqual(['old.md', 'a.md', 'b.md'])
    expect(readdirSync(path.join(state, 'hosts', HOST)).filter((n) => n.startsWith('events-'))).toHaveLength(1)
  })

  it('--follow, human lines: no host while only this host has a log; host=NAME on every line from the event of a second host on', async () => {
    await writeLog(line({ts: at('2026-12-01T10:00'), event: 'task.assigned', task: 'a.md', account: 'alpha'}))
    const f = follow([])
    await f.until(() => f.lines().length === 1, 'the history')
    await writeHostLog('host-b', line({ts: at('2026-12-01T10:01'), event: 'task.assigned', task: 'b.md', account: 'beta'}))
    await f.until(() => f.lines().length === 2, 'the new host')
    await appendFile(log, line({ts: at('2026-12-01T10:02'), event: 'task.done', task: 'a.md', account: 'alpha'}))
    await f.until(() => f.lines().length === 3, 'this host again')
    expect(f.lines().map((l) => /host=(\S+)$/.exec(l)?.[1] ?? 'none')).toEqual(['none', 'host-b', HOST])
  })

  it('--follow follows every host: an append to another host\'s log and the first event of a host that joins later are printed, with their host', async () => {
    await writeHostLog('host-b', line({ts: at('2026-12-01T10:01'), event: 'task.assigned', task: 'b.md', account: 'beta'}))
    await writeFile(path.join(state, 'events.jsonl'), line({ts: at('2026-12-01T09:00'), event: 'task.assigned', task: 'old.md', account: 'alpha'}))
    const f = follow(['--json'])
    await f.until(() => f.lines().length === 2, 'the history of every log')
    expect(f.lines().map((l) => (JSON.parse(l) as {task: string}).task)).toEqual(['old.md', 'b.md'])
    await appendFile(hostLog('host-b'), line({ts: at('2026-12-01T10:05'), event: 'task.done', task: 'b.md', account: 'beta'}))
    await f.until(() => f.lines().length === 3, 'the append on host-b')
    await writeHostLog('host-c', line({ts: at('2026-12-01T10:06'), event: 'task.assigned', task: 'c.md', account: 'gamma'}))
    await f.until(() => f.lines().length === 4, 'the new host')
    await writeLog(line({ts: at('2026-12-01T10:07'), event: 'task.done', task: 'a.md', account: 'alpha'}))
    await f.until(() => f.lines().length === 5, 'this host\'s first event')
    expect(f.lines().slice(2).map((l) => JSON.parse(l) as unknown)).toEqual([
      {ts: at('2026-12-01T10:05'), event: 'task.done', task: 'b.md', account: 'beta', host: 'host-b'},
      {ts: at('2026-12-01T10:06'), event: 'task.assigned', task: 'c.md', account: 'gamma', host: 'host-c'},
      {ts: at('2026-12-01T10:07'), event: 'task.done', task: 'a.md', account: 'alpha', host: HOST},
    ])
    expect(await f.stop('SIGINT')).toBe(0)
  })
})

describe('the log as a stream (src/lib/events/stream.ts)', () => {
  const readAll = async () => {
    const events = []
    for await (const batch of readEventStream(log)) events.push(...batch)
    return events
  }

  it('keeps lines whole across read chunks, a multi-byte character cut by a chunk included', async () => {
    const events = Array.from({length: 1500}, (_, i) => ({ts: at('2026-12-01T10:00'), event: 'hook.error', reason: '€'.repeat(300 + (i % 7)), i}))
    const text = events.map((e) => line(e)).join('')
    // The reader's 256 KiB chunks end inside lines, and at least one inside a 3-byte character.
    const bytes = Buffer.from(text)
    const cuts = [1, 2, 3, 4, 5].map((k) => k * 256 * 1024).filter((offset) => offset < bytes.length)
    expect(cuts.length).toBeGreaterThan(2)
    expect(cuts.some((offset) => (bytes[offset]! & 0xc0) === 0x80)).toBe(true)
    await writeLog(text)
    expect(await readAll()).toEqual(events)
  })

  it('skips a line too long to be one of ccl\'s without holding it, and keeps the next; a last line without newline counts', async () => {
    const after = {ts: at('2026-12-01T10:01'), event: 'session.released', account: 'alpha'}
    await writeLog(line({ts: at('2026-12-01T10:00'), event: 'hook.error', reason: 'y'.repeat(MAX_LINE_BYTES + 10)}), line(after), JSON.stringify(after))
    expect(await readAll()).toEqual([after, after])
  })
})
