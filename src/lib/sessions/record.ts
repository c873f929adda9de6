import {StateFileError} from '../errors.js'
import {writeFileAtomic} from '../queue/files.js'
import {makeStateDir, type QueueLayout, sessionStatePath, STATE_FILE_MODE} from '../queue/layout.js'
import type {LastCrash} from './crash.js'
import {readRegularText} from '../regular-file.js'

/**
 * `<state>/sessions/<account>.json` (SPEC §3).
 * - crashes: when reconcile found a session it had created dead or gone (ISO, oldest first; only the window is kept)
 * - failed_at: the last of those, null when none since the last release
 * - created_at: when reconcile created the session that should be running now; null when none is expected
 *   (never created, or its death was already counted)
 * - held: over the crash limit; reconcile leaves the account alone until `--release`
 * - last_crash: why the last crash happened, as its dead pane told it; absent in records from before it
 *   existed, and until the first crash since the last release
 */
export interface SessionRecord {
  crashes: string[]
  failed_at: string | null
  created_at: string | null
  held: boolean
  last_crash?: LastCrash
}

// ISO 8601 date-time with seconds and Z or an offset, calendar-checked: the pattern of zod's
// z.iso.datetime({offset: true}) (zod/v4/core/regexes.js), which read these records before.
const DATE = '(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))'
const TIME = '(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)'
const ISO = new RegExp(`^${DATE}T${TIME}$`)

/** A record's fields checked by hand (reconcile reads one per account at every pass: no schema library on that path); the first problem, as `field: what`. */
function parseRecord(data: unknown): {ok: true; record: SessionRecord} | {ok: false; problem: string} {
  const type = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value)
  const expected = (at: string, what: string, value: unknown) => ({ok: false as const, problem: `${at}: Invalid input: expected ${what}, received ${type(value)}`})
  const iso = (at: string, value: unknown) => (typeof value !== 'string' ? expected(at, 'string', value) : ISO.test(value) ? undefined : {ok: false as const, problem: `${at}: Invalid ISO datetime`})
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return expected('(top level)', 'object', data)
  const raw = data as Record<string, unknown>
  const crashes = raw.crashes === undefined ? [] : raw.crashes
  if (!Array.isArray(crashes)) return expected('crashes', 'array', crashes)
  for (const [index, at] of crashes.entries()) {
    const bad = iso(`crashes.${index}`, at)
    if (bad) return bad
  }

  const record: SessionRecord = {crashes: crashes as string[], failed_at: null, created_at: null, held: false}
  for (const key of ['failed_at', 'created_at'] as const) {
    const value = raw[key] === undefined ? null : raw[key]
    if (value === null) continue
    const bad = iso(key, value)
    if (bad) return bad
    record[key] = value as string
  }

  const held = raw.held === undefined ? false : raw.held
  if (typeof held !== 'boolean') return expected('held', 'boolean', held)
  record.held = held
  if (raw.last_crash !== undefined) {
    const crash = raw.last_crash as Record<string, unknown>
    if (crash === null || typeof crash !== 'object' || Array.isArray(crash)) return expected('last_crash', 'object', crash)
    const bad = iso('last_crash.at', crash.at)
    if (bad) return bad
    if (crash.state !== 'dead' && crash.state !== 'absent') return {ok: false, problem: 'last_crash.state: Invalid option: expected one of "dead"|"absent"'}
    for (const key of ['exit_status', 'signal'] as const) {
      if (crash[key] !== null && !Number.isInteger(crash[key])) return expected(`last_crash.${key}`, 'int', crash[key])
    }

    if (!Array.isArray(crash.last_lines) || !crash.last_lines.every((line) => typeof line === 'string')) return expected('last_crash.last_lines', 'array of strings', crash.last_lines)
    record.last_crash = {at: crash.at as string, state: crash.state, exit_status: crash.exit_status as number | null, signal: crash.signal as number | null, last_lines: crash.last_lines as string[]}
  }

  return {ok: true, record}
}

export function emptyRecord(): SessionRecord {
  return {crashes: [], failed_at: null, created_at: null, held: false}
}

/** The record, or an empty one when the account has none yet. A file that is not a record is an error naming it. */
export async function readSessionRecord(layout: QueueLayout, account: string): Promise<SessionRecord> {
  const file = sessionStatePath(layout, account)
  let text: string
  try {
    text = readRegularText(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyRecord()
    throw new StateFileError(file, `cannot read session record: ${(error as Error).message}`)
  }

  const hint = `fix it, or clear it with: ccl reconcile --release ${account} (this forgets its crash count and hold)`
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    throw new StateFileError(file, `not a session record: ${(error as Error).message}`, {hint})
  }

  const parsed = parseRecord(data)
  if (!parsed.ok) throw new StateFileError(file, `not a session record: ${parsed.problem}`, {hint})
  return parsed.record
}

/** Written atomically (temp + fsync + rename); the sessions folder is made when missing. */
export async function writeSessionRecord(layout: QueueLayout, account: string, record: SessionRecord): Promise<void> {
  await makeStateDir(layout.sessions)
  await writeFileAtomic(sessionStatePath(layout, account), JSON.stringify(record, null, 2) + '\n', {mode: STATE_FILE_MODE})
}
