import type {Activity} from '../accounts/state.js'
import {formatDuration} from '../config/duration.js'
import {printable} from '../render/names.js'
import {describeCrash, type LastCrash} from '../sessions/crash.js'
import type {DelegationCounters} from './counters.js'
import type {FailedTask} from './failed.js'
import type {PendingPlan} from './pending.js'
import type {ActiveTask, HeldTask, QueueCounts} from './queue.js'
import {describeAccountWait, describePendingWait, type PendingWait, type WaitingForAccount} from './waiting.js'

/**
 * `unknown`: tmux could not be asked (no binary, a broken socket); status still reports the rest.
 * `remote`: another host's account whose owner record that host refreshed within OWNER_STALE_MS (its
 * tmux server is not ours to ask); `stale`: one whose owner record is older (that host may be down,
 * or just not running reconcile: never `dead`, which this host cannot know).
 */
export type SessionState = 'alive' | 'dead' | 'absent' | 'unknown' | 'remote' | 'stale'

/** The account runs on another host (from its owner record in `<state>/fleet/accounts/`). */
export function onOtherHost(session: Pick<SessionStatus, 'state'>): boolean {
  return session.state === 'remote' || session.state === 'stale'
}

/** A task in active/, and the host whose account holds it (null when no host is known to run that account). */
export interface ActiveTaskStatus extends ActiveTask {
  host: string | null
}

export interface SessionStatus {
  account: string
  /** The host that runs the account: this config's `host:` (default the hostname), or the owner record's for another host's. */
  host: string
  /** Its tmux session; null for another host's account (its name is in that host's config). */
  session: string | null
  state: SessionState
  /** Another host's account: when that host's reconcile last refreshed its owner record; null for this host's. */
  owner_refreshed_at: string | null
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
  /** While submitting: the claim's last failed submit, as its marker records it; null when none was recorded. */
  last_error: {at: string; message: string} | null
}

/** Whether tasks can go remote, and why not (never the key itself). */
export interface DelegationStatus {
  on: boolean
  /** The config has a `delegation` block. */
  configured: boolean
  /** Why it is off; null when on. */
  reason: string | null
  /** The variable the key is read from (`delegation.api_key_env`); null without a block. */
  api_key_env: string | null
  base_url: string | null
}

/** Which tmux server status asked, and whether it could. */
export interface TmuxStatus {
  /** `tmux.socket` (`tmux -L NAME`); null for the default server. */
  socket: string | null
  /** How to attach to a session of it, SESSION standing for the session's name. */
  attach: string
  /** Why tmux could not be asked (sessions are then unknown); null when it answered. */
  error: string | null
  /** tmux is not installed or not on PATH. */
  missing: boolean
}

/** The queue counts, plus the oldest pending task and where the next few would go. */
export interface QueueStatus extends QueueCounts {
  /** The oldest pending task (not delegated) and how long it has waited; null when none waits. */
  oldest_pending: {task: string; since: string; age_ms: number} | null
  /** The first PENDING_DETAIL pending tasks, oldest first: where each would go, and why it waits. */
  next: PendingPlan[]
}

/** Every reason `ccl status` exits 1, as a stable name for scripts and the `ccl_attention` gauge. */
export const ATTENTION_KINDS = [
  'tmux-missing',
  'tmux-failed',
  'no-session',
  'delegation-off',
  'needs-login',
  'waiting',
  'waiting-for-account',
  'task-held',
  'stale',
  'account-held',
  'symlinks',
  'marker',
  'marker-orphaned',
  'session-record',
  'submit-stuck',
  'failed-task',
] as const

export type AttentionKind = (typeof ATTENTION_KINDS)[number]

