import type {ReapedJob, ReapSummary} from '../delegation/reap.js'
import {printable} from './names.js'

const VERBS: Record<ReapedJob['outcome'], [string, string]> = {
  completed: ['completed', 'would complete'],
  failed: ['failed', 'would fail'],
  timed_out: ['timed out', 'would time out'],
  running: ['running', 'running'],
  error: ['error', 'error'],
}

function firstLine(text: string): string {
  const line = text.trim().split('\n', 1)[0] ?? ''
  return line.length > 200 ? line.slice(0, 199) + '…' : line
}

/**
 * One line for a job whose outcome is known: what happened and where the task went. Errors and
 * provider names come from the server and task names from the file system: control characters
 * (terminal escapes) are shown as '?'.
 */
export function renderReapedJob(job: ReapedJob, dryRun: boolean): string {
  const verb = VERBS[job.outcome][dryRun ? 1 : 0]
  const cost = job.cost_usd === null ? '' : `, $${job.cost_usd.toFixed(4)}`
  const what = `${job.task}  job ${job.job_id ?? '(none yet)'} (${job.provider}${cost})`
  const where = job.destination ? ` -> ${job.destination}` : ''
  const why = job.error ? `: ${firstLine(job.error)}` : ''
  const notes = [job.resubmitted ? 'resubmitted' : '', job.recovered ? 'finished what an interrupted reap had started' : ''].filter(Boolean)
  return printable(`${verb.padEnd(14)} ${what}${why}${where}${notes.length > 0 ? ` [${notes.join('; ')}]` : ''}`)
}

export function renderReapTotals(summary: Pick<ReapSummary, 'polled' | 'completed' | 'failed' | 'still_running' | 'errors' | 'resubmitted' | 'dry_run'>): string {
  const parts = [
    `${summary.polled} polled`,
    `${summary.completed} completed`,
    `${summary.failed} failed`,
    `${summary.still_running} still running`,
    `${summary.errors} error${summary.errors === 1 ? '' : 's'}`,
  ]
  if (summary.resubmitted > 0) parts.push(`${summary.resubmitted} resubmitted`)
  return `reap${summary.dry_run ? ' (dry run, nothing changed)' : ''}: ${parts.join(', ')}`
}

/** The human result: a line per job that changed or failed (running ones are only counted), then the totals. */
export function renderReapSummary(summary: ReapSummary): string {
  const lines = summary.jobs.filter((job) => job.outcome !== 'running' || job.error).map((job) => renderReapedJob(job, summary.dry_run))
  for (const problem of summary.problems) lines.push(printable(`${'error'.padEnd(14)} ${problem}`))
  lines.push(renderReapTotals(summary))
  return lines.join('\n')
}
