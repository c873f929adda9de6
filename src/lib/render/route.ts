import {ruleLabel} from '../tasks/decide.js'
import type {RoutedTask} from '../tasks/route.js'
import {printable} from './names.js'

/**
 * Human output of `ccl route` (SPEC §4): one task → the target alone, for `$(ccl route TASK)`;
 * several → `NAME<TAB>target<TAB>reason` lines; `--explain` → every rule and why, per task.
 * Files that could not be read print nothing here (their error goes to stderr).
 * Names, reasons and rule texts go through printable(): a task's name or frontmatter value with a
 * newline, tab or ESC in it must not split its line, add a column or reach the terminal raw.
 */
export function renderRoute(routed: readonly RoutedTask[], options: {explain?: boolean} = {}): string {
  const decided = routed.filter((r) => r.decision)
  if (options.explain) return decided.map((r) => renderExplain(r)).join('\n\n')
  if (routed.length === 1) return printable(decided[0]?.decision?.target ?? '')
  return decided.map(({decision: d}) => [d!.task, d!.target, d!.reason].map((field) => printable(field)).join('\t')).join('\n')
}

function renderExplain({decision, checks = []}: RoutedTask): string {
  const d = decision!
  const lines = [`${printable(d.task)} -> ${printable(d.target)} (${printable(d.reason)})`]
  for (const check of checks) {
    const status = check.rule === d.rule ? 'WINS' : check.matched ? 'shadowed' : 'no'
    lines.push(`  ${ruleLabel(check.rule).padEnd(6)}  ${status.padEnd(8)}  ${check.text}: ${printable(check.why)}`)
  }

  return lines.join('\n')
}
