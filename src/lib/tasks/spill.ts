/*
 * Whether the router's spill rule (docs/route.md) applies right now: `failover.spill_to_remote`
 * is on, delegation is on, and every configured account is limited or needs login by its hook
 * record. Only then are the account records read, and the modules that read them loaded: `ccl route`
 * runs once per task from bash dispatchers and must not pay for this when spill is off.
 */
import type {HotConfig, HotDelegation} from '../config/hot.js'
import type {DelegationState} from '../config/read.js'
import {errorMessage, StateFileError} from '../errors.js'
import {queueLayout} from '../queue/layout.js'

export interface SpillContext {
  /** spill_to_remote is on and delegation is on: whether spill applies then depends on the accounts. */
  enabled: boolean
  /** Every account is limited or needs login: a task the router lets go remote is delegated instead of waiting. */
  applies: boolean
  /** Why it applies or not, in words, e.g. "every account is limited or needs login (alpha limited until …, beta needs login)". */
  why: string
}

/** Spill never applies: for callers that route without it (tests, `--force` paths). */
export const SPILL_NOT_ASKED: SpillContext = {enabled: false, applies: false, why: 'not asked (the caller routes without the spill rule)'}

export async function spillContext(config: HotConfig, delegation: DelegationState<Pick<HotDelegation, 'providers'>>, now: Date): Promise<SpillContext> {
  if (!config.failover.spill_to_remote) return {enabled: false, applies: false, why: 'failover.spill_to_remote is off'}
  if (!delegation.on) return {enabled: false, applies: false, why: 'delegation is off'}
  const [{readAccountState, emptyAccountState}, {accountAvailability, describeUnavailable}] = await Promise.all([import('../accounts/state.js'), import('../accounts/availability.js')])
  const layout = queueLayout(config)
  const unreadable: string[] = []
  const states = config.accounts.map((account) => {
    try {
      return readAccountState(layout, account.name)
    } catch (error) {
      if (!(error instanceof StateFileError)) throw error
      // Unknown is not "unavailable": the task stays local rather than leave on a guess.
      unreadable.push(`${account.name} (${errorMessage(error)})`)
      return emptyAccountState(account.name)
    }
  })
  const found = accountAvailability(states, {now, marginMs: config.failover.margin})
  if (found.none) return {enabled: true, applies: true, why: `every account is limited or needs login (${describeUnavailable(found.unavailable)})`}
  const free = found.available.filter((name) => !unreadable.some((u) => u.startsWith(`${name} (`)))
  const parts = [
    free.length > 0 ? `${free.join(', ')} ${free.length === 1 ? 'is' : 'are'} neither limited nor needing login` : '',
    unreadable.length > 0 ? `account state unreadable: ${unreadable.join('; ')}` : '',
  ].filter(Boolean)
  return {enabled: true, applies: false, why: `not every account is limited or needs login: ${parts.join('; ')}`}
}
