import type {Activity} from '../accounts/state.js'
import {formatDuration} from '../config/duration.js'
import {printable} from '../render/names.js'
import {describeCrash, type LastCrash} from '../sessions/crash.js'
import type {DelegationCounters} from './counters.js'
import type {ActiveTask, HeldTask, QueueCounts} from './queue.js'
import {describeAccountWait, describePendingWait, type PendingWait, type WaitingForAccount} from './waiting.js'

/** `unknown`: tmux could not be asked (no binary, a broken socket); status still reports the rest. */
export type SessionState = 'alive' | 'dead' | 'absent' | 'unknown'

export interface SessionStatus {
  account: string
  session: string
  state: SessionState
  /** The task in its active/ folder, if any, and since when. */
  task: string | null
  since: string | null
  /** Crashes recorded within `crash_window`. */
  crashes: number
  held: boolean
  /** SPEC 6: free, working, waiting, limited, needs-login, paused, dead (from Claude Code's hooks, tmux and the queue). */
  activity: Activity
  /** When limited: until when it gets no task (its reset plus failover.margin). */
  limited_until: string | null
  /** When limited: which limit (five_hour, weekly, session, …, or transient / default-cooldown). */
  limit: string | null
  /** When waiting: why (permission_prompt, elicitation_dialog, turn-ended) and since when. */
  waiting: {why: string; since: string | null} | null
  needs_login: {error: string; since: string | null} | null
  /** The Claude Code session id its hooks last reported. */
  session_id: string | null
  /** Tasks failover moved onto this account in the last 24 h (task.failed_over events; an in-place resume counts in neither). */
  failovers_in_24h: number
  /** Tasks failover moved off this account in the last 24 h. */
  failovers_out_24h: number
  /** Why its session last crashed (the crash record's `last_crash`); null when none since the last release. Always set by collectStatus. */
  last_crash?: LastCrash | null
  /** Its plan usage as its status line last reported it (`ccl statusline`, failover.headroom); absent until one did. */
  usage?: UsageStatus
}

export interface UsageWindowStatus {
  /** As reported, 0–100. */
  used_percentage: number
  resets_at: string | null
  /** What counts now: 0 once resets_at has passed (the window started anew since). */
  used_now: number
}

export interface UsageStatus {
  five_hour: UsageWindowStatus | null
  seven_day: UsageWindowStatus | null
  /** When these numbers were first reported. */
  at: string
  /** The larger window's use now is above failover.watermark: assign prefers other accounts. */
  above_watermark: boolean
}

export interface DelegatedJob {
  task: string
  provider: string
  job_id: string | null
  state: 'submitting' | 'submitted'
  /** submitted_at, or claimed_at while still submitting. */
  since: string
  age_ms: number
  /** Older than `job_timeout`: the next reap fails it. */
  overdue: boolean
}

export interface StatusReport {
  generated_at: string
  needs_operator: boolean
  /** One line per thing an operator must act on (stale, held, invalid links, unreadable markers or session records). */
  problems: string[]
  /** Worth knowing, not worth waking anyone (tmux could not be asked, a dead session reconcile will recreate). */
  warnings: string[]
  sessions: SessionStatus[]
  queue: QueueCounts
  active: ActiveTask[]
  /** Tasks in pending/ never dispatched as they are (a name a paste cannot carry, a symlink): for an operator. */
  held: HeldTask[]
  stale: ActiveTask[]
  stale_after_ms: number
  waiting_after_ms: number
  delegated: DelegatedJob[]
  counters: DelegationCounters
  symlinks: {valid: boolean; checked: number; problems: string[]}
  /** Tasks in the active/ folder of an account that is limited or needs login: they wait for a free account. */
  waiting_for_account: WaitingForAccount[]
  /** When every account is limited or needs login: the pending tasks that wait for one; null otherwise. */
  pending_waiting: PendingWait | null
}

export type StatusFacts = Omit<StatusReport, 'needs_operator' | 'problems'> & {badMarkers: string[]}

