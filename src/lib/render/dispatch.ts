import type {DispatchEntry, DispatchResult} from '../dispatch/dispatch.js'

/** One line per task: `NAME: assigned to alpha`, `NAME: submitted to gemini as job j-1`, … */
export function describeEntry(entry: DispatchEntry): string {
  switch (entry.outcome) {
    case 'assigned': {
      return `${entry.task}: assigned to ${entry.account}`
    }

    case 'submitted': {
      return `${entry.task}: submitted to ${entry.target} as job ${entry.jobId}`
    }

    case 'waiting': {
      return `${entry.task}: waiting (${entry.detail})`
    }

    case 'skipped': {
      return `${entry.task}: skipped (${entry.detail})`
    }

    case 'failed': {
      return `${entry.task}: FAILED${entry.target ? ` (${entry.target})` : ''}: ${entry.detail}`
    }
  }
}

/** What was handed off, then a summary line; empty when the queue had nothing to do. */
export function renderDispatch(result: DispatchResult): string {
  const lines = result.entries.map((e) => describeEntry(e))
  const {assigned, submitted, waiting, skipped, failed} = result.counts
  if (result.entries.length === 0 && result.delegated === 0) return ''
  const parts = [`${assigned} assigned`, `${submitted} submitted`, `${waiting} waiting`]
  if (skipped) parts.push(`${skipped} skipped`)
  if (failed) parts.push(`${failed} failed`)
  parts.push(`${result.delegated} already delegated`)
  lines.push(`dispatch: ${parts.join(', ')}${result.limited ? ' (stopped at --max)' : ''}`)
  return lines.join('\n')
}
