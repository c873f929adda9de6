import type {DoctorCheck, DoctorReport} from '../doctor/report.js'

const LABELS: Record<DoctorCheck['severity'], string> = {ok: 'ok  ', warn: 'warn', fail: 'FAIL'}

/** One line per check (`ok`, `warn` or `FAIL`, the account, what was found, and how to fix it), then a verdict. */
export function renderDoctor(report: DoctorReport): string {
  const lines = report.checks.map((check) => {
    const who = check.account ? `${check.account}: ` : ''
    return `${LABELS[check.severity]} ${who}${check.message}${check.fix && check.severity !== 'ok' ? `; fix: ${check.fix}` : ''}`
  })
  const {ok, warn, fail} = report.counts
  const total = report.checks.length
  if (!report.configLoaded) lines.push(`doctor: the config could not be loaded; ${total - 1} check${total === 2 ? '' : 's'} that need none ran`)
  else if (fail === 0) lines.push(`doctor: ${total} checks, ${fail === 0 && warn === 0 ? 'all ok' : `${ok} ok, ${warn} warning${warn === 1 ? '' : 's'}, none failed`}`)
  else lines.push(`doctor: ${total} checks, ${fail} FAILED, ${warn} warning${warn === 1 ? '' : 's'}, ${ok} ok`)
  return lines.join('\n')
}
