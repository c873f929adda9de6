// The machinery of the fault lane (test/fault/random-kills.test.ts, test/fault/concurrency.test.ts): a
// machine of stand-in sessions in a private tmux server with delegation to the fake platform, commands run
// as their own process group (so a SIGKILL takes a dispatch.sh and the ccl it started together, as a power
// cut would), and the plain timer runs that settle the queue afterwards.
import {execFileSync, spawn} from 'node:child_process'
import {readdir, utimes} from 'node:fs/promises'
import path from 'node:path'
import {expect} from 'vitest'

import {type FakeSecutools, type Flakiness, startFakeSecutools} from './fake-secutools.js'
import {accountState} from './failover.js'
import {stemOf, type TaskKind} from './invariants.js'
import {type LoopSandbox, makeLoopSandbox, waitFor} from './loop.js'
import {BIN, REPO} from './sandbox.js'

export const DISPATCH_SH = path.join(REPO, 'contrib', 'dispatch.sh')

/** mulberry32: a small seeded PRNG, so a run's choices (commands, kill points, delays) can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d_2b_79_f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

export interface Machine {
  l: LoopSandbox
  fake: FakeSecutools
  accounts: string[]
  /** The environment of every run: the loop's, the key, retries in milliseconds. */
  env: NodeJS.ProcessEnv
  cleanup(): Promise<void>
}

/**
 * Four accounts running the stand-in with hooks installed (gamma first: the one dispatch tries first); `limited` (if given) hits its usage limit on
 * the second prompt of each session (the limit lifting `limitResetS` after the session started, no
 * continuing by itself), so reconcile fails its task over. Delegation on, to the fake (flaky if asked):
 * jobs finish on their first poll, those of `failing` tasks as failed.
 */
export async function startMachine(
  options: {accounts?: string[]; limited?: string; limitResetS?: number; flaky?: Flakiness; workMs?: number} = {},
): Promise<Machine> {
  const accounts = options.accounts ?? ['gamma', 'alpha', 'beta', 'delta']
  const fake = await startFakeSecutools({
    autoComplete: {afterPolls: 1, status: (job) => (kindOf(String(job.metadata.task ?? '')) === 'failing' ? 'failed' : 'completed')},
  })
  const limited = options.limited
  const l = await makeLoopSandbox({
    accounts,
    workMs: options.workMs ?? 80,
    ...(limited ? {standInEnv: {[limited]: {STANDIN_LIMIT_AFTER: '1', STANDIN_NO_AUTO_CONTINUE: '1'}}} : {}),
    config: {
      failover: {margin: '1s'},
      // sessions are killed on purpose here: never hold an account for it
      watchdog: {crash_limit: 1_000_000},
      dispatch: {settle: '0s'},
      delegation: {base_url: fake.url, providers: ['gpu', 'gemini', 'claude-api'], retries: 2, timeout: '5s'},
    },
  })
  if (limited) {
    // the reset instant is computed by the session's shell at each start: a fresh session is limited again
    const config = l.sandbox.config as {accounts: {name: string; command: string}[]}
    const account = config.accounts.find((a) => a.name === limited)!
    account.command = `STANDIN_LIMIT_RESETS_AT=$(date -u -d '+${options.limitResetS ?? 8} seconds' +%Y-%m-%dT%H:%M:%SZ) ${account.command}`
    await l.sandbox.writeConfig(config)
  }

  if (options.flaky) fake.flaky(options.flaky)
  const env = {...l.env, SECUTOOLS_API_KEY: fake.apiKey, CCL_TEST_BACKOFF_BASE_MS: '1', CCL_TEST_MAX_RETRY_AFTER_MS: '5'}
  l.env = env
  const installed = await l.ccl(['hooks', 'install'])
  expect(installed.code, installed.stderr).toBe(0)
  const reconciled = await l.ccl(['reconcile'])
  expect(reconciled.code, reconciled.stderr).toBe(0)
  await l.ready()
  for (const account of accounts) {
    expect(await waitFor(async () => (await accountState(l, account))?.session_started_at != null, 15_000)).toBe(true)
  }

  return {
    l,
    fake,
    accounts,
    env,
    async cleanup() {
      await l.cleanup()
      await fake.close()
    },
  }
}

/** A task's kind from its name: `…-l` local (needs Claude Code), `…-r` remote, `…-f` remote and failing. */
export function kindOf(name: string): TaskKind {
  const stem = stemOf(name)
  if (stem.endsWith('-f')) return 'failing'
  if (stem.endsWith('-r')) return 'remote'
  return 'local'
}

const PROVIDERS = ['gemini', 'gpu', 'claude-api']

/** The content of a task of that kind: routed by its frontmatter. */
export function taskBody(name: string, kind: TaskKind, n: number): string {
  if (kind === 'local') return `---\nneeds_claude_code: true\n---\nTask ${name}.\n`
  return `---\npreferred_ai: ${PROVIDERS[n % PROVIDERS.length]}\n---\nSummarise ${name}.\n`
}

export interface Run {
  /** exit code, or the signal's name when killed */
  code: number | string
  stdout: string
  stderr: string
  killed: boolean
}

/**
 * Starts `command` (a ccl command's argv, or `['dispatch.sh']`) in a process group of its own. With
 * `killAfterMs`, SIGKILLs the whole group that long after spawning (if it is still running).
 */
