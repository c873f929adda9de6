import type {FsckReport} from '../fsck/fsck.js'
import {printable} from './names.js'

/** One line per repair and per problem left (`KIND PATH: detail; what to do`), then a verdict line. */
export function renderFsck(report: FsckReport, repairing: boolean): string {
  const lines: string[] = []
  for (const r of report.repaired) lines.push(`repaired ${r.kind}: ${printable(r.detail)}`)
  for (const p of report.problems) {
    const todo = repairing && p.repairable ? `left: it changed while fsck looked; run ccl fsck --repair again` : p.repair
    lines.push(`${p.severity === 'warning' ? 'warn' : 'PROBLEM'} ${p.kind} ${printable(p.path)}: ${printable(p.detail)}; ${printable(todo)}`)
  }

  const problems = report.problems.filter((p) => p.severity === 'problem')
  const warnings = report.problems.length - problems.length
  const left = problems.length === 0 ? 'sound' : `${problems.length} problem${problems.length === 1 ? '' : 's'}${repairing ? ' left for a person' : ''}`
  const repairable = repairing ? 0 : problems.filter((p) => p.repairable).length
  lines.push(
    `${problems.length === 0 ? 'ok' : 'NOT SOUND'}: ${left}${warnings > 0 ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}${repairing ? `, ${report.repaired.length} repaired` : ''}${repairable > 0 ? ` (${repairable} fixed by ccl fsck --repair)` : ''}`,
  )
  return lines.join('\n')
}
