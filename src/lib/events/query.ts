// Which events `ccl events` shows: the filters, --since, and the last N of what matched.
import path from 'node:path'

import {setTimeout as sleep} from 'node:timers/promises'

import {parseDuration} from '../config/duration.js'
import type {CclEvent} from './log.js'
import {type EventLog, logFiles} from './logs.js'
import {type FollowItem, type FollowOptions, followEventStream, readEventStream, statOrNull} from './stream.js'

export interface EventQuery {
  /** A task's file name; the events of that task (also a requeue that renamed it to or from this name). */
  task?: string
  /** An account; the events of that account, and failovers from or to it. */
  account?: string
  /** A host; the events of its log (the legacy log's only when they name it in a `host` field). */
  host?: string
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
  if (query.host !== undefined && event.host !== query.host) return false
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

/** A stream of events in batches; null once it has no more. */
interface Source {
  next(): Promise<CclEvent[] | null>
}

/**
 * An event of a host's log gains `host`, the folder's name; the legacy log's events are as they are.
 * Set on the events as parsed: they are fresh objects of the stream's, which nobody else holds.
 */
function withHost(events: CclEvent[], host: string | null): CclEvent[] {
  if (host !== null) for (const event of events) event.host = host
  return events
}

/** One log read as a stream: its archives oldest first, then its live log. */
function logSource(log: EventLog): Source {
  const batches = (async function* () {
    for (const file of await logFiles(log)) for await (const batch of readEventStream(file)) yield withHost(batch, log.host)
  })()
  return {next: async () => ((await batches.next()).value as CclEvent[] | undefined) ?? null}
}

interface Head {
  source: Source
  batch: CclEvent[]
  i: number
  /** The time of the event at `i`, ms; a ts that is no time takes its predecessor's, so it stays after it. */
  key: number
}

const MERGED_BATCH = 1024

function keyOf(event: CclEvent, previous: number): number {
  const at = Date.parse(event.ts)
  return Number.isNaN(at) ? previous : at
}

/**
 * The events of several streams merged by `ts`, in batches: of the next event of each stream, the
 * earliest goes first; on a tie, the stream listed first. Stable: each stream's own order is kept
 * (a log whose clock stepped back is not re-sorted), so one stream comes out exactly as it is read.
 * Holds one batch per stream, never a whole log.
 */
async function* mergeByTs(sources: readonly Source[]): AsyncGenerator<CclEvent[]> {
  const heads: Head[] = []
  const refill = async (source: Source, previous: number): Promise<Head | null> => {
    for (;;) {
      const batch = await source.next()
      if (batch === null) return null
      if (batch.length > 0) return {source, batch, i: 0, key: keyOf(batch[0]!, previous)}
    }
  }

  for (const source of sources) {
    const head = await refill(source, Number.NEGATIVE_INFINITY)
    if (head) heads.push(head)
  }

  let out: CclEvent[] = []
  while (heads.length > 1) {
    let pick = 0
    for (let h = 1; h < heads.length; h++) if (heads[h]!.key < heads[pick]!.key) pick = h
    // The picked stream goes on while it stays before every other head (a tie goes to the stream listed first).
    let bound = Number.POSITIVE_INFINITY
    let boundFirst = false
    for (let h = 0; h < heads.length; h++) {
      if (h === pick || heads[h]!.key > bound) continue
      if (heads[h]!.key < bound || h < pick) boundFirst = h < pick
      bound = heads[h]!.key
    }

    const head = heads[pick]!
    for (;;) {
      out.push(head.batch[head.i]!)
      head.i++
      if (head.i < head.batch.length) {
        head.key = keyOf(head.batch[head.i]!, head.key)
      } else {
        const next = await refill(head.source, head.key)
        if (next) heads[pick] = next
        else heads.splice(pick, 1)
        break
      }

      if (head.key > bound || (head.key === bound && boundFirst)) break
    }

    if (out.length >= MERGED_BATCH) {
      yield out
      out = []
    }
  }

  if (out.length > 0) yield out
  // One stream left: the rest of it as it comes, nothing to compare.
  const last = heads[0]
  if (!last) return
  yield last.batch.slice(last.i)
  for (let batch = await last.source.next(); batch !== null; batch = await last.source.next()) if (batch.length > 0) yield batch
}

/** The matching events of a stream (the last `lines` of them, if set). */
async function* matching(batches: AsyncIterable<CclEvent[]>, query: EventQuery): AsyncGenerator<CclEvent[]> {
  const tail = query.lines === undefined ? null : new Tail(query.lines)
  for await (const batch of batches) {
    const kept = batch.filter((event) => matchesQuery(event, query))
    if (kept.length === 0) continue
    if (tail) tail.push(kept)
    else yield kept
  }

  if (tail) {
    const last = tail.take()
    if (last.length > 0) yield last
  }
}

/**
 * The events of every log (eventLogs: the legacy log, then each host's) that match, merged by `ts`
 * (mergeByTs), in batches; each log read as a stream, so any size of log will do.
 */
export async function* queryEvents(logs: readonly EventLog[], query: EventQuery): AsyncGenerator<CclEvent[]> {
  yield* matching(mergeByTs(logs.map((log) => logSource(log))), query)
}

/** What a follower of every log met: FollowItem, a note naming the file it is about. */
export type FleetFollowItem = Exclude<FollowItem, {kind: 'note'}> | (Extract<FollowItem, {kind: 'note'}> & {file: string})

interface Follower {
  log: EventLog
  items: AsyncGenerator<FollowItem>
  /** The pending next item, while following live. */
  pending?: Promise<{follower: Follower; result: IteratorResult<FollowItem>}>
}

function follower(log: EventLog, options: FollowOptions): Follower {
  return {log, items: followEventStream(log.live, options)}
}

/**
 * Follows every log like `tail -F` (the live files only, as followEventStream does one): first
 * what they hold, merged by `ts` (the last `lines` of what matches, if set), then `caught-up`, then
 * each matching event as it is appended to any of them, in the order they are seen, until `signal`
 * aborts. A host whose folder appears meanwhile is followed from then on, from its log's start
 * (all of it is new). The legacy log is followed only if it exists at the start (no ccl writes it).
 */
export async function* followEvents(listLogs: () => Promise<EventLog[]>, query: EventQuery, options: FollowOptions): AsyncGenerator<FleetFollowItem> {
  // Aborted when the caller's signal is, and when the caller stops reading: every follower then ends.
  const outer = options.signal
  const stop = new AbortController()
  const onAbort = () => stop.abort()
  outer.addEventListener('abort', onAbort, {once: true})
  if (outer.aborted) stop.abort()
  const {signal} = stop
  const pollMs = options.pollMs ?? 250
  options = {...options, signal}
  const initial = await listLogs()
  const followers: Follower[] = []
  for (const log of initial) if (log.host !== null || (await statOrNull(log.live))) followers.push(follower(log, options))
  const notes: FleetFollowItem[] = []
  // Until caught up, a follower is a Source of events; its notes wait in `notes`.
  const untilCaughtUp = (f: Follower): Source => ({
    async next() {
      for (;;) {
        const {done, value} = await f.items.next()
        if (done || value.kind === 'caught-up') return null
        if (value.kind === 'events') return withHost(value.events, f.log.host)
        notes.push({...value, file: f.log.live})
      }
    },
  })

  try {
    for await (const batch of matching(mergeByTs(followers.map((f) => untilCaughtUp(f))), query)) {
      yield* notes.splice(0)
      yield {kind: 'events', events: batch}
    }

    yield* notes.splice(0)
    yield {kind: 'caught-up'}
    const known = new Set(followers.map((f) => f.log.live))
    const live = new Set<Follower>(followers)
    let lookAt = Date.now() + pollMs
    const arm = (f: Follower) => {
      f.pending = f.items.next().then((result) => ({follower: f, result}))
    }

    for (const f of live) arm(f)
    const nextTick = async () => sleep(Math.max(0, lookAt - Date.now()), null, {signal}).catch(() => null)
    let tick = nextTick()
    while (!signal.aborted) {
      const first = await Promise.race([tick, ...[...live].map(async (f) => f.pending!)])
      if (first === null) {
        if (signal.aborted) break
        lookAt = Date.now() + pollMs
        tick = nextTick()
        // A host that wrote its first event since: followed from its log's start.
        for (const log of await listLogs()) {
          if (log.host === null || known.has(log.live) || !(await statOrNull(log.live))) continue
          known.add(log.live)
          const added = follower(log, options)
          followers.push(added)
          live.add(added)
          arm(added)
        }

        continue
      }

      const {follower: f, result} = first
      if (result.done) {
        live.delete(f)
        continue
      }

      arm(f)
      const item = result.value
      if (item.kind === 'caught-up') continue
      if (item.kind === 'note') {
        yield {...item, file: f.log.live}
        continue
      }

      const kept = withHost(item.events, f.log.host).filter((event) => matchesQuery(event, query))
      if (kept.length > 0) yield {kind: 'events', events: kept}
    }
  } finally {
    stop.abort()
    outer.removeEventListener('abort', onAbort)
    await Promise.all(followers.map(async (f) => f.items.return(undefined)))
  }
}
