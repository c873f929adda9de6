import {ACTIVITIES} from '../accounts/state.js'
import {ATTENTION_KINDS, onOtherHost, type StatusReport, type UsageWindowStatus} from '../status/report.js'

interface Family {
  name: string
  help: string
  type: 'gauge' | 'counter'
  samples: {labels?: Record<string, string>; value: number}[]
}

function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')
}

function escapeLabel(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(value)
}

function renderFamily(family: Family): string[] {
  const lines = [`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`]
  for (const sample of family.samples) {
    const labels = Object.entries(sample.labels ?? {})
    const labelText = labels.length === 0 ? '' : `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`
    lines.push(`${family.name}${labelText} ${formatValue(sample.value)}`)
  }

  return lines
}

/** One sample per account and recorded window; a window the value function has nothing for is left out. */
function usageSamples(report: StatusReport, value: (w: UsageWindowStatus) => number | undefined): Family['samples'] {
  return report.sessions.flatMap((s) =>
    (['five_hour', 'seven_day'] as const).flatMap((window) => {
      const w = s.usage?.[window]
      const v = w ? value(w) : undefined
      return v === undefined || Number.isNaN(v) ? [] : [{labels: {account: s.account, host: s.host, window}, value: v}]
    }),
  )
}

/**
 * The report in the Prometheus text exposition format, for node_exporter's textfile collector:
 * each family once, HELP and TYPE before its samples, no timestamps (the collector rejects them).
 */
