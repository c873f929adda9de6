import {readLogChunks} from '../events/stream.js'

export interface DelegationCounts {
  submitted: number
  completed: number
  /** Jobs that ended failed or cancelled. */
  failed: number
  timed_out: number
  /** Sum of `cost_usd` over completed, failed and timed-out jobs (cost is known once a job ends). */
  cost_usd: number
}

export interface DelegationCounters {
  all_time: DelegationCounts
  last_24h: DelegationCounts
  /** Tasks sessions finished locally (task.done events), counted like remote work. */
  local_done: {all_time: number; last_24h: number}
  /** Tasks moved off a limited or logged-out account (task.failed_over events). */
  failovers: FailoverCounts
  /** Start of the 24 h window (ISO). */
  since: string
}

const DAY_MS = 24 * 3_600_000
const KEY = Buffer.from('"event":"delegation.')
const NEWLINE = 0x0a

type Counted = 'submitted' | 'completed' | 'failed' | 'timed_out'
// Each name with its closing quote, compared in place: no string is made for the 100,000s of lines.
const COUNTED: [Buffer, Counted][] = (['submitted', 'completed', 'failed', 'timed_out'] as const).map((name) => [Buffer.from(name + '"'), name])

function eventAt(buffer: Buffer, pos: number): Counted | undefined {
  for (const [bytes, kind] of COUNTED) {
    if (buffer.compare(bytes, 0, bytes.length, pos, pos + bytes.length) === 0) return kind
  }

  return undefined
}

// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as Date.toISOString writes it: '9' stands for a digit.
const ISO_SHAPE = Buffer.from('9999-99-99T99:99:99.999Z')
const DIGIT_0 = 0x30
const DIGIT_9 = 0x39

function isIsoAt(buffer: Buffer, pos: number): boolean {
  for (let i = 0; i < ISO_SHAPE.length; i++) {
    const want = ISO_SHAPE[i]!
    const got = buffer[pos + i]
    if (got === undefined) return false
    if (want === DIGIT_9 ? got < DIGIT_0 || got > DIGIT_9 : got !== want) return false
  }

  return true
}

function zero(): DelegationCounts {
  return {submitted: 0, completed: 0, failed: 0, timed_out: 0, cost_usd: 0}
}

const TS_PREFIX = Buffer.from('{"ts":"')
const COST_KEY = Buffer.from('"cost_usd":')
const QUOTE = 0x22
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const CR = 0x0d

/**
 * Whether the line's `ts` is in the window: compared in place when it sits where appendEvent puts
 * it, in the canonical form (ISO strings of one form order like their times); else parsed.
 * undefined when the line has no `ts`.
 */
function inWindowAt(buffer: Buffer, start: number, end: number, since: Buffer, cutoffMs: number): boolean | undefined {
  const tsAt = start + TS_PREFIX.length
  if (
    tsAt + ISO_SHAPE.length < end &&
    buffer[tsAt + ISO_SHAPE.length] === QUOTE &&
    buffer.compare(TS_PREFIX, 0, TS_PREFIX.length, start, tsAt) === 0 &&
    isIsoAt(buffer, tsAt)
  ) {
    return buffer.compare(since, 0, since.length, tsAt, tsAt + since.length) >= 0
  }

  const line = buffer.toString('latin1', start, end)
  const at = line.indexOf('"ts":"')
  if (at === -1) return undefined
  const close = line.indexOf('"', at + 6)
  if (close === -1) return undefined
  const ms = Date.parse(line.slice(at + 6, close))
  return Number.isNaN(ms) ? undefined : ms >= cutoffMs
}

function lineCost(buffer: Buffer, start: number, end: number): number | undefined {
  const at = buffer.indexOf(COST_KEY, start)
  if (at === -1 || at >= end) return undefined
  const from = at + COST_KEY.length
  const value = Number.parseFloat(buffer.toString('latin1', from, Math.min(end, from + 32)))
  return Number.isFinite(value) ? value : undefined
}

/**
 * Counts delegation events in events.jsonl, all-time and over the last 24 h.
 * The log grows without bound, so it is neither held whole nor parsed line by line: it is read in
 * pieces of whole lines (readLogChunks, memory bounded whatever its size), each searched natively
 * for `"event":"delegation.` and only the few fields needed are read from those lines, as bytes
 * (every line is one flat JSON object written by appendEvent; inside a JSON string a quote is
 * always escaped, so the key cannot match inside a value). Torn lines (a crash mid-write) are
 * skipped, as readEvents does. A fast-check property keeps this equal to a full JSON parse.
 */
export async function countDelegations(eventsFile: string, now: Date): Promise<DelegationCounters> {
  const all = zero()
  const recent = zero()
  const cutoffMs = now.getTime() - DAY_MS
  const since = new Date(cutoffMs).toISOString()
  const sinceBytes = Buffer.from(since)
  const localDone = {all_time: 0, last_24h: 0}
  const failovers: FailoverCounts = {all_time: {resume: 0, fresh: 0}, last_24h: {resume: 0, fresh: 0}, by_account_24h: {}}
  const moves = new Map<string, {in: number; out: number}>()
  for await (const buffer of readLogChunks(eventsFile)) {
    countChunk(buffer, all, recent, sinceBytes, cutoffMs)
    const done = countLocalDone(buffer, sinceBytes, cutoffMs)
    localDone.all_time += done.all_time
    localDone.last_24h += done.last_24h
    const over = countFailovers(buffer, cutoffMs)
    for (const mode of ['resume', 'fresh'] as const) {
      failovers.all_time[mode] += over.all_time[mode]
      failovers.last_24h[mode] += over.last_24h[mode]
    }

    for (const [name, counts] of Object.entries(over.by_account_24h)) {
      const entry = moves.get(name) ?? {in: 0, out: 0}
      entry.in += counts.in
      entry.out += counts.out
      moves.set(name, entry)
    }
  }

  failovers.by_account_24h = Object.fromEntries(moves)
  // Sums of many small prices pick up float noise; a millionth of a dollar is plenty.
  all.cost_usd = Math.round(all.cost_usd * 1e6) / 1e6
  recent.cost_usd = Math.round(recent.cost_usd * 1e6) / 1e6
  return {all_time: all, last_24h: recent, local_done: localDone, failovers, since}
}

