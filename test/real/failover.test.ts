// Failover with the real Claude Code CLI (the pinned version, offline, against the Messages API
// stand-in), driven by ccl as cron would: an account limited mid-task, its task continued by
// another account in the same conversation (`--resume`, the transcript in the shared projects/),
// and a fresh start when the cwds differ. The same cases run against the stand-in in test/e2e/failover.
import {mkdir, readFile, readdir, rm, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, expect, it, onTestFinished} from 'vitest'

import type {ApiRequest} from '../support/messages-api.mjs'
import {startFakeSecutools} from '../support/fake-secutools.js'
import {startMessagesApi, type MessagesApi} from '../support/messages-api.mjs'
import {claudeBinDir, doTheTask, makeClaudeAccount, requireClaudeCode, shellQuote, waitUntil as waitFor} from '../support/real-claude.js'
import {linkAll, makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'
import {type PrivateTmux, startPrivateTmux, tmuxEnv} from '../support/tmux.js'
import {allLogText} from '../support/events.js'

let sandbox: Sandbox | undefined
let api: MessagesApi | undefined
let server: PrivateTmux | undefined

afterEach(async () => {
  await server?.kill()
  await api?.close()
  await sandbox?.cleanup()
  sandbox = undefined
  api = undefined
  server = undefined
})

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

/** The typed text of every user turn a request carries (its conversation so far). */
function userTexts(request: ApiRequest): string[] {
  return (request.body.messages ?? [])
    .filter((m) => m.role === 'user')
    .flatMap((m) => (typeof m.content === 'string' ? [m.content] : Array.isArray(m.content) ? m.content.filter((c: Json) => c.type === 'text').map((c: Json) => String(c.text)) : []))
}

interface Fleet {
  ccl(args: string[]): Promise<{code: number; stdout: string; stderr: string}>
  state(name: string): Promise<Json | undefined>
  events(): Promise<Json[]>
  add(name: string, ageS: number): Promise<void>
  where(): Promise<Record<string, string[]>>
  tokens: Record<string, string>
}

/** alpha and beta, real CLI sessions made by `ccl reconcile`, hooks installed; beta in `betaCwd` when given. */
async function fleet(options: {betaCwd?: string; config?: Record<string, unknown>; env?: Record<string, string>} = {}): Promise<Fleet> {
  const {betaCwd} = options
  await requireClaudeCode()
  sandbox = await makeSandbox({accounts: ['alpha', 'beta']})
  await linkAll(sandbox)
  api = await startMessagesApi()
  server = await startPrivateTmux()
  const accounts = []
  const tokens: Record<string, string> = {}
  for (const name of ['alpha', 'beta']) {
    const cwd = name === 'beta' && betaCwd ? betaCwd : sandbox.dir
    await mkdir(cwd, {recursive: true})
    const account = await makeClaudeAccount({home: sandbox.homes[name]!, cwd, apiUrl: api.url})
    const env = {...account.env, PATH: `${claudeBinDir()}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: sandbox.dir, TZ: 'UTC'}
    delete (env as Record<string, string>).CLAUDE_CONFIG_DIR // reconcile sets it
    const command = ['exec', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'claude'].map((w, i) => (i === 0 ? w : shellQuote(w))).join(' ')
    accounts.push({name, home: sandbox.homes[name], cwd, command})
    tokens[name] = account.token
  }

  await sandbox.writeConfig({
    ...sandbox.config,
    tmux: {socket: server.socket},
    accounts,
    assign: {enter_delay: '500ms', ready_after: '8s', confirm_within: '15s'},
    failover: {margin: '1s'},
    ...options.config,
  })
  const env = {...tmuxEnv(), CCL_CONFIG: sandbox.configFile, ...options.env}
  const queue = sandbox.queue
  const f: Fleet = {
    ccl: (args) => runCcl(args, {env, cwd: sandbox!.dir, timeoutMs: 180_000}),
    state: async (name) => readFile(path.join(queue, '.ccl', 'accounts', `${name}.json`), 'utf8').then((t) => JSON.parse(t), () => undefined),
    events: async () => allLogText(path.join(queue, '.ccl')).split('\n').filter(Boolean).map((l) => JSON.parse(l)),
    async add(name, ageS) {
      await writeFile(path.join(queue, 'pending', name), `Task ${name}.\n`)
      const at = new Date(Date.now() - ageS * 1000)
      await utimes(path.join(queue, 'pending', name), at, at)
    },
    async where() {
      const out: Record<string, string[]> = {}
      for (const rel of ['pending', 'active/alpha', 'active/beta', 'done', 'failed']) {
        const names = (await readdir(path.join(queue, rel)).catch(() => [] as string[])).filter((n) => n.endsWith('.md')).sort()
        if (names.length > 0) out[rel] = names
      }

      return out
    },
    tokens,
  }
  expect((await f.ccl(['hooks', 'install'])).code).toBe(0)
  const reconciled = await f.ccl(['reconcile'])
  expect(reconciled.code, reconciled.stderr).toBe(0)
  expect(await waitFor(async () => (await f.state('alpha'))?.session_started_at != null && (await f.state('beta'))?.session_started_at != null, 60_000)).toBe(true)
  await new Promise((resolve) => setTimeout(resolve, 8000)) // assign.ready_after
  return f
}

/** A reset about `aheadS` seconds from now, on a whole minute that is not :00 (the banner would drop the minutes). */
function resetIn(aheadS: number): number {
  let at = Math.ceil((Date.now() / 1000 + aheadS) / 60) * 60
  if (new Date(at * 1000).getUTCMinutes() === 0) at += 60
  return at
}

/**
 * alpha does one.md, then its second task two.md meets the 5-hour limit, whose reset is `aheadS`
 * seconds after that moment (on a whole minute). Returns alpha's session id and the reset (epoch s).
 */
async function alphaLimitedOnTwo(f: Fleet, aheadS = 3 * 3600): Promise<{id: string; resetAt: number}> {
  let tasks = 0
  let resetAt = 0
  api!.script(f.tokens.alpha!, (request) => {
    if (request.toolResults.length === 0 && request.prompt?.includes('/active/')) tasks++
    if (tasks === 2) {
      resetAt ||= resetIn(aheadS)
      return {limit: {resetAt}}
    }

    return doTheTask(request)
  })
  api!.script(f.tokens.beta!, doTheTask)
  await f.add('one.md', 300)
  const one = await f.ccl(['assign', 'one.md', '--account', 'alpha'])
  expect(one.code, one.stdout + one.stderr).toBe(0)
  expect(await waitFor(async () => (await f.where()).done?.includes('one.md') ?? false, 90_000)).toBe(true)
  expect(await waitFor(async () => (await f.state('alpha'))?.turn === 'idle', 60_000)).toBe(true)
  await f.add('two.md', 200)
  const two = await f.ccl(['assign', 'two.md', '--account', 'alpha'])
  expect(two.code, two.stdout + two.stderr).toBe(0)
  expect(await waitFor(async () => (await f.state('alpha'))?.limited != null, 60_000)).toBe(true)
  expect((await f.where())['active/alpha']).toEqual(['two.md'])
  return {id: (await f.state('alpha'))!.session_id as string, resetAt}
}

async function reconcileUntilDone(f: Fleet, task: string): Promise<string> {
  let out = ''
  for (let pass = 0; pass < 6; pass++) {
    const run = await f.ccl(['reconcile'])
    out += run.stdout + run.stderr
    expect(run.code, run.stdout + run.stderr).toBe(0)
    if (await waitFor(async () => (await f.where()).done?.includes(task) ?? false, 60_000)) return out
  }

  // what the sessions show, and what the API was asked: the reason is in one of them
  const screens = await Promise.all(['alpha', 'beta'].map(async (name) => `--- ccl-${name}:\n${await server!.tmux('capture-pane', '-p', '-S', '-60', '-t', `=ccl-${name}:`).catch((error: unknown) => String(error))}`))
  const asked = ['alpha', 'beta'].map((name) => `--- ${name} asked: ${JSON.stringify(api!.messages(f.tokens[name]!).map((r) => ({prompt: r.prompt?.slice(0, 120), answer: r.answer, tools: r.toolUses.map((t) => t.input)})))}`)
  throw new Error(`${task} not done:\n${out}\n${screens.join('\n')}\n${asked.join('\n')}`)
}

it("real CLI: alpha's task, stopped by its usage limit, is finished by beta resuming alpha's conversation; alpha restarts fresh, idle until its reset, then works again", async () => {
  const f = await fleet()
  // the reset far enough ahead for the failover to happen before it (45 to 105 s after the limit)
  const {id, resetAt} = await alphaLimitedOnTwo(f, 45)
  const out = await reconcileUntilDone(f, 'two.md')
  expect(out).toContain(`failover: two.md: alpha → beta: beta resumed alpha's conversation ${id}`)
  expect(await f.where()).toEqual({done: ['one.md', 'two.md']})

  // beta's CLI came up in alpha's conversation (SessionStart source resume, the same id) …
  const beta = (await f.state('beta'))!
  expect(beta.session_start).toMatchObject({session_id: id, source: 'resume'})
  // … and its request carried alpha's earlier turns, then the continue prompt naming beta's path
  const betaTask = api!.messages(f.tokens.beta!).find((r) => r.toolResults.length === 0 && r.prompt?.includes('/active/beta/two.md'))
  expect(betaTask?.prompt).toContain('Continue the task you were working on; it is now at')
  expect(userTexts(betaTask!).some((text) => text.includes('/active/alpha/two.md'))).toBe(true)
  // the interrupted prompt and the continue prompt arrive as one user turn, the old path first
  expect(betaTask!.prompt!.indexOf('/active/alpha/two.md')).toBeLessThan(betaTask!.prompt!.indexOf('/active/beta/two.md'))
  expect(betaTask!.sessionId).toBe(id)
  // exactly once: one mv of two.md, by beta
  const moves = [...api!.messages(f.tokens.alpha!), ...api!.messages(f.tokens.beta!)].flatMap((r) => r.toolUses).filter((t) => String(t.input.command ?? '').includes('two.md'))
  expect(moves).toHaveLength(1)
  expect(api!.messages(f.tokens.beta!).some((r) => r.toolUses.some((t) => String(t.input.command ?? '').includes('two.md')))).toBe(true)

  const failedOver = (await f.events()).filter((e) => e.event === 'task.failed_over')
  expect(failedOver).toEqual([expect.objectContaining({task: 'two.md', from: 'alpha', to: 'beta', session_id: id, mode: 'resume'})])
  // alpha: a fresh session (a new id, source startup), still limited, given nothing
  expect(await waitFor(async () => (await f.state('alpha'))?.session_start?.session_id !== id, 60_000)).toBe(true)
  const alpha = (await f.state('alpha'))!
  expect(alpha.session_start).toMatchObject({source: 'startup'})
  expect(alpha.limited).toMatchObject({reason: 'usage-limit'})
  await f.add('three.md', 100)
  await new Promise((resolve) => setTimeout(resolve, 9000)) // past assign.ready_after of alpha's new session: only the limit keeps it
  const refused = await f.ccl(['assign', 'three.md', '--account', 'alpha'])
  expect(refused.code).toBe(4)
  expect(refused.stderr).toContain('alpha: limited until')
  // its old session did not carry on at the reset (it was killed): after it, alpha is handed work again
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, resetAt * 1000 + 2000 - Date.now())))
  const again = await f.ccl(['assign', 'three.md', '--account', 'alpha'])
  expect(again.code, again.stdout + again.stderr).toBe(0)
  expect(await waitFor(async () => (await f.where()).done?.includes('three.md') ?? false, 90_000)).toBe(true)
  expect(api!.messages(f.tokens.alpha!).some((r) => r.prompt?.includes('Your claude.ai usage limit has reset'))).toBe(false)
  expect(api!.unknown()).toEqual([])
}, 480_000)

