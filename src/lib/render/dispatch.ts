import type {DispatchEntry, DispatchResult} from '../dispatch/dispatch.js'
import {printable} from './names.js'

/**
 * One line per task: `NAME: assigned to alpha`, `NAME: submitted to gemini as job j-1`, …
 * The name and the detail (often an error message naming the file) go through printable(), so a
 * name with a newline or ESC in it stays on its line and never reaches the terminal raw.
 */
export function describeEntry(raw: DispatchEntry): string {
  const entry = {...raw, task: printable(raw.task), ...(raw.detail === undefined ? {} : {detail: printable(raw.detail)})}
  switch (entry.outcome) {
    case 'assigned': {
      return `${entry.task}: assigned to ${entry.account}`
    }

    case 'submitted': {
      // Said, because a task with no routing field going remote surprises whoever wrote it.
      const spilled = entry.reason?.startsWith('spill: ') ? ' (spill: every account is limited or needs login)' : ''
      return `${entry.task}: submitted to ${entry.target} as job ${entry.jobId}${spilled}`
    }

    case 'waiting': {
      return `${entry.task}: waiting (${entry.detail})`
    }

    case 'skipped': {
      return `${entry.task}: skipped (${entry.detail})`
    }

    case 'held': {
      return `${entry.task}: HELD for an operator: ${entry.detail}`
    }

    case 'failed': {
      return `${entry.task}: FAILED${entry.target ? ` (${entry.target})` : ''}: ${entry.detail}`
    }
  }
}

/**
 * A line per task handed off, skipped or failed; the waiting ones in one line; then a summary.
 * `quiet` (stdout not a terminal: a timer or cron) prints nothing for a pass that changed nothing,
 * so a queue waiting for a free account does not log the same lines every 15 s.
 */
export function renderDispatch(result: DispatchResult, options: {quiet?: boolean} = {}): string {
  const {assigned, submitted, waiting, skipped, failed, held} = result.counts
  const happened = assigned + submitted + skipped + failed > 0
  if (options.quiet && !happened) return ''
  if (result.entries.length === 0 && result.delegated === 0 && result.settling === 0) return options.quiet ? '' : 'dispatch: nothing pending'

  const lines = result.entries.filter((e) => e.outcome !== 'waiting').map((e) => describeEntry(e))
  const waits = result.entries.filter((e) => e.outcome === 'waiting')
  if (waits.length > 0) {
    // The first waiting entry carries why (each account's state); the rest just wait behind it.
    lines.push(`waiting: ${waits.map((e) => printable(e.task)).join(', ')} (${printable(String(waits[0]!.detail))})`)
  }

  const parts = [`${assigned} assigned`, `${submitted} submitted`, `${waiting} waiting`]
  if (skipped) parts.push(`${skipped} skipped`)
  if (failed) parts.push(`${failed} failed`)
  if (held) parts.push(`${held} held for an operator`)
  if (result.settling) parts.push(`${result.settling} settling`)
  parts.push(`${result.delegated} already delegated`)
  lines.push(`dispatch: ${parts.join(', ')}${result.limited ? ' (stopped at --max)' : ''}`)
  return lines.join('\n')
}