/** One thing an operator must act on. Fields beyond kind, message and command depend on the kind. */
export interface Attention {
  kind: AttentionKind
  /** The line the human view prints (also in `problems`). */
  message: string
  /** The command to run next, when one is the next step; null otherwise. */
  command: string | null
  task?: string
  account?: string
  /** failed-task: when it reached failed/ (its mtime); submit-stuck: when the claim was made. */
  since?: string
  age_ms?: number
  /** failed-task: the error line of its footer; tmux-*: what tmux said. */
  error?: string | null
  /** failed-task: the footer's status and job. */
  status?: string | null
  job_id?: string | null
  /** submit-stuck: the provider and the claim's last failed submit. */
  provider?: string
  last_error?: {at: string; message: string} | null
  /** delegation-off: the variable that is unset or empty. */
  variable?: string
  /** no-session: how many tasks wait in pending/. */
  pending?: number
}

export interface StatusReport {
  generated_at: string
  /** The host this report was made on (the config's `host:`, default the hostname). */
  host: string
  needs_operator: boolean
  /** Everything that needs an operator, each with a stable kind (exit 1 when not empty). */
  attention: Attention[]
  /** attention[].message, one line each (kept for scripts written before attention). */
  problems: string[]
  /** Worth knowing, not worth waking anyone (tmux could not be asked, a dead session reconcile will recreate). */
  warnings: string[]
  sessions: SessionStatus[]
  tmux: TmuxStatus
  delegation: DelegationStatus
  queue: QueueStatus
  active: ActiveTaskStatus[]
  /** Tasks in pending/ never dispatched as they are (a name a paste cannot carry, a symlink): for an operator. */
  held: HeldTask[]
  stale: ActiveTaskStatus[]
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

export type StatusFacts = Omit<StatusReport, 'needs_operator' | 'problems' | 'attention'> & {
  badMarkers: string[]
  /** Markers whose task left pending/ with no result prepared (describeOrphan's line each). */
  orphanedMarkers: {task: string; message: string}[]
  /** Session records that could not be read. */
  badRecords: string[]
  /** Tasks in failed/, newest first. */
  failed: FailedTask[]
}

/** `tmux -L ccl attach -t ccl-alpha`: how to look at a session, on the configured server. */
export function attachCommand(socket: string | null, session: string): string {
  return `tmux${socket ? ` -L ${socket}` : ''} attach -t ${session}`
}

/** A word a shell reads as itself: quoted unless it is plain. */
export function shellWord(word: string): string {
  return /^[\w.,+@%=:/-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`
}

/** What needs an operator, each with its kind, in words that say what to do. */
export function attentionItems(facts: StatusFacts): Attention[] {
  const items: Attention[] = []
  const add = (kind: AttentionKind, message: string, extra: Omit<Attention, 'kind' | 'message' | 'command'> & {command?: string | null} = {}) =>
    items.push({kind, message, command: null, ...extra})
  const attach = (session: string) => attachCommand(facts.tmux.socket, session)
  const now = Date.parse(facts.generated_at)

  if (facts.tmux.missing) {
    add('tmux-missing', `tmux missing: tmux is not installed or not on PATH, so no session can run (sessions shown as unknown); install it (apt-get install tmux) or put it on the PATH cron and systemd give ccl`, {error: facts.tmux.error})
  } else if (facts.tmux.error) {
    add('tmux-failed', `tmux could not be asked (sessions shown as unknown): ${facts.tmux.error}`, {error: facts.tmux.error})
  }

  const alive = facts.sessions.filter((s) => s.state === 'alive').length
  // Another host whose reconcile is running may be working the queue: then no session of ours is nobody's.
  const remote = facts.sessions.filter((s) => s.state === 'remote').length
  if (!facts.tmux.error && alive === 0 && remote === 0 && facts.queue.pending > 0) {
    const n = facts.queue.pending
    add(
      'no-session',
      `no session alive while ${n} task${n === 1 ? '' : 's'} wait${n === 1 ? 's' : ''} in pending/ (0/${facts.sessions.length} sessions alive): ccl reconcile creates them; is its timer running? run: ccl reconcile`,
      {command: 'ccl reconcile', pending: n},
    )
  }

  const d = facts.delegation
  if (d.configured && !d.on && d.api_key_env) {
    add(
      'delegation-off',
      `delegation off: $${d.api_key_env} is not set or empty here, though the config has a delegation block: every task routes local (a preferred_ai: gpu task goes to a session); set it where cron and systemd run ccl (EnvironmentFile=), then check with: ccl status`,
      {variable: d.api_key_env},
    )
  }

  for (const session of facts.sessions) {
    if (session.needs_login) {
      add('needs-login', `needs login: account ${session.account} (${session.needs_login.error}${session.needs_login.since ? ` since ${session.needs_login.since}` : ''}): it gets no task until someone logs it in; then run: ccl reconcile`, {
        account: session.account,
        command: 'ccl reconcile',
      })
    }

    const since = session.waiting?.since ? Date.parse(session.waiting.since) : Number.NaN
    if (session.waiting && now - since > facts.waiting_after_ms) {
      const where = session.session === null ? `look at its session on host ${printable(session.host)}` : `look at session ${session.session}: ${attach(session.session)}`
      add(
        'waiting',
        `waiting: ${session.account} has been waiting (${describeWait(session.waiting.why)}) for ${formatDuration(now - since)} (watchdog.waiting_after ${formatDuration(facts.waiting_after_ms)}); ${where}`,
        {account: session.account, command: session.session === null ? null : attach(session.session)},
      )
    }
  }

  // A task waiting on its limited account is failover's ordinary case; it needs an operator only when
  // it has waited past watchdog.waiting_after while another account is free (failover should have moved it).
  // An account whose host stopped refreshing its owner record is nobody's to count on.
  const free = facts.sessions.filter((s) => s.activity === 'free' && s.state !== 'stale').map((s) => s.account)
  for (const wait of facts.waiting_for_account) {
    if (free.length === 0 || wait.age_ms === null || wait.age_ms <= facts.waiting_after_ms) continue
    add(
      'waiting-for-account',
      `waiting for an account: ${describeWaitingTask(wait)}, ${formatDuration(wait.age_ms)} (watchdog.waiting_after ${formatDuration(facts.waiting_after_ms)}) while ${free.join(', ')} ${free.length === 1 ? 'is' : 'are'} free; failover should have moved it: is ccl reconcile running?`,
      {task: wait.task, account: wait.account},
    )
  }

  for (const task of facts.held) add('task-held', `held task: pending/${printable(task.task)}: ${task.why}`, {task: task.task})
  for (const task of facts.stale) {
    const session = facts.sessions.find((s) => s.account === task.account)?.session
    const elsewhere = !session && task.host !== null && task.host !== facts.host ? ` on host ${printable(task.host)}` : ''
    add(
      'stale',
      `stale: ${task.account} has ${task.task} in active/ for ${formatDuration(task.age_ms)} (stale_after ${formatDuration(facts.stale_after_ms)}); look at that session${session ? `: ${attach(session)}` : elsewhere}`,
      {task: task.task, account: task.account, command: session ? attach(session) : null},
    )
  }

  for (const session of facts.sessions.filter((s) => s.held)) {
    const why = session.last_crash ? ` (last: ${describeCrash(session.last_crash)})` : ''
    const on = onOtherHost(session) ? ` on host ${printable(session.host)}` : ''
    add('account-held', `held: account ${session.account} is on hold after ${session.crashes} crashes${why}; fix it, then run${on}: ccl reconcile --release ${session.account}`, {
      account: session.account,
      command: `ccl reconcile --release ${session.account}`,
    })
  }

  for (const line of facts.symlinks.problems) add('symlinks', `symlinks: ${line}`, {command: 'ccl validate-symlinks'})
  for (const line of facts.badMarkers) add('marker', `marker: ${line}`)
  for (const orphan of facts.orphanedMarkers) add('marker-orphaned', orphan.message, {task: orphan.task, command: 'ccl fsck --repair'})
  for (const line of facts.badRecords) add('session-record', `session record: ${line}`)

  for (const job of facts.delegated) {
    if (job.state !== 'submitting' || job.age_ms <= facts.waiting_after_ms) continue
    const last = job.last_error
    const why = last
      ? `last error ${formatDuration(Math.max(0, now - Date.parse(last.at)))} ago: ${last.message}`
      : 'no failed submit recorded (the run that claimed it may have been killed)'
    add(
      'submit-stuck',
      `stuck submitting: ${job.task} (${job.provider}) claimed ${formatDuration(job.age_ms)} ago and not yet accepted by secutools (watchdog.waiting_after ${formatDuration(facts.waiting_after_ms)}); ${why}; ccl reap resubmits it with the same key: is its timer running, is secutools up? run: ccl reap`,
      {task: job.task, provider: job.provider, since: job.since, age_ms: job.age_ms, last_error: last, command: 'ccl reap'},
    )
  }

  for (const task of facts.failed) {
    const job = task.job_id ? ` (job ${task.job_id}${task.status ? ` ${task.status}` : ''})` : ''
    const error = task.error ?? 'no error recorded (no ccl footer: a session or a person put it there)'
    add('failed-task', `failed: ${task.task}${job} ${formatDuration(task.age_ms)} ago, at ${task.at}: ${error}; once its cause is fixed: ccl retry ${shellWord(task.task)}`, {
      task: task.task,
      since: task.at,
      age_ms: task.age_ms,
      error: task.error,
      status: task.status,
      job_id: task.job_id,
      command: `ccl retry ${shellWord(task.task)}`,
    })
  }

  return items
}

/** What needs an operator, one line each (attention items' messages). */
export function operatorProblems(facts: StatusFacts): string[] {
  return attentionItems(facts).map((item) => item.message)
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

const VERDICT: readonly [AttentionKind, (n: number) => string][] = [
  ['tmux-missing', () => 'tmux missing'],
  ['tmux-failed', () => 'tmux could not be asked'],
  ['no-session', () => 'no session alive'],
  ['delegation-off', () => 'delegation off'],
  ['needs-login', (n) => `${plural(n, 'account')} need${n === 1 ? 's' : ''} login`],
  ['waiting', (n) => `${plural(n, 'session')} waiting too long`],
  ['waiting-for-account', (n) => `${plural(n, 'task')} waiting too long for an account`],
  ['task-held', (n) => `${plural(n, 'task')} held in pending/`],
  ['stale', (n) => plural(n, 'stale task')],
  ['account-held', (n) => `${plural(n, 'account')} held`],
  ['symlinks', (n) => `symlinks invalid (${plural(n, 'problem')})`],
  ['marker', (n) => plural(n, 'unreadable marker')],
  ['marker-orphaned', (n) => plural(n, 'orphaned marker')],
  ['submit-stuck', (n) => `${plural(n, 'claim')} stuck submitting`],
  ['failed-task', (n) => plural(n, 'failed task')],
]

/** The one line an operator reads first. */
export function verdictLine(report: StatusReport): string {
  const alive = report.sessions.filter((s) => s.state === 'alive').length
  const elsewhere = report.sessions.filter((s) => onOtherHost(s)).length
  const others = elsewhere > 0 ? `, ${plural(elsewhere, 'account')} on other hosts` : ''
  const summary = `${alive}/${report.sessions.length - elsewhere} sessions alive${others}, ${report.queue.pending} pending, ${report.queue.active} active, ${report.queue.delegated} delegated`
  if (!report.needs_operator) return `ok: nothing needs an operator (${summary})`
  const count = (kind: AttentionKind) => report.attention.filter((a) => a.kind === kind).length
  const parts = VERDICT.filter(([kind]) => count(kind) > 0).map(([kind, words]) => words(count(kind)))
  const named = VERDICT.reduce((sum, [kind]) => sum + count(kind), 0)
  if (report.attention.length > named) parts.push(plural(report.attention.length - named, 'other problem'))
  return `NEEDS OPERATOR: ${parts.join(', ')} (${summary})`
}
