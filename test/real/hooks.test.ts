import {access, realpath} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, expect, it} from 'vitest'

import {
  fields,
  type HookPayload,
  hookSample,
  makeRealSandbox,
  projectSlug,
  readHooks,
  type RealSandbox,
  waitForHook,
} from '../support/real-claude.js'

// The hooks ccl listens to (SPEC §6), fired by the real CLI from settings.json with their real payloads.
// Each payload is kept under test/fixtures/claude-code-<version>/hooks/ as the sample other tests use;
// here a live payload must have the same fields as its sample (CCL_UPDATE_FIXTURES=1 rewrites them).

let real: RealSandbox | undefined

afterEach(async () => {
  await real?.cleanup()
  real = undefined
})

/** Saves or checks the sample: the same fields, the same event. */
async function sample(name: string, payload: HookPayload): Promise<void> {
  const stored = await hookSample(name, payload, real!.sandbox.dir)
  expect(fields(payload), `fields of ${name} against its fixture`).toEqual(fields(stored))
  expect(stored.hook_event_name).toBe(payload.hook_event_name)
}

it('SessionStart, UserPromptSubmit, Stop and Notification fire with the fields ccl reads', async () => {
  real = await makeRealSandbox({accounts: ['alpha']})
  const {api, sandbox} = real
  // The idle notification comes after 60 s by default; .claude.json can bring that down.
  const alpha = await real.account('alpha', {claudeJson: {messageIdleNotifThresholdMs: 1500}})
  const hooks = real.hooksFile('alpha')
  const outside = path.join(sandbox.dir, '..', `${path.basename(sandbox.dir)}-outside.txt`)
  api.script(alpha.token, [
    {text: 'Hello from the stand-in.'},
    // A file outside the session's folder: acceptEdits asks first, and the CLI says so through a Notification.
    {toolUse: {name: 'Write', input: {file_path: outside, content: 'x\n'}}},
  ])

  const pane = await real.start('alpha', alpha)
  const start = await waitForHook(hooks, (p) => p.hook_event_name === 'SessionStart')
  await pane.ready()
  await pane.submit('Say hello')
  const submit = await waitForHook(hooks, (p) => p.hook_event_name === 'UserPromptSubmit')
  const stop = await waitForHook(hooks, (p) => p.hook_event_name === 'Stop')
  const idle = await waitForHook(hooks, (p) => p.hook_event_name === 'Notification' && p.notification_type === 'idle_prompt')

  const cwd = await realpath(sandbox.dir)
  const sessionId = start.session_id
  expect(sessionId).toMatch(/^[0-9a-f-]{36}$/)
  expect(api.messages(alpha.token)[0]?.sessionId).toBe(sessionId)
  for (const payload of [start, submit, stop, idle]) {
    expect(payload).toMatchObject({session_id: sessionId, cwd})
    // The transcript of the session, in the account's projects/ folder (the one failover shares).
    expect(payload.transcript_path).toBe(path.join(alpha.home, 'projects', projectSlug(cwd), `${sessionId}.jsonl`))
  }

  await access(start.transcript_path)
  expect(start).toMatchObject({hook_event_name: 'SessionStart', source: 'startup', model: api.messages(alpha.token)[0]?.model})
  expect(submit).toMatchObject({hook_event_name: 'UserPromptSubmit', prompt: 'Say hello', permission_mode: 'acceptEdits'})
  expect(stop).toMatchObject({hook_event_name: 'Stop', last_assistant_message: 'Hello from the stand-in.', stop_hook_active: false})
  expect(idle).toMatchObject({hook_event_name: 'Notification', message: 'Claude is waiting for your input'})
  expect(submit.prompt_id).toBe(stop.prompt_id)

  await pane.submit('Write the file')
  const permission = await waitForHook(hooks, (p) => p.hook_event_name === 'Notification' && p.notification_type === 'permission_prompt')
  expect(permission).toMatchObject({session_id: sessionId, message: 'Claude needs your permission'})
  await pane.waitForScreen('Do you want to create')

  await sample('session-start', start)
  await sample('user-prompt-submit', submit)
  await sample('stop', stop)
  await sample('notification-idle_prompt', idle)
  await sample('notification-permission_prompt', permission)

  // Ended by a signal, as a restart by ccl would end it.
  await pane.stop()
  const end = await waitForHook(hooks, (p) => p.hook_event_name === 'SessionEnd', 10_000)
  expect(end).toMatchObject({session_id: sessionId})
  await sample('session-end', end)
  expect((await readHooks(hooks)).filter((p) => p.hook_event_name === 'SessionStart')).toHaveLength(1)
})
