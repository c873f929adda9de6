import {formatDuration} from '../config/duration.js'
import type {DelegationCounts} from '../status/counters.js'
import {formatPercent} from '../accounts/usage.js'
import {describeCrash} from '../sessions/crash.js'
import {attachCommand, describeWait, type StatusReport, type UsageStatus, type UsageWindowStatus, verdictLine} from '../status/report.js'
import {printable} from './names.js'
import {renderTable} from './table.js'

/** Longer lists are cut in the human view; `--json` always has everything. */
export const MAX_ROWS = 50

function age(ms: number): string {
  return formatDuration(ms)
}

function since(iso: string | null, now: number): string {
  return iso === null ? '-' : `${age(Math.max(0, now - Date.parse(iso)))} ago`
}

function capped(rows: string[][], what: string): {rows: string[][]; more: string} {
  if (rows.length <= MAX_ROWS) return {rows, more: ''}
  return {rows: rows.slice(0, MAX_ROWS), more: `\n… and ${rows.length - MAX_ROWS} more ${what} (ccl status --json lists all)`}
}

function money(n: number): string {
  return `$${n.toFixed(4)}`
}

/** `HH:MM` in UTC, or the date too when it is not today's (UTC). */
function clock(iso: string, now: number): string {
  const at = new Date(iso)
  const time = at.toISOString().slice(11, 16)
  return at.toISOString().slice(0, 10) === new Date(now).toISOString().slice(0, 10) ? `${time} UTC` : `${at.toISOString().slice(0, 10)} ${time} UTC`
}

/** "limited until 20:31 UTC (session limit)", "waiting for permission since 12:03 UTC", "working". */
export function describeActivity(s: StatusReport['sessions'][number], now: number = Date.now()): string {
  if (s.activity === 'limited' && s.limited_until) return `limited until ${clock(s.limited_until, now)}${s.limit ? ` (${s.limit.replaceAll('_', '-')})` : ''}`
  if (s.activity === 'waiting' && s.waiting) return `waiting ${describeWait(s.waiting.why)}${s.waiting.since ? ` since ${clock(s.waiting.since, now)}` : ''}`
  if (s.activity === 'needs-login' && s.needs_login) return `needs login (${s.needs_login.error})`
  return s.activity
}

/** "5h 42% until 15:00 UTC, 7d 17% until 2026-03-26 04:40 UTC (above watermark)"; a window past its reset says so. */
export function describeUsage(usage: UsageStatus | null, now: number = Date.now()): string {
  if (!usage) return '-'
  const window = (label: string, w: UsageWindowStatus | null) => {
    if (!w) return []
    if (w.resets_at === null) return [`${label} ${formatPercent(w.used_now)}`]
    if (Date.parse(w.resets_at) <= now) return [`${label} 0% (reset at ${clock(w.resets_at, now)})`]
    return [`${label} ${formatPercent(w.used_now)} until ${clock(w.resets_at, now)}`]
  }

  const parts = [...window('5h', usage.five_hour), ...window('7d', usage.seven_day)]
  return parts.join(', ') + (usage.above_watermark ? ' (above watermark)' : '')
}

