import {open} from 'node:fs/promises'

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
  /** Start of the 24 h window (ISO). */
  since: string
}

const DAY_MS = 24 * 3_600_000
const KEY = Buffer.from('"event":"delegation.')
const NEWLINE = 0x0a
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

type Counted = 'submitted' | 'completed' | 'failed' | 'timed_out'
const COUNTED = new Map<string, Counted>([
  ['submitted', 'submitted'],
  ['completed', 'completed'],
  ['failed', 'failed'],
  ['timed_out', 'timed_out'],
])

function zero(): DelegationCounts {
  return {submitted: 0, completed: 0, failed: 0, timed_out: 0, cost_usd: 0}
}

async function readWhole(file: string): Promise<Buffer> {
  let handle
  try {
    handle = await open(file, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0)
    throw error
  }

  try {
    // One read of the whole file: the log is append-only, so anything written after stat waits for the next run.
    const {size} = await handle.stat()
    const buffer = Buffer.allocUnsafe(size)
    let filled = 0
    while (filled < size) {
      const {bytesRead} = await handle.read(buffer, filled, size - filled, filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }

    return buffer.subarray(0, filled)
  } finally {
    await handle.close()
  }
}

/** A string field's value in one JSON line, found without parsing the line. */
function stringField(line: string, name: string): string | undefined {
  const key = `"${name}":"`
  const at = line.indexOf(key)
  if (at === -1) return undefined
  const start = at + key.length
  const end = line.indexOf('"', start)
  return end === -1 ? undefined : line.slice(start, end)
}

function numberField(line: string, name: string): number | undefined {
  const key = `"${name}":`
  const at = line.indexOf(key)
  if (at === -1) return undefined
  const value = Number.parseFloat(line.slice(at + key.length, at + key.length + 32))
  return Number.isFinite(value) ? value : undefined
}

/**
 * Counts delegation events in events.jsonl, all-time and over the last 24 h.
 * The log grows without bound, so it is not parsed line by line: the buffer is searched natively
 * for `"event":"delegation.` and only those lines are looked at, by field (every line is one flat
 * JSON object written by appendEvent; inside a JSON string a quote is always escaped, so the key
 * cannot match inside a value). Torn lines (a crash mid-write) are skipped, as readEvents does.
 */
export async function countDelegations(eventsFile: string, now: Date): Promise<DelegationCounters> {
  const buffer = await readWhole(eventsFile)
  const all = zero()
  const recent = zero()
  const cutoffMs = now.getTime() - DAY_MS
  const since = new Date(cutoffMs).toISOString()
  for (let at = buffer.indexOf(KEY); at !== -1; ) {
    const start = at === 0 ? 0 : buffer.lastIndexOf(NEWLINE, at) + 1
    let end = buffer.indexOf(NEWLINE, at)
    if (end === -1) end = buffer.length
    at = end < buffer.length ? buffer.indexOf(KEY, end) : -1

    // latin1 keeps ASCII as is and is far cheaper than utf8 decoding; every field read here is ASCII.
    const line = buffer.toString('latin1', start, end).trimEnd()
    if (!line.startsWith('{') || !line.endsWith('}')) continue
    const name = stringField(line, 'event')?.slice('delegation.'.length)
    const kind = name === undefined ? undefined : COUNTED.get(name)
    if (!kind) continue
    const ts = stringField(line, 'ts')
    if (ts === undefined) continue
    const inWindow = ISO_UTC.test(ts) ? ts >= since : Date.parse(ts) >= cutoffMs
    const cost = kind === 'submitted' ? undefined : numberField(line, 'cost_usd')
    for (const counts of inWindow ? [all, recent] : [all]) {
      counts[kind]++
      if (cost !== undefined) counts.cost_usd += cost
    }
  }

  // Sums of many small prices pick up float noise; a millionth of a dollar is plenty.
  all.cost_usd = Math.round(all.cost_usd * 1e6) / 1e6
  recent.cost_usd = Math.round(recent.cost_usd * 1e6) / 1e6
  return {all_time: all, last_24h: recent, since}
}
