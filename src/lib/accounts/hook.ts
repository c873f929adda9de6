/*
 * `ccl hook`: Claude Code runs it at the moments that matter (SessionStart, UserPromptSubmit, Stop,
 * StopFailure, Notification, SessionEnd), with one JSON payload on stdin. It records what the
 * session does in the account's state record and never disturbs the session: the command prints
 * nothing on stdout and exits 0 whatever happens; what went wrong is a `hook.error` event.
 *
 * Payload fields read (Claude Code 2.1.328 and the SDK's sdk.d.ts; fixtures in test/fixtures):
 *   every event   session_id, transcript_path, cwd, hook_event_name (agent_id on a subagent's)
 *   SessionStart  source: startup | resume | clear | compact | fork
 *   UserPromptSubmit  prompt
 *   Stop          last_assistant_message
 *   StopFailure   error (some docs: error_type), last_assistant_message (the limit banner), error_details
 *   Notification  notification_type: permission_prompt | idle_prompt | elicitation_dialog | …, message
 */
import {classifyStopFailure} from '../claude/banners.js'
import type {HotConfig} from '../config/hot.js'
import {errorMessage} from '../errors.js'
import {appendEvent} from '../events/log.js'
import {queueLayout, type QueueLayout} from '../queue/layout.js'
import {settleHandOff} from '../queue/transitions.js'
import {accountOf} from './identify.js'
import {type AccountState, updateAccountState, withPrompt} from './state.js'

export interface HookOptions {
  config: HotConfig
  /** The raw stdin. */
  payload: string
  env: NodeJS.ProcessEnv
  now: Date
}

export type HookOutcome =
  | {kind: 'recorded'; account: string; event: string}
  | {kind: 'ignored'; reason: string}

type Payload = Record<string, unknown>

const str = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null)

/** Records one hook's payload. Never throws for bad input: it is recorded and ignored. */
export async function handleHook(options: HookOptions): Promise<HookOutcome> {
  const {config, now} = options
  const layout = queueLayout(config)
  const fail = async (reason: string, fields: Record<string, unknown> = {}): Promise<HookOutcome> => {
    await appendEvent(layout.events, 'hook.error', {reason, ...fields}, now)
    return {kind: 'ignored', reason}
  }

  let payload: Payload
  try {
    const parsed: unknown = JSON.parse(options.payload)
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return fail('the payload is not a JSON object', {bytes: options.payload.length})
    payload = parsed as Payload
  } catch {
    return fail('the payload is not JSON', {bytes: options.payload.length})
  }

  const event = str(payload.hook_event_name)
  if (!event) return fail('the payload has no hook_event_name')
  const account = accountOf(config, options.env)
  if (!account) return fail(`no configured account has CLAUDE_CONFIG_DIR ${JSON.stringify(options.env.CLAUDE_CONFIG_DIR ?? null)}`, {hook_event_name: event})

  const events: {name: Parameters<typeof appendEvent>[1]; fields: Record<string, unknown>}[] = []
  const at = now.toISOString()
  await updateAccountState(layout, account, (state) => {
    // A session that is not the current one any more (killed by reconcile, its SessionEnd hook late):
    // its end is noted, but it must not put its id back over the new session's.
    if (event === 'SessionEnd' && str(payload.session_id) && state.session_id && str(payload.session_id) !== state.session_id) {
      return {...state, session_end: {session_id: str(payload.session_id), reason: str(payload.reason), at}}
    }

    const base: AccountState = {
      ...state,
      session_id: str(payload.session_id) ?? state.session_id,
      transcript_path: str(payload.transcript_path) ?? state.transcript_path,
      cwd: str(payload.cwd) ?? state.cwd,
      last_event: event,
      last_event_at: at,
    }
    // A subagent's hooks (agent_id) say nothing about the session's own turn.
    if (str(payload.agent_id) && event !== 'StopFailure') return base
    return apply(base, event, payload, {config, account, now, events})
  })
  for (const e of events) await appendEvent(layout.events, e.name, {account, ...e.fields}, now)
  if (event === 'Stop' || event === 'SessionEnd') await noticeDone(layout, account, now)
  return {kind: 'recorded', account, event}
}

