import {createHash} from 'node:crypto'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {handleHook} from '../../src/lib/accounts/hook.js'
import {activityOf, clearExpiredLimit, emptyAccountState, promptFingerprint, promptReceived, readAccountState} from '../../src/lib/accounts/state.js'
import {parseConfig} from '../../src/lib/config/load.js'
import type {Config} from '../../src/lib/config/schema.js'
import {readEvents} from '../../src/lib/events/log.js'
import {queueLayout} from '../../src/lib/queue/layout.js'
import {makeSandbox, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
let config: Config
const at = new Date('2026-12-01T20:00:00.000Z')

beforeEach(async () => {
  sandbox = await makeSandbox()
  config = parseConfig(await readFile(sandbox.configFile, 'utf8'), sandbox.configFile)
})
afterEach(async () => sandbox.cleanup())

const layout = () => queueLayout(config)
const base = (event: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({session_id: 'a2b4c6d8-0000-4000-8000-000000000001', transcript_path: '/t.jsonl', cwd: sandbox.dir, permission_mode: 'default', hook_event_name: event, ...extra})
const hook = (payload: string, now = at, home = sandbox.homes.alpha) => handleHook({config, payload, env: {CLAUDE_CONFIG_DIR: home}, now})
const events = async () => readEvents(layout().events)

describe('ccl hook: what each event records', () => {
  it('SessionStart, UserPromptSubmit, Stop: the session id, the turn, the submitted prompt', async () => {
    expect(await hook(base('SessionStart', {source: 'startup', model: 'claude-x'}))).toEqual({kind: 'recorded', account: 'alpha', event: 'SessionStart'})
    let state = readAccountState(layout(), 'alpha')
    expect(state).toMatchObject({session_id: 'a2b4c6d8-0000-4000-8000-000000000001', transcript_path: '/t.jsonl', cwd: sandbox.dir, session_started_at: at.toISOString(), turn: 'idle'})
    await hook(base('UserPromptSubmit', {prompt: 'Read the task in /q/active/alpha/t.md and do it.'}), new Date(at.getTime() + 1000))
    state = readAccountState(layout(), 'alpha')
    expect(state.turn).toBe('working')
    // The same text (CRLF and blanks around it aside), or a prompt naming the task's path.
    expect(state.prompts.at(-1)).toMatchObject({fnv1a64: promptFingerprint('Read the task in /q/active/alpha/t.md and do it.')})
    expect(promptReceived(state, {prompt: '  Read the task in /q/active/alpha/t.md and do it.\r\n', taskPath: '/nope'}, at)).toBe(true)
    expect(promptReceived(state, {prompt: 'Read the task in /q/active/alpha/u.md and do it.', taskPath: '/nope'}, at)).toBe(false)
    expect(promptReceived(state, {prompt: null, taskPath: '/q/active/alpha/t.md'}, at)).toBe(true)
    expect(promptReceived(state, {prompt: null, taskPath: '/q/active/alpha/t.md'}, new Date(at.getTime() + 60_000))).toBe(false)
    // A record of an earlier version holds a sha256 of the prompt: still confirmed.
    const sha256 = createHash('sha256').update('Go on with the task.').digest('hex')
    const old = {...state, prompts: [{sha256, head: 'Go on', at: at.toISOString()}]}
    expect(promptReceived(old, {prompt: 'Go on with the task.\n', taskPath: '/nope'}, at)).toBe(true)
    expect(promptReceived(old, {prompt: 'Go on with another task.', taskPath: '/nope'}, at)).toBe(false)
    await hook(base('Stop', {stop_hook_active: false, last_assistant_message: 'Done.'}))
    expect(readAccountState(layout(), 'alpha')).toMatchObject({turn: 'idle', last_event: 'Stop'})
    expect(readAccountState(layout(), 'beta')).toEqual(emptyAccountState('beta'))
  })

  it('SessionStart and SessionEnd are kept whole; a late SessionEnd of a killed session neither brings its id back nor clears a folder-trust wait', async () => {
    await hook(base('SessionStart', {source: 'startup'}))
    expect(readAccountState(layout(), 'alpha').session_start).toEqual({session_id: 'a2b4c6d8-0000-4000-8000-000000000001', source: 'startup', at: at.toISOString()})
    // the next session (a --resume of another id) starts before the killed one's SessionEnd hook ran
    const next = '7e1f0c3a-0000-4000-8000-000000000002'
    await hook(JSON.stringify({session_id: next, transcript_path: '/u.jsonl', cwd: sandbox.dir, hook_event_name: 'SessionStart', source: 'resume'}), new Date(at.getTime() + 1000))
    await hook(base('SessionEnd', {reason: 'other'}), new Date(at.getTime() + 2000))
    let state = readAccountState(layout(), 'alpha')
    expect(state).toMatchObject({session_id: next, transcript_path: '/u.jsonl', session_start: {session_id: next, source: 'resume'}, last_event: 'SessionStart'})
    expect(state.session_end).toEqual({session_id: 'a2b4c6d8-0000-4000-8000-000000000001', reason: 'other', at: new Date(at.getTime() + 2000).toISOString()})
    // a wait for the folder-trust dialog (read from the pane) outlives a SessionEnd
    const {updateAccountState} = await import('../../src/lib/accounts/state.js')
    await updateAccountState(layout(), 'alpha', (s) => ({...s, turn: 'waiting', waiting: {reason: 'folder-trust', message: null, since: at.toISOString()}}))
    await hook(JSON.stringify({session_id: next, hook_event_name: 'SessionEnd', reason: 'other'}), new Date(at.getTime() + 3000))
    state = readAccountState(layout(), 'alpha')
    expect(state).toMatchObject({turn: 'waiting', waiting: {reason: 'folder-trust'}, session_end: {session_id: next}})
  })

  it('a permission prompt makes the session wait (one session.waiting event), the next prompt ends it', async () => {
    await hook(base('Notification', {notification_type: 'permission_prompt', message: 'Claude needs your permission to use Bash'}))
    await hook(base('Notification', {notification_type: 'permission_prompt', message: 'Claude needs your permission to use Bash'}), new Date(at.getTime() + 5000))
    const state = readAccountState(layout(), 'alpha')
    expect(state).toMatchObject({turn: 'waiting', waiting: {reason: 'permission_prompt', since: at.toISOString()}})
    expect((await events()).filter((e) => e.event === 'session.waiting')).toHaveLength(1)
    await hook(base('UserPromptSubmit', {prompt: 'yes'}))
    expect(readAccountState(layout(), 'alpha')).toMatchObject({turn: 'working', waiting: null})
    // an idle prompt notification is not a wait for someone
    await hook(base('Notification', {notification_type: 'idle_prompt', message: 'Claude is waiting for your input'}))
    expect(readAccountState(layout(), 'alpha').turn).toBe('working')
  })

  it('StopFailure with a usage-limit banner: limited until the parsed reset; without one: a short cooldown; an auth error: needs login', async () => {
    await hook(base('StopFailure', {error: 'rate_limit', last_assistant_message: "You've hit your 5-hour limit · resets 9:34pm (UTC)"}))
    let state = readAccountState(layout(), 'alpha')
    expect(state.limited).toMatchObject({until: '2026-12-01T21:34:00.000Z', reason: 'usage-limit', limit: 'five_hour', banner: "You've hit your 5-hour limit · resets 9:34pm (UTC)"})
    expect((await events()).filter((e) => e.event === 'account.limited')).toEqual([
      expect.objectContaining({account: 'alpha', until: '2026-12-01T21:34:00.000Z', reason: 'usage-limit'}),
    ])

    await hook(base('StopFailure', {error_type: 'rate_limit', last_assistant_message: 'API Error: Request rejected (429) · Rate limited'}), at, sandbox.homes.beta)
    state = readAccountState(layout(), 'beta')
    expect(state.limited).toMatchObject({until: new Date(at.getTime() + 120_000).toISOString(), reason: 'transient'})

    await hook(base('StopFailure', {error: 'authentication_failed', last_assistant_message: 'Invalid API key · Please run /login'}), at, sandbox.homes.beta)
    expect(readAccountState(layout(), 'beta').needs_login).toMatchObject({error: 'authentication_failed'})
  })

  it('a limit whose reset (plus margin) has passed is lifted once, with one account.available', async () => {
    await hook(base('StopFailure', {error: 'rate_limit', last_assistant_message: "You've hit your 5-hour limit · resets 9:34pm (UTC)"}))
    const before = new Date('2026-12-01T21:34:30.000Z') // within the 1m margin
    expect(await clearExpiredLimit(layout(), 'alpha', before, config.failover.margin)).toBeNull()
    const after = new Date('2026-12-01T21:35:01.000Z')
    const results = await Promise.all([1, 2, 3].map(() => clearExpiredLimit(layout(), 'alpha', after, config.failover.margin)))
    expect(results.filter(Boolean)).toHaveLength(1)
    expect(readAccountState(layout(), 'alpha').limited).toBeNull()
    expect((await events()).filter((e) => e.event === 'account.available')).toHaveLength(1)
  })

  it('garbage, a payload with no event, or a home no account has: recorded as hook.error, nothing else', async () => {
    expect(await hook('not json {')).toEqual({kind: 'ignored', reason: 'the payload is not JSON'})
    expect(await hook('[1,2]')).toEqual({kind: 'ignored', reason: 'the payload is not a JSON object'})
    expect(await hook('{"session_id":"x"}')).toEqual({kind: 'ignored', reason: 'the payload has no hook_event_name'})
    expect((await hook(base('Stop'), at, '/elsewhere/.claude')).kind).toBe('ignored')
    expect((await events()).map((e) => e.event)).toEqual(['hook.error', 'hook.error', 'hook.error', 'hook.error'])
    expect(readAccountState(layout(), 'alpha')).toEqual(emptyAccountState('alpha'))
  })

  it('finds the account through a symlinked home', async () => {
    const {symlink} = await import('node:fs/promises')
    const link = path.join(sandbox.dir, 'alpha-link')
    await symlink(sandbox.homes.alpha!, link)
    expect(await hook(base('SessionStart', {source: 'startup'}), at, link)).toMatchObject({kind: 'recorded', account: 'alpha'})
  })

  it('concurrent hooks of one session lose no update', async () => {
    await Promise.all(Array.from({length: 6}, (_, i) => hook(base('UserPromptSubmit', {prompt: `prompt ${i}`}))))
    expect(readAccountState(layout(), 'alpha').prompts.map((p) => p.head).sort()).toEqual(Array.from({length: 6}, (_, i) => `prompt ${i}`))
  })

  it('a corrupt account record is its own error, naming the file', async () => {
    await mkdir(path.join(layout().state, 'accounts'), {recursive: true})
    await writeFile(path.join(layout().state, 'accounts', 'alpha.json'), '{broken')
    expect(() => readAccountState(layout(), 'alpha')).toThrow(`${path.join(layout().state, 'accounts', 'alpha.json')}: not an account state record`)
  })
})

describe('activity', () => {
  const facts = (over: Partial<Parameters<typeof activityOf>[0]> = {}) => ({state: emptyAccountState('a'), alive: true, task: null, now: at, marginMs: 60_000, ...over})

  it('dead, needs-login, limited (until reset plus margin), waiting, working, free', () => {
    expect(activityOf(facts({alive: false})).activity).toBe('dead')
    expect(activityOf(facts({state: {...emptyAccountState('a'), needs_login: {error: 'billing_error', message: null, since: at.toISOString()}}})).activity).toBe('needs-login')
    const limited = {...emptyAccountState('a'), limited: {until: '2026-12-01T20:30:00.000Z', reason: 'usage-limit' as const, limit: 'session', banner: null, since: at.toISOString()}}
    expect(activityOf(facts({state: limited}))).toEqual({activity: 'limited', limited_until: '2026-12-01T20:31:00.000Z', why: 'session', since: at.toISOString()})
    expect(activityOf(facts({state: limited, now: new Date('2026-12-01T20:31:01.000Z')})).activity).toBe('free')
    const waiting = {...emptyAccountState('a'), turn: 'waiting' as const, waiting: {reason: 'permission_prompt' as const, message: null, since: at.toISOString()}}
    expect(activityOf(facts({state: waiting, task: 't.md'}))).toMatchObject({activity: 'waiting', why: 'permission_prompt'})
    // its turn ended and the task is still in active/: it stopped without finishing
    const stopped = {...emptyAccountState('a'), last_event: 'Stop', last_event_at: at.toISOString()}
    expect(activityOf(facts({state: stopped, task: 't.md'}))).toMatchObject({activity: 'waiting', why: 'turn-ended'})
    expect(activityOf(facts({state: stopped})).activity).toBe('free')
    expect(activityOf(facts({state: {...emptyAccountState('a'), turn: 'working'}})).activity).toBe('working')
    // without hooks: a task in active/ is work
    expect(activityOf(facts({task: 't.md'})).activity).toBe('working')
    expect(activityOf(facts()).activity).toBe('free')
  })
})
