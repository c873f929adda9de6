import {z} from 'zod'

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

const iso = z.iso.datetime({offset: true})

const recordSchema = z.object({
  crashes: z.array(iso).default([]),
  failed_at: iso.nullable().default(null),
  created_at: iso.nullable().default(null),
  held: z.boolean().default(false),
  last_crash: z
    .object({
      at: iso,
      state: z.enum(['dead', 'absent']),
      exit_status: z.number().int().nullable(),
      signal: z.number().int().nullable(),
      last_lines: z.array(z.string()),
    })
    .optional(),
})

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

  const parsed = recordSchema.safeParse(data)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new StateFileError(file, `not a session record: ${issue.path.join('.') || '(top level)'}: ${issue.message}`, {hint})
  }

  return parsed.data
}

/** Written atomically (temp + fsync + rename); the sessions folder is made when missing. */
export async function writeSessionRecord(layout: QueueLayout, account: string, record: SessionRecord): Promise<void> {
  await makeStateDir(layout.sessions)
  await writeFileAtomic(sessionStatePath(layout, account), JSON.stringify(record, null, 2) + '\n', {mode: STATE_FILE_MODE})
}
