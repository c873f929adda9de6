/*
 * `ccl cancel NAME` (SPEC 7): a delegated task stops being waited for. It goes to failed/ with a
 * footer of status `cancelled` (by: operator) and its marker goes, by the same finish reap uses
 * (the queue core's finishDelegated, journaled in pending/.ccl-result-<key>), under the `reap`
 * lock: reap and cancel never both finish one task, and a cancel killed at any step is completed
 * by the next reap or cancel from its journal. The remote job is not touched: it is left to the
 * platform (secutools has no cancel in v1), and delegation need not even be on.
 */
import {lstatSync} from 'node:fs'
import path from 'node:path'

import {RefusedError, TaskFileError} from '../errors.js'
import {failpoint} from '../failpoints.js'
import {ensureStateDir, isTaskName, markerPath, type QueueLayout} from '../queue/layout.js'
import {describeLockHolder, lockWithin} from '../queue/lock.js'
import {whereIs} from '../queue/transitions.js'
import {finishJob} from './finish.js'
import type {FooterStatus} from './footer.js'
import {readMarkerIfExists} from './marker.js'
import {describeKind} from '../regular-file.js'

export interface CancelResult {
  task: string
  /** The job the task was waiting for; null when its claim had no job id yet (state submitting). */
  job_id: string | null
  provider: string
  /** The marker's state when it was cancelled. */
  marker_state: 'submitting' | 'submitted'
  /** Relative to the queue root. */
  destination: string
  /** What the footer says: `cancelled`, or how the job ended when an interrupted reap had decided it first. */
  status: FooterStatus
  /** True when an earlier, killed cancel or reap had prepared the result and this run completed it. */
  recovered: boolean
  /** What became of the remote job, in words (it is left to the platform). */
  remote: string
}

export interface CancelOptions {
  layout: QueueLayout
  name: string
  now: () => Date
  /** How long to wait for a running reap to let go of its lock. */
  lockWaitMs?: number
}

function isFile(file: string): boolean {
  try {
    return lstatSync(file).isFile()
  } catch {
    return false
  }
}

/** What stands at `file` when it is there but not a regular file ("a FIFO", …), else null. */
function notRegular(file: string): string | null {
  try {
    const info = lstatSync(file)
    return info.isFile() ? null : describeKind(info)
  } catch {
    return null
  }
}

export function cancelledError(jobId: string | null): string {
  return jobId
    ? `cancelled by operator; the remote job ${jobId} is left to the platform`
    : 'cancelled by operator before a job id was recorded; a job may still have been created (a submit in flight, or an answer that was lost) and is left to the platform'
}

export async function cancelTask(options: CancelOptions): Promise<CancelResult> {
  const {layout} = options
  const name = path.basename(options.name)
  if (!isTaskName(name)) throw new TaskFileError(`${options.name}: not a task file name (must end in .md, without a leading dot)`)
  const task = path.join(layout.pending, name)
  const marker = markerPath(layout, name)
  const odd = notRegular(marker)
  if (odd) throw new TaskFileError(`${marker}: not a regular file (${odd}), so not a delegation marker: nothing was cancelled; remove it by hand`)
  if (!isFile(marker)) {
    if (isFile(task)) throw new RefusedError(`${task}: not delegated (no marker ${path.basename(marker)}): nothing to cancel; it waits for dispatch like any local task`)
    const where = whereIs(layout, name)
    if (where) throw new RefusedError(`${name}: not delegated: it is in ${where}${where.startsWith('active/') ? ' (ccl requeue takes it back from the account)' : ''}; only a delegated task in pending/ can be cancelled`)
    throw new TaskFileError(`${task}: task file not found, nor anywhere else in the queue`)
  }

  await ensureStateDir(layout)
  const attempt = await lockWithin(layout.locks, 'reap', {staleMs: 10_000, waitMs: options.lockWaitMs ?? 10_000})
  if (!attempt.lock) throw new RefusedError(`${name}: not cancelled: a ccl reap is running (${describeLockHolder(attempt.holder)}); try again in a moment`)
  const {lock} = attempt
  try {
    // Read under the lock: no reap can finish it from here on.
    const claim = await readMarkerIfExists(marker)
    if (!claim) {
      const where = whereIs(layout, name)
      throw new RefusedError(`${name}: not cancelled: its marker went while this cancel waited (finished by a reap${where ? `, now in ${where}` : ''})`)
    }

    failpoint('cancel.after-lock')
    const now = options.now()
    const jobId = claim.job_id
    const result = await finishJob(
      layout,
      {
        task: name,
        marker: claim,
        outcome: {
          footer: {
            status: 'cancelled',
            by: 'operator',
            provider: claim.provider,
            job_id: jobId ?? '',
            cost_usd: null,
            submitted_at: claim.submitted_at,
            finished_at: null,
            task: name,
            reaped_at: now.toISOString(),
          },
          text: {error: cancelledError(jobId)},
        },
      },
      {now},
    )
    if (result.kind === 'orphan') throw new TaskFileError(result.message)
    if (result.kind === 'busy') throw new RefusedError(`${name}: not cancelled: ${result.message.replace(/; left for the next reap$/, '')}; try again in a moment`)
    return {
      task: name,
      job_id: jobId,
      provider: claim.provider,
      marker_state: claim.state,
      destination: path.relative(layout.root, result.destination),
      status: result.status,
      recovered: result.recovered,
      remote: jobId
        ? `the remote job ${jobId} (${claim.provider}) is left to the platform: ccl does not cancel it there`
        : 'no job id was recorded (the claim was still submitting): a job may have been created all the same, and is left to the platform',
    }
  } finally {
    await lock.release()
  }
}
