// Tasks in failed/ for `ccl status`: each is something an operator decides about (retry or remove it).

import {footerError} from '../delegation/footer.js'
import {scanTasks} from '../queue/layout.js'
import {readRegularFile} from '../regular-file.js'

export interface FailedTask {
  task: string
  /** When it reached failed/ (its mtime), ISO. */
  at: string
  age_ms: number
  /** The footer's status (failed, cancelled, timed_out) and job; null without a footer. */
  status: string | null
  job_id: string | null
  /** The first line of the footer's error text; null without one. */
  error: string | null
}

/** Larger files are listed without their error line: the footer is not worth reading megabytes for. */
const MAX_READ_BYTES = 1024 * 1024
const MAX_ERROR_CHARS = 300

/** Every task in failed/, newest first, with the error line of its footer (a missing folder holds none). */
export async function scanFailed(dir: string, now: Date): Promise<FailedTask[]> {
  const {tasks} = await scanTasks(dir)
  const failed = tasks.map((entry): FailedTask => {
    let found: ReturnType<typeof footerError>
    try {
      // Synchronous, one by one, as the markers: a few hundred small files cost milliseconds.
      const bytes = readRegularFile(entry.path, {noFollow: true, maxBytes: MAX_READ_BYTES})
      found = footerError(bytes.toString('utf8'))
    } catch (error) {
      if (typeof (error as NodeJS.ErrnoException).code !== 'string') throw error
      found = undefined // moved away or unreadable: still listed, by name
    }

    const line = found?.line ?? null
    return {
      task: entry.name,
      at: new Date(entry.mtimeMs).toISOString(),
      age_ms: Math.max(0, now.getTime() - entry.mtimeMs),
      status: found?.data.status ?? null,
      job_id: found?.data.job_id ?? null,
      error: line !== null && line.length > MAX_ERROR_CHARS ? line.slice(0, MAX_ERROR_CHARS - 1) + '…' : line,
    }
  })
  return failed.reverse()
}
