import type {Job} from '../secutools/client.js'
import {printable} from './names.js'

/** `delegate get` for people: one aligned field a line; the result text itself is left to `delegate result`. */
export function renderJob(job: Job): string {
  const rows: [string, string][] = [
    ['job', job.id],
    ['status', job.status],
    ['provider', job.provider],
    ['created', job.created_at],
    ['finished', job.finished_at ?? '-'],
    ['cost', job.cost_usd === null ? '-' : `$${job.cost_usd}`],
  ]
  if (job.result !== null) rows.push(['result', `${job.result.length} characters (ccl delegate result ${job.id})`])
  if (job.error !== null) rows.push(['error', oneLine(job.error)])
  return rows.map(([key, value]) => `${key.padEnd(9)}${printable(value)}`).join('\n')
}

export function oneLine(text: string, max = 300): string {
  const line = printable(text.replaceAll(/\s+/g, ' ').trim())
  return line.length > max ? line.slice(0, max - 1) + '…' : line
}
