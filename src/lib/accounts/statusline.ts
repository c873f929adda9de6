/*
 * `ccl statusline`: Claude Code runs it as the account's statusLine command (installed by
 * `ccl hooks install` with failover.headroom on) on every status refresh, with a JSON payload on
 * stdin. It records the payload's rate-limit usage in the account's state record — only when it
 * changed, so a refresh that brings nothing new costs one read — and never disturbs the session:
 * what goes wrong is a `hook.error` event, as for `ccl hook`.
 */
import type {HotConfig} from '../config/hot.js'
import {StateFileError} from '../errors.js'
import {appendEvent} from '../events/log.js'
import {queueLayout} from '../queue/layout.js'
import {accountOf} from './identify.js'
import {readAccountState, updateAccountState, type Usage} from './state.js'
import {sameUsage, usageFromPayload} from './usage.js'

export interface StatusLineOptions {
  config: HotConfig
  /** The raw stdin. */
  payload: string
  env: NodeJS.ProcessEnv
  now: Date
}

export type StatusLineOutcome =
  /** `written`: the record changed; false: it already said this. */
  | {kind: 'recorded'; account: string; usage: Usage; written: boolean}
  /** The payload carries no rate limits (an API-key account, or before the session's first API response). */
  | {kind: 'no-usage'; account: string; usage: Usage | null}
  | {kind: 'ignored'; reason: string}

/** Records one status refresh's usage. Never throws for bad input: it is logged and ignored. */
export async function recordStatusLine(options: StatusLineOptions): Promise<StatusLineOutcome> {
  const {config, now} = options
  const layout = queueLayout(config)
  const fail = async (reason: string, fields: Record<string, unknown> = {}): Promise<StatusLineOutcome> => {
    await appendEvent(layout.events, 'hook.error', {source: 'statusline', reason, ...fields}, now)
    return {kind: 'ignored', reason}
  }

  let payload: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(options.payload)
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return fail('the statusLine payload is not a JSON object', {bytes: options.payload.length})
    payload = parsed as Record<string, unknown>
  } catch {
    return fail('the statusLine payload is not JSON', {bytes: options.payload.length})
  }

  const account = accountOf(config, options.env)
  if (!account) return fail(`no configured account has CLAUDE_CONFIG_DIR ${JSON.stringify(options.env.CLAUDE_CONFIG_DIR ?? null)}`)

  const usage = usageFromPayload(payload, now)
  try {
    if (!usage) return {kind: 'no-usage', account, usage: readAccountState(layout, account).usage}
    // Unlocked first look: most refreshes bring the same numbers, and then nothing is written.
    if (sameUsage(readAccountState(layout, account).usage, usage)) return {kind: 'recorded', account, usage, written: false}
    let written = false
    await updateAccountState(layout, account, (state) => {
      if (sameUsage(state.usage, usage)) return undefined
      written = true
      return {...state, usage}
    })
    return {kind: 'recorded', account, usage, written}
  } catch (error) {
    // An account record ccl cannot read or lock: the session goes on, an operator reads why.
    if (!(error instanceof StateFileError)) throw error
    return fail(error.message, {account})
  }
}
