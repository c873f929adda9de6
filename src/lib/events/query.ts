// Which events `ccl events` shows: the filters, --since, and the last N of what matched.
import path from 'node:path'

import {parseDuration} from '../config/duration.js'
import type {CclEvent} from './log.js'
import {type FollowItem, type FollowOptions, followEventStream, readEventStream} from './stream.js'

export interface EventQuery {
  /** A task's file name; the events of that task (also a requeue that renamed it to or from this name). */
  task?: string
  /** An account; the events of that account, and failovers from or to it. */
  account?: string
  /** Events at or after this instant. */
  since?: Date
  /** Of the events already in the log, only the last N that match. */
  lines?: number
}

// An ISO 8601 date, or date and time with optional seconds, fraction and offset.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/i

/**
 * `--since`: a duration back from `now` (30m, 2h, 1d) or an ISO date (2026-12-01, a date alone being
 * midnight UTC; 2026-12-01T08:00Z; without an offset, a time is local). Undefined when it is neither.
 */
export function parseSince(text: string, now: Date): Date | undefined {
  const trimmed = text.trim()
  const ms = parseDuration(trimmed)
  if (ms !== undefined) return new Date(now.getTime() - ms)
  if (!ISO_DATE.test(trimmed)) return undefined
  const at = Date.parse(trimmed.replace(' ', 'T'))
  return Number.isNaN(at) ? undefined : new Date(at)
}

/** A task's name as the log stores it: its base name, so `pending/fix.md` finds `fix.md`. */
export function taskName(text: string): string {
  return path.basename(text)
}

export function matchesQuery(event: CclEvent, query: EventQuery): boolean {
  if (query.task !== undefined && event.task !== query.task && event.as !== query.task) return false
  if (query.account !== undefined && event.account !== query.account && event.from !== query.account && event.to !== query.account) return false
  if (query.since !== undefined) {
    const at = Date.parse(event.ts)
    if (Number.isNaN(at) || at < query.since.getTime()) return false
  }

  return true
}

/** Keeps the last `size` events pushed into it. */
class Tail {
  private kept: CclEvent[] = []
  constructor(private readonly size: number) {}

  push(events: CclEvent[]): void {
    if (this.size === 0) return
    this.kept.push(...events)
    // Trimmed in bulk, not one shift per event.
    if (this.kept.length >= 2 * this.size) this.kept = this.kept.slice(-this.size)
  }

  take(): CclEvent[] {
    const last = this.kept.slice(-this.size)
    this.kept = []
    return last
  }
}

/**
 * The events of the log that match, oldest first, in batches; read as a stream, so any size of log
 * will do. `files`: the segments of the log in order (the archives oldest first, then the live log:
 * existingSegments), or one file.
 */
export async function* queryEvents(files: string | readonly string[], query: EventQuery): AsyncGenerator<CclEvent[]> {
  const tail = query.lines === undefined ? null : new Tail(query.lines)
  for (const file of typeof files === 'string' ? [files] : files) {
    for await (const batch of readEventStream(file)) {
      const matching = batch.filter((event) => matchesQuery(event, query))
      if (matching.length === 0) continue
      if (tail) tail.push(matching)
      else yield matching
    }
  }

  if (tail) {
    const last = tail.take()
    if (last.length > 0) yield last
  }
}

/**
 * The matching events already in the log (the last `lines` of them, if set), then each matching
 * event appended, until `signal` aborts; notes say when the log is missing, rotated or truncated.
 */
export async function* followEvents(file: string, query: EventQuery, options: FollowOptions): AsyncGenerator<FollowItem> {
  let tail = query.lines === undefined ? null : new Tail(query.lines)
  for await (const item of followEventStream(file, options)) {
    if (item.kind === 'caught-up' && tail) {
      const last = tail.take()
      tail = null
      if (last.length > 0) yield {kind: 'events', events: last}
    }

    if (item.kind !== 'events') {
      yield item
      continue
    }

    const matching = item.events.filter((event) => matchesQuery(event, query))
    if (matching.length === 0) continue
    if (tail) tail.push(matching)
    else yield {kind: 'events', events: matching}
  }
}