interface Context {
  config: HotConfig
  account: string
  now: Date
  events: {name: Parameters<typeof appendEvent>[1]; fields: Record<string, unknown>}[]
}

function apply(state: AccountState, event: string, payload: Payload, ctx: Context): AccountState {
  const at = ctx.now.toISOString()
  switch (event) {
    case 'SessionStart': {
      // A new session (or /clear: a new id in the same process) starts idle; a limit or a login
      // problem outlives it: it belongs to the account.
      return {...state, session_started_at: at, session_start: {session_id: str(payload.session_id), source: str(payload.source), at}, turn: 'idle', waiting: null}
    }

    case 'UserPromptSubmit': {
      const prompt = typeof payload.prompt === 'string' ? payload.prompt : ''
      return {...withPrompt(state, prompt, ctx.now), turn: 'working', waiting: null, needs_login: null}
    }

    case 'Stop': {
      return {...state, turn: 'idle', waiting: null}
    }

    case 'SessionEnd': {
      // The folder-trust dialog is read from the pane of the session that replaced this one (no hook runs
      // while it shows): only the pane reading clears it, not the late SessionEnd of a killed session.
      const trust = state.waiting?.reason === 'folder-trust'
      return {...state, session_end: {session_id: str(payload.session_id), reason: str(payload.reason), at}, turn: trust ? state.turn : 'idle', waiting: trust ? state.waiting : null}
    }

    case 'Notification': {
      const type = str(payload.notification_type)
      if (type === 'permission_prompt' || type === 'elicitation_dialog') {
        if (state.turn !== 'waiting') ctx.events.push({name: 'session.waiting', fields: {reason: type, message: str(payload.message)}})
        return {...state, turn: 'waiting', waiting: {reason: type, message: str(payload.message), since: state.waiting?.since ?? at}}
      }

      return state
    }

    case 'StopFailure': {
      const failure = classifyStopFailure(payload, ctx.now)
      const {failover} = ctx.config
      if (failure.kind === 'usage-limit') {
        const until = failure.reading.until ?? new Date(ctx.now.getTime() + failover.default_cooldown)
        const limited = {
          until: until.toISOString(),
          reason: failure.reading.until ? ('usage-limit' as const) : ('default-cooldown' as const),
          limit: failure.reading.limit,
          banner: failure.reading.banner,
          since: at,
        }
        ctx.events.push({name: 'account.limited', fields: {until: limited.until, reason: limited.reason, limit: limited.limit, banner: limited.banner}})
        return {...state, turn: 'idle', waiting: null, limited}
      }

      if (failure.kind === 'transient') {
        // A bare rate_limit (an API key's 429, a subagent's): a short cooldown, never hours.
        const until = new Date(ctx.now.getTime() + failover.transient_cooldown).toISOString()
        if (state.limited && Date.parse(state.limited.until) > Date.parse(until)) return {...state, turn: 'idle'}
        ctx.events.push({name: 'account.limited', fields: {until, reason: 'transient', limit: null, banner: null}})
        return {...state, turn: str(payload.agent_id) ? state.turn : 'idle', limited: {until, reason: 'transient', limit: null, banner: null, since: at}}
      }

      if (failure.kind === 'needs-login') {
        ctx.events.push({name: 'account.needs_login', fields: {error: failure.error}})
        return {...state, turn: 'idle', waiting: null, needs_login: {error: failure.error, message: str(payload.last_assistant_message), since: at}}
      }

      return {...state, turn: 'idle', waiting: null}
    }

    default: {
      return state
    }
  }
}

/** A delivered task that left active/ after the session's turn: the hand-off is over (task.done when it is in done/). */
async function noticeDone(layout: QueueLayout, account: string, now: Date): Promise<void> {
  try {
    await settleHandOff(layout, account, now)
  } catch (error) {
    await appendEvent(layout.events, 'hook.error', {account, reason: `could not settle the hand-off: ${errorMessage(error)}`}, now)
  }
}
