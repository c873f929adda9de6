// File primitives of the queue. Every temporary name ccl makes starts with TEMP_PREFIX and is short,
// so a 255-byte task name never makes it too long, and the next run can sweep what a killed writer left.
import {closeSync, constants, fchmodSync, fsync, lstatSync, open, writeSync} from 'node:fs'
import {link, lstat, readdir, rename, unlink} from 'node:fs/promises'
import path from 'node:path'
import {randomHex} from '../digest.js'

export const TEMP_PREFIX = '.ccl-tmp-'

/** A fresh temporary name in `dir`: a dot-name no scan takes for a task, a marker or a claim. */
export function tempName(dir: string): string {
  return path.join(dir, `${TEMP_PREFIX}${process.pid}-${randomHex(6)}`)
}

const fsyncFd = async (fd: number) => new Promise<void>((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())))
const createFd = async (file: string) =>
  new Promise<number>((resolve, reject) => open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644, (error, fd) => (error ? reject(error) : resolve(fd))))

/**
 * Creates `file` (O_EXCL) with `data`. The open, which makes a name, and the fsync, which waits for
 * the disk, run off the event loop: while other jobs' fsyncs are committing, ext4 makes a create wait
 * for the journal (~0.3 ms each in a reap of 1,000 jobs, 0.62 s of the event loop's time when it was
 * synchronous). The fchmod, write and close are synchronous: small, and a trip through libuv's thread
 * pool each would cost more than they do (~0.05 ms for all three).
 */
async function writeNew(file: string, data: string | Buffer, fsync: boolean, mode?: number): Promise<void> {
  const fd = await createFd(file)
  try {
    // fchmod, not open's mode: the umask must not narrow a mode kept from the file being replaced.
    if (mode !== undefined) fchmodSync(fd, mode)
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written, bytes.length - written)
    if (fsync) await fsyncFd(fd)
  } catch (error) {
    // A write that failed (ENOSPC, EIO, EDQUOT) leaves no half-written temp behind: it is ours, just made.
    try {
      closeSync(fd)
    } catch {
      // already the error being reported
    }

    await removeIfExists(file).catch(() => undefined)
    throw error
  }

  closeSync(fd)
}

/**
 * Writes a file so that a reader sees the old content or the new, never a part: temp name, fsync, rename.
 * `mode` (e.g. the replaced file's own) is set on the new file; without it the file gets 0644 less the umask.
 */
export async function writeFileAtomic(file: string, data: string | Buffer, options: {mode?: number} = {}): Promise<void> {
  const temp = tempName(path.dirname(file))
  try {
    await writeNew(temp, data, true, options.mode)
    await rename(temp, file)
  } catch (error) {
    await removeIfExists(temp)
    throw error
  }
}

/**
 * Creates `file` only if nothing of that name exists; false when something does. The content is
 * written and fsynced under a temporary name and then hard-linked: link(2) fails with EEXIST like
 * O_EXCL, but no reader ever sees the file empty or half-written, even if the process dies mid-way.
 */
export async function createExclusive(file: string, data: string | Buffer, options: {fsync?: boolean; mode?: number} = {}): Promise<boolean> {
  const temp = tempName(path.dirname(file))
  await writeNew(temp, data, options.fsync ?? true, options.mode)
  try {
    await link(temp, file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  } finally {
    await removeIfExists(temp)
  }
}

export async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file)
    return true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return false
    throw error
  }
}

/** Removes a file; a file already gone is fine (the step was done before a crash). */
export async function removeIfExists(file: string): Promise<boolean> {
  try {
    await unlink(file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

/** Linux's limit for one file name, in bytes. */
export const NAME_MAX = 255

/**
 * The n-th name for a task in a folder where its own name is taken: `fix.md`, `fix.2.md`, `fix.3.md`…
 * A name near NAME_MAX has its stem shortened (never inside a UTF-8 character) so the number fits.
 */
export function numberedName(name: string, n: number): string {
  if (n === 1) return name
  const stem = name.slice(0, -'.md'.length)
  const suffix = `.${n}.md`
  let bytes = Buffer.from(stem)
  const room = NAME_MAX - Buffer.byteLength(suffix)
  if (bytes.length > room) {
    let cut = room
    while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut-- // not inside a multi-byte character
    bytes = bytes.subarray(0, cut)
  }

  return bytes.toString() + suffix
}

/** Removes temp files older than `olderThanMs` from `dir` (a writer killed mid-write leaves them). Returns how many. */
export async function sweepTemps(dir: string, olderThanMs: number, now: number = Date.now()): Promise<number> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return 0
  }

  let removed = 0
  for (const name of names) {
    if (!name.startsWith(TEMP_PREFIX)) continue
    const file = path.join(dir, name)
    try {
      if (now - lstatSync(file).mtimeMs > olderThanMs && (await removeIfExists(file))) removed++
    } catch {
      // gone meanwhile: its writer finished
    }
  }

  return removed
}