/** The delegation.* lines of one piece of the log, added to `all` and (in the window) `recent`. */
function countChunk(buffer: Buffer, all: DelegationCounts, recent: DelegationCounts, sinceBytes: Buffer, cutoffMs: number): void {
  for (let at = buffer.indexOf(KEY); at !== -1; ) {
    let end = buffer.indexOf(NEWLINE, at)
    if (end === -1) end = buffer.length
    const lineAt = at
    at = end < buffer.length ? buffer.indexOf(KEY, end) : -1
    const kind = eventAt(buffer, lineAt + KEY.length)
    if (!kind || lineAt + KEY.length >= end) continue
    const start = lineAt === 0 ? 0 : buffer.lastIndexOf(NEWLINE, lineAt) + 1
    const last = buffer[end - 1] === CR ? end - 2 : end - 1
    if (buffer[start] !== OPEN_BRACE || buffer[last] !== CLOSE_BRACE) continue // torn by a crash mid-write, or not ours
    const inWindow = inWindowAt(buffer, start, end, sinceBytes, cutoffMs)
    if (inWindow === undefined) continue
    const cost = kind === 'submitted' ? undefined : lineCost(buffer, start, end)
    all[kind]++
    if (cost !== undefined) all.cost_usd += cost
    if (inWindow) {
      recent[kind]++
      if (cost !== undefined) recent.cost_usd += cost
    }
  }

}

export interface FailoverCounts {
  /** Every task.failed_over event, by mode: `resume` (the conversation continued) or `fresh` (started afresh). */
  all_time: {resume: number; fresh: number}
  last_24h: {resume: number; fresh: number}
  /**
   * Per account, over the last 24 h: tasks moved onto it (`in`) and off it (`out`). An in-place
   * resume (`to` = `from`, after the account's own reset) moved nothing between accounts and counts
   * in neither; it is in the totals above.
   */
  by_account_24h: Record<string, {in: number; out: number}>
}

const FAILED_OVER_KEY = Buffer.from('"event":"task.failed_over"')

/**
 * task.failed_over lines. They are few (one per move of a task), so each found line is parsed whole;
 * the search for them is the same native one as above. A line that is torn or lacks `ts`, `from` or
 * `to` is skipped; a mode other than `fresh` counts as `resume` (the default of failover.resume).
 */
function countFailovers(buffer: Buffer, cutoffMs: number): FailoverCounts {
  const counts = {all_time: {resume: 0, fresh: 0}, last_24h: {resume: 0, fresh: 0}}
  // A Map, not an object: an account name read from the log must never reach a prototype.
  const accounts = new Map<string, {in: number; out: number}>()
  const account = (name: string) => {
    let entry = accounts.get(name)
    if (!entry) accounts.set(name, (entry = {in: 0, out: 0}))
    return entry
  }

  for (let at = buffer.indexOf(FAILED_OVER_KEY); at !== -1; ) {
    let end = buffer.indexOf(NEWLINE, at)
    if (end === -1) end = buffer.length
    const start = at === 0 ? 0 : buffer.lastIndexOf(NEWLINE, at) + 1
    at = end < buffer.length ? buffer.indexOf(FAILED_OVER_KEY, end) : -1
    let event: {event?: unknown; ts?: unknown; from?: unknown; to?: unknown; mode?: unknown}
    try {
      event = JSON.parse(buffer.toString('utf8', start, end)) as typeof event
    } catch {
      continue // torn by a crash mid-write
    }

    if (!event || typeof event !== 'object' || event.event !== 'task.failed_over' || typeof event.ts !== 'string' || typeof event.from !== 'string' || typeof event.to !== 'string') continue
    const ms = Date.parse(event.ts)
    if (Number.isNaN(ms)) continue
    const mode = event.mode === 'fresh' ? 'fresh' : 'resume'
    counts.all_time[mode]++
    if (ms < cutoffMs) continue
    counts.last_24h[mode]++
    if (event.from === event.to) continue
    account(event.from).out++
    account(event.to).in++
  }

  return {...counts, by_account_24h: Object.fromEntries(accounts)}
}

const DONE_KEY = Buffer.from('"event":"task.done"')

/** task.done lines (a session finished its task), all-time and in the window; the same in-place reading. */
function countLocalDone(buffer: Buffer, since: Buffer, cutoffMs: number): {all_time: number; last_24h: number} {
  const counts = {all_time: 0, last_24h: 0}
  for (let at = buffer.indexOf(DONE_KEY); at !== -1; ) {
    let end = buffer.indexOf(NEWLINE, at)
    if (end === -1) end = buffer.length
    const start = at === 0 ? 0 : buffer.lastIndexOf(NEWLINE, at) + 1
    at = end < buffer.length ? buffer.indexOf(DONE_KEY, end) : -1
    const last = buffer[end - 1] === CR ? end - 2 : end - 1
    if (buffer[start] !== OPEN_BRACE || buffer[last] !== CLOSE_BRACE) continue
    const inWindow = inWindowAt(buffer, start, end, since, cutoffMs)
    if (inWindow === undefined) continue
    counts.all_time++
    if (inWindow) counts.last_24h++
  }

  return counts
}
