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
    // A line torn just after the key ends the buffer: compare() throws on a range past its end.
    if (pos + bytes.length <= buffer.length && buffer.compare(bytes, 0, bytes.length, pos, pos + bytes.length) === 0) return kind
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
 * When a counted event happened: its time in ms, or, for a `ts` of the canonical shape that is no
 * real time (month 13…), the text itself, compared as text as the in-place reading compares it.
 */
export type When = number | string
/** s/c/f/t: delegation submitted/completed/failed/timed_out; d: task.done; R/F: task.failed_over resume/fresh. */
export type WindowKind = 's' | 'c' | 'f' | 't' | 'd' | 'R' | 'F'
/** A counted event recent enough to matter for a 24 h window: [when, kind, cost, from, to]. */
export type WindowEvent = [When, WindowKind, number | null, string | null, string | null]

/** The all-time counts, cost unrounded (sums go on from it exactly as a full read would). */
export interface Totals {
  submitted: number
  completed: number
  failed: number
  timed_out: number
  cost_usd: number
  local_done: number
  resume: number
  fresh: number
}

export function zeroTotals(): Totals {
  return {submitted: 0, completed: 0, failed: 0, timed_out: 0, cost_usd: 0, local_done: 0, resume: 0, fresh: 0}
}

const KIND_CODE = {submitted: 's', completed: 'c', failed: 'f', timed_out: 't'} as const satisfies Record<Counted, WindowKind>

/**
 * What the counting functions add to: the all-time totals, and the events at or after `keepMs`
 * (in the order of the log) from which any 24 h window ending at or after keepMs + 24 h is exact.
 */
export class Tally {
  readonly keepBytes: Buffer
  constructor(
    readonly keepMs: number,
    readonly totals: Totals = zeroTotals(),
    readonly window: WindowEvent[] = [],
  ) {
    this.keepBytes = Buffer.from(new Date(keepMs).toISOString())
  }

  copy(): Tally {
    return new Tally(this.keepMs, {...this.totals}, [...this.window])
  }

  /** One piece (or range: pass a subarray) of whole lines of the log. */
  add(buffer: Buffer): void {
    countChunk(buffer, this)
    countLocalDone(buffer, this)
    countFailovers(buffer, this)
  }
}

/** The `ts` of a line that is in the kept window, as a When (only these few lines pay for it). */
function whenAt(buffer: Buffer, start: number, end: number): When | undefined {
  const tsAt = start + TS_PREFIX.length
  if (tsAt + ISO_SHAPE.length < end && buffer[tsAt + ISO_SHAPE.length] === QUOTE && buffer.compare(TS_PREFIX, 0, TS_PREFIX.length, start, tsAt) === 0 && isIsoAt(buffer, tsAt)) {
    const text = buffer.toString('latin1', tsAt, tsAt + ISO_SHAPE.length)
    const ms = Date.parse(text)
    return !Number.isNaN(ms) && new Date(ms).toISOString() === text ? ms : text
  }

  const line = buffer.toString('latin1', start, end)
  const at = line.indexOf('"ts":"')
  const close = at === -1 ? -1 : line.indexOf('"', at + 6)
  const ms = close === -1 ? Number.NaN : Date.parse(line.slice(at + 6, close))
  return Number.isNaN(ms) ? undefined : ms
}

/** The delegation.* lines of one piece of the log: counted all-time, and kept when in the tally's window. */
function countChunk(buffer: Buffer, tally: Tally): void {
  const {totals} = tally
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
    const keep = inWindowAt(buffer, start, end, tally.keepBytes, tally.keepMs)
    if (keep === undefined) continue
    const cost = kind === 'submitted' ? undefined : lineCost(buffer, start, end)
    totals[kind]++
    if (cost !== undefined) totals.cost_usd += cost
    if (keep) tally.window.push([whenAt(buffer, start, end)!, KIND_CODE[kind], cost ?? null, null, null])
  }
}

const DONE_KEY = Buffer.from('"event":"task.done"')