it('real CLI: no free account, the task waits with alpha; once beta frees up it takes it, afresh because the cwds differ', async () => {
  const other = path.join(os.tmpdir(), `ccl-real-other-${process.pid}-${Date.now()}`)
  onTestFinished(() => rm(other, {recursive: true, force: true}))
  const f = await fleet({betaCwd: other})
  // beta holds a task (put there by hand): busy
  await writeFile(path.join(sandbox!.queue, 'active', 'beta', 'long.md'), 'Long.\n')
  const {id} = await alphaLimitedOnTwo(f)
  const waiting = JSON.parse((await f.ccl(['reconcile', '--json'])).stdout) as Json
  expect(waiting.failovers).toEqual([expect.objectContaining({task: 'two.md', from: 'alpha', result: 'waiting'})])
  expect((await f.where())['active/alpha']).toEqual(['two.md'])
  const {rename} = await import('node:fs/promises')
  await rename(path.join(sandbox!.queue, 'active', 'beta', 'long.md'), path.join(sandbox!.queue, 'done', 'long.md'))
  const out = await reconcileUntilDone(f, 'two.md')
  expect(out).toMatch(/warning: accounts run in different cwds/)
  expect(out).toContain("beta started it afresh (the accounts' cwds differ")
  const beta = (await f.state('beta'))!
  expect(beta.session_start?.session_id).not.toBe(id)
  const betaTask = api!.messages(f.tokens.beta!).find((r) => r.toolResults.length === 0 && r.prompt?.includes('/active/beta/two.md'))
  expect(betaTask?.prompt).toContain('Read the task in')
  expect(userTexts(betaTask!).some((text) => text.includes('/active/alpha/two.md'))).toBe(false)
  expect((await f.events()).filter((e) => e.event === 'task.failed_over')).toEqual([expect.objectContaining({task: 'two.md', to: 'beta', mode: 'fresh'})])
  expect(await f.where()).toEqual({done: ['long.md', 'one.md', 'two.md']})
}, 420_000)