export function launch(m: Machine, command: string[], options: {env?: NodeJS.ProcessEnv; killAfterMs?: number} = {}): Promise<Run> {
  const script = command[0] === 'dispatch.sh'
  const file = script ? 'bash' : process.execPath
  const args = script ? [DISPATCH_SH, ...command.slice(1)] : [BIN, ...command]
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: m.l.sandbox.dir,
    XDG_CONFIG_HOME: path.join(m.l.sandbox.dir, '.config'),
    LANG: 'C.UTF-8',
    ...m.env,
    ...(script ? {CCL: BIN, CCL_SETTLE: '0'} : {}),
    ...options.env,
  }
  return new Promise((resolve) => {
    const child = spawn(file, args, {cwd: m.l.sandbox.dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    let killed = false
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const killGroup = () => {
      killed = true
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
    }

    const timer = options.killAfterMs === undefined ? undefined : setTimeout(killGroup, options.killAfterMs)
    // nothing here may hang the lane: a run still going after 5 minutes (far more than a dispatch pass over
    // a batch takes on a machine loaded to 30) is killed and reported
    const guard = setTimeout(() => {
      stderr += `\n[chaos: still running after 300 s, killed]\n${psOfGroup(child.pid!)}`
      killGroup()
    }, 300_000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      clearTimeout(guard)
      // the group's other members (a dispatch.sh's ccl) go with it
      if (signal === 'SIGKILL') killGroup()
      resolve({code: code ?? signal ?? 'unknown', stdout, stderr, killed: killed || signal === 'SIGKILL'})
    })
  })
}

/** The tasks in a folder of the queue (names ending in .md). */
export async function tasksIn(m: Machine, folder: string): Promise<string[]> {
  const names = await readdir(path.join(m.l.sandbox.queue, folder)).catch(() => [] as string[])
  return names.filter((n) => n.endsWith('.md')).sort()
}

/** Whether every task is in done/ or failed/, with no delegation marker or hand-off left in flight. */
export async function settled(m: Machine): Promise<boolean> {
  const pending = await readdir(path.join(m.l.sandbox.queue, 'pending')).catch(() => [] as string[])
  if (pending.some((n) => n.endsWith('.md') || n.endsWith('.delegated'))) return false
  for (const account of m.accounts) if ((await tasksIn(m, `active/${account}`)).length > 0) return false
  return true
}

/**
 * The plain timer runs (reconcile, dispatch, reap, as cron would start them) until the queue is settled,
 * at most `rounds` times. Returns whether it settled, and the runs' output for a report.
 */
export async function settle(m: Machine, rounds = 60): Promise<{ok: boolean; log: string}> {
  let log = ''
  for (let i = 0; i < rounds; i++) {
    // as three timers would fire them: at once, each unaware of the others (dispatch and reap only when
    // they have something to do, to keep the lane cheap: a pass over nothing changes nothing)
    const pending = await readdir(path.join(m.l.sandbox.queue, 'pending')).catch(() => [] as string[])
    const markers = pending.filter((n) => n.endsWith('.md.delegated'))
    const commands = [['reconcile']]
    if (pending.some((n) => n.endsWith('.md') && !markers.includes(`${n}.delegated`))) commands.push(['dispatch'])
    if (markers.length > 0) commands.push(['reap'])
    const runs = await Promise.all(commands.map(async (command) => ({command, run: await launch(m, command)})))
    for (const {command, run} of runs) {
      if (run.code !== 0 && run.code !== 1) log += `${command.join(' ')} exit ${run.code}: ${run.stderr.trim()}\n`
    }

    if (await waitFor(() => settled(m), 300, 50)) {
      // and one quiet pass of all three, as if 11 minutes had gone by: a killed writer's temp and journal
      // files are swept once older than 10 (docs/queue.md), so every one left is made that old first; what
      // the pass does not remove is a stray for the oracle
      await ageLeftovers(m, 11 * 60_000)
      await Promise.all([['reconcile'], ['dispatch'], ['reap']].map((command) => launch(m, command)))
      return {ok: true, log}
    }
  }

  return {ok: false, log}
}

/** Sets the mtime of every `.ccl-` file in the queue's folders and the state's (`<queue>/.ccl/…`) `ms` back. */
async function ageLeftovers(m: Machine, ms: number): Promise<void> {
  const when = new Date(Date.now() - ms)
  const state = ['.ccl', '.ccl/sessions', '.ccl/locks', '.ccl/handoff', '.ccl/failover', '.ccl/accounts']
  for (const folder of ['pending', 'done', 'failed', ...m.accounts.map((a) => `active/${a}`), ...state]) {
    const dir = path.join(m.l.sandbox.queue, folder)
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith('.ccl-')) await utimes(path.join(dir, name), when, when).catch(() => {})
    }
  }
}

function psOfGroup(pgid: number): string {
  try {
    const lines = execFileSync('ps', ['-e', '-o', 'pgid=,pid=,stat=,etime=,args='], {encoding: 'utf8'}).split('\n')
    return lines.filter((line) => line.trim().split(/\s+/)[0] === String(pgid)).join('\n')
  } catch {
    return ''
  }
}
