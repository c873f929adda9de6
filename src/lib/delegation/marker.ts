import {readdir} from 'node:fs/promises'
import path from 'node:path'

import {TaskFileError} from '../errors.js'
import {writeFileAtomic} from '../queue/files.js'
import {isTaskName, MARKER_SUFFIX, type QueueLayout} from '../queue/layout.js'
import {sha256Hex} from '../digest.js'
import {isJobId} from '../secutools/job-id.js'
import {readRegularText} from '../regular-file.js'

/**
 * The delegation marker `pending/NAME.md.delegated` (SPEC §3.2). Unknown keys are ignored, for later
 * versions. The zod schema of it (marker-schema.ts, the reference) is loaded only to word why a
 * marker is refused: status and reap read hundreds of markers a run, and checking these fields by
 * hand spares them zod's ~15 ms of loading (docs/performance.md). A test holds the two to one verdict.
 */
export interface Marker {
  version: 1
  task: string
  state: 'submitting' | 'submitted'
  provider: string
  idempotency_key: string
  claimed_at: string
  job_id: string | null
  submitted_at: string | null
  complexity?: string | null | undefined
  /** sha256 of the task's content when it was claimed: tells the delegated task from a new one of the same name. */
  task_sha256?: string | null | undefined
  /** While `submitting`: the last failed submit of this claim (when, and the error without the key); `ccl status` shows it. */
  last_error?: {at: string; message: string} | null | undefined
}

const SHA256_HEX = /^[0-9a-f]{64}$/
const isString = (value: unknown): value is string => typeof value === 'string'
const isNullish = (value: unknown): value is null | undefined => value === null || value === undefined

/** The marker when `data` is a valid one (as markerSchema would return it: known keys only), else undefined. */
export function checkMarker(data: unknown): Marker | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined
  const d = data as Record<string, unknown>
  const {task, state, provider, idempotency_key: key, claimed_at: claimedAt, job_id: jobId, submitted_at: submittedAt} = d
  if (d.version !== 1 || !isString(task) || !isTaskName(task) || (state !== 'submitting' && state !== 'submitted')) return undefined
  if (!isString(provider) || provider.length === 0 || !isString(key) || !SHA256_HEX.test(key) || !isString(claimedAt) || claimedAt.length === 0) return undefined
  if (!(jobId === null || (isString(jobId) && isJobId(jobId))) || !(submittedAt === null || isString(submittedAt))) return undefined
  if (!(isNullish(d.complexity) || isString(d.complexity)) || !(isNullish(d.task_sha256) || (isString(d.task_sha256) && SHA256_HEX.test(d.task_sha256)))) return undefined
  const lastError = d.last_error as {at?: unknown; message?: unknown} | null | undefined
  if (!isNullish(lastError) && (typeof lastError !== 'object' || !isString(lastError.at) || !isString(lastError.message))) return undefined
  if (state === 'submitted' && jobId === null) return undefined
  const marker: Marker = {version: 1, task, state, provider, idempotency_key: key, claimed_at: claimedAt, job_id: jobId, submitted_at: submittedAt}
  if (d.complexity !== undefined) marker.complexity = d.complexity as string | null
  if (d.task_sha256 !== undefined) marker.task_sha256 = d.task_sha256 as string | null
  if (lastError !== undefined) marker.last_error = lastError === null ? null : {at: lastError.at as string, message: lastError.message as string}
  return marker
}

/**
 * sha256 hex of the task name, a NUL, the task's content, a NUL and the claim's random nonce (SPEC §3.2):
 * every resubmit of one claim sends the same key, and the same task dropped again later is a new job.
 * Without a nonce (markers of earlier versions) it is the name and content alone.
 */
export function idempotencyKey(taskName: string, content: string | Buffer, nonce?: string): string {
  return nonce === undefined ? sha256Hex(taskName, '\0', content) : sha256Hex(taskName, '\0', content, '\0', nonce)
}

export function contentHash(content: string | Buffer): string {
  return sha256Hex(content)
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

  const marker = checkMarker(data)
  if (marker) return marker
  // Refused: zod, loaded only now, words why (and stays the reference of what a marker is).
  const {markerSchema} = await import('./marker-schema.js')
  const parsed = markerSchema.safeParse(data)
  const issues = parsed.success ? '(marker): refused by the hand check' : parsed.error.issues.map((issue) => `${issue.path.join('.') || '(marker)'}: ${issue.message}`).join('; ')
  throw new TaskFileError(`${file}: invalid delegation marker: ${issues}`)
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
  /** The names in pending/ that start with `.ccl-` (temps, claims, result journals), as listed by the scan. */
  cclNames: ReadonlySet<string>
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
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {leftovers: false, cclNames: new Set(), markers: [], problems: []}
    throw error
  }

  const tasks = names
    .filter((name) => name.endsWith(MARKER_SUFFIX))
    .map((name) => name.slice(0, -MARKER_SUFFIX.length))
    .filter((task) => isTaskName(task))
    .sort()
  // One by one, synchronously: reap reads 1,000 markers in ~35 ms this way, where 32 fs/promises
  // reads in flight took ~170 ms; the scan sits between reap's start and its first request.
  const cclNames = new Set(names.filter((name) => name.startsWith('.ccl-')))
  const scan: MarkerScan = {leftovers: cclNames.size > 0, cclNames, markers: [], problems: []}
  const prefix = path.join(layout.pending, '/')
  for (const task of tasks) {
    const file = prefix + task + MARKER_SUFFIX // a task name is one plain segment (isTaskName)
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
