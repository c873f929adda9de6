import {afterEach, expect, it} from 'vitest'

import {fields, fixture, hookSample, makeRealSandbox, readHooks, type RealSandbox, waitForHook} from '../support/real-claude.js'

// A usage limit as a subscription account meets it (SPEC §6: the account becomes `limited` until the
// reset): the API answers the 429 with the unified rate-limit headers, the pane shows the banner, and
// StopFailure fires with error rate_limit and that banner. Screen and payload are kept as fixtures.

let real: RealSandbox | undefined

afterEach(async () => {
  await real?.cleanup()
  real = undefined
})

/** "9:37pm", as the banner prints a time (TZ=UTC in the session). */
function clock(epochS: number): string {
  const text = new Intl.DateTimeFormat('en-US', {hour: 'numeric', minute: '2-digit', timeZone: 'UTC'}).format(new Date(epochS * 1000))
  return text.replace(/\s?([AP])M$/, (_, m: string) => `${m.toLowerCase()}m`)
}

/** A reset about `aheadS` seconds from now, on a whole minute that is not :00 (the banner would drop the minutes). */
function resetIn(aheadS: number): number {
  let at = Math.ceil((Date.now() / 1000 + aheadS) / 60) * 60
  if (new Date(at * 1000).getUTCMinutes() === 0) at += 60
  return at
}

it('the 429 shows the 5-hour limit banner and fires StopFailure with error rate_limit and the banner', async () => {
  real = await makeRealSandbox({accounts: ['alpha']})
  const {api} = real
  const alpha = await real.account('alpha')
  const hooks = real.hooksFile('alpha')
  const resetAt = resetIn(2 * 3600)
  api.limit(alpha.token, {resetAt})
  const banner = `You've hit your 5-hour limit · resets ${clock(resetAt)} (UTC)`

  const pane = await real.start('alpha', alpha)
  await pane.ready()
  await pane.submit('Work on the task')
  const failure = await waitForHook(hooks, (p) => p.hook_event_name === 'StopFailure')
  expect(failure).toMatchObject({hook_event_name: 'StopFailure', error: 'rate_limit', last_assistant_message: banner})
  const screen = await pane.waitForScreen(`continuing automatically at ${clock(resetAt)}`)
  expect(screen).toContain(banner)
  // Under the input box too, while the session waits for the reset by itself.
  expect(screen).toMatch(/Usage limit reached · limit resets \d{1,2}:\d{2}[ap]m/)

  // One request, answered 429: the CLI does not retry a rejected subscription limit before the reset.
  expect(api.messages(alpha.token).map((r) => r.answer)).toEqual(['limit'])
  expect(api.unknown()).toEqual([])
  expect((await readHooks(hooks)).some((p) => p.hook_event_name === 'Stop')).toBe(false)

  const storedScreen = await fixture('screens/usage-limit.txt', screen + '\n', real.sandbox.dir)
  expect(storedScreen).toMatch(/You've hit your 5-hour limit · resets \d{1,2}:\d{2}[ap]m \(UTC\)/)
  const stored = await hookSample('stop-failure-rate_limit', failure, real.sandbox.dir)
  expect(fields(failure)).toEqual(fields(stored))
  expect(stored).toMatchObject({error: 'rate_limit'})
})

// What ccl's failover must stop (SPEC §6: the limited account's session is restarted): left alone, the
// session sends a prompt of its own 50-115 s after the reset (measured; the CLI adds a random 30-90 s) and
// goes on with the task.
it('the limited session carries on by itself after the reset, with a prompt of its own', async () => {
  real = await makeRealSandbox({accounts: ['alpha']})
  const {api} = real
  const alpha = await real.account('alpha')
  const hooks = real.hooksFile('alpha')
  const resetAt = Math.floor(Date.now() / 1000) + 10
  api.limit(alpha.token, {resetAt})
  api.script(alpha.token, [{text: 'Carrying on.'}])

  const pane = await real.start('alpha', alpha)
  await pane.ready()
  await pane.submit('Work on the task')
  await waitForHook(hooks, (p) => p.hook_event_name === 'StopFailure')
  const resumed = await waitForHook(hooks, (p) => p.hook_event_name === 'Notification' && p.notification_type === 'quota_auto_resume_fired', 200_000)
  const stop = await waitForHook(hooks, (p) => p.hook_event_name === 'Stop', 20_000)
  const prompts = (await readHooks(hooks)).filter((p) => p.hook_event_name === 'UserPromptSubmit')
  expect(prompts.map((p) => p.prompt)).toEqual(['Work on the task', expect.stringMatching(/^Your claude\.ai usage limit has reset\. Continue the task/)])
  expect(stop).toMatchObject({last_assistant_message: 'Carrying on.'})
  const [limited, again] = api.messages(alpha.token)
  expect(limited?.answer).toBe('limit')
  expect(again?.at).toBeGreaterThanOrEqual(resetAt * 1000)
  console.log(`auto-resume: request ${((again!.at - resetAt * 1000) / 1000).toFixed(1)} s after the reset`)

  expect(fields(resumed)).toEqual(fields(await hookSample('notification-quota_auto_resume_fired', resumed, real.sandbox.dir)))
  expect(fields(prompts[1]!)).toEqual(fields(await hookSample('user-prompt-submit-auto-resume', prompts[1]!, real.sandbox.dir)))
}, 240_000)
