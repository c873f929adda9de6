// The one reader of the files ccl opens from the queue, the state folder and the config: a FIFO
// (or a device, a socket) put where a task, a marker, a record or the config belongs is reported,
// never waited on. open(O_NONBLOCK) returns at once even for a FIFO without a writer, and fstat on
// the open descriptor, not a stat before the open, says what was opened: nothing can be swapped in
// between. Synchronous on purpose: these files are small, and one open + fstat + read + close
// costs less than four trips through libuv's thread pool.
// The event log has its own streaming readers (src/lib/events/) and does not come through here.
import {closeSync, constants, fstatSync, openSync, readSync, type Stats} from 'node:fs'

/** The error code of NotRegularFileError, alongside the system's ENOENT, EACCES, ELOOP, … */
export const ENOTREG = 'ENOTREG'

/** What was found where a regular file was expected: "a FIFO", "a folder", … */
export function describeKind(info: Stats): string {
  if (info.isDirectory()) return 'a folder'
  if (info.isFIFO()) return 'a FIFO'
  if (info.isSocket()) return 'a socket'
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device'
  if (info.isSymbolicLink()) return 'a symbolic link'
  return 'not a regular file'
}

/** Thrown, with `code` ENOTREG, for a path that is not a regular file; callers test `code` as for ENOENT. */
export class NotRegularFileError extends Error {
  readonly code = ENOTREG
  constructor(
    readonly file: string,
    readonly kind: string,
  ) {
    super(`not a regular file (${kind})`)
    this.name = 'NotRegularFileError'
  }
}

/** Thrown, with `code` EFBIG, for a file longer than the caller's `maxBytes`. */
export class FileTooLargeError extends Error {
  readonly code = 'EFBIG'
  constructor(
    readonly file: string,
    readonly maxBytes: number,
  ) {
    super(`larger than ${maxBytes} bytes, more than such a file ever holds`)
    this.name = 'FileTooLargeError'
  }
}

export interface ReadRegularOptions {
  /** Refuse a symbolic link (O_NOFOLLOW: ELOOP) instead of reading what it points to. */
  noFollow?: boolean
  /** Refuse a file longer than this (EFBIG) instead of reading it all into memory. */
  maxBytes?: number
}

/**
 * The bytes of a regular file. Throws the system's error of open (ENOENT, EACCES, ELOOP with
 * noFollow, …), NotRegularFileError (ENOTREG) for a FIFO, folder, socket or device, and
 * FileTooLargeError (EFBIG) above `maxBytes`. Never blocks on a FIFO.
 */
export function readRegularFile(file: string, options: ReadRegularOptions = {}): Buffer {
  return readRegularWithMode(file, options).content
}

/** readRegularFile, with the file's permission bits from the same fstat (no second lookup of the name). */
export function readRegularWithMode(file: string, options: ReadRegularOptions = {}): {content: Buffer; mode: number} {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow ? constants.O_NOFOLLOW : 0))
  try {
    const info = fstatSync(fd)
    if (!info.isFile()) throw new NotRegularFileError(file, describeKind(info))
    const limit = options.maxBytes ?? Number.POSITIVE_INFINITY
    if (info.size > limit) throw new FileTooLargeError(file, limit)
    return {content: readWhole(fd, info.size, file, limit), mode: info.mode & 0o7777}
  } finally {
    closeSync(fd)
  }
}

/**
 * Reads to the end in one read when the size did not change: four system calls a file instead of
 * readFileSync's six (it stats again and reads once more to see the end). For a regular file a
 * short read means end of file; a file that grew is read on (and /proc files, which say size 0).
 */
function readWhole(fd: number, size: number, file: string, limit: number): Buffer {
  let buffer = Buffer.allocUnsafe(Math.min(size, limit) + 1)
  let length = 0
  for (;;) {
    const read = readSync(fd, buffer, length, buffer.length - length, null)
    length += read
    if (length > limit) throw new FileTooLargeError(file, limit)
    if (read === 0 || length < buffer.length) return buffer.subarray(0, length)
    const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 2, limit + 1))
    buffer.copy(bigger, 0, 0, length)
    buffer = bigger
  }
}

/** readRegularFile as UTF-8 text. */
export function readRegularText(file: string, options: ReadRegularOptions = {}): string {
  return readRegularFile(file, options).toString('utf8')
}
