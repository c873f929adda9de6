// A hand-off killed between the paste and Enter leaves its prompt in the real Claude Code CLI's input
// box (the pinned version, offline, against the Messages API stand-in). The next `ccl assign` clears
// the box first (Ctrl-U presses, docs/real-claude-code.md), so the session submits only the new
// prompt: the request and the transcript's only typed prompt hold it alone. The same case runs
// against the stand-in in test/commands/assign.test.ts.
import {readFile, readdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, expect, it} from 'vitest'

import {startMessagesApi, type MessagesApi} from '../support/messages-api.mjs'
import {claudeBinDir, doTheTask, makeClaudeAccount, requireClaudeCode, shellQuote, waitUntil as waitFor} from '../support/real-claude.js'
import {linkAll, makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'
import {type PrivateTmux, startPrivateTmux, tmuxEnv} from '../support/tmux.js'

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

/** The text of a transcript line's message: a string, or its text blocks joined. */
function messageText(message: {content?: unknown} | undefined): string {
  const content = message?.content
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .filter((c: {type?: string}) => c.type === 'text')
    .map((c: {text?: string}) => String(c.text))
    .join('')
}

it('a prompt left unsent in the input box by a killed assign is cleared by the next assign: the session submits only the new prompt', async () => {
  await requireClaudeCode()
  sandbox = await makeSandbox({accounts: ['alpha']})
  await linkAll(sandbox)
  api = await startMessagesApi()
  server = await startPrivateTmux()
  const account = await makeClaudeAccount({home: sandbox.homes.alpha!, cwd: sandbox.dir, apiUrl: api.url})
  const env = {...account.env, PATH: `${claudeBinDir()}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: sandbox.dir, TZ: 'UTC'}
  delete (env as Record<string, string>).CLAUDE_CONFIG_DIR // reconcile sets it
  const command = ['exec', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'claude'].map((w, i) => (i === 0 ? w : shellQuote(w))).join(' ')
  api.script(account.token, doTheTask)
  // Three lines, not folded by the CLI (800 characters or 3 lines at most): one Ctrl-U per row on screen and per line break.
  const prompt = 'Read the task in {task} and do it.\nIt is a test of the hand-off.\nWhen it is finished, move that file into {done}/.'
  await sandbox.writeConfig({
    ...sandbox.config,
    tmux: {socket: server.socket},
    accounts: [{name: 'alpha', home: sandbox.homes.alpha, cwd: sandbox.dir, command}],
    assign: {prompt, enter_delay: '500ms', ready_after: '0s'},
  })
  const ccl = (args: string[], extra: Record<string, string> = {}) =>
    runCcl(args, {env: {...tmuxEnv(), CCL_CONFIG: sandbox!.configFile, ...extra}, cwd: sandbox!.dir, timeoutMs: 60_000})
  const screen = () => server!.tmux('capture-pane', '-p', '-J', '-t', '=ccl-alpha:').catch(() => '')
  const queue = sandbox.queue

  const reconciled = await ccl(['reconcile'])
  expect(reconciled.code, reconciled.stderr).toBe(0)
  // The input box is drawn (its status line names the permission mode): a paste before that is lost.
  expect(await waitFor(async () => /❯[\s\S]*accept edits on/.test(await screen()), 30_000)).toBe(true)

  await writeFile(path.join(queue, 'pending', 'first.md'), 'First.\n')
  const killed = await ccl(['assign', 'first.md'], {CCL_FAILPOINTS: 'assign.after-paste'})
  expect(killed.code).not.toBe(0)
  // The first prompt sits unsent in the input box, its three lines on screen.
  expect(await waitFor(async () => (await screen()).includes('It is a test of the hand-off.'), 10_000)).toBe(true)
  expect(api.messages(account.token)).toEqual([])

  await writeFile(path.join(queue, 'pending', 'second.md'), 'Second.\n')
  const next = await ccl(['assign', 'second.md'])
  expect(next.code, next.stdout + next.stderr).toBe(0)
  expect(await waitFor(async () => (await readdir(path.join(queue, 'done'))).includes('second.md'), 60_000)).toBe(true)

  const expected = prompt.replace('{task}', path.join(queue, 'active', 'alpha', 'second.md')).replace('{done}', path.join(queue, 'done'))
  const [asked] = api.messages(account.token)
  expect(asked?.prompt).toBe(expected)
  // The transcript: its only typed prompt is the second prompt alone.
  const projects = path.join(sandbox.homes.alpha!, 'projects')
  const [folder] = await readdir(projects)
  const transcript = path.join(projects, folder!, `${asked!.sessionId}.jsonl`)
  // Every prompt a person (here: ccl's paste) typed, in order: the user lines that are neither meta
  // lines nor tool results (2.1.328 writes a typed prompt as {type: 'user', message: {role: 'user',
  // content: '<text>'}, promptSource: 'typed'}; tool results are user lines too, with tool_result blocks).
  // The CLI writes its transcript behind the turn (seen in CI: only the session's meta lines were there
  // when the task reached done/), so this waits until the turn's answer is in it.
  const typedPrompts = async () => {
    const lines = (await readFile(transcript, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as {type?: string; isMeta?: boolean; message?: {role?: string; content?: unknown}}]
        } catch {
          return [] // a line still being written
        }
      })
    const typed = lines
      .filter((line) => line.type === 'user' && !line.isMeta && line.message?.role === 'user')
      .filter((line) => !(Array.isArray(line.message?.content) && (line.message.content as {type?: string}[]).some((c) => c.type === 'tool_result')))
      .map((line) => messageText(line.message))
    return {typed, answered: lines.some((line) => line.type === 'assistant')}
  }
  expect(await waitFor(async () => (await typedPrompts()).answered, 30_000)).toBe(true)
  const {typed} = await typedPrompts()
  expect(typed).toEqual([expected])
  // first.md was taken back from the session by the second assign's recovery and never submitted.
  expect(await readdir(path.join(queue, 'pending'))).toContain('first.md')
  expect(api.unknown()).toEqual([])
}, 180_000)
