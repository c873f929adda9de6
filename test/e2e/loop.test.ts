import {execFile} from 'node:child_process'
import {mkdir, readdir, readFile, symlink} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'
import {type LoopSandbox, makeLoopSandbox, waitFor} from '../support/loop.js'
import {cronLine} from '../support/cron.js'
import {BIN, REPO} from '../support/sandbox.js'
import {allLogText} from '../support/events.js'

// The whole loop as an installed machine runs it: cron fires reconcile, a dispatcher and reap at the
// same moment, each through its own line of contrib/cron/ccl (`flock -n`), with `ccl` on PATH as npm installs it.
// Sessions run the stand-in for Claude Code; one session is killed while it works on a task.

const KEY = 'sk-e2e-loop-9f8e7d6c5b4a'
const WORK_MS = 2500
const LOCAL = ['l1.md', 'l2.md', 'l3.md', 'l4.md', 'l5.md']
const REMOTE: [string, string][] = [
  ['r1.md', 'preferred_ai: gpu'],
  ['r2.md', 'preferred_ai: gemini'],
  ['r3.md', 'allow_delegation: true\ncomplexity_hint: high'],
  ['r4.md', 'allow_delegation: true'],
]

let loop: LoopSandbox | undefined
let fake: FakeSecutools | undefined

afterEach(async () => {
  await loop?.cleanup()
  await fake?.close()
  loop = undefined
  fake = undefined
})

interface Machine {
  l: LoopSandbox
  f: FakeSecutools
  /** Runs the once-a-minute line of contrib/cron/ccl for `ccl <command>` through /bin/sh, with cron's sparse environment. */
  cron(command: 'reconcile' | 'dispatch' | 'reap', dispatcher?: string): Promise<{code: number; stderr: string}>
}

async function machine(): Promise<Machine> {
  fake = await startFakeSecutools({apiKey: KEY, autoComplete: {afterPolls: 2, cost_usd: 0.01, result: 'remote work done'}})
  loop = await makeLoopSandbox({
    workMs: WORK_MS,
    // ready_after: the recreated session gets no prompt in its first second, as with a starting Claude Code.
    config: {delegation: {base_url: fake.url, retries: 2, timeout: '5s'}, assign: {enter_delay: '100ms', ready_after: '1s'}},
  })
  const l = loop
  const bin = path.join(l.sandbox.dir, 'bin')
  await mkdir(bin)
  await symlink(BIN, path.join(bin, 'ccl')) // what `npm install -g` puts on PATH
  const cron = async (command: 'reconcile' | 'dispatch' | 'reap', dispatcher?: string) => {
    const {line, env} = await cronLine(command)
    // The file as an operator edits it: its own variables, with PATH, CCL_CONFIG, LOCKDIR and the key set for this machine.
    const cronEnv: NodeJS.ProcessEnv = {
      ...env,
      HOME: l.sandbox.dir,
      LANG: 'C.UTF-8',
      PATH: `${bin}:${path.dirname(process.execPath)}:${env.PATH}`,
      LOCKDIR: l.sandbox.dir,
      CCL_CONFIG: l.sandbox.configFile,
      SECUTOOLS_API_KEY: KEY,
      CCL_TEST_BACKOFF_BASE_MS: '10',
    }
    // "To run your own dispatcher, put it in place of `ccl dispatch`", as the file says.
    const command_ = dispatcher ? line.replace('ccl dispatch', dispatcher) : line
    return new Promise<{code: number; stderr: string}>((resolve) => {
      execFile('/bin/sh', ['-c', command_], {env: cronEnv, cwd: l.sandbox.dir, timeout: 120_000}, (error, _stdout, stderr) => {
        resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr: String(stderr)})
      })
    })
  }

  for (const name of LOCAL) await l.addTask(name, `---\nneeds_claude_code: true\n---\nLocal work ${name}.\n`, 100 - LOCAL.indexOf(name))
  for (const [name, front] of REMOTE) await l.addTask(name, `---\n${front}\n---\nRemote work ${name}.\n`, 50)
  return {l, f: fake, cron}
}

async function queueEmpty(l: LoopSandbox): Promise<boolean> {
  const where = await l.where()
  return Object.keys(where).every((folder) => folder === 'done')
}

