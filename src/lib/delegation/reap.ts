import path from 'node:path'

import {formatDuration} from '../config/duration.js'
import type {DelegationState} from '../config/load.js'
import type {Delegation} from '../config/schema.js'
import {ApiError, DelegationOffError, errorMessage, LockLostError} from '../errors.js'
import {failpoint} from '../failpoints.js'
import {ensureLayout, markerPath, type QueueLayout} from '../queue/layout.js'
import {describeLockHolder, type Lock, tryLockOrHolder} from '../queue/lock.js'
import type {Job, SecutoolsClient} from '../secutools/client.js'
import {type FinishRequest, type FinishStep, finishJob, findFinished, indexFinished, removeStaleTemps} from './finish.js'
import type {FooterData, FooterStatus} from './footer.js'
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
  /** Test-only: SIGKILL the process after this finish step (`after-written`, …) or a submit crash point. */
  crashAt?: string
  /** Told about each job as soon as its outcome is known (progress on stderr). */
  onJob?: (job: ReapedJob) => void
  /** Told how many markers there are, before any request. */
  onStart?: (markers: number) => void
  /** The run's `reap` lock: checked before every request and every finish; once lost, the run stops with LockLostError. */
  lock?: Pick<Lock, 'assertHeld'>
}

/** Crash points of the finish steps, as $CCL_TEST_CRASH_AT names them. */
export const REAP_CRASH_POINTS = ['after-written', 'after-logged', 'after-task-removed', 'after-marker-removed'] as const

function crashHook(crashAt: string | undefined): ((step: FinishStep) => void) | undefined {
  if (!crashAt?.startsWith('after-')) return undefined
  // SIGKILL, not exit(): no finally block runs, exactly like `kill -9` or a power cut.
  return (step) => {
    if (crashAt === `after-${step}`) process.kill(process.pid, 'SIGKILL')
  }
}

/** A tiny p-limit front: the module is loaded only when there is something to poll. */
async function limiter(concurrency: number): Promise<<T>(fn: () => Promise<T>) => Promise<T>> {
  const {default: pLimit} = await import('p-limit')
  const limit = pLimit(concurrency)
  return (fn) => limit(fn)
}

function ageFrom(entry: MarkerEntry): string {
  return entry.marker.submitted_at ?? entry.marker.claimed_at
}

/** Errors that say every further request would fail the same way: stop polling the rest. */
function stopsTheRun(error: unknown): boolean {
  return error instanceof ApiError && (error.kind === 'unauthorized' || error.kind === 'unavailable')
}