/** task.done lines (a session finished its task); the same in-place reading. */
function countLocalDone(buffer: Buffer, tally: Tally): void {
  for (let at = buffer.indexOf(DONE_KEY); at !== -1; ) {
    let end = buffer.indexOf(NEWLINE, at)
    if (end === -1) end = buffer.length
    const start = at === 0 ? 0 : buffer.lastIndexOf(NEWLINE, at) + 1
    at = end < buffer.length ? buffer.indexOf(DONE_KEY, end) : -1
    const last = buffer[end - 1] === CR ? end - 2 : end - 1
    if (buffer[start] !== OPEN_BRACE || buffer[last] !== CLOSE_BRACE) continue
    const keep = inWindowAt(buffer, start, end, tally.keepBytes, tally.keepMs)
    if (keep === undefined) continue
    tally.totals.local_done++
    if (keep) tally.window.push([whenAt(buffer, start, end)!, 'd', null, null, null])
  }
}

const FAILED_OVER_KEY = Buffer.from('"event":"task.failed_over"')

/**
 * task.failed_over lines. They are few (one per move of a task), so each found line is parsed whole;
 * the search for them is the same native one as above. A line that is torn or lacks `ts`, `from` or
 * `to` is skipped; a mode other than `fresh` counts as `resume` (the default of failover.resume).
 */
function countFailovers(buffer: Buffer, tally: Tally): void {
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
    tally.totals[mode]++
    if (ms >= tally.keepMs) tally.window.push([ms, mode === 'fresh' ? 'F' : 'R', null, event.from, event.to])
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

const DELEGATION_OF = {s: 'submitted', c: 'completed', f: 'failed', t: 'timed_out'} as const

/** The counters at `now`, from the totals and the kept events (those of the last 24 h counted again for the window). */
export function countersAt(tally: Tally, now: Date): DelegationCounters {
  const cutoffMs = now.getTime() - DAY_MS
  const since = new Date(cutoffMs).toISOString()
  const {totals} = tally
  const all: DelegationCounts = {submitted: totals.submitted, completed: totals.completed, failed: totals.failed, timed_out: totals.timed_out, cost_usd: totals.cost_usd}
  const recent = zero()
  const localDone = {all_time: totals.local_done, last_24h: 0}
  const failovers: FailoverCounts = {all_time: {resume: totals.resume, fresh: totals.fresh}, last_24h: {resume: 0, fresh: 0}, by_account_24h: {}}
  // A Map, not an object: an account name read from the log must never reach a prototype.
  const moves = new Map<string, {in: number; out: number}>()
  const account = (name: string) => {
    let entry = moves.get(name)
    if (!entry) moves.set(name, (entry = {in: 0, out: 0}))
    return entry
  }

  for (const [when, kind, cost, from, to] of tally.window) {
    if (typeof when === 'number' ? when < cutoffMs : when < since) continue
    if (kind === 'd') {
      localDone.last_24h++
    } else if (kind === 'R' || kind === 'F') {
      failovers.last_24h[kind === 'F' ? 'fresh' : 'resume']++
      if (from === null || to === null || from === to) continue
      account(from).out++
      account(to).in++
    } else {
      recent[DELEGATION_OF[kind]]++
      if (cost !== null) recent.cost_usd += cost
    }
  }

  failovers.by_account_24h = Object.fromEntries(moves)
  // Sums of many small prices pick up float noise; a millionth of a dollar is plenty.
  all.cost_usd = Math.round(all.cost_usd * 1e6) / 1e6
  recent.cost_usd = Math.round(recent.cost_usd * 1e6) / 1e6
  return {all_time: all, last_24h: recent, local_done: localDone, failovers, since}
}

/**
 * Counts delegation events in one log file, all-time and over the last 24 h, reading all of it
 * (`ccl status` reads only what was appended since its checkpoint: countersOf in checkpoint.ts).
 * The log grows without bound, so it is neither held whole nor parsed line by line: it is read in
 * pieces of whole lines (readLogChunks, memory bounded whatever its size), each searched natively
 * for `"event":"delegation.` and only the few fields needed are read from those lines, as bytes
 * (every line is one flat JSON object written by appendEvent; inside a JSON string a quote is
 * always escaped, so the key cannot match inside a value). Torn lines (a crash mid-write) are
 * skipped, as readEvents does. A fast-check property keeps this equal to a full JSON parse.
 */
export async function countDelegations(eventsFile: string, now: Date): Promise<DelegationCounters> {
  const tally = new Tally(now.getTime() - DAY_MS)
  for await (const buffer of readLogChunks(eventsFile)) tally.add(buffer)
  return countersAt(tally, now)
}

export {DAY_MS}
