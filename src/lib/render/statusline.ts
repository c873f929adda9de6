import type {Usage} from '../accounts/state.js'
import {formatPercent, usedNow} from '../accounts/usage.js'

/**
 * What `ccl statusline` prints when no operator's command is chained: which account this session
 * is, and its usage now — "ccl alpha · 5h 42% · 7d 17%" ("ccl alpha" alone before any is known).
 */
export function renderStatusLine(account: string, usage: Usage | null, now: Date): string {
  const parts = [`ccl ${account}`]
  if (usage?.five_hour) parts.push(`5h ${formatPercent(usedNow(usage.five_hour, now))}`)
  if (usage?.seven_day) parts.push(`7d ${formatPercent(usedNow(usage.seven_day, now))}`)
  return parts.join(' · ')
}
