import {appendFile} from 'node:fs/promises'
import path from 'node:path'

import {StateDirError} from '../errors.js'
import {dirProblem, makeStateDir, STATE_FILE_MODE} from '../queue/layout.js'

export const EVENT_NAMES = [
  'delegation.claimed',
  'delegation.submitted',
  'delegation.completed',
  'delegation.failed',
  'delegation.timed_out',
  'session.created',
  'session.crashed',
  'session.held',
  'session.released',
  'task.assigned',
  'task.requeued',
  'task.done',
  'task.failed_over',
  'task.retried',
  'account.limited',
  'account.available',
  'account.needs_login',
  'account.paused',
  'account.unpaused',
  'session.waiting',
  'hook.error',
  'symlinks.invalid',
] as const

export type EventName = (typeof EVENT_NAMES)[number]

export interface CclEvent {
  ts: string
  event: EventName
  task?: string
  account?: string
  [field: string]: unknown
}

/**
 * Appends one event as one line. The line goes out in a single O_APPEND write,
 * so concurrent writers never interleave within a line.
 */
export async function appendEvent(
  file: string,
  event: EventName,
  fields: Record<string, unknown> = {},
  now: Date = new Date(),
): Promise<CclEvent> {
  const record: CclEvent = {ts: now.toISOString(), event, ...fields}
  const line = JSON.stringify(record) + '\n'
  try {
    await appendFile(file, line, {flag: 'a', mode: STATE_FILE_MODE})
  } catch (error) {
    const {code} = error as NodeJS.ErrnoException
    if (code === 'ENOTDIR' || code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
      throw new StateDirError(path.dirname(file), dirProblem(error as NodeJS.ErrnoException), {cause: error})
    }

    if (code !== 'ENOENT') throw error
    await makeStateDir(path.dirname(file))
    await appendFile(file, line, {flag: 'a', mode: STATE_FILE_MODE})
  }

  return record
}

/**
 * Reads the log; a missing log is empty, and a torn or foreign line is skipped, not fatal. Streamed:
 * the file is never held whole (only the events are), so prefer readEventStream for a big log.
 */
export async function readEvents(file: string): Promise<CclEvent[]> {
  const {readEventStream} = await import('./stream.js')
  const events: CclEvent[] = []
  for await (const batch of readEventStream(file)) events.push(...batch)
  return events
}

/** One line of the log as an event, or null for an empty, torn or foreign line. */
export function parseEventLine(line: string): CclEvent | null {
  if (!line) return null
  try {
    const value = JSON.parse(line) as CclEvent
    if (value && typeof value === 'object' && typeof value.event === 'string' && typeof value.ts === 'string') return value
  } catch {
    // a line torn by a crash mid-write: the next line is still good
  }

  return null
}
