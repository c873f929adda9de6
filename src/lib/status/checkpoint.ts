// The counters of `ccl status` without reading every event log each time: `<state>/counters.json`
// holds the all-time totals of every log (the legacy top-level one and each host's, see
// events/logs.ts), and for each log a byte offset, the identity of the file that offset is in and a
// hash of the bytes just before it, plus the counted events of the last 24 h (and a little): a run
// reads only what each log gained since, and the 24 h window stays exactly what a full read gives.
import {type FileHandle, readFile} from 'node:fs/promises'
import path from 'node:path'

import {logSegments} from '../events/archive.js'
import {type EventLog, eventLogs} from '../events/logs.js'
import {openLog, readLogPieces} from '../events/stream.js'
import {fnv1a64, sha256Hex} from '../digest.js'
import {writeFileAtomic} from '../queue/files.js'
import {type QueueLayout, STATE_FILE_MODE} from '../queue/layout.js'
import {countersAt, DAY_MS, type DelegationCounters, Tally, type Totals, type WindowEvent, zeroTotals} from './counters.js'

export const CHECKPOINT_VERSION = 2
/** How far the clock may step back from the checkpoint's time and the window still be exact (kept events reach this much further back). */
export const CLOCK_SLACK_MS = 10 * 60_000
/** How many bytes before the offset the hash covers: an edited, truncated or replaced log changes them. */
export const HASH_BYTES = 4096

/** Where reading of one log stopped: a file of it (the live log, or an archive once it is rotated), at a line's end. */
export interface SegmentMark {
  dev: number
  ino: number
  offset: number
  /** FNV-1a 64 of the HASH_BYTES before the offset (src/lib/digest.ts: no node:crypto at a status start). */
  fnv1a64?: string
  /** The same as sha256, in a checkpoint of an earlier version: still checked, then rewritten as fnv1a64. */
  sha256?: string
}

export interface Checkpoint {
  version: typeof CHECKPOINT_VERSION
  /** When it was taken (ms); the kept events are all those at or after at − 24 h − slack. */
  at: number
  /**
   * Per log, by its live file's path relative to the state folder (`events.jsonl` for the legacy
   * log, `hosts/<host>/events.jsonl`), where reading stopped. A log that had no file is absent: all
   * of it is new to the next run.
   */
  logs: Record<string, SegmentMark>
  totals: Totals
  window: WindowEvent[]
}

/** What the counters read: the state folder (counters.json) and its logs (eventLogs). */
export type CounterFiles = Pick<QueueLayout, 'state' | 'hosts' | 'host' | 'legacyEvents'>

/** The key of a log in the checkpoint. */
function logKey(files: Pick<CounterFiles, 'state'>, log: EventLog): string {
  return path.relative(files.state, log.live)
}

export function checkpointPath(files: Pick<CounterFiles, 'state'>): string {
  return path.join(files.state, 'counters.json')
}

const WRITE_PROBLEMS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR', 'ENOSPC', 'EDQUOT'])
const KINDS = new Set(['s', 'c', 'f', 't', 'd', 'R', 'F'])
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
const isStringOrNull = (value: unknown) => value === null || typeof value === 'string'

/** The checkpoint if it is one this version wrote and whole; otherwise null (then the counts are rebuilt). */
export function parseCheckpoint(text: string): Checkpoint | null {
  let value: Partial<Checkpoint>
  try {
    value = JSON.parse(text) as Partial<Checkpoint>
  } catch {
    return null
  }

  if (!value || typeof value !== 'object' || (value.version !== CHECKPOINT_VERSION && value.version !== 1) || typeof value.at !== 'number' || !Number.isFinite(value.at)) return null
  const {totals, window} = value
  // Version 1 (before per-host logs) counted the top-level log only: its one segment is the legacy log's.
  const v1 = value as {version: number; segment?: unknown}
  const marks: unknown = v1.version === 1 ? (v1.segment === null ? {} : {'events.jsonl': v1.segment}) : value.logs
  if (!marks || typeof marks !== 'object' || Array.isArray(marks)) return null
  const logs: Record<string, SegmentMark> = {}
  for (const [key, mark] of Object.entries(marks as Record<string, Partial<SegmentMark> | null>)) {
    if (!mark || typeof mark !== 'object' || !isCount(mark.ino) || !isCount(mark.dev) || !isCount(mark.offset)) return null
    if (typeof mark.fnv1a64 === 'string') logs[key] = {dev: mark.dev, ino: mark.ino, offset: mark.offset, fnv1a64: mark.fnv1a64}
    else if (typeof mark.sha256 === 'string') logs[key] = {dev: mark.dev, ino: mark.ino, offset: mark.offset, sha256: mark.sha256}
    else return null
  }

  if (!totals || typeof totals !== 'object') return null
  for (const key of Object.keys(zeroTotals()) as (keyof Totals)[]) {
    if (key === 'cost_usd' ? typeof totals[key] !== 'number' || !Number.isFinite(totals[key]) : !isCount(totals[key])) return null
  }

  if (!Array.isArray(window)) return null
  for (const entry of window as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 5) return null
    const [when, kind, cost, from, to] = entry as unknown[]
    if (!(typeof when === 'string' || (typeof when === 'number' && Number.isFinite(when)))) return null
    if (typeof kind !== 'string' || !KINDS.has(kind) || !(cost === null || (typeof cost === 'number' && Number.isFinite(cost))) || !isStringOrNull(from) || !isStringOrNull(to)) return null
  }

  return {version: CHECKPOINT_VERSION, at: value.at, logs, totals: {...zeroTotals(), ...totals}, window: window as WindowEvent[]}
}