/** What needs an operator, in words that say what to do. */
export function operatorProblems(facts: StatusFacts): string[] {
  const problems: string[] = []
  for (const task of facts.stale) {
    problems.push(
      `stale: ${task.account} has ${task.task} in active/ for ${formatDuration(task.age_ms)} (stale_after ${formatDuration(facts.stale_after_ms)}); look at that session`,
    )
  }

  const now = Date.parse(facts.generated_at)
  for (const session of facts.sessions) {
    if (session.needs_login) {
      problems.push(`needs login: account ${session.account} (${session.needs_login.error}${session.needs_login.since ? ` since ${session.needs_login.since}` : ''}): it gets no task until someone logs it in; then run: ccl reconcile`)
    }

    const since = session.waiting?.since ? Date.parse(session.waiting.since) : Number.NaN
    if (session.waiting && now - since > facts.waiting_after_ms) {
      problems.push(
        `waiting: ${session.account} has been waiting (${describeWait(session.waiting.why)}) for ${formatDuration(now - since)} (watchdog.waiting_after ${formatDuration(facts.waiting_after_ms)}); look at session ${session.session}`,
      )
    }
  }

  for (const session of facts.sessions.filter((s) => s.held)) {
    const why = session.last_crash ? ` (last: ${describeCrash(session.last_crash)})` : ''
    problems.push(`held: account ${session.account} is on hold after ${session.crashes} crashes${why}; fix it, then run: ccl reconcile --release ${session.account}`)
  }

  // A task waiting on its limited account is failover's ordinary case; it needs an operator only when
  // it has waited past watchdog.waiting_after while another account is free (failover should have moved it).
  const free = facts.sessions.filter((s) => s.activity === 'free').map((s) => s.account)
  for (const wait of facts.waiting_for_account) {
    if (free.length === 0 || wait.age_ms === null || wait.age_ms <= facts.waiting_after_ms) continue
    problems.push(
      `waiting for an account: ${describeWaitingTask(wait)}, ${formatDuration(wait.age_ms)} (watchdog.waiting_after ${formatDuration(facts.waiting_after_ms)}) while ${free.join(', ')} ${free.length === 1 ? 'is' : 'are'} free; failover should have moved it: is ccl reconcile running?`,
    )
  }

  for (const task of facts.held) problems.push(`held task: pending/${printable(task.task)}: ${task.why}`)
  for (const line of facts.symlinks.problems) problems.push(`symlinks: ${line}`)
  for (const line of facts.badMarkers) problems.push(`marker: ${line}`)
  return problems
}

/** "T waits for a free account (alpha limited until 2026-12-02T05:01:00Z) since 2026-12-02T00:10:00Z". */
export function describeWaitingTask(wait: WaitingForAccount): string {
  return `${printable(wait.task)} waits for a free account (${describeAccountWait(wait)})${wait.since ? ` since ${wait.since}` : ''}`
}

/**
 * What is worth knowing about waiting tasks without waking anyone: each task waiting on its account
 * (those that need an operator are problems instead), and the pending tasks no account can take.
 */
export function waitingNotes(report: Pick<StatusReport, 'waiting_for_account' | 'pending_waiting' | 'problems'>): string[] {
  const notes: string[] = []
  if (report.pending_waiting && report.pending_waiting.tasks > 0) notes.push(describePendingWait(report.pending_waiting))
  for (const wait of report.waiting_for_account) {
    const line = describeWaitingTask(wait)
    if (!report.problems.some((p) => p.startsWith(`waiting for an account: ${line}`))) notes.push(line)
  }

  return notes
}

/** A wait reason in words. */
export function describeWait(why: string): string {
  return why === 'permission_prompt' ? 'for permission' : why === 'elicitation_dialog' ? 'for an answer' : why === 'turn-ended' ? 'its turn ended with the task unfinished' : why === 'folder-trust' ? 'on the folder-trust dialog' : why
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** The one line an operator reads first. */
export function verdictLine(report: StatusReport): string {
  const alive = report.sessions.filter((s) => s.state === 'alive').length
  const summary = `${alive}/${report.sessions.length} sessions alive, ${report.queue.pending} pending, ${report.queue.active} active, ${report.queue.delegated} delegated`
  if (!report.needs_operator) return `ok: nothing needs an operator (${summary})`
  const held = report.sessions.filter((s) => s.held).length
  const markers = report.problems.filter((p) => p.startsWith('marker: ')).length
  const waiting = report.problems.filter((p) => p.startsWith('waiting: ')).length
  const login = report.problems.filter((p) => p.startsWith('needs login: ')).length
  const forAccount = report.problems.filter((p) => p.startsWith('waiting for an account: ')).length
  const parts = [
    login > 0 ? `${plural(login, 'account')} need${login === 1 ? 's' : ''} login` : '',
    waiting > 0 ? `${plural(waiting, 'session')} waiting too long` : '',
    forAccount > 0 ? `${plural(forAccount, 'task')} waiting too long for an account` : '',
    report.held.length > 0 ? `${plural(report.held.length, 'task')} held in pending/` : '',
    report.stale.length > 0 ? plural(report.stale.length, 'stale task') : '',
    held > 0 ? `${plural(held, 'account')} held` : '',
    report.symlinks.valid ? '' : `symlinks invalid (${plural(report.symlinks.problems.length, 'problem')})`,
    markers > 0 ? plural(markers, 'unreadable marker') : '',
  ].filter(Boolean)
  const named = report.stale.length + held + report.held.length + report.symlinks.problems.length + markers + waiting + login + forAccount
  if (report.problems.length > named) parts.push(plural(report.problems.length - named, 'other problem'))
  return `NEEDS OPERATOR: ${parts.join(', ')} (${summary})`
}
