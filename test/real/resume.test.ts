import {randomUUID} from 'node:crypto'
import {lstat, readlink, realpath} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, expect, it} from 'vitest'

import {fields, hookSample, makeRealSandbox, projectSlug, type RealSandbox, SHARED_DIRS, waitForHook} from '../support/real-claude.js'

// Failover's way of moving a conversation (SPEC §6): another account's session, in the same cwd, runs
// `claude --resume <session id>`, and finds the transcript because every account's projects/ (and
// file-history/, session-env/) is a link to one shared folder.

let real: RealSandbox | undefined

afterEach(async () => {
  await real?.cleanup()
  real = undefined
})

it('another account resumes the session through the shared projects/; an unknown id exits 1', async () => {
  real = await makeRealSandbox({accounts: ['alpha', 'beta']})
  const {api, sandbox} = real
  const alpha = await real.account('alpha', {shared: sandbox.shared})
  const beta = await real.account('beta', {shared: sandbox.shared})
  for (const account of [alpha, beta]) {
    for (const dir of SHARED_DIRS) {
      expect((await lstat(path.join(account.home, dir))).isSymbolicLink()).toBe(true)
      expect(await readlink(path.join(account.home, dir))).toBe(path.join(sandbox.shared, dir))
    }
  }

  api.script(alpha.token, [{text: 'I will remember zebra.'}])
  api.script(beta.token, [{text: 'The word was zebra.'}])

  const first = await real.start('alpha', alpha)
  const started = await waitForHook(real.hooksFile('alpha'), (p) => p.hook_event_name === 'SessionStart')
  await first.ready()
  await first.submit('Remember the word zebra')
  await waitForHook(real.hooksFile('alpha'), (p) => p.hook_event_name === 'Stop')
  // As failover restarts a limited account's session: the first CLI is gone before the second resumes.
  await first.stop()
  const id = started.session_id
  const cwd = await realpath(sandbox.dir)
  expect(await realpath(started.transcript_path)).toBe(path.join(sandbox.shared, 'projects', projectSlug(cwd), `${id}.jsonl`))

  const second = await real.start('beta', beta, ['--resume', id])
  const resumed = await waitForHook(real.hooksFile('beta'), (p) => p.hook_event_name === 'SessionStart')
  expect(resumed).toMatchObject({hook_event_name: 'SessionStart', source: 'resume', session_id: id, cwd})
  // Beta's own path to the same transcript.
  expect(resumed.transcript_path).toBe(path.join(beta.home, 'projects', projectSlug(cwd), `${id}.jsonl`))
  expect(await realpath(resumed.transcript_path)).toBe(await realpath(started.transcript_path))
  await second.ready()
  expect(await second.screen()).toContain('I will remember zebra.') // the earlier turns are on screen

  await second.submit('What was the word?')
  await waitForHook(real.hooksFile('beta'), (p) => p.hook_event_name === 'Stop')
  const [asked, ...more] = api.messages(beta.token)
  expect(more).toEqual([])
  // The request goes out under beta's login, in alpha's session, and carries alpha's turns.
  expect(asked).toMatchObject({prompt: 'What was the word?', sessionId: id})
  const history = JSON.stringify(asked?.body.messages)
  expect(history).toContain('Remember the word zebra')
  expect(history).toContain('I will remember zebra.')
  expect(api.messages(alpha.token)).toHaveLength(1)
  expect(fields(resumed)).toEqual(fields(await hookSample('session-start-resume', resumed, sandbox.dir)))

  const unknown = randomUUID()
  const gone = await real.start('beta-unknown', beta, ['--resume', unknown])
  // Under load it can take a while to leave after printing the line (measured up to ~30 s once).
  expect(await gone.waitForExit(20_000)).toBe(1)
  // It prints the line, then scrolls it off with blank lines as it leaves.
  expect(await gone.screen({history: true})).toContain(`No conversation found with session ID: ${unknown}`)
  // Still a SessionEnd, for a session that never started: `ccl hook` must not take it for a real one ending.
  const end = await waitForHook(real.hooksFile('beta'), (p) => p.hook_event_name === 'SessionEnd' && p.session_id === unknown, 10_000)
  expect(end).toMatchObject({reason: 'other'})
  expect(api.unknown()).toEqual([])
}, 200_000)
