import path from 'node:path'
import pLimit from 'p-limit'

import {formatDuration} from '../config/duration.js'
import type {DelegationState} from '../config/load.js'
import type {Delegation} from '../config/schema.js'
import {ApiError, DelegationOffError, errorMessage, LockLostError} from '../errors.js'
import {ensureLayout, ensureStateDir, type QueueLayout} from '../queue/layout.js'
import {failpoint} from '../failpoints.js'
import {describeLockHolder, type Lock, tryLockOrHolder} from '../queue/lock.js'
import {listsPreparedResult, resultJournalName, sweepFolder, TEMP_SAFE_AGE_MS} from '../queue/transitions.js'
import type {Job, SecutoolsClient} from '../secutools/client.js'
import {finishJob} from './finish.js'
import type {FooterData, FooterStatus, FooterText} from './footer.js'
import {type MarkerEntry, scanMarkers} from './marker.js'
import {type ClientSource, resubmit} from './submit.js'

/*
 * `ccl reap`: one pass over every marker in pending/ (SPEC §4).
 *   submitting            → resubmit with the marker's idempotency key (the platform answers with the same job)
 *   submitted             → GET the job, at most `concurrency` requests in flight
 *     completed           → done/ with the footer
 *     failed | cancelled  → failed/ with the footer and the error
 *     older than job_timeout (from submitted_at) and still not finished → failed/, status timed_out
 *     anything else       → left alone
 * Finishing goes through finishJob, which is safe to repeat after a crash at any step.
 */

export type JobOutcome =
  | 'completed' // finished into done/ (or, under --dry-run, would be)
  | 'failed' // finished into failed/: failed or cancelled
  | 'timed_out' // finished into failed/: still not finished after job_timeout
  | 'running' // queued or running: left for the next reap
  | 'error' // could not be polled, resubmitted or finished: left for the next reap

export interface ReapedJob {
  task: string
  provider: string
  job_id: string | null
  outcome: JobOutcome
  /** The job's status as the platform last said it, when it was read. */
  status: Job['status'] | null
  /** Where the task went (relative to the queue root); null when it stayed or under --dry-run. */
  destination: string | null
  /** True when this run sent a `submitting` claim again. */
  resubmitted: boolean
  /** True when an earlier, killed reap had already written the result and this run only completed the steps after it. */
  recovered: boolean
  cost_usd: number | null
  error: string | null
}

export interface ReapSummary {
  /** Jobs whose status was read from the platform in this run. */
  polled: number
  completed: number
  /** Failed, cancelled and timed-out jobs moved to failed/. */
  failed: number
  still_running: number
  /** Markers that could not be polled, resubmitted or finished (each is in `jobs` or `problems`). */
  errors: number
  resubmitted: number
  dry_run: boolean
  jobs: ReapedJob[]
  /** Unreadable markers and other problems that name no job, one line each. */
  problems: string[]
}

export interface ReapOptions {
  layout: QueueLayout
  settings: Pick<Delegation, 'concurrency' | 'job_timeout'>
  client: ClientSource
  now?: () => Date
  dryRun?: boolean
  /** Told about each job as soon as its outcome is known (progress on stderr). */
  onJob?: (job: ReapedJob) => void
  /** Told how many markers there are, before any request. */
  onStart?: (markers: number) => void
  /** The run's `reap` lock: checked before every request and every finish; once lost, the run stops with LockLostError. */
  lock?: Pick<Lock, 'assertHeld'>
}

/** What reap does with one job it has read (or failed to read): a pure decision, executed below. */
export type ReapDecision =
  | {kind: 'finish'; footer: FooterData; text: FooterText}
  /** An earlier, killed reap journaled this finish: complete it as it was decided then. */
  | {kind: 'complete'}
  | {kind: 'leave'}
  | {kind: 'error'; error: unknown}

export interface DecideInput {
  task: string
  jobId: string
  /** When the job was submitted (or claimed): job_timeout counts from it. */
  submittedAt: string
  /** Whichever the poll gave. */
  job?: Job
  error?: unknown
  now: Date
  jobTimeoutMs: number
}

