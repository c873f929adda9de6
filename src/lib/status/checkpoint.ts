// The counters of `ccl status` without reading the whole event log each time: `<state>/counters.json`
// holds the all-time totals up to a byte offset of the log, the identity of the file that offset is
// in, a hash of the bytes just before it, and the counted events of the last 24 h (and a little):
// a run reads only what was appended since, and the 24 h window stays exactly what a full read gives.
import {type FileHandle, readFile} from 'node:fs/promises'
import path from 'node:path'

import {logSegments} from '../events/archive.js'
import {openLog, readLogPieces} from '../events/stream.js'
import {writeFileAtomic} from '../queue/files.js'
import {STATE_FILE_MODE} from '../queue/layout.js'
import {countersAt, DAY_MS, type DelegationCounters, Tally, type Totals, type WindowEvent, zeroTotals} from './counters.js'
import {fnv1a64} from '../digest.js'

export const CHECKPOINT_VERSION = 1
/** How far the clock may step back from the checkpoint's time and the window still be exact (kept events reach this much further back). */
export const CLOCK_SLACK_MS = 10 * 60_000
/** How many bytes before the offset the hash covers: an edited, truncated or replaced log changes them. */
export const HASH_BYTES = 4096

export interface Checkpoint {
  version: typeof CHECKPOINT_VERSION
  /** When it was taken (ms); the kept events are all those at or after at − 24 h − slack. */
  at: number
  /** Where reading stopped: a file of the log (the live log, or an archive once it is rotated), at a line's end. null: there was no log. */
  segment: {dev: number; ino: number; offset: number; fnv1a64: string} | null
  totals: Totals
  window: WindowEvent[]
}

export interface CounterFiles {
  /** The state folder: counters.json and the archives of the log. */
  state: string
  /** The live log, events.jsonl. */
  events: string
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

  if (!value || typeof value !== 'object' || value.version !== CHECKPOINT_VERSION || typeof value.at !== 'number' || !Number.isFinite(value.at)) return null
  const {segment, totals, window} = value
  if (segment !== null) {
    if (!segment || typeof segment !== 'object' || !isCount(segment.ino) || !isCount(segment.dev) || !isCount(segment.offset) || typeof segment.fnv1a64 !== 'string') return null
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

  return {version: CHECKPOINT_VERSION, at: value.at, segment: segment ?? null, totals: {...zeroTotals(), ...totals}, window: window as WindowEvent[]}
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

/** Opens every segment there is, oldest first, each file once (a rotation stopped half-way leaves two names of one file). */
async function openSegments(files: CounterFiles): Promise<Segment[]> {
  const segments: Segment[] = []
  const seen = new Set<number>()
  try {
    for (const file of await logSegments(files)) {
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

async function hashBefore(handle: FileHandle, offset: number): Promise<string> {
  const from = Math.max(0, offset - HASH_BYTES)
  const bytes = Buffer.alloc(offset - from)
  let read = 0
  while (read < bytes.length) {
    const {bytesRead} = await handle.read(bytes, read, bytes.length - read, from + read)
    if (bytesRead === 0) break
    read += bytesRead
  }

  return fnv1a64(bytes.subarray(0, read))
}

/** Where to go on from, or why the checkpoint cannot be used (then everything is read again). */
async function resumePoint(checkpoint: Checkpoint | null, segments: Segment[], nowMs: number): Promise<{index: number; offset: number} | string> {
  if (!checkpoint) return 'no usable checkpoint'
  if (nowMs < checkpoint.at - CLOCK_SLACK_MS) return 'the clock is before the checkpoint'
  const {segment} = checkpoint
  if (segment === null) return 'the checkpoint saw no log'
  const index = segments.findIndex((s) => s.ino === segment.ino)
  if (index === -1) return 'the file of the checkpoint is gone'
  const found = segments[index]!
  if (found.size < segment.offset) return 'the log is shorter than the checkpoint'
  if ((await hashBefore(found.handle, segment.offset)) !== segment.fnv1a64) return 'the log was changed before the checkpoint'
  return {index, offset: segment.offset}
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
  const segments = await openSegments(files)
  try {
    const point = await resumePoint(checkpoint, segments, nowMs)
    const resumed = typeof point !== 'string'
    const at = resumed ? Math.max(checkpoint!.at, nowMs) : nowMs
    const keepMs = at - DAY_MS - CLOCK_SLACK_MS
    // Kept events older than the new window's reach go; a text `when` (a canonical-looking ts that is
    // no time) is compared as text, as a full read compares it.
    const keepText = new Date(keepMs).toISOString()
    const kept = resumed ? checkpoint!.window.filter(([when]) => (typeof when === 'number' ? when >= keepMs : when >= keepText)) : []
    const tally = new Tally(keepMs, resumed ? {...checkpoint!.totals} : undefined, kept)
    let bytesRead = 0
    let unterminated: Buffer | null = null
    let stop: {segment: Segment; offset: number} | null = null
    const first = resumed ? point.index : 0
    for (let i = first; i < segments.length; i++) {
      const segment = segments[i]!
      const isLast = i === segments.length - 1
      let offset = resumed && i === first ? point.offset : 0
      for await (const piece of readLogPieces(segment.handle, offset)) {
        bytesRead += piece.bytes.length
        // The live log's last line without its newline may be half-written: counted now, not consumed.
        // An archive is finished: its last line is all there will be.
        if (!piece.terminated && isLast) {
          unterminated = piece.bytes
          continue
        }

        tally.add(piece.bytes)
        offset = piece.end
      }

      stop = {segment, offset}
    }

    let shown = tally
    if (unterminated) {
      shown = tally.copy()
      shown.add(unterminated)
    }

    const counters = countersAt(shown, now)
    const previous = checkpoint?.segment ?? null
    const changed = !resumed ? !(checkpoint && previous === null && stop === null) : stop?.segment.ino !== previous?.ino || stop?.offset !== previous?.offset
    let wrote = false
    if (changed) {
      const next: Checkpoint = {
        version: CHECKPOINT_VERSION,
        at,
        segment: stop ? {dev: stop.segment.dev, ino: stop.segment.ino, offset: stop.offset, fnv1a64: await hashBefore(stop.segment.handle, stop.offset)} : null,
        totals: tally.totals,
        window: tally.window,
      }
      try {
        await writeFileAtomic(checkpointPath(files), JSON.stringify(next) + '\n', {mode: STATE_FILE_MODE})
        wrote = true
      } catch (error) {
        // A read-only, full or missing state folder: status must still answer; the next run reads more.
        if (!WRITE_PROBLEMS.has((error as NodeJS.ErrnoException).code ?? '')) throw error
      }
    }

    return {counters, rebuilt: resumed ? null : point, bytesRead, wrote}
  } finally {
    await Promise.all(segments.map((s) => s.handle.close()))
  }
}

/** The counters `ccl status` shows (see updateCounters). */
export async function countersOf(files: CounterFiles, now: Date): Promise<DelegationCounters> {
  return (await updateCounters(files, now)).counters
}
