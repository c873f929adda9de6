// Command locks (`reap`, `reconcile`): one JSON record file per lock, `<locks>/<name>.lock`, that
// names its holder (host, pid, process start time, boot id). Whoever finds it taken judges the
// holder: on this host a holder that is gone is taken over at once; another host's holder is
// taken over only once it stopped refreshing the file's mtime for `staleMs` (it cannot be asked).
import {lstatSync, type Stats} from 'node:fs'
import {rmdir, utimes} from 'node:fs/promises'
import path from 'node:path'

import {LockLostError, StateFileError} from '../errors.js'
import {makeStateDir} from './layout.js'
import {currentBootId, currentHost, type Holder, liveness, processStart} from './holder.js'
import {createRecord, isBreakable, readRecord, type ReadRecord, type RecordBase, refreshedWithin, removeIfUnchanged, stamp} from './record.js'
import {readRegularText} from '../regular-file.js'
import {type Trace, trace} from '../trace.js'

export interface LockRecord extends RecordBase {
  acquired_at: string
}

export interface Lock {
  /** The lock file. */
  readonly file: string
  /** True once a refresh found the file gone or carrying another holder's nonce. */
  readonly compromised: boolean
  /** Throws LockLostError when compromised. A boolean check, no I/O: cheap enough for every job. */
  assertHeld(): void
  /** Removes the file, but only while it still is ours. */
  release(): Promise<void>
}

export interface LockOptions {
  /** Another host's lock whose mtime is older than this is taken over; the holder refreshes it every max(1 s, staleMs/4). */
  staleMs?: number
}

/** Who holds a lock, as lockHolder read it. */
export interface LockHolderInfo {
  file: string
  /** record: a ccl lock; torn: a file that does not parse (being written, or its writer died); legacy: an older ccl's lock directory. */
  kind: 'record' | 'torn' | 'legacy'
  holder: Holder | null
  acquired_at: string | null
  /** The file's mtime: when its holder last refreshed it. */
  refreshed_at: string
}

const debug = trace('ccl:lock')

const lockFile = (locksDir: string, name: string) => path.join(locksDir, `${name}.lock`)

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new StateFileError(file, `cannot be read: ${(error as Error).message}`)
  }
}

/** Why a record that isBreakable judged breakable may be broken, for the debug line. */
function whyBreakable(found: ReadRecord<LockRecord>, now: number): string {
  if (found.kind === 'none') return 'gone'
  const age = found.mtimeMs > now ? `its mtime ${Math.round(found.mtimeMs - now)} ms in the future (the clock was stepped back)` : `${Math.round(now - found.mtimeMs)} ms since its last refresh`
  if (found.kind === 'torn') return `unreadable, ${age}`
  const {holder} = found.record
  if (liveness(holder) !== 'dead') return `holder pid ${holder.pid} on ${holder.host}: ${age}`
  const boot = currentBootId()
  if (boot !== null && typeof holder.boot_id === 'string' && holder.boot_id !== boot) return `holder pid ${holder.pid} ran before the last boot`
  return processStart(holder.pid) === null ? `holder pid ${holder.pid} is not running` : `pid ${holder.pid} is another process now (another start time)`
}

/**
 * Takes the named lock without waiting; undefined when a holder that may be alive has it.
 * Taken over: a holder on this host that is gone (another boot id, its pid not running, or that
 * pid running with another start time), at once; a holder on another host, or an unreadable file,
 * once not refreshed for `staleMs` (an unreadable one after 5 s at most); an older ccl's
 * proper-lockfile directory of the same name, once not refreshed for `staleMs`.
 */
export async function tryLock(locksDir: string, name: string, options: LockOptions = {}): Promise<Lock | undefined> {
  const staleMs = options.staleMs ?? 10_000
  const file = lockFile(locksDir, name)
  await makeStateDir(locksDir)
  const record: LockRecord = {...stamp(), acquired_at: new Date().toISOString()}
  // Each round either takes the lock, refuses, or removes what stood in the way; a few rounds
  // cover losing a race against another breaker or a holder that let go meanwhile.
  for (let round = 0; round < 5; round++) {
    if (await createRecord(file, record)) {
      debug('acquired %s (pid %d, nonce %s)', file, record.holder.pid, record.nonce)
      return holdLock(file, record, staleMs, debug)
    }

    const now = Date.now()
    const stat = lstatOrNull(file)
    if (stat === null) continue
    if (stat.isDirectory()) {
      const age = now - stat.mtimeMs
      if (refreshedWithin(stat.mtimeMs, staleMs, now)) {
        debug('refused %s: an older ccl holds it as a directory, refreshed %d ms ago', file, Math.round(age))
        return undefined
      }

      debug('takeover %s: an older ccl left it as a directory, not refreshed for %d ms', file, Math.round(age))
      // rmdir, never a recursive rm: if another ccl removed it and made its file meanwhile, rmdir fails (ENOTDIR).
      await rmdir(file).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOTEMPTY' || error.code === 'EEXIST') {
          throw new StateFileError(file, 'is a directory with files in it, not a lock ccl made')
        }

        if (error.code !== 'ENOENT' && error.code !== 'ENOTDIR') throw error
      })
      continue
    }

    const found = readRecord<LockRecord>(file)
    if (found.kind === 'none') continue
    if (!isBreakable(found, staleMs, now)) {
      debug('refused %s: held by %s', file, found.kind === 'record' ? `pid ${found.record.holder.pid} on ${found.record.holder.host}` : 'a file being written')
      return undefined
    }

    debug('takeover %s: %s', file, whyBreakable(found, now))
    await removeIfUnchanged(file, found.text)
  }

  debug('refused %s: still contended after 5 rounds', file)
  return undefined
}