/**
 * completed → done/; failed | cancelled → failed/; older than job_timeout and not finished → failed/
 * (timed_out); a 404 past job_timeout → failed/ (the platform forgot it); anything else → leave.
 * A 404 younger than that is an error (a wrong base_url would otherwise fail every task).
 */
export function decideJob(input: DecideInput): ReapDecision {
  const {jobId: id, now} = input
  const age = now.getTime() - Date.parse(input.submittedAt)
  const reapedAt = now.toISOString()
  if (!input.job) {
    const error = input.error
    if (error instanceof ApiError && error.kind === 'not_found' && age > input.jobTimeoutMs) {
      return {
        kind: 'finish',
        footer: {provider: '', job_id: id, cost_usd: null, submitted_at: input.submittedAt, finished_at: null, task: input.task, status: 'timed_out', reaped_at: reapedAt},
        text: {error: `secutools does not know job ${id} (404) and it was submitted ${formatDuration(age)} ago (job_timeout ${formatDuration(input.jobTimeoutMs)})`},
      }
    }

    return {kind: 'error', error}
  }

  const {job} = input
  const base = {provider: job.provider, job_id: id, cost_usd: job.cost_usd, submitted_at: input.submittedAt, finished_at: job.finished_at, task: input.task, reaped_at: reapedAt}
  if (job.status === 'completed') return {kind: 'finish', footer: {...base, status: 'completed'}, text: {result: job.result}}
  if (job.status === 'failed' || job.status === 'cancelled') return {kind: 'finish', footer: {...base, status: job.status}, text: {error: job.error ?? `the job was ${job.status}`}}
  if (age > input.jobTimeoutMs) {
    return {
      kind: 'finish',
      footer: {...base, status: 'timed_out', finished_at: null},
      text: {error: `job ${id} was still ${job.status} ${formatDuration(age)} after it was submitted (job_timeout ${formatDuration(input.jobTimeoutMs)})`},
    }
  }

  return {kind: 'leave'}
}

function outcomeOf(status: FooterStatus): JobOutcome {
  return status === 'completed' ? 'completed' : status === 'timed_out' ? 'timed_out' : 'failed'
}

/** The summary's counts, derived once from the jobs. */
export function summarize(jobs: readonly ReapedJob[], problems: readonly string[], dryRun: boolean): ReapSummary {
  const count = (test: (job: ReapedJob) => boolean) => jobs.filter((job) => test(job)).length
  return {
    polled: count((j) => j.status !== null),
    completed: count((j) => j.outcome === 'completed'),
    failed: count((j) => j.outcome === 'failed' || j.outcome === 'timed_out'),
    still_running: count((j) => j.outcome === 'running'),
    errors: count((j) => j.outcome === 'error') + problems.length,
    resubmitted: count((j) => j.resubmitted),
    dry_run: dryRun,
    jobs: [...jobs].sort((a, b) => (a.task < b.task ? -1 : a.task > b.task ? 1 : 0)),
    problems: [...problems],
  }
}

/** p-limit (4 kB with yocto-queue) is imported statically: a separate chunk cost a loader round trip before the first request. */
function limiter(concurrency: number): <T>(fn: () => Promise<T>) => Promise<T> {
  const limit = pLimit(concurrency)
  return (fn) => limit(fn)
}

/** Errors that say every further request would fail the same way: stop polling the rest. */
function stopsTheRun(error: unknown): boolean {
  return error instanceof ApiError && (error.kind === 'unauthorized' || error.kind === 'unavailable')
}