async function readCheckpoint(files: CounterFiles): Promise<Checkpoint | null> {
  try {
    return parseCheckpoint(await readFile(checkpointPath(files), 'utf8'))
  } catch (error) {
    if (typeof (error as NodeJS.ErrnoException).code === 'string') return null // missing or unreadable: rebuilt
    throw error
  }
}

interface Segment {
  file: string
  handle: FileHandle
  dev: number
  ino: number
  size: number
}

/** One log's segments that exist, oldest first. */
interface OpenLog {
  key: string
  /** The legacy top-level log (no host). */
  legacy: boolean
  segments: Segment[]
}

/** Opens every segment of every log, oldest first, each file once (a rotation stopped half-way leaves two names of one file). */
async function openLogs(files: CounterFiles): Promise<OpenLog[]> {
  const logs: OpenLog[] = []
  const seen = new Set<number>()
  try {
    for (const log of await eventLogs(files)) logs.push({key: logKey(files, log), legacy: log.host === null, segments: await openSegments(log, seen)})
  } catch (error) {
    await Promise.all(logs.flatMap((l) => l.segments.map(async (s) => s.handle.close())))
    throw error
  }

  return logs
}

async function openSegments(log: EventLog, seen: Set<number>): Promise<Segment[]> {
  const segments: Segment[] = []
  try {
    for (const file of await logSegments(log)) {
      // null when missing (rotated or removed meanwhile); a file where the state folder should be is a StateDirError.
      const handle = await openLog(file)
      if (!handle) continue
      const info = await handle.stat().catch(async (error: unknown) => {
        await handle.close()
        throw error
      })
      // By inode: on a queue shared over NFS every host sees its own dev number for the same file.
      if (!info.isFile() || seen.has(info.ino)) {
        await handle.close()
        continue
      }

      seen.add(info.ino)
      segments.push({file, handle, dev: info.dev, ino: info.ino, size: info.size})
    }
  } catch (error) {
    await Promise.all(segments.map((s) => s.handle.close()))
    throw error
  }

  return segments
}

async function bytesBefore(handle: FileHandle, offset: number): Promise<Buffer> {
  const from = Math.max(0, offset - HASH_BYTES)
  const bytes = Buffer.alloc(offset - from)
  let read = 0
  while (read < bytes.length) {
    const {bytesRead} = await handle.read(bytes, read, bytes.length - read, from + read)
    if (bytesRead === 0) break
    read += bytesRead
  }

  return bytes.subarray(0, read)
}

async function hashBefore(handle: FileHandle, offset: number): Promise<string> {
  return fnv1a64(await bytesBefore(handle, offset))
}

/** Whether the bytes before the mark's offset are still the ones it hashed. */
async function markHolds(handle: FileHandle, mark: SegmentMark): Promise<boolean> {
  if (mark.fnv1a64 !== undefined) return (await hashBefore(handle, mark.offset)) === mark.fnv1a64
  return mark.sha256 !== undefined && sha256Hex(await bytesBefore(handle, mark.offset)) === mark.sha256
}

/** Where one log goes on from: its first segment to read, and the offset in it. */
interface Resume {
  index: number
  offset: number
}

/**
 * Where each log goes on from (by key; a log the checkpoint does not name starts at its beginning),
 * or why the checkpoint cannot be used for one of them (then every log is read again: the totals
 * cannot be split by log).
 */
async function resumePoints(checkpoint: Checkpoint | null, logs: OpenLog[], nowMs: number): Promise<Map<string, Resume> | string> {
  if (!checkpoint) return 'no usable checkpoint'
  if (nowMs < checkpoint.at - CLOCK_SLACK_MS) return 'the clock is before the checkpoint'
  const points = new Map<string, Resume>()
  for (const [key, mark] of Object.entries(checkpoint.logs)) {
    const log = logs.find((l) => l.key === key)
    const segments = log?.segments ?? []
    // The legacy log is never written again: once none of its files is left (deleted or compressed
    // after an upgrade), its counts stay in the totals and its mark goes. A file there later is new.
    if (segments.length === 0 && log?.legacy) continue
    const index = segments.findIndex((s) => s.ino === mark.ino)
    if (index === -1) return `the file of the checkpoint is gone (${key})`
    const found = segments[index]!
    if (found.size < mark.offset) return `the log is shorter than the checkpoint (${key})`
    if (!(await markHolds(found.handle, mark))) return `the log was changed before the checkpoint (${key})`
    points.set(key, {index, offset: mark.offset})
  }

  return points
}