export function renderPrometheus(report: StatusReport): string {
  const q = report.queue
  const all = report.counters.all_time
  const families: Family[] = [
    {
      name: 'ccl_queue_tasks',
      help: 'Tasks in each queue state (pending excludes delegated tasks, which wait in pending/ beside a marker).',
      type: 'gauge',
      samples: (['pending', 'delegated', 'active', 'done', 'failed'] as const).map((state) => ({labels: {state}, value: q[state]})),
    },
    {
      name: 'ccl_queue_settling_tasks',
      help: 'Pending tasks modified less than dispatch.settle ago: dispatch leaves them for a later pass.',
      type: 'gauge',
      samples: [{value: q.settling}],
    },
    {
      name: 'ccl_queue_held_tasks',
      help: 'Tasks in pending/ never dispatched as they are (a name with control characters, a symlink): an operator must act.',
      type: 'gauge',
      samples: [{value: report.held.length}],
    },
    {
      name: 'ccl_delegated_jobs',
      help: 'Delegated jobs not yet reaped (markers in pending/).',
      type: 'gauge',
      samples: [{value: report.delegated.length}],
    },
    {
      name: 'ccl_delegations_total',
      help: 'Delegation events in the event logs of all hosts by outcome (submitted, completed, failed, timed_out).',
      type: 'counter',
      samples: (['submitted', 'completed', 'failed', 'timed_out'] as const).map((outcome) => ({labels: {outcome}, value: all[outcome]})),
    },
    {
      name: 'ccl_delegation_cost_usd_total',
      help: 'Sum of cost_usd of finished delegated jobs, in US dollars, from the event logs of all hosts.',
      type: 'counter',
      samples: [{value: all.cost_usd}],
    },
    {
      name: 'ccl_local_tasks_done_total',
      help: 'Tasks the sessions finished locally (task.done events in the event logs).',
      type: 'counter',
      samples: [{value: report.counters.local_done.all_time}],
    },
    {
      name: 'ccl_failovers_total',
      help: 'Tasks moved off a limited or logged-out account (task.failed_over events in the event logs), by mode: resume (conversation continued) or fresh.',
      type: 'counter',
      samples: (['resume', 'fresh'] as const).map((mode) => ({labels: {mode}, value: report.counters.failovers.all_time[mode]})),
    },
    {
      name: 'ccl_tasks_waiting_for_account',
      help: 'Tasks in the active/ folder of an account that is limited or needs login: they wait for a free account.',
      type: 'gauge',
      samples: [{value: report.waiting_for_account.length}],
    },
    {
      name: 'ccl_session_up',
      help: "1 when the account's tmux session is alive, 0 when it is dead, absent or tmux could not be asked; this host's accounts only (another host's tmux server is not asked).",
      type: 'gauge',
      samples: report.sessions.filter((s) => !onOtherHost(s)).map((s) => ({labels: {account: s.account, host: s.host}, value: s.state === 'alive' ? 1 : 0})),
    },
    {
      name: 'ccl_account_owner_fresh',
      help: "Another host's account: 1 while that host's reconcile refreshes its owner record (state remote), 0 once the record is older than 10 minutes (state stale).",
      type: 'gauge',
      samples: report.sessions.filter((s) => onOtherHost(s)).map((s) => ({labels: {account: s.account, host: s.host}, value: s.state === 'remote' ? 1 : 0})),
    },
    {
      name: 'ccl_session_held',
      help: '1 when the account is on hold after too many crashes (reconcile no longer recreates it).',
      type: 'gauge',
      samples: report.sessions.map((s) => ({labels: {account: s.account, host: s.host}, value: s.held ? 1 : 0})),
    },
    {
      name: 'ccl_account_limited',
      help: '1 while the account is on a usage-limit cooldown (it gets no task until its reset plus failover.margin).',
      type: 'gauge',
      samples: report.sessions.map((s) => ({labels: {account: s.account, host: s.host}, value: s.activity === 'limited' ? 1 : 0})),
    },
    {
      name: 'ccl_account_limit_reset_timestamp_seconds',
      help: "When a limited account's cooldown ends (its reset plus failover.margin), as Unix time.",
      type: 'gauge',
      samples: report.sessions.filter((s) => s.limited_until).map((s) => ({labels: {account: s.account, host: s.host}, value: Math.round(Date.parse(s.limited_until!) / 1000)})),
    },
    {
      name: 'ccl_account_usage_ratio',
      help: "The account's plan usage per window (five_hour, seven_day) as its status line last reported it, 0-1; 0 once the window's reset time has passed (failover.headroom).",
      type: 'gauge',
      samples: usageSamples(report, (w) => w.used_now / 100),
    },
    {
      name: 'ccl_account_usage_reset_timestamp_seconds',
      help: "When each usage window (five_hour, seven_day) of the account resets, as Unix time, as its status line last reported it.",
      type: 'gauge',
      samples: usageSamples(report, (w) => (w.resets_at === null ? undefined : Math.round(Date.parse(w.resets_at) / 1000))),
    },
    {
      name: 'ccl_session_activity',
      help: "1 for the account's activity (free, working, waiting, limited, needs-login, paused, dead), 0 for the others.",
      type: 'gauge',
      samples: report.sessions.flatMap((s) => ACTIVITIES.map((activity) => ({labels: {account: s.account, host: s.host, activity}, value: s.activity === activity ? 1 : 0}))),
    },
    {
      name: 'ccl_stale_tasks',
      help: 'Tasks in active/ longer than watchdog.stale_after.',
      type: 'gauge',
      samples: [{value: report.stale.length}],
    },
    {
      name: 'ccl_symlinks_valid',
      help: "1 when every account's shared-state symlinks are valid.",
      type: 'gauge',
      samples: [{value: report.symlinks.valid ? 1 : 0}],
    },
    {
      name: 'ccl_attention',
      help: 'Things that need an operator, by kind (docs/reap-status.md): every kind has a sample, 0 when none.',
      type: 'gauge',
      samples: ATTENTION_KINDS.map((kind) => ({labels: {kind}, value: report.attention.filter((a) => a.kind === kind).length})),
    },
    {
      name: 'ccl_needs_operator',
      help: '1 when ccl status exits 1: something needs an operator (ccl_attention says what).',
      type: 'gauge',
      samples: [{value: report.needs_operator ? 1 : 0}],
    },
  ]
  return families.flatMap((family) => renderFamily(family)).join('\n') + '\n'
}
