/*
 * Tasks that wait because of their account, for `ccl status`:
 *  - a task in active/<account>/ of an account that is limited or needs login waits for failover to
 *    move it to a free account (or for the reset);
 *  - pending tasks the router keeps local wait when every account is limited or needs login.
 */
import {isoSeconds, type UnavailableAccount} from '../accounts/availability.js'
import type {ActivityView} from '../accounts/state.js'
import type {DelegationState} from '../config/load.js'
import type {Config} from '../config/schema.js'
import {TaskFileError} from '../errors.js'
import {isTaskName, MARKER_SUFFIX, type QueueLayout, scanTasks, unsafeNameReason} from '../queue/layout.js'

export interface WaitingForAccount {
  task: string
  account: string
  reason: 'limited' | 'needs-login'
  /** When limited: until when (its reset plus failover.margin); null for needs-login. */
  until: string | null
  /** Since when it waits: the limit (or login error) began, or the task reached the account, whichever is later. */
  since: string | null
  /** How long it has waited; null when the record gives no time. */
  age_ms: number | null
}

/** The task an account holds while it cannot work on it, or null. Pure. */
export function waitingTask(facts: {account: string; task: string | null; taskSince: string | null; view: ActivityView; now: Date}): WaitingForAccount | null {
  const {view} = facts
  if (facts.task === null || (view.activity !== 'limited' && view.activity !== 'needs-login')) return null
  const times = [view.since, facts.taskSince].filter((t): t is string => t !== null).map((t) => Date.parse(t)).filter((t) => !Number.isNaN(t))
  const since = times.length > 0 ? Math.max(...times) : null
  return {
    task: facts.task,
    account: facts.account,
    reason: view.activity,
    until: view.limited_until === null ? null : isoSeconds(Date.parse(view.limited_until)),
    since: since === null ? null : isoSeconds(since),
    age_ms: since === null ? null : Math.max(0, facts.now.getTime() - since),
  }
}

/** "alpha limited until 2026-12-02T05:01:00Z", "beta needs login". */
export function describeAccountWait(w: Pick<WaitingForAccount, 'account' | 'reason' | 'until'>): string {
  return w.reason === 'limited' ? `${w.account} limited until ${w.until}` : `${w.account} needs login`
}

export interface PendingWait {
  /** Pending tasks (not delegated) the router keeps local: they wait for an account. */
  tasks: number
  /** Every account, each limited or needing login. */
  accounts: UnavailableAccount[]
  /** The earliest end of a limit; null when every account needs login (none frees itself). */
  next_free_at: string | null
  /** The spill rule is on: the tasks it sends remote are not counted (the next dispatch submits them). */
  spill: boolean
}

/**
 * When every account is limited or needs login: how many pending tasks wait for one. Each pending
 * task is routed as dispatch would route it now (spill included), so only those that must stay
 * local count; the files are read only in this case, which lasts until a reset or a login.
 */
export async function pendingWait(
  layout: QueueLayout,
  options: {config: Config; delegation: DelegationState; accounts: UnavailableAccount[]; next_free_at: string | null},
): Promise<PendingWait> {
  const [{decide}, {readTask}] = await Promise.all([import('../tasks/decide.js'), import('../tasks/task.js')])
  const {config, delegation} = options
  const spillOn = config.failover.spill_to_remote && delegation.on
  const spill = {enabled: spillOn, applies: spillOn, why: 'every account is limited or needs login'}
  const listing = await scanTasks(layout.pending)
  const markers = new Set(listing.names.filter((n) => n.endsWith(MARKER_SUFFIX)).map((n) => n.slice(0, -MARKER_SUFFIX.length)).filter((n) => isTaskName(n)))
  let tasks = 0
  for (const pending of listing.tasks) {
    // Delegated ones are remote already; a name a paste cannot carry is held for an operator, listed apart.
    if (markers.has(pending.name) || unsafeNameReason(pending.name)) continue
    let remote = false
    try {
      remote = decide(await readTask(pending.path, {noFollow: true}), delegation, spill).remote
    } catch (error) {
      // Unreadable or gone meanwhile: it does not go remote either way.
      if (!(error instanceof TaskFileError)) throw error
    }

    if (!remote) tasks++
  }

  return {tasks, accounts: options.accounts, next_free_at: options.next_free_at, spill: spillOn}
}

/** "3 pending tasks wait: every account is limited or needs login (…); next free at …". */
export function describePendingWait(wait: PendingWait): string {
  const what = `${wait.tasks} pending task${wait.tasks === 1 ? '' : 's'} wait${wait.tasks === 1 ? 's' : ''}`
  const local = wait.spill ? ' (they must stay local; failover.spill_to_remote sends the others remote)' : ''
  const accounts = wait.accounts.map((a) => describeAccountWait(a)).join(', ')
  const next = wait.next_free_at ? `next free at ${wait.next_free_at}` : 'none frees itself: log an account in, then run ccl reconcile'
  return `${what}${local}: every account is limited or needs login (${accounts}); ${next}`
}