it('real CLI: every account limited, spill on: a delegable task goes to the remote platform, a local-only one waits', async () => {
  const fake = await startFakeSecutools({apiKey: 'k-real-spill'})
  onTestFinished(() => fake.close())
  const f = await fleet({
    config: {failover: {margin: '1s', spill_to_remote: true}, delegation: {base_url: fake.url, retries: 1, timeout: '5s'}},
    env: {SECUTOOLS_API_KEY: 'k-real-spill'},
  })
  const resetAt = resetIn(3 * 3600)
  for (const name of ['alpha', 'beta']) api!.script(f.tokens[name]!, (request) => (request.prompt?.includes('/active/') ? {limit: {resetAt}} : doTheTask(request)))
  for (const [task, account] of [['a.md', 'alpha'], ['b.md', 'beta']] as const) {
    await f.add(task, 300)
    const given = await f.ccl(['assign', task, '--account', account])
    expect(given.code, given.stdout + given.stderr).toBe(0)
    expect(await waitFor(async () => (await f.state(account))?.limited != null, 60_000)).toBe(true)
  }

  await writeFile(path.join(sandbox!.queue, 'pending', 'remote-ok.md'), 'Summarise it.\n')
  await writeFile(path.join(sandbox!.queue, 'pending', 'local-only.md'), '---\nneeds_claude_code: true\n---\nRun the tests.\n')
  const old = new Date(Date.now() - 60_000)
  for (const name of ['remote-ok.md', 'local-only.md']) await utimes(path.join(sandbox!.queue, 'pending', name), old, old)
  const dispatched = await f.ccl(['dispatch'])
  expect(dispatched.code, dispatched.stdout + dispatched.stderr).toBe(0)
  expect(dispatched.stdout).toMatch(/remote-ok\.md: submitted to gemini/)
  expect([...fake.jobs.values()].map((j) => j.prompt)).toEqual([expect.stringContaining('Summarise it.')])
  expect((await f.where()).pending).toEqual(['local-only.md', 'remote-ok.md'])
  const status = await f.ccl(['status'])
  expect(status.stdout).toMatch(/1 pending task waits.*every account is limited or needs login/)
}, 420_000)