function holdLock(file: string, record: LockRecord, staleMs: number, debug: Trace): Lock {
  const text = JSON.stringify(record) + '\n'
  let compromised: string | undefined
  let released = false
  // unref: a command that finished its work must not be kept alive by its lock.
  const timer = setInterval(() => void refresh(), Math.max(1000, Math.floor(staleMs / 4)))
  timer.unref()
  const lose = (why: string) => {
    compromised ??= why
    clearInterval(timer)
    debug('compromised %s: %s', file, why)
  }

  const refresh = async () => {
    if (released || compromised) return
    let current: string
    try {
      current = readRegularText(file)
    } catch (error) {
      lose((error as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file is gone' : `it cannot be read: ${(error as Error).message}`)
      return
    }

    if (current !== text) {
      lose('the file carries another holder')
      return
    }

    try {
      const now = new Date()
      await utimes(file, now, now)
    } catch (error) {
      if (released) return
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') lose('the file is gone')
      else debug('refresh of %s failed: %s', file, (error as Error).message)
    }
  }

  return {
    file,
    get compromised() {
      return compromised !== undefined
    },
    assertHeld() {
      if (compromised !== undefined) throw new LockLostError(file)
    },
    async release() {
      if (released) return
      released = true
      clearInterval(timer)
      if (compromised !== undefined) {
        debug('release %s: not ours any more (%s), left alone', file, compromised)
        return
      }

      // removeIfUnchanged says false when the file changed (not ours: leave it) or while another
      // process holds its break guard for a moment; only the second is worth a few more tries.
      for (let attempt = 0; attempt < 50; attempt++) {
        if (await removeIfUnchanged(file, text)) {
          debug('released %s', file)
          return
        }

        let current: string | undefined
        try {
          current = readRegularText(file)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
        }

        if (current !== text) {
          debug('release %s: another holder has it now, left alone', file)
          return
        }

        await new Promise((resolve) => setTimeout(resolve, 10))
      }

      debug('release %s: its break guard stayed taken; left for the next run (this process is gone by then)', file)
    },
  }
}

/** Who holds the named lock right now; undefined when nobody does. Synchronous: one stat and one read. */
export function lockHolder(locksDir: string, name: string): LockHolderInfo | undefined {
  const file = lockFile(locksDir, name)
  const stat = lstatOrNull(file)
  if (stat === null) return undefined
  if (stat.isDirectory()) return {file, kind: 'legacy', holder: null, acquired_at: null, refreshed_at: new Date(stat.mtimeMs).toISOString()}
  const found = readRecord<LockRecord>(file)
  if (found.kind === 'none') return undefined
  const refreshed_at = new Date(found.mtimeMs).toISOString()
  if (found.kind === 'torn') return {file, kind: 'torn', holder: null, acquired_at: null, refreshed_at}
  const acquired = found.record.acquired_at
  return {file, kind: 'record', holder: found.record.holder, acquired_at: typeof acquired === 'string' ? acquired : null, refreshed_at}
}

/**
 * tryLock, and when refused, who holds it. The holder is read after the refusal, so it may have let
 * go meanwhile: then one more try, so that "another … is running" is said only while one is.
 */
export async function tryLockOrHolder(
  locksDir: string,
  name: string,
  options: LockOptions = {},
): Promise<{lock: Lock; holder?: undefined} | {lock?: undefined; holder: LockHolderInfo | undefined}> {
  for (let round = 0; ; round++) {
    const lock = await tryLock(locksDir, name, options)
    if (lock) return {lock}
    let holder = lockHolder(locksDir, name)
    // Unreadable: most likely created a moment ago and not written yet; its writer names itself within milliseconds.
    for (let wait = 0; holder?.kind === 'torn' && wait < 10; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      holder = lockHolder(locksDir, name)
    }

    if (holder || round > 0) return {holder}
  }
}

/** `pid 123, since ISO` (and `on host-b` for another host's), for "another … is running (…)". */
export function describeLockHolder(info: LockHolderInfo | undefined): string {
  if (!info) return 'holder not known'
  if (info.kind === 'legacy') return `an older ccl's lock directory ${info.file}, refreshed ${info.refreshed_at}`
  if (info.kind === 'torn' || !info.holder) return `its lock file ${info.file} is being written`
  const {holder} = info
  const where = holder.host === currentHost() ? '' : ` on ${holder.host}`
  return `pid ${holder.pid}${where}, since ${info.acquired_at ?? info.refreshed_at}`
}

/**
 * tryLockOrHolder, trying again every `stepMs` for up to `waitMs` while a live holder has it: for an
 * operator's command that must not run beside a pass of reap or reconcile, which hold theirs for seconds.
 */
export async function lockWithin(
  locksDir: string,
  name: string,
  options: LockOptions & {waitMs: number; stepMs?: number},
): Promise<{lock: Lock; holder?: undefined} | {lock?: undefined; holder: LockHolderInfo | undefined}> {
  const deadline = Date.now() + options.waitMs
  for (;;) {
    const attempt = await tryLockOrHolder(locksDir, name, options)
    if (attempt.lock || Date.now() >= deadline) return attempt
    await new Promise((resolve) => setTimeout(resolve, options.stepMs ?? 100))
  }
}
