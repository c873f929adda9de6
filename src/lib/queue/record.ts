// Exclusive records: claims, hand-off records and locks are each one small JSON file that exactly
// one process can create, that names its holder, and that another process may break only when
// that holder is provably gone (same host) or the record is stale (any host, by its age).
import {lstatSync} from 'node:fs'

import {StateFileError} from '../errors.js'
import {failpoint} from '../failpoints.js'
import {createExclusive, removeIfExists} from './files.js'
import {STATE_FILE_MODE} from './layout.js'
import {currentHolder, type Holder, liveness} from './holder.js'
import {readRegularText} from '../regular-file.js'
import {randomHex} from '../digest.js'

/** What every record carries: who holds it, and a nonce that tells this record from a later one of the same name. */
export interface RecordBase {
  holder: Holder
  nonce: string
}

export function newNonce(): string {
  return randomHex(8)
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
  // 0600: records (locks, claims, hand-offs) are ccl's own, like everything in the state folder.
  return createExclusive(file, JSON.stringify(record) + '\n', {fsync: Boolean(options.durable), mode: STATE_FILE_MODE})
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
    text = readRegularText(file)
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

/** How far in the future an mtime may be and still count as fresh: clocks of hosts sharing a queue may differ this much. */
export const FUTURE_SKEW_MS = 2000

/**
 * Whether a file refreshed at `mtimeMs` was refreshed within `staleMs` of `now`. An mtime more than
 * FUTURE_SKEW_MS in the future is not fresh: the clock was stepped back since (or the file was
 * touched by hand), and "refreshed in the future" would otherwise keep it fresh for as long as the
 * step. A live holder refreshes its file every staleMs/4, so its mtime is back to now long before.
 */
export function refreshedWithin(mtimeMs: number, staleMs: number, now: number): boolean {
  const age = now - mtimeMs
  return age <= staleMs && age >= -FUTURE_SKEW_MS
}

/** Whether a record may be broken: its holder is gone (same host), or not refreshed within `staleMs` (any host; see refreshedWithin). */
export function isBreakable(found: ReadRecord<RecordBase>, staleMs: number, now: number): boolean {
  if (found.kind === 'none') return false
  if (found.kind === 'torn') return !refreshedWithin(found.mtimeMs, Math.min(staleMs, 5000), now)
  const state = liveness(found.record.holder)
  if (state === 'dead') return true
  return state === 'unknown' && !refreshedWithin(found.mtimeMs, staleMs, now)
}

/** A breaker that died holding the guard left it; a guard is held for microseconds. */
const GUARD_STALE_MS = 5000

/** Whether a guard file may go: its breaker is gone (same host), or it is older than GUARD_STALE_MS. */
function guardIsStale(guard: string): boolean {
  try {
    const info = lstatSync(guard)
    if (Date.now() - info.mtimeMs > GUARD_STALE_MS) return true
    const holder = JSON.parse(readRegularText(guard) || 'null') as Holder | null
    return liveness(holder ?? undefined) === 'dead'
  } catch {
    return false // gone meanwhile, or still being written by a live breaker
  }
}

/**
 * Removes `file` only if it still holds exactly `text` (the version the caller judged breakable),
 * under a guard file that serialises breakers: without it, two breakers of one stale record could
 * each remove it, and the second would remove the new record the first one's process had made.
 * Returns true when this call removed the record; false when it was gone already, changed
 * meanwhile, or another breaker is at work. A guard left by a breaker that was killed is taken over.
 */
export async function removeIfUnchanged(file: string, text: string): Promise<boolean> {
  const guard = `${file}.break`
  // Made whole, holder and all (temp + link): a breaker killed between an O_EXCL open and its write
  // left an empty guard, which no one could judge dead, so the record could not be broken for
  // GUARD_STALE_MS; every reap in those 5 s was skipped behind a dead one's lock.
  for (let attempt = 0; !(await createExclusive(guard, JSON.stringify(currentHolder()), {fsync: false, mode: STATE_FILE_MODE})); attempt++) {
    if (attempt > 0 || !guardIsStale(guard)) return false
    await removeIfExists(guard)
  }

  failpoint('record.guard-made')
  try {
    let current: string
    try {
      current = readRegularText(file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw error
    }

    if (current !== text) return false
    return await removeIfExists(file)
  } finally {
    await removeIfExists(guard)
  }
}

/** Removes a guard file its breaker left (killed, or long gone); true when it did. */
export async function removeStaleGuard(guard: string): Promise<boolean> {
  return guardIsStale(guard) && (await removeIfExists(guard))
}

/**
 * Removes the caller's own record (a claim it holds): only if it still holds exactly `text`, so a
 * record that another process broke and replaced meanwhile is left alone. No guard: only breakers
 * race each other, and a holder releasing what it holds is not one.
 */
export async function releaseOwn(file: string, text: string): Promise<void> {
  try {
    if (readRegularText(file) !== text) return
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }

  await removeIfExists(file)
}