/**
 * Ticks like cron until the queue is empty: reconcile, the dispatcher and reap at once. The first
 * session to receive a prompt is killed a moment later, while it works on that task.
 */
async function runLoop(m: Machine, dispatcher?: string): Promise<{killed: string; ticks: number; errors: string[]}> {
  const {l} = m
  let killed = ''
  const killer = (async () => {
    await waitFor(async () => (await l.received()).some((e) => e.task), 120_000, 50)
    const first = (await l.received()).find((e) => e.task)!
    await l.server.tmux('kill-session', '-t', `=ccl-${first.standIn}`)
    killed = path.basename(first.task!)
  })()
  const errors: string[] = []
  let ticks = 0
  const deadline = Date.now() + 150_000
  while (Date.now() < deadline) {
    ticks++
    const results = await Promise.all([m.cron('reconcile'), m.cron('dispatch', dispatcher), m.cron('reap')])
    for (const r of results) if (r.code !== 0 && r.code !== 1) errors.push(`exit ${r.code}: ${r.stderr}`)
    if (killed && (await queueEmpty(l))) break
    await new Promise((resolve) => setTimeout(resolve, 500))
  }

  await killer
  return {killed, ticks, errors}
}

async function expectEveryTaskDoneOnce(m: Machine, killed: string): Promise<void> {
  const {l, f} = m
  const done = (await readdir(path.join(l.sandbox.queue, 'done'))).sort()
  // Exactly once: no NAME.2.md copies, nothing left anywhere else, no markers.
  expect(done).toEqual([...LOCAL, ...REMOTE.map(([n]) => n)].sort())
  expect(await l.where()).toEqual({done})
  expect((await readdir(path.join(l.sandbox.queue, 'pending'))).filter((n) => !n.startsWith('.'))).toEqual([])
  for (const name of LOCAL) {
    expect(await readFile(path.join(l.sandbox.queue, 'done', name), 'utf8')).toBe(`---\nneeds_claude_code: true\n---\nLocal work ${name}.\n`)
  }

  for (const [name] of REMOTE) {
    const text = await readFile(path.join(l.sandbox.queue, 'done', name), 'utf8')
    expect(text.match(/<!-- ccl:delegation /g)).toHaveLength(1)
    expect(text).toContain('remote work done')
  }

  // One job per remote task on the platform, each with the right task.
  expect(f.jobCount()).toBe(REMOTE.length)
  expect([...f.jobs.values()].map((j) => j.metadata.task).sort()).toEqual(REMOTE.map(([n]) => n).sort())
  expect(f.requests.every((r) => r.authOk)).toBe(true)

  // The killed task was requeued and done by a live session; each local task was moved to done/ once.
  const standIn = await l.standInEvents()
  const moved = standIn.filter((e) => e.event === 'done').map((e) => path.basename(e.task!)).sort()
  expect(moved).toEqual([...LOCAL].sort())
  expect(standIn.filter((e) => e.event === 'received' && e.task?.endsWith(`/${killed}`)).length).toBeGreaterThanOrEqual(2)
  const events = allLogText(path.join(l.sandbox.queue, '.ccl')).split('\n').filter(Boolean).map((x) => JSON.parse(x))
  expect(events.some((e) => e.event === 'task.requeued' && e.task === killed)).toBe(true)
  expect(events.some((e) => e.event === 'session.crashed')).toBe(true)
  expect(JSON.stringify(events)).not.toContain(KEY)
}

describe('the whole loop as cron runs it, with a session killed mid-task', () => {
  it('contrib/dispatch.sh as the dispatcher: every task ends in done/ exactly once, one job per remote task', async () => {
    const m = await machine()
    const {killed, errors} = await runLoop(m, `'${path.join(REPO, 'contrib', 'dispatch.sh')}'`)
    expect(killed).toMatch(/^l\d\.md$/)
    expect(errors).toEqual([])
    await expectEveryTaskDoneOnce(m, killed)
  }, 200_000)

  it('ccl dispatch as the dispatcher: the same', async () => {
    const m = await machine()
    const {killed, errors} = await runLoop(m)
    expect(killed).toMatch(/^l\d\.md$/)
    expect(errors).toEqual([])
    await expectEveryTaskDoneOnce(m, killed)
  }, 200_000)
})