export async function reap(options: ReapOptions): Promise<ReapSummary> {
  const now = options.now ?? (() => new Date())
  const dryRun = Boolean(options.dryRun)
  const {layout} = options
  const assertHeld = () => options.lock?.assertHeld()
  const scan = await scanMarkers(layout)
  const problems = scan.problems.map((p) => p.message)
  options.onStart?.(scan.markers.length)
  if (scan.markers.length === 0) {
    // Nothing to reap: only what killed runs left in pending/ (its names were just read) is swept.
    if (scan.leftovers && !dryRun) await sweepFolder(layout.pending, {tempAgeMs: TEMP_SAFE_AGE_MS, now: now().getTime(), liveJournals: new Set(), layout})
    return summarize([], problems, dryRun)
  }

  // One client for the run, made once even though the first `concurrency` jobs ask for it at once.
  let client: Promise<SecutoolsClient> | undefined
  const getClient = async () => {
    client ??= typeof options.client === 'function' ? options.client() : Promise.resolve(options.client)
    return client
  }

  // The client (got and its ~60 modules) starts loading now, while the layout is checked and pending/ swept.
  const connecting = getClient()
  connecting.catch(() => undefined) // its error, if any, is each job's, when it asks

  if (!dryRun) {
    // done/ or failed/ may not exist yet on a young queue; made only when there is something to put there.
    await ensureLayout(layout)
    // Every temp and journal file of a finish is made in pending/ (linked across to done/ or failed/);
    // none in the scan's listing (the usual case), nothing to sweep.
    if (scan.leftovers) {
      const liveJournals = new Set(scan.markers.flatMap((m) => [resultJournalName(m.marker.idempotency_key, 'done'), resultJournalName(m.marker.idempotency_key, 'failed')]))
      await sweepFolder(layout.pending, {tempAgeMs: TEMP_SAFE_AGE_MS, now: now().getTime(), liveJournals, layout})
    }
  }

  const limit = limiter(options.settings.concurrency)
  let stopped: string | undefined
  // Runs one request unless an earlier one showed that all would fail; the first such failure stops
  // the rest before the limiter starts them, so a bad key costs one request, not one per job.
  // A run whose lock was taken over stops too: the new holder is at the same markers, so this one
  // neither resubmits, polls nor finishes anything more.
  const guarded = async <T>(what: string, request: () => Promise<T>): Promise<T> => {
    options.lock?.assertHeld()
    if (stopped) throw new Error(`not ${what}: ${stopped}`)
    try {
      return await request()
    } catch (error) {
      if (stopsTheRun(error)) stopped ??= errorMessage(error)
      throw error
    }
  }

  const jobs: ReapedJob[] = []
  const record = (job: ReapedJob) => {
    jobs.push(job)
    options.onJob?.(job)
  }

  const reapOne = async (entry: MarkerEntry): Promise<ReapedJob> => {
    const {marker} = entry
    let job: ReapedJob = {
      task: entry.task,
      provider: marker.provider,
      job_id: marker.job_id,
      outcome: 'error',
      status: null,
      destination: null,
      resubmitted: false,
      recovered: false,
      cost_usd: null,
      error: null,
    }

    // A finish an earlier, killed reap began: its journal says what was decided; complete it without asking the platform.
    // Looked up in the scan's listing of pending/ (finishJob looks again, under the task's claim).
    if (!dryRun && listsPreparedResult(scan.cclNames, marker.idempotency_key)) return execute(entry, job, {kind: 'complete'})

    let jobId = marker.job_id
    let submittedAt = marker.submitted_at ?? marker.claimed_at
    if (marker.state === 'submitting') {
      if (dryRun) return {...job, outcome: 'running', error: 'claim still "submitting": a real reap would resubmit it'}
      const sent = await limit(() => guarded('resubmitted', async () => resubmit({layout, task: entry.task, client: await getClient(), now})))
      jobId = sent.jobId
      submittedAt = now().toISOString()
      job = {...job, job_id: sent.jobId, provider: sent.provider, resubmitted: sent.resubmitted}
    }

    if (jobId === null) return {...job, error: 'marker has no job id'}
    const id = jobId
    let polled: Job | undefined
    let pollError: unknown
    try {
      polled = await limit(() => guarded('polled', async () => (await getClient()).getJob(id)))
      job = {...job, status: polled.status, provider: polled.provider, cost_usd: polled.cost_usd}
    } catch (error) {
      pollError = error
    }

    const decision = decideJob({task: entry.task, jobId: id, submittedAt, now: now(), jobTimeoutMs: options.settings.job_timeout, ...(polled ? {job: polled} : {error: pollError})})
    if (decision.kind === 'finish' && decision.footer.provider === '') decision.footer.provider = job.provider
    return execute(entry, job, decision)
  }

  const execute = async (entry: MarkerEntry, job: ReapedJob, decision: ReapDecision): Promise<ReapedJob> => {
    if (decision.kind === 'leave') return {...job, outcome: 'running'}
    if (decision.kind === 'error') throw decision.error
    const outcome = decision.kind === 'finish' ? {footer: decision.footer, text: decision.text} : undefined
    const error = outcome && outcome.footer.status !== 'completed' ? (outcome.text.error ?? null) : null
    if (dryRun && outcome) return {...job, outcome: outcomeOf(outcome.footer.status), error}
    assertHeld()
    const result = await finishJob(layout, {task: entry.task, marker: entry.marker, ...(outcome ? {outcome} : {})}, {now: now()})
    if (result.kind !== 'finished') return {...job, outcome: 'error', error: result.message}
    const finished = outcomeOf(result.status)
    return {
      ...job,
      outcome: finished,
      destination: path.relative(layout.root, result.destination),
      recovered: result.recovered,
      error: finished === 'completed' ? null : error,
    }
  }

  let lost: LockLostError | undefined
  await Promise.all(
    scan.markers.map(async (entry) => {
      try {
        record(await reapOne(entry))
      } catch (error) {
        if (error instanceof LockLostError) {
          lost ??= error
          return
        }

        record({task: entry.task, provider: entry.marker.provider, job_id: entry.marker.job_id, outcome: 'error', status: null, destination: null, resubmitted: false, recovered: false, cost_usd: null, error: errorMessage(error)})
      }
    }),
  )
  // Thrown once every job has stopped, so nothing of this run is still at work when the command exits 1.
  if (lost) throw lost
  return summarize(jobs, problems, dryRun)
}

