/*
 * `ccl retry NAME | --all` (SPEC 7): a task in failed/ back to pending/ with its own content — every
 * result footer ccl appended removed, the operator's edits above them kept, its mode kept. The move
 * itself is the queue core's (retryFailed); this file picks the tasks and words the refusals.
 *
 * Place in line: the retried task's mtime is set to now, so it goes to the end of the line, as a
 * task just dropped into pending/ would (its pending/ mtime from before is not known for a task
 * that was delegated). `touch -d` on pending/NAME changes that.
 */
import path from 'node:path'

import {stripFooters} from '../delegation/footer.js'
import {RefusedError, TaskFileError} from '../errors.js'
import {isTaskName, listTasks, type QueueLayout} from './layout.js'
import {type RetryOutcome, retryFailed} from './transitions.js'

export interface Retried {
  task: string
  /** Relative to the queue root. */
  from: string
  to: string
  footers_removed: number
}

export interface RetryRefusal {
  task: string
  /** 2: not in failed/; 4: refused (its name is taken, or it is claimed right now). */
  exit_code: 2 | 4
  message: string
}

export interface RetryRun {
  retried: Retried[]
  refused: RetryRefusal[]
}

/** The bare task name of NAME or of a path to it (only failed/ is looked in). */
function taskName(name: string): string {
  const base = path.basename(name)
  if (!isTaskName(base)) throw new TaskFileError(`${name}: not a task file name (must end in .md, without a leading dot)`)
  return base
}

function refusal(layout: QueueLayout, name: string, outcome: Exclude<RetryOutcome, {kind: 'retried'}>): RetryRefusal {
  const file = path.join(layout.failed, name)
  switch (outcome.kind) {
    case 'gone': {
      return {task: name, exit_code: 2, message: `${file}: not in failed/${outcome.where ? ` (it is in ${outcome.where})` : ' nor anywhere else in the queue'}; only a failed task can be retried`}
    }

    case 'taken': {
      return {task: name, exit_code: 4, message: `${file}: not retried: ${outcome.where} already holds a task named ${name}; nothing changed`}
    }

    case 'claimed': {
      return {task: name, exit_code: 4, message: `${file}: not retried: pending/${name} is claimed by ${outcome.by} right now; nothing changed`}
    }

    case 'refused': {
      return {task: name, exit_code: 4, message: `${file}: not retried: ${outcome.why}`}
    }
  }
}

async function retryOne(layout: QueueLayout, name: string, now: Date): Promise<Retried | RetryRefusal> {
  const outcome = await retryFailed(layout, {
    name,
    now,
    rewrite(content) {
      const stripped = stripFooters(content.toString('utf8'))
      // Bytes that are not UTF-8 stay as they were when there is no footer to remove.
      return stripped.removed === 0 ? {content, removed: 0} : {content: stripped.text, removed: stripped.removed}
    },
  })
  if (outcome.kind !== 'retried') return refusal(layout, name, outcome)
  return {task: name, from: `failed/${name}`, to: `pending/${name}`, footers_removed: outcome.removed}
}

/** Retries one task; a refusal is thrown (exit 2 not in failed/, 4 refused), nothing changed. */
export async function retryTask(layout: QueueLayout, name: string, now: Date): Promise<Retried> {
  const result = await retryOne(layout, taskName(name), now)
  if ('footers_removed' in result) return result
  throw result.exit_code === 2 ? new TaskFileError(result.message) : new RefusedError(result.message)
}

/** Retries every task in failed/, oldest first; each refusal is reported, the rest go on. */
export async function retryAll(layout: QueueLayout, now: Date): Promise<RetryRun> {
  const run: RetryRun = {retried: [], refused: []}
  for (const entry of await listTasks(layout.failed)) {
    const result = await retryOne(layout, entry.name, now)
    if ('footers_removed' in result) run.retried.push(result)
    else if (result.exit_code === 4) run.refused.push(result)
    // exit 2: it left failed/ while we looked (retried by another run): not this run's to report
  }

  return run
}
