// One line per event for `ccl events`: time, event, task, account, then the fields an operator
// reads for that event as key=value. Every value went through printable(): a task name holding a
// newline or ESC cannot start a line of its own or move the cursor.
import {formatDuration} from '../config/duration.js'
import type {CclEvent} from '../events/log.js'
import {printable} from './names.js'

/** A field to show: its key in the log, how to show its value (null: not worth showing), its name on the line. */
type Detail = [key: string, format?: (value: unknown, event: CclEvent) => string | null, label?: string]

const duration = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? formatDuration(value) : null)
const money = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? `$${value.toFixed(4)}` : null)
/** A flag worth a word only when it is set. */
const whenTrue = (value: unknown) => (value === true ? 'yes' : null)
const count = (value: unknown) => (Array.isArray(value) ? String(value.length) : null)

const OUTCOME: Detail[] = [['provider'], ['job_id'], ['status'], ['cost_usd', money, 'cost'], ['duration_ms', duration, 'duration'], ['destination']]

/** The fields shown per event, in order; an event not listed shows all its fields. */
const DETAILS: Record<string, Detail[]> = {
  'delegation.claimed': [['provider']],
  'delegation.submitted': [['provider'], ['job_id'], ['resubmitted', whenTrue]],
  'delegation.completed': OUTCOME,
  'delegation.failed': OUTCOME,
  'delegation.timed_out': OUTCOME,
  'session.created': [['session'], ['after'], ['resume']],
  'session.crashed': [['session'], ['state'], ['crashes_in_window'], ['crash_window_ms', duration, 'crash_window']],
  'session.held': [['session'], ['crashes_in_window'], ['crash_limit']],
  'session.released': [],
  'session.waiting': [['reason'], ['source'], ['message']],
  'task.assigned': [['session'], ['confirmed']],
  'task.requeued': [['reason'], ['as', (value, event) => (event.renamed === true && typeof value === 'string' ? value : null)], ['from']],
  'task.done': [['duration_ms', duration, 'duration'], ['by']],
  'task.failed_over': [['mode'], ['why'], ['session_id']],
  'task.retried': [],
  'account.limited': [['until'], ['reason'], ['limit'], ['source']],
  'account.available': [['was_limited_until'], ['reason']],
  'account.needs_login': [['error']],
  'account.paused': [['reason']],
  'account.unpaused': [['paused_since']],
  'hook.error': [['source'], ['hook_event_name'], ['reason']],
  'symlinks.invalid': [['problems', count]],
}

/** The columns every event has, and its host (shown by renderEvent's option only); never among the details. */
const COLUMNS = new Set(['ts', 'event', 'task', 'account', 'host'])
const PLAIN = /^[^\s"'=\\]+$/

/** A value as the right side of key=value: bare when it is one plain word, else JSON-quoted. */
function show(value: unknown): string {
  if (typeof value === 'string') return printable(PLAIN.test(value) ? value : JSON.stringify(value))
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return printable(JSON.stringify(value) ?? String(value))
}

function details(event: CclEvent): string[] {
  const chosen = DETAILS[event.event]
  const pairs: string[] = []
  const fields: Detail[] = chosen ?? Object.keys(event).filter((key) => !COLUMNS.has(key)).map((key) => [key])
  for (const [key, format, label] of fields) {
    const value = event[key]
    if (value === undefined || value === null) continue
    const text = format ? format(value, event) : show(value)
    if (text !== null) pairs.push(`${printable(label ?? key)}=${format ? show(text) : text}`)
  }

  return pairs
}

/** `2026-12-02T07:10:19Z`: the logged time to the second; anything else as it was logged. */
function time(ts: unknown): string {
  const text = typeof ts === 'string' ? ts : String(ts)
  return printable(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(text) ? `${text.slice(0, 19)}Z` : text)
}

/** The account column: the account, or `from→to` for a failover. */
function who(event: CclEvent): string {
  if (typeof event.account === 'string') return printable(event.account)
  if (event.from !== undefined || event.to !== undefined) return `${printable(String(event.from ?? '?'))}→${printable(String(event.to ?? '?'))}`
  return '-'
}

const EVENT_WIDTH = 20

export function renderEvent(event: CclEvent, options: {host?: boolean} = {}): string {
  const task = typeof event.task === 'string' ? printable(event.task) : '-'
  const pairs = details(event)
  // A fleet's lines end with the host whose log holds the event (a legacy event only if it names one).
  if (options.host && typeof event.host === 'string') pairs.push(`host=${show(event.host)}`)
  return [time(event.ts), printable(event.event).padEnd(EVENT_WIDTH), task, who(event), pairs.join(' ')].join('  ').trimEnd()
}
