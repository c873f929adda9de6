// Reading events.jsonl as a stream, for `ccl events`: by chunks from a byte position, so memory is
// bounded by the longest line whatever the size of the log, and a follower knows exactly where it
// stopped. Not readline: it cannot say where in the file a line ended, and a follower must not
// consume a last line that is still without its newline.
import {type FileHandle, open, stat} from 'node:fs/promises'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {StateDirError} from '../errors.js'
import {dirProblem} from '../queue/layout.js'

import {type CclEvent, parseEventLine} from './log.js'

const CHUNK_BYTES = 256 * 1024
/** A line longer than this is not one ccl wrote: skipped, never held whole in memory. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024
const NEWLINE = 0x0a

/** An open log file and how far it has been read. */
class Cursor {
  position = 0
  private parts: Buffer[] = []
  private partBytes = 0
  private overlong = false
  private readonly buffer = Buffer.allocUnsafe(CHUNK_BYTES)

  constructor(
    private readonly handle: FileHandle,
    readonly ino: number,
    readonly dev: number,
  ) {}

  /** The events of the complete lines from the position to the end of the file, one array per chunk read. */
  async *drain(): AsyncGenerator<CclEvent[]> {
    for (;;) {
      const {bytesRead} = await this.handle.read(this.buffer, 0, CHUNK_BYTES, this.position)
      if (bytesRead === 0) return
      this.position += bytesRead
      const events = this.split(this.buffer.subarray(0, bytesRead))
      if (events.length > 0) yield events
    }
  }

  /** The last line when it has no newline (a finished file: a complete event, or a torn line skipped). */
  flush(): CclEvent[] {
    const line = this.take(Buffer.alloc(0))
    const event = line === null ? null : parseEventLine(line)
    return event ? [event] : []
  }

  /** The file was truncated: read it again from its start. */
  rewind(): void {
    this.position = 0
    this.parts = []
    this.partBytes = 0
    this.overlong = false
  }

  async close(): Promise<void> {
    await this.handle.close()
  }

  private split(chunk: Buffer): CclEvent[] {
    const events: CclEvent[] = []
    let start = 0
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const line = this.take(chunk.subarray(start, nl))
      const event = line === null ? null : parseEventLine(line)
      if (event) events.push(event)
      start = nl + 1
    }

    this.keep(chunk.subarray(start))
    return events
  }

  /** The line ending with `piece`, or null when it was too long to keep; resets the partial line. */
  private take(piece: Buffer): string | null {
    const overlong = this.overlong || this.partBytes + piece.length > MAX_LINE_BYTES
    // Split on the newline byte, decoded per line: no UTF-8 sequence holds a 0x0a byte.
    const line = overlong ? null : this.parts.length === 0 ? piece.toString('utf8') : Buffer.concat([...this.parts, piece]).toString('utf8')
    this.parts = []
    this.partBytes = 0
    this.overlong = false
    return line
  }

  /** Keeps the start of a line whose newline is not read yet (copied: the read buffer is reused). */
  private keep(piece: Buffer): void {
    if (piece.length === 0) return
    if (this.overlong || this.partBytes + piece.length > MAX_LINE_BYTES) {
      this.parts = []
      this.partBytes = 0
      this.overlong = true
      return
    }

    this.parts.push(Buffer.from(piece))
    this.partBytes += piece.length
  }
}

/** Opens the log for reading; null when there is none. A file where the state folder should be is a StateDirError (exit 3). */
export async function openLog(file: string): Promise<FileHandle | null> {
  try {
    return await open(file, 'r')
  } catch (error) {
    const {code} = error as NodeJS.ErrnoException
    if (code === 'ENOENT') return null
    if (code === 'ENOTDIR') throw new StateDirError(path.dirname(file), dirProblem(error as NodeJS.ErrnoException), {cause: error})
    throw error
  }
}

async function openCursor(file: string): Promise<Cursor | null> {
  const handle = await openLog(file)
  if (!handle) return null

  try {
    const info = await handle.stat()
    return new Cursor(handle, info.ino, info.dev)
  } catch (error) {
    await handle.close()
    throw error
  }
}