export async function reap(options: ReapOptions): Promise<ReapSummary> {
  const now = options.now ?? (() => new Date())
  const {layout} = options
  const scan = await scanMarkers(layout)
  const summary: ReapSummary = {
    polled: 0,
    completed: 0,
    failed: 0,
    still_running: 0,
    errors: scan.problems.length,
    resubmitted: 0,
    dry_run: Boolean(options.dryRun),
    jobs: [],
    problems: scan.problems.map((p) => p.message),
  }
  options.onStart?.(scan.markers.length)
  if (scan.markers.length === 0) return summary

  if (!options.dryRun) {
    // done/ or failed/ may not exist yet on a young queue; made only when there is something to put there.
    await ensureLayout(layout)
    await removeStaleTemps(layout)
  }
  const index = await indexFinished(layout)
  const limit = await limiter(options.settings.concurrency)
  let client: SecutoolsClient | undefined
  const getClient = async () => {
    client ??= typeof options.client === 'function' ? await options.client() : options.client
    return client
  }

  let stopped: string | undefined
  const onStep = crashHook(options.crashAt)
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

  const record = (job: ReapedJob) => {
    summary.jobs.push(job)
    if (job.resubmitted) summary.resubmitted++
    if (job.status !== null) summary.polled++
    if (job.outcome === 'completed') summary.completed++
    else if (job.outcome === 'failed' || job.outcome === 'timed_out') summary.failed++
    else if (job.outcome === 'running') summary.still_running++
    else summary.errors++
    options.onJob?.(job)
  }

  let lost: LockLostError | undefined
  const handle = async (entry: MarkerEntry): Promise<void> => {
    const base: ReapedJob = {
      task: entry.task,
      provider: entry.marker.provider,
      job_id: entry.marker.job_id,
      outcome: 'error',
      status: null,
      destination: null,
      resubmitted: false,
      recovered: false,
      cost_usd: null,
      error: null,
    }
    const fail = (error: unknown): ReapedJob => ({...base, outcome: 'error', error: errorMessage(error)})
    try {
      record(await reapOne(entry, base))
    } catch (error) {
      if (error instanceof LockLostError) lost ??= error
      else record(fail(error))
    }
  }

  const reapOne = async (entry: MarkerEntry, base: ReapedJob): Promise<ReapedJob> => {
    const {marker} = entry
    // A result an earlier, killed reap already wrote: finish the remaining steps without asking the platform.
    if (marker.state === 'submitted' && marker.job_id !== null && !options.dryRun) {
      const earlier = await findFinished(layout, index, entry.task, marker.job_id)
      if (earlier) return finish(entry, base, earlier.footer, {})
    }

    let jobId = marker.job_id
    let submittedAt = ageFrom(entry)
    if (marker.state === 'submitting') {
      if (options.dryRun) return {...base, outcome: 'running', error: 'claim still "submitting": a real reap would resubmit it'}
      const sent = await limit(() =>
        guarded('resubmitted', async () => resubmit({layout, task: entry.task, client: await getClient(), now, crashAt: options.crashAt})),
      )
      jobId = sent.jobId
      submittedAt = now().toISOString()
      base = {...base, job_id: sent.jobId, provider: sent.provider, resubmitted: sent.resubmitted}
    }

    if (jobId === null) return {...base, error: 'marker has no job id'}
    const id = jobId
    const age = () => now().getTime() - Date.parse(submittedAt)
    let job: Job
    try {
      job = await limit(() => guarded('polled', async () => (await getClient()).getJob(id)))
    } catch (error) {
      // A job the platform has forgotten is given up only once it is past job_timeout: until then a
      // 404 may as well be a wrong base_url, and moving every task to failed/ would be worse.
      if (error instanceof ApiError && error.kind === 'not_found' && age() > options.settings.job_timeout) {
        const footer: FooterData = {provider: base.provider, job_id: id, cost_usd: null, submitted_at: submittedAt, finished_at: null, task: entry.task, status: 'timed_out', reaped_at: now().toISOString()}
        return finish(entry, base, footer, {error: `secutools does not know job ${id} (404) and it was submitted ${formatDuration(age())} ago (job_timeout ${formatDuration(options.settings.job_timeout)})`})
      }

      throw error
    }

    const polled: ReapedJob = {...base, status: job.status, provider: job.provider, cost_usd: job.cost_usd}
    const footerBase = {provider: job.provider, job_id: id, cost_usd: job.cost_usd, submitted_at: submittedAt, finished_at: job.finished_at, task: entry.task}

    if (job.status === 'completed' || job.status === 'failed' || job.status === 'cancelled') {
      const status: FooterStatus = job.status
      const footer: FooterData = {...footerBase, status, reaped_at: now().toISOString()}
      return finish(entry, polled, footer, status === 'completed' ? {result: job.result} : {error: job.error ?? `the job was ${status}`})
    }

    if (age() > options.settings.job_timeout) {
      const footer: FooterData = {...footerBase, status: 'timed_out', finished_at: null, reaped_at: now().toISOString()}
      const error = `job ${id} was still ${job.status} ${formatDuration(age())} after it was submitted (job_timeout ${formatDuration(options.settings.job_timeout)})`
      return finish(entry, polled, footer, {error})
    }

    return {...polled, outcome: 'running'}
  }

  const finish = async (entry: MarkerEntry, job: ReapedJob, footer: FooterData, text: FinishRequest['text']): Promise<ReapedJob> => {
    const outcome: JobOutcome = footer.status === 'completed' ? 'completed' : footer.status === 'timed_out' ? 'timed_out' : 'failed'
    const error = footer.status === 'completed' ? null : (text.error ?? null)
    if (options.dryRun) return {...job, outcome, error}
    options.lock?.assertHeld()
    const result = await finishJob(
      layout,
      {
        task: entry.task,
        taskFile: path.join(layout.pending, entry.task),
        markerFile: markerPath(layout, entry.task),
        idempotencyKey: entry.marker.idempotency_key,
        footer,
        text,
      },
      {index, now: now(), ...(onStep ? {onStep} : {})},
    )
    if (result.kind === 'orphan') return {...job, outcome: 'error', error: result.message}
    const finalOutcome: JobOutcome = result.status === 'completed' ? 'completed' : result.status === 'timed_out' ? 'timed_out' : 'failed'
    return {
      ...job,
      outcome: finalOutcome,
      destination: path.relative(layout.root, result.destination),
      recovered: result.recovered,
      error: finalOutcome === 'completed' ? null : error,
    }
  }

  await Promise.all(scan.markers.map((entry) => handle(entry)))
  // Thrown once every job has stopped, so nothing of this run is still at work when the command exits 1.
  if (lost) throw lost
  summary.jobs.sort((a, b) => (a.task < b.task ? -1 : a.task > b.task ? 1 : 0))
  return summary
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
  return {polled: 0, completed: 0, failed: 0, still_running: 0, errors: 0, resubmitted: 0, dry_run: dryRun, jobs: [], problems: []}
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
  const {lock, holder} = await tryLockOrHolder(options.layout.locks, 'reap', {staleMs: options.lockStaleMs ?? 10_000})
  if (!lock) return {...emptySummary(dryRun), skipped: `another ccl reap is running (${describeLockHolder(holder)}); this one has nothing to do`}
  failpoint('reap.after-lock')
  try {
    return {...(await reap({...options, settings, lock})), skipped: null}
  } finally {
    await lock.release()
  }
}
