import {access, readdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, expect, it} from 'vitest'

import {waitFor} from '../support/loop.js'
import {makeRealSandbox, type RealSandbox, shellQuote} from '../support/real-claude.js'

// The real Claude Code CLI, interactive in tmux, does a queued task the way ccl hands it over: the prompt
// arrives as one bracketed paste, Enter submits it, and the session moves the task file into done/.

let real: RealSandbox | undefined

afterEach(async () => {
  await real?.cleanup()
  real = undefined
})

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  )

it('a pasted two-line prompt reaches the API as one; the Bash tool call it answers moves the task into done/', async () => {
  real = await makeRealSandbox({accounts: ['alpha']})
  const {api, sandbox} = real
  const alpha = await real.account('alpha')
  const task = path.join(sandbox.queue, 'pending', 'fix the bug.md')
  const done = path.join(sandbox.queue, 'done')
  await writeFile(task, 'Fix the bug.\n')
  // Two lines: typed keys would submit at the first newline, a bracketed paste keeps them one prompt.
  const prompt = `Work on the task ${task}.\nWhen it is finished, move that file into ${done}/.`
  const command = `mv ${shellQuote(task)} ${shellQuote(done)}/`
  api.script(alpha.token, [{text: 'Moving the task.', bash: command, then: 'The task is in done/.'}])

  const pane = await real.start('alpha', alpha)
  await pane.ready()
  await pane.submit(prompt)

  expect(await waitFor(() => exists(path.join(done, 'fix the bug.md')), 30_000)).toBe(true)
  await pane.waitForScreen('The task is in done/.')
  expect(await readdir(path.join(sandbox.queue, 'pending'))).toEqual([])

  const [asked, result, ...more] = api.messages(alpha.token)
  expect(more).toEqual([])
  expect(asked).toMatchObject({method: 'POST', path: '/v1/messages', query: '?beta=true', stream: true, prompt, answer: 'tool_use'})
  expect(asked?.tools).toContain('Bash')
  expect(asked?.toolUses).toMatchObject([{name: 'Bash', input: {command}}])
  // The CLI ran the command and sent its result back in the next request, same session.
  expect(result?.toolResults).toMatchObject([{toolUseId: asked?.toolUses[0]?.id, isError: false}])
  expect(result?.sessionId).toBe(asked?.sessionId)
  expect(result?.answer).toBe('text')
  // Nothing but the Messages API was called.
  expect(api.unknown()).toEqual([])
  expect(api.requests.every((r) => r.token === alpha.token)).toBe(true)
})
