import {createHash} from 'node:crypto'
import {readdir} from 'node:fs/promises'
import path from 'node:path'
import {z} from 'zod'

import {TaskFileError} from '../errors.js'
import {writeFileAtomic} from '../queue/files.js'
import {isTaskName, MARKER_SUFFIX, type QueueLayout} from '../queue/layout.js'
import {isJobId, JOB_ID_PATTERN} from '../secutools/job-id.js'
import {readRegularText} from '../regular-file.js'

/** The delegation marker `pending/NAME.md.delegated` (SPEC §3.2). Unknown keys are ignored, for later versions. */
export const markerSchema = z
  .object({
    version: z.literal(1),
    task: z.string().refine((value) => isTaskName(value), {error: 'expected a task file name ending in .md'}),
    state: z.enum(['submitting', 'submitted']),
    provider: z.string().min(1),
    idempotency_key: z.string().regex(/^[0-9a-f]{64}$/, {error: 'expected a sha256 hex digest'}),
    claimed_at: z.string().min(1),
    job_id: z
      .string()
      .refine((value) => isJobId(value), {error: `expected a job id matching ${JOB_ID_PATTERN}`})
      .nullable(),
    submitted_at: z.string().nullable(),
    complexity: z.string().nullish(),
    /** sha256 of the task's content when it was claimed: tells the delegated task from a new one of the same name. */
    task_sha256: z.string().regex(/^[0-9a-f]{64}$/, {error: 'expected a sha256 hex digest'}).nullish(),
    /** While `submitting`: the last failed submit of this claim (when, and the error without the key); `ccl status` shows it. */
    last_error: z.object({at: z.string(), message: z.string()}).nullish(),
  })
  .refine((marker) => marker.state === 'submitting' || marker.job_id !== null, {
    error: 'a submitted marker needs a job_id',
    path: ['job_id'],
  })

export type Marker = z.infer<typeof markerSchema>

/**
 * sha256 hex of the task name, a NUL, the task's content, a NUL and the claim's random nonce (SPEC §3.2):
 * every resubmit of one claim sends the same key, and the same task dropped again later is a new job.
 * Without a nonce (markers of earlier versions) it is the name and content alone.
 */
export function idempotencyKey(taskName: string, content: string | Buffer, nonce?: string): string {
  const hash = createHash('sha256').update(taskName).update('\0').update(content)
  if (nonce !== undefined) hash.update('\0').update(nonce)
  return hash.digest('hex')
}

export function contentHash(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex')
}

/** Whether `content` is the task this marker delegated (and not a new task dropped in under the same name). */
export function isDelegatedContent(marker: Marker, content: Buffer): boolean {
  return marker.task_sha256 ? contentHash(content) === marker.task_sha256 : idempotencyKey(marker.task, content) === marker.idempotency_key
}

export function serializeMarker(marker: Marker): string {
  return JSON.stringify(marker, null, 2) + '\n'
}

/** Reads and validates a marker; throws TaskFileError (exit 2) naming the file and the bad field. */
export async function readMarker(file: string): Promise<Marker> {
  const marker = await readMarkerIfExists(file)
  if (!marker) throw new TaskFileError(`${file}: delegation marker not found`)
  return marker
}

/** Like readMarker, but a marker that does not exist is `undefined`. */
export async function readMarkerIfExists(file: string): Promise<Marker | undefined> {
  let text: string
  try {
    // Synchronous: a marker is a few hundred bytes (see regular-file.ts); a FIFO is ENOTREG, not a wait.
    text = readRegularText(file, {maxBytes: 1024 * 1024})
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new TaskFileError(`${file}: cannot read delegation marker: ${(error as Error).message}`, {cause: error})
  }

  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw new TaskFileError(`${file}: delegation marker is not valid JSON`)
  }

  const parsed = markerSchema.safeParse(data)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(marker)'}: ${issue.message}`).join('; ')
    throw new TaskFileError(`${file}: invalid delegation marker: ${issues}`)
  }

  return parsed.data
}

export interface MarkerEntry {
  /** The delegated task's name, e.g. fix.md. */
  task: string
  marker: Marker
  /** The marker file's absolute path. */
  path: string
}

export interface MarkerScan {
  /** Whether pending/ holds files ccl leaves only when killed mid-work (`.ccl-…`): worth a sweep. */
  leftovers: boolean
  markers: MarkerEntry[]
  /** Markers that could not be used, one line each naming the file. */
  problems: {path: string; message: string}[]
}

/** Every marker in pending/, sorted by task name; broken ones are reported as problems, never thrown. */
export async function scanMarkers(layout: QueueLayout): Promise<MarkerScan> {
  let names: string[]
  try {
    names = await readdir(layout.pending)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {leftovers: false, markers: [], problems: []}
    throw error
  }

  const tasks = names
    .filter((name) => name.endsWith(MARKER_SUFFIX))
    .map((name) => name.slice(0, -MARKER_SUFFIX.length))
    .filter((task) => isTaskName(task))
    .sort()
  // One by one, synchronously: reap reads 1,000 markers in ~35 ms this way, where 32 fs/promises
  // reads in flight took ~170 ms; the scan sits between reap's start and its first request.
  const scan: MarkerScan = {leftovers: names.some((name) => name.startsWith('.ccl-')), markers: [], problems: []}
  for (const task of tasks) {
    const file = path.join(layout.pending, task + MARKER_SUFFIX)
    let marker: Marker | undefined
    try {
      marker = await readMarkerIfExists(file)
    } catch (error) {
      scan.problems.push({path: file, message: (error as Error).message})
      continue
    }

    if (!marker) continue // finished and removed while we looked
    else if (marker.task !== task) scan.problems.push({path: file, message: `${file}: marker names task "${marker.task}", not ${task}`})
    else scan.markers.push({task, marker, path: file})
  }

  return scan
}

/** Rewrites a marker atomically (temp + fsync + rename). */
export async function writeMarker(file: string, marker: Marker): Promise<void> {
  await writeFileAtomic(file, serializeMarker(marker))
}
