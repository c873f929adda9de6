import {formatProblem, type SymlinkReport} from '../symlinks/validate.js'

export function renderSymlinkReport(report: SymlinkReport): string {
  const lines: string[] = []
  for (const dir of report.createdDirs) lines.push(`${report.dryRun ? 'would create' : 'created'}: ${dir}/ (the shared folder the links point at)`)
  for (const link of report.created) {
    lines.push(`${report.dryRun ? 'would create' : 'created'}: ${link.account} ${link.dir}: ${link.path} -> ${link.target}`)
  }

  for (const problem of report.problems) lines.push(formatProblem(problem))
  lines.push(
    report.valid
      ? `symlinks valid: ${report.checked} links checked`
      : `symlinks INVALID: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} in ${report.checked} links checked`,
  )
  return lines.join('\n')
}