/** A file's stat, or null when it does not exist. */
export async function statOrNull(file: string) {
  try {
    return await stat(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

/** The events of the log as it is now, one array per chunk read; a missing log has none. */
export async function* readEventStream(file: string): AsyncGenerator<CclEvent[]> {
  const cursor = await openCursor(file)
  if (!cursor) return
  try {
    yield* cursor.drain()
    const last = cursor.flush()
    if (last.length > 0) yield last
  } finally {
    await cursor.close()
  }
}

/** What a follower of the log met, in the order it met it. */
export type FollowItem =
  | {kind: 'events'; events: CclEvent[]}
  /** Everything the log held when following began has been handed over. */
  | {kind: 'caught-up'}
  /**
   * missing: there is no log (yet, or any more: removed or renamed away); created: a log appeared
   * and is read from its start; replaced: the path is a new file (rotated), read from its start;
   * truncated: the file shrank below what was read, read again from its start.
   */
  | {kind: 'note'; note: 'missing' | 'created' | 'replaced' | 'truncated'}

export interface FollowOptions {
  signal: AbortSignal
  /** How often the file is looked at once caught up. */
  pollMs?: number
}

/**
 * Follows the log like `tail -F`: first what it holds, then each line appended, until `signal`
 * aborts. Polled, not watched: inotify misses a log on a network filesystem (SPEC §8), and a stat
 * every quarter second costs nothing. A rotation (the path now names another file: renamed away
 * and created anew) is noticed by its inode, a truncation by the size falling below what was read;
 * either way the new content is read from its start, after the rest of the old file.
 */
export async function* followEventStream(file: string, options: FollowOptions): AsyncGenerator<FollowItem> {
  const {signal} = options
  const pollMs = options.pollMs ?? 250
  let cursor = await openCursor(file)
  const drain = async function* (from: Cursor): AsyncGenerator<FollowItem> {
    for await (const events of from.drain()) {
      yield {kind: 'events', events}
      if (signal.aborted) return
    }
  }

  try {
    if (cursor) yield* drain(cursor)
    else yield {kind: 'note', note: 'missing'}
    yield {kind: 'caught-up'}
    while (!signal.aborted) {
      try {
        await sleep(pollMs, undefined, {signal})
      } catch (error) {
        if (signal.aborted) break
        throw error
      }

      if (cursor) yield* drain(cursor)
      const found = await statOrNull(file)
      const hadOne = cursor !== null
      if (cursor && (found === null || found.ino !== cursor.ino || found.dev !== cursor.dev)) {
        // What was written to the old file before it went: its last lines, then its unterminated end.
        yield* drain(cursor)
        const last = cursor.flush()
        if (last.length > 0) yield {kind: 'events', events: last}
        await cursor.close()
        cursor = null
        if (found === null) yield {kind: 'note', note: 'missing'}
      } else if (cursor && found && found.size < cursor.position) {
        cursor.rewind()
        yield {kind: 'note', note: 'truncated'}
        yield* drain(cursor)
      }

      if (!cursor && found) {
        cursor = await openCursor(file)
        if (cursor) {
          yield {kind: 'note', note: hadOne ? 'replaced' : 'created'}
          yield* drain(cursor)
        }
      }
    }
  } finally {
    await cursor?.close()
  }
}

/** How much of the log readLogChunks reads at once. */
const SCAN_BYTES = 4 * 1024 * 1024

/** A piece of the log: whole lines, ending just after a newline (`terminated`) or, the last one, at the end of the file. */
export interface LogPiece {
  bytes: Buffer
  /** The position in the file just after the piece. */
  end: number
  /** Whether it ends with a newline: a last piece without one may be a line still being written. */
  terminated: boolean
}

/**
 * The log as it is now, in pieces of whole lines: each piece starts at a line's start and ends just
 * after a newline (the last one may end the file without one). For readers that search the bytes
 * (status's counters, reap's recovery) rather than parse every line: memory stays bounded by
 * SCAN_BYTES plus the longest line, whatever the size of the log; a line longer than MAX_LINE_BYTES
 * (not one ccl wrote: a sparse hole, a foreign blob) is skipped without being held. A missing log has none.
 */
export async function* readLogChunks(file: string): AsyncGenerator<Buffer> {
  const handle = await openLog(file)
  if (!handle) return
  try {
    for await (const piece of readLogPieces(handle)) if (piece.bytes.length > 0) yield piece.bytes
  } finally {
    await handle.close()
  }
}

/**
 * readLogChunks on an open file from a byte position (a line's start), saying where each piece ends.
 * A line skipped for its length is an empty piece, so that a reader that records positions moves past it.
 */
export async function* readLogPieces(handle: FileHandle, from = 0): AsyncGenerator<LogPiece> {
  const buffer = Buffer.allocUnsafe(SCAN_BYTES)
  let carry: Buffer[] = []
  let carryBytes = 0
  let overlong = false
  let position = from
  for (;;) {
    const {bytesRead} = await handle.read(buffer, 0, SCAN_BYTES, position)
    if (bytesRead === 0) break
    const chunkAt = position
    position += bytesRead
    const chunk = buffer.subarray(0, bytesRead)
    const first = chunk.indexOf(NEWLINE)
    if (first === -1) {
      // No line ends here: the line goes on (kept while short enough, dropped once too long).
      if (!overlong && carryBytes + chunk.length <= MAX_LINE_BYTES) {
        carry.push(Buffer.from(chunk))
        carryBytes += chunk.length
      } else {
        carry = []
        carryBytes = 0
        overlong = true
      }

      continue
    }

    const last = chunk.lastIndexOf(NEWLINE)
    // The line that began before this chunk ends at `first`: whole if it stayed short, else skipped.
    const head = overlong || carryBytes + first + 1 > MAX_LINE_BYTES ? Buffer.alloc(0) : Buffer.concat([...carry, chunk.subarray(0, first + 1)])
    yield {bytes: head, end: chunkAt + first + 1, terminated: true}
    // Copied: the read buffer is reused for the next chunk, and a consumer may keep what it got.
    if (last > first) yield {bytes: Buffer.from(chunk.subarray(first + 1, last + 1)), end: chunkAt + last + 1, terminated: true}
    const rest = chunk.subarray(last + 1)
    carry = rest.length > 0 ? [Buffer.from(rest)] : []
    carryBytes = rest.length
    overlong = false
  }

  if (!overlong && carryBytes > 0) yield {bytes: Buffer.concat(carry), end: position, terminated: false}
}