export interface CounterRun {
  counters: DelegationCounters
  /** Why everything was read again, or null when the checkpoint was used. */
  rebuilt: string | null
  /** Bytes of the log read this run (the tail, or everything on a rebuild), not counting the hash check. */
  bytesRead: number
  /** Whether counters.json was written (false when nothing changed, or it could not be). */
  wrote: boolean
}

/**
 * The counters at `now`: the checkpoint plus what the log gained since, then the checkpoint moved
 * on (only when it changed). A checkpoint that does not match the log (missing, unparsable, another
 * version, a log shorter than its offset or changed before it, its file gone and no archive being it,
 * a clock well before it) is set aside and everything on disk read again: every archive, oldest
 * first, then the live log. A state folder that cannot be written leaves the checkpoint as it was:
 * the counts are still right, only the next run reads more.
 */
export async function updateCounters(files: CounterFiles, now: Date): Promise<CounterRun> {
  const nowMs = now.getTime()
  const checkpoint = await readCheckpoint(files)
  const logs = await openLogs(files)
  try {
    const points = await resumePoints(checkpoint, logs, nowMs)
    const resumed = typeof points !== 'string'
    const at = resumed ? Math.max(checkpoint!.at, nowMs) : nowMs
    const keepMs = at - DAY_MS - CLOCK_SLACK_MS
    // Kept events older than the new window's reach go; a text `when` (a canonical-looking ts that is
    // no time) is compared as text, as a full read compares it.
    const keepText = new Date(keepMs).toISOString()
    const kept = resumed ? checkpoint!.window.filter(([when]) => (typeof when === 'number' ? when >= keepMs : when >= keepText)) : []
    const tally = new Tally(keepMs, resumed ? {...checkpoint!.totals} : undefined, kept)
    let bytesRead = 0
    const unterminated: Buffer[] = []
    const stops = new Map<string, {segment: Segment; offset: number}>()
    for (const {key, segments} of logs) {
      const point = resumed ? points.get(key) : undefined
      const first = point?.index ?? 0
      for (let i = first; i < segments.length; i++) {
        const segment = segments[i]!
        const isLast = i === segments.length - 1
        let offset = point && i === first ? point.offset : 0
        for await (const piece of readLogPieces(segment.handle, offset)) {
          bytesRead += piece.bytes.length
          // The live log's last line without its newline may be half-written: counted now, not consumed.
          // An archive is finished: its last line is all there will be.
          if (!piece.terminated && isLast) {
            unterminated.push(piece.bytes)
            continue
          }

          tally.add(piece.bytes)
          offset = piece.end
        }

        stops.set(key, {segment, offset})
      }
    }

    let shown = tally
    if (unterminated.length > 0) {
      shown = tally.copy()
      for (const piece of unterminated) shown.add(piece)
    }

    const counters = countersAt(shown, now)
    const previous = checkpoint?.logs ?? {}
    const moved = (key: string, stop: {segment: Segment; offset: number}) => previous[key]?.ino !== stop.segment.ino || previous[key]?.offset !== stop.offset
    const changed = !resumed || !checkpoint || Object.keys(previous).length !== stops.size || [...stops].some(([key, stop]) => moved(key, stop))
    let wrote = false
    if (changed) {
      const marks: Record<string, SegmentMark> = {}
      for (const [key, stop] of stops) marks[key] = {dev: stop.segment.dev, ino: stop.segment.ino, offset: stop.offset, fnv1a64: await hashBefore(stop.segment.handle, stop.offset)}
      const next: Checkpoint = {version: CHECKPOINT_VERSION, at, logs: marks, totals: tally.totals, window: tally.window}
      try {
        await writeFileAtomic(checkpointPath(files), JSON.stringify(next) + '\n', {mode: STATE_FILE_MODE})
        wrote = true
      } catch (error) {
        // A read-only, full or missing state folder: status must still answer; the next run reads more.
        if (!WRITE_PROBLEMS.has((error as NodeJS.ErrnoException).code ?? '')) throw error
      }
    }

    return {counters, rebuilt: resumed ? null : points, bytesRead, wrote}
  } finally {
    await Promise.all(logs.flatMap((l) => l.segments.map(async (s) => s.handle.close())))
  }
}

/** The counters `ccl status` shows (see updateCounters). */
export async function countersOf(files: CounterFiles, now: Date): Promise<DelegationCounters> {
  return (await updateCounters(files, now)).counters
}
