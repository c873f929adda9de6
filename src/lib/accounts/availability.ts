/*
 * Which accounts can take a task at all, from their hook records alone: an account that is limited
 * (its reset plus failover.margin still ahead) or needs login cannot, whatever tmux says. The
 * spill rule of the router (docs/route.md) and the "tasks wait" line of `ccl status` both ask this,
 * so they always agree. Pure.
 */
import {formatDuration} from '../config/duration.js'
import {type AccountState, limitedUntil} from './state.js'

export interface UnavailableAccount {
  account: string
  reason: 'limited' | 'needs-login'
  /** When limited: its reset plus failover.margin (ISO, whole seconds); null for needs-login. */
  until: string | null
  /** Since when (the limit's or the login error's own time), when the record says. */
  since: string | null
}

export interface Availability {
  /** Every configured account is limited or needs login. */
  none: boolean
  unavailable: UnavailableAccount[]
  /** Accounts neither limited nor needing login (they may still be busy or dead). */
  available: string[]
  /** The earliest end of a limit among the unavailable (ISO); null when none of them is limited. */
  next_free_at: string | null
}

/** ISO without milliseconds: what an operator reads, and every limit ends on a whole second anyway. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function accountAvailability(states: readonly AccountState[], options: {now: Date; marginMs: number}): Availability {
  const unavailable: UnavailableAccount[] = []
  const available: string[] = []
  let next: number | null = null
  for (const state of states) {
    if (state.needs_login) {
      unavailable.push({account: state.account, reason: 'needs-login', until: null, since: state.needs_login.since ?? null})
      continue
    }

    const until = limitedUntil(state, options.marginMs)
    if (until !== null && until > options.now.getTime()) {
      unavailable.push({account: state.account, reason: 'limited', until: isoSeconds(until), since: state.limited?.since ?? null})
      next = next === null ? until : Math.min(next, until)
      continue
    }

    available.push(state.account)
  }

  return {none: states.length > 0 && available.length === 0, unavailable, available, next_free_at: next === null ? null : isoSeconds(next)}
}

/** "alpha limited until 2026-12-02T05:01:00Z, beta needs login". */
export function describeUnavailable(accounts: readonly UnavailableAccount[]): string {
  return accounts.map((a) => (a.reason === 'limited' ? `${a.account} limited until ${a.until}` : `${a.account} needs login`)).join(', ')
}

/**
 * What is known about an account when deciding whether it can take a task. The later facts are
 * optional: `whyBusy` (assign) reads them one step at a time, and settles a killed hand-off on
 * the way, so it asks again with each fact it adds; `ccl status` reads what it can without
 * writing anything and asks once. A fact left out is a check skipped.
 */
export interface BusyFacts {
  /** Its session record: on hold after too many crashes, and when ccl last created its session. */
  held: boolean
  createdAt: string | null
  /** An operator's pause (`ccl pause`). */
  pause: {since: string; reason: string | null} | null
  /** Its hook record. */
  state?: AccountState
  /** A hand-off to it still under way. */
  handOff?: {task: string; by: string} | null
  /** The task in its active/ folder. */
  working?: string | null
  /** Its tmux session; `unknown` when tmux could not be asked. */
  session?: 'alive' | 'dead' | 'absent' | 'unknown'
  /** Claude Code's folder-trust dialog is on its screen (no hook has spoken for the session). */
  trustDialog?: boolean
}

/**
 * Why an account cannot take a task now, or null when nothing known stops it, in the order assign
 * checks (held, paused, still starting, needs login, limited, a hand-off, a task, its session, the
 * folder-trust dialog). Pure: assign and status give the same reason in the same words.
 */
export function busyReason(
  config: {assign: {ready_after: number}; failover: {margin: number}; tmux: {socket?: string | undefined}},
  account: {name: string; session: string; cwd: string},
  facts: BusyFacts,
  now: Date,
): string | null {
  if (facts.held) return `on hold (crash limit); release with: ccl reconcile --release ${account.name}`
  const {pause} = facts
  if (pause) return `paused by an operator since ${pause.since}${pause.reason ? ` (${pause.reason})` : ''}; resume with: ccl unpause ${account.name}`
  const age = facts.createdAt ? now.getTime() - Date.parse(facts.createdAt) : Number.POSITIVE_INFINITY
  if (age >= 0 && age < config.assign.ready_after) {
    // A command that ended at once (not installed, a bad flag) is dead, not starting: its pane is kept (remain-on-exit).
    if (facts.session === 'dead') return `session ${account.session} is dead`
    return `session ${account.session} started ${formatDuration(age)} ago, still starting (assign.ready_after ${formatDuration(config.assign.ready_after)})`
  }

  const {state} = facts
  if (state?.needs_login) return `needs login (${state.needs_login.error} since ${state.needs_login.since}); log in to that account, then run: ccl reconcile`
  const until = state ? limitedUntil(state, config.failover.margin) : null
  if (state && until !== null && until > now.getTime()) {
    return `limited until ${new Date(until).toISOString()} (${state.limited?.limit ?? state.limited?.reason}; reset plus failover.margin)`
  }

  if (facts.handOff) return `a hand-off of ${facts.handOff.task} to it is in progress (${facts.handOff.by})`
  if (facts.working) return `working on ${facts.working}`
  if (facts.session === 'unknown') return `tmux could not be asked about session ${account.session}`
  if (facts.session !== undefined && facts.session !== 'alive') return `session ${account.session} is ${facts.session === 'dead' ? 'dead' : 'not running'}`
  if (facts.trustDialog) {
    return `waiting: Claude Code's folder-trust dialog is on screen for ${account.cwd}; answer it (tmux${config.tmux.socket ? ` -L ${config.tmux.socket}` : ''} attach -t ${account.session})`
  }

  return null
}
