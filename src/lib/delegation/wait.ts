import {TimeoutError} from '../errors.js'
import {FINAL_STATUSES, type Job} from '../secutools/answers.js'
import type {SecutoolsClient} from '../secutools/client.js'
import {formatDuration} from '../config/duration.js'

export interface WaitOptions {
  /** Give up after this long (exit 124). */
  timeoutMs: number
  /** First pause between polls; grows ×1.5 per poll up to maxPollMs. */
  pollMs?: number
  maxPollMs?: number
  random?: () => number
  /** Told about every poll that found the job unfinished (for a progress line on stderr). */
  onPoll?: (job: Job, nextPollMs: number) => void
}

export function isFinished(job: Job): boolean {
  return FINAL_STATUSES.includes(job.status)
}

/**
 * Polls a job until it is completed, failed or cancelled (`delegate result --wait`). Pauses grow
 * geometrically with ±25 % jitter; a poll still in flight at the deadline is aborted, so the
 * command ends on time even when the platform hangs. Throws TimeoutError (exit 124) at the deadline.
 */
export async function waitForJob(client: SecutoolsClient, id: string, options: WaitOptions): Promise<Job> {
  const random = options.random ?? Math.random
  const maxPollMs = options.maxPollMs ?? 30_000
  let pause = options.pollMs ?? 1000
  const deadline = Date.now() + options.timeoutMs
  const timeout = (last?: Job) =>
    new TimeoutError(
      `job ${id} did not finish within ${formatDuration(options.timeoutMs)}${last ? ` (last seen ${last.status})` : ''}`,
      {hint: 'wait longer with --timeout, or check later with ccl delegate get'},
    )
  let last: Job | undefined
  for (;;) {
    const remaining = deadline - Date.now()
    if (remaining <= 0) throw timeout(last)
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), remaining)
    try {
      last = await client.getJob(id, {signal: controller.signal})
    } catch (error) {
      if (controller.signal.aborted) throw timeout(last)
      throw error
    } finally {
      clearTimeout(timer)
    }

    if (isFinished(last)) return last
    const jittered = Math.round(pause * (0.75 + random() * 0.5))
    const left = deadline - Date.now()
    if (left <= 0) throw timeout(last)
    options.onPoll?.(last, Math.min(jittered, left))
    await new Promise((resolve) => setTimeout(resolve, Math.min(jittered, left)))
    pause = Math.min(maxPollMs, pause * 1.5)
  }
}
