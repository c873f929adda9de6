/*
 * Which accounts can take a task at all, from their hook records alone: an account that is limited
 * (its reset plus failover.margin still ahead) or needs login cannot, whatever tmux says. The
 * spill rule of the router (docs/route.md) and the "tasks wait" line of `ccl status` both ask this,
 * so they always agree. Pure.
 */
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