/** The operator's view: a one-line verdict, then aligned tables, then what to do. */
export function renderStatus(report: StatusReport): string {
  const now = Date.parse(report.generated_at)
  const out: string[] = [verdictLine(report)]

  // The usage column only once some account's status line reported usage (failover.headroom).
  const usage = report.sessions.some((s) => s.usage)
  out.push(
    '',
    'SESSIONS',
    renderTable(
      ['account', 'host', 'session', 'state', 'activity', 'working on', 'since', 'crashes', 'held', ...(usage ? ['usage'] : [])],
      report.sessions.map((s) => [
        s.account,
        s.host,
        s.session ?? '-',
        s.state,
        describeActivity(s, now),
        s.task ?? '-',
        since(s.since, now),
        String(s.crashes),
        s.held ? 'HELD' : 'no',
        ...(usage ? [describeUsage(s.usage ?? null, now)] : []),
      ]),
    ),
  )
  // Why each account's session last died, under the table: a crash loop's cause at a glance.
  for (const s of report.sessions) if (s.last_crash) out.push(printable(`${s.account}: last crash ${clock(s.last_crash.at, now)}, ${describeCrash(s.last_crash)}`))

  // How to look at a session, on the server ccl uses (tmux.socket): a bare `tmux attach` finds another one.
  // Only this host's sessions can be attached to from here; another host's run on that host's tmux server.
  const local = report.sessions.filter((s) => s.session !== null)
  if (local.length > 0) out.push(`attach: ${attachCommand(report.tmux.socket, local[0]!.session!)}${local.length > 1 ? ' (the same with -t for the others)' : ''}`)

  const f = report.counters.failovers
  const total = (x: {resume: number; fresh: number}) => x.resume + x.fresh
  out.push('', `FAILOVERS: ${total(f.all_time)} all time, ${total(f.last_24h)} in the last 24 h (${f.last_24h.resume} resumed, ${f.last_24h.fresh} started afresh)`)
  if (report.sessions.some((s) => s.failovers_in_24h + s.failovers_out_24h > 0)) {
    out.push(renderTable(['account', 'moved in (24 h)', 'moved out (24 h)'], report.sessions.map((s) => [s.account, String(s.failovers_in_24h), String(s.failovers_out_24h)])))
  }

  const q = report.queue
  out.push(
    '',
    'QUEUE',
    renderTable(['pending', 'settling', 'held', 'delegated', 'active', 'done', 'failed'], [[q.pending, q.settling, report.held.length, q.delegated, q.active, q.done, q.failed].map(String)]),
  )
  if (q.oldest_pending) out.push(`oldest pending: ${printable(q.oldest_pending.task)}, waiting ${age(q.oldest_pending.age_ms)}`)
  if (q.next.length > 0) {
    out.push(
      '',
      `NEXT PENDING (the ${q.next.length === 1 ? 'oldest' : `${q.next.length} oldest`})`,
      renderTable(
        ['task', 'waiting', 'goes to', 'why it waits'],
        q.next.map((p) => [p.task, age(p.age_ms), p.target === null ? '-' : p.account ? `${p.target} (${p.account})` : p.target, p.waits]),
      ),
    )
  }

  const d = report.delegation
  out.push(
    '',
    d.on
      ? `DELEGATION: on (${d.base_url}, key from $${d.api_key_env})`
      : d.configured
        ? `DELEGATION: OFF: ${d.reason?.replace(/^delegation is off: /, '')} (the config has a delegation block): every task routes local`
        : 'DELEGATION: off (no delegation block in the config): every task routes local',
  )

  if (report.delegated.length > 0) {
    const jobs = capped(
      report.delegated.map((j) => [j.task, j.provider, j.job_id ?? '-', j.state, age(j.age_ms) + (j.overdue ? ' (past job_timeout)' : '')]),
      'jobs',
    )
    out.push('', 'DELEGATED JOBS', renderTable(['task', 'provider', 'job', 'state', 'age'], jobs.rows) + jobs.more)
  }

  const c = report.counters
  const row = (label: string, pick: (x: DelegationCounts) => string) => [label, pick(c.all_time), pick(c.last_24h)]
  out.push(
    '',
    'DELEGATIONS',
    renderTable(
      ['', 'all time', 'last 24 h'],
      [
        row('submitted', (x) => String(x.submitted)),
        row('completed', (x) => String(x.completed)),
        row('failed', (x) => String(x.failed)),
        row('timed out', (x) => String(x.timed_out)),
        row('cost', (x) => money(x.cost_usd)),
      ],
    ),
  )

  out.push('', `LOCAL WORK: ${c.local_done.all_time} tasks done by sessions (${c.local_done.last_24h} in the last 24 h)`)

  if (report.stale.length > 0) {
    const stale = capped(
      report.stale.map((t) => [t.account, t.host ?? '-', t.task, age(t.age_ms)]),
      'stale tasks',
    )
    out.push('', `STALE TASKS (in active/ longer than ${formatDuration(report.stale_after_ms)})`, renderTable(['account', 'host', 'task', 'age'], stale.rows) + stale.more)
  }

  out.push(
    '',
    'SYMLINKS',
    report.symlinks.valid
      ? `valid: ${report.symlinks.checked} links checked`
      : `INVALID: ${report.symlinks.problems.length} problem${report.symlinks.problems.length === 1 ? '' : 's'} in ${report.symlinks.checked} links checked (listed below)`,
  )

  if (report.attention.length > 0 || report.warnings.length > 0) {
    out.push('', 'NEEDS ATTENTION')
    // failed/ may hold hundreds: the first MAX_ROWS are listed (newest first), --json has them all.
    const failed = report.attention.filter((a) => a.kind === 'failed-task').length
    let shown = 0
    for (const item of report.attention) {
      if (item.kind === 'failed-task' && ++shown > MAX_ROWS) continue
      out.push(printable(`- ${item.message}`))
    }

    if (failed > MAX_ROWS) out.push(`- … and ${failed - MAX_ROWS} more failed tasks (ccl status --json lists all)`)
    for (const line of report.warnings) out.push(printable(`- warning: ${line}`))
  }

  return out.join('\n')
}
