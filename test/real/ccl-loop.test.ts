// ccl itself driving real Claude Code sessions (the pinned CLI, offline, against the Messages API
// stand-in): `ccl hooks install`, `ccl reconcile`, `ccl dispatch`, then `ccl hook` run by the real CLI
// records the accounts' state. The same cases run against the stand-in in test/commands/hooks-activity.
import {readFile, readdir} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, expect, it} from 'vitest'

import {claudeBinDir, doTheTask, makeClaudeAccount, requireClaudeCode, shellQuote, waitUntil as waitFor} from '../support/real-claude.js'
import {linkAll, makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'
import {startMessagesApi, type MessagesApi} from '../support/messages-api.mjs'
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

it('reconcile and dispatch drive two real sessions: their hooks record them, two tasks are done, the limited account is limited until the reset and gets no task', async () => {
  await requireClaudeCode()
  sandbox = await makeSandbox({accounts: ['alpha', 'beta']})
  await linkAll(sandbox)
  api = await startMessagesApi()
  server = await startPrivateTmux()
  const resetAt = Math.ceil((Date.now() / 1000 + 3 * 3600) / 60) * 60 + 60 * 7
  const accounts = []
  for (const name of ['alpha', 'beta']) {
    const account = await makeClaudeAccount({home: sandbox.homes[name]!, cwd: sandbox.dir, apiUrl: api.url})
    // The session's command, as an operator would configure it: the CLI's offline environment, then claude.
    const env = {...account.env, PATH: `${claudeBinDir()}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: sandbox.dir, TZ: 'UTC'}
    delete (env as Record<string, string>).CLAUDE_CONFIG_DIR // reconcile sets it
    const command = ['exec', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'claude'].map((w, i) => (i === 0 ? w : shellQuote(w))).join(' ')
    accounts.push({name, home: sandbox.homes[name], cwd: sandbox.dir, command, token: account.token})
  }

  api.script(accounts[0]!.token, doTheTask)
  // beta does one task, then hits its 5-hour limit
  let betaPrompts = 0
  api.script(accounts[1]!.token, (request) => {
    if (request.toolResults.length === 0 && request.prompt?.includes('/active/')) betaPrompts++
    if (betaPrompts >= 2) return {limit: {resetAt}}
    return doTheTask(request)
  })
  await sandbox.writeConfig({
    ...sandbox.config,
    tmux: {socket: server.socket},
    accounts: accounts.map(({name, home, cwd, command}) => ({name, home, cwd, command})),
    assign: {enter_delay: '500ms', ready_after: '8s', confirm_within: '15s'},
  })
  const env = {...tmuxEnv(), CCL_CONFIG: sandbox.configFile}
  const ccl = (args: string[]) => runCcl(args, {env, cwd: sandbox!.dir, timeoutMs: 120_000})
  const queue = sandbox.queue
  const state = async (name: string): Promise<Json | undefined> =>
    readFile(path.join(queue, '.ccl', 'accounts', `${name}.json`), 'utf8').then((t) => JSON.parse(t), () => undefined)
  const done = async () => (await readdir(path.join(queue, 'done'))).filter((n) => n.endsWith('.md')).sort()
  const {writeFile, utimes} = await import('node:fs/promises')
  const add = async (name: string, ageS: number) => {
    await writeFile(path.join(queue, 'pending', name), `Task ${name}.\n`)
    const at = new Date(Date.now() - ageS * 1000)
    await utimes(path.join(queue, 'pending', name), at, at)
  }

  expect((await ccl(['hooks', 'install'])).code).toBe(0)
  const reconciled = await ccl(['reconcile'])
  expect(reconciled.code, reconciled.stderr).toBe(0)
  // Real hooks: the SessionStart of each account, recorded by ccl hook.
  expect(await waitFor(async () => (await state('alpha'))?.session_started_at != null && (await state('beta'))?.session_started_at != null, 60_000)).toBe(true)
  await new Promise((resolve) => setTimeout(resolve, 8000)) // assign.ready_after

  await add('one.md', 300)
  await add('two.md', 200)
  const first = await ccl(['dispatch'])
  expect(first.code, first.stdout + first.stderr).toBe(0)
  expect(await waitFor(async () => (await done()).length === 2, 90_000)).toBe(true)
  expect(await done()).toEqual(['one.md', 'two.md'])
  const events = async (): Promise<Json[]> =>
    allLogText(path.join(queue, '.ccl')).split('\n').filter(Boolean).map((l) => JSON.parse(l))
  expect((await events()).filter((e) => e.event === 'task.assigned').every((e) => e.confirmed === true)).toBe(true)

  // The third task goes to beta (alpha is given the fourth), and beta hits its limit on it.
  expect(await waitFor(async () => (await state('alpha'))?.turn === 'idle' && (await state('beta'))?.turn === 'idle', 60_000)).toBe(true)
  await add('three.md', 100)
  const second = await ccl(['assign', 'three.md', '--account', 'beta'])
  expect(second.code, second.stdout + second.stderr).toBe(0)
  expect(await waitFor(async () => (await state('beta'))?.limited != null, 60_000)).toBe(true)
  const limited = (await state('beta'))!.limited
  expect(limited).toMatchObject({reason: 'usage-limit', limit: 'five_hour', until: new Date(resetAt * 1000).toISOString()})
  const status = JSON.parse((await ccl(['status', '--json'])).stdout) as Json
  expect(status.sessions.find((s: Json) => s.account === 'beta')).toMatchObject({activity: 'limited', limited_until: new Date(resetAt * 1000 + 60_000).toISOString()})
  // A fourth task: not for beta while it is limited.
  await add('four.md', 50)
  const refused = await ccl(['assign', 'four.md', '--account', 'beta'])
  expect(refused.code).toBe(4)
  expect(refused.stderr).toContain('beta: limited until')
  expect(api.unknown()).toEqual([])
}, 300_000)
