// Exclusive records: claims, hand-off records and locks are each one small JSON file that exactly
// one process can create, that names its holder, and that another process may break only when
// that holder is provably gone (same host) or the record is stale (any host, by its age).
import {randomBytes} from 'node:crypto'
import {constants, lstatSync, readFileSync} from 'node:fs'
import {open, unlink} from 'node:fs/promises'

import {StateFileError} from '../errors.js'
import {createExclusive, removeIfExists} from './files.js'
import {currentHolder, type Holder, liveness} from './holder.js'

/** What every record carries: who holds it, and a nonce that tells this record from a later one of the same name. */
export interface RecordBase {
  holder: Holder
  nonce: string
}

export function newNonce(): string {
  return randomBytes(8).toString('hex')
}

export function stamp(): RecordBase {
  return {holder: currentHolder(), nonce: newNonce()}
}

/**
 * Creates the record only if none exists, whole (written under a temp name, then linked: a reader
 * never sees it empty, even when its writer was killed mid-write). `durable` records (hand-offs)
 * are fsynced before they appear; transient ones (a claim held for a few milliseconds) are not:
 * after a power cut their holder is on another boot, so they are broken at once anyway.
 */
export async function createRecord(file: string, record: RecordBase, options: {durable?: boolean} = {}): Promise<boolean> {
  return createExclusive(file, JSON.stringify(record) + '\n', {fsync: Boolean(options.durable)})
}

export type ReadRecord<T> =
  | {kind: 'none'}
  /** Unreadable (torn by a crash, or written by something else): judged by age alone. */
  | {kind: 'torn'; mtimeMs: number; text: string}
  | {kind: 'record'; record: T; mtimeMs: number; text: string}

/** Reads a record synchronously (a few hundred bytes: cheaper than a trip through the thread pool). */
export function readRecord<T extends RecordBase>(file: string): ReadRecord<T> {
  let text: string
  let mtimeMs: number
  try {
    mtimeMs = lstatSync(file).mtimeMs
    text = readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return {kind: 'none'}
    throw new StateFileError(file, `cannot be read: ${(error as Error).message}`)
  }

  try {
    const record = JSON.parse(text) as T
    if (record && typeof record === 'object' && typeof record.nonce === 'string' && record.holder && typeof record.holder === 'object') {
      return {kind: 'record', record, mtimeMs, text}
    }
  } catch {
    // torn: fall through
  }

  return {kind: 'torn', mtimeMs, text}
}

/** Whether a record may be broken: its holder is gone (same host), or it is older than `staleMs` (any host). */
export function isBreakable(found: ReadRecord<RecordBase>, staleMs: number, now: number): boolean {
  if (found.kind === 'none') return false
  const age = now - found.mtimeMs
  if (found.kind === 'torn') return age > Math.min(staleMs, 5000)
  const state = liveness(found.record.holder)
  if (state === 'dead') return true
  return state === 'unknown' && age > staleMs
}

/** A breaker that died holding the guard left it; a guard is held for microseconds. */
const GUARD_STALE_MS = 5000

/**
 * Removes `file` only if it still holds exactly `text` (the version the caller judged breakable),
 * under a guard file that serialises breakers: without it, two breakers of one stale record could
 * each remove it, and the second would remove the new record the first one's process had made.
 * Returns true when the record was removed (or was gone already); false when it changed meanwhile
 * or another breaker is at work.
 */
export async function removeIfUnchanged(file: string, text: string): Promise<boolean> {
  const guard = `${file}.break`
  let handle
  try {
    handle = await open(guard, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    try {
      if (Date.now() - lstatSync(guard).mtimeMs > GUARD_STALE_MS) await removeIfExists(guard)
    } catch {
      // gone meanwhile
    }

    return false
  }

  try {
    await handle.close()
    let current: string
    try {
      current = readFileSync(file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true
      throw error
    }

    if (current !== text) return false
    await unlink(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
    return true
  } finally {
    await removeIfExists(guard)
  }
}