export interface ReapRun extends ReapSummary {
  /** Why nothing was done: another reap holds the lock. null when this run did the work. */
  skipped: string | null
}

export interface RunReapOptions extends Omit<ReapOptions, 'settings'> {
  delegation: DelegationState
  /** A lock not refreshed for this long belongs to a killed reap and is taken over. */
  lockStaleMs?: number
}

function emptySummary(dryRun: boolean): ReapSummary {
  return summarize([], [], dryRun)
}

/**
 * One reap at a time: takes the `reap` lock without waiting (a second run returns `skipped` at
 * once, naming the holder; a killed holder's lock is taken over at once), and works with delegation off as long as there is nothing to reap, so a cron line for
 * reap is harmless on a machine that never delegates. `--dry-run` changes nothing and takes no lock.
 */
export async function runReap(options: RunReapOptions): Promise<ReapRun> {
  const dryRun = Boolean(options.dryRun)
  if (!options.delegation.on) {
    const {markers, problems} = await scanMarkers(options.layout)
    if (markers.length + problems.length === 0) return {...emptySummary(dryRun), skipped: null}
    throw new DelegationOffError(
      `${options.delegation.reason}; ${markers.length + problems.length} delegated task(s) wait in ${options.layout.pending} and cannot be reaped`,
    )
  }

  const settings = options.delegation.settings
  if (dryRun) return {...(await reap({...options, settings})), skipped: null}
  await ensureStateDir(options.layout)
  const {lock, holder} = await tryLockOrHolder(options.layout.locks, 'reap', {staleMs: options.lockStaleMs ?? 10_000})
  if (!lock) return {...emptySummary(dryRun), skipped: `another ccl reap is running (${describeLockHolder(holder)}); this one has nothing to do`}
  failpoint('reap.after-lock')
  try {
    return {...(await reap({...options, settings, lock})), skipped: null}
  } finally {
    await lock.release()
  }
}
