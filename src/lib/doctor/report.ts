// What `ccl doctor` returns: one entry per check, in a fixed order (docs/doctor.md lists them).

export type Severity = 'ok' | 'warn' | 'fail'

export interface DoctorCheck {
  /** Stable name of the check, e.g. `queue.folders`, `account.hooks`. */
  id: string
  /** The account a per-account check is about. */
  account?: string
  /** False only for `fail`: a warning does not make the site unfit to run. */
  ok: boolean
  severity: Severity
  message: string
  /** How to fix it; null when there is nothing to do. */
  fix: string | null
}

export interface DoctorReport {
  /** The config file checked; null when none could be loaded. */
  config: string | null
  /** False when the config could not be loaded at all: the other checks that need it did not run. */
  configLoaded: boolean
  ok: boolean
  counts: {ok: number; warn: number; fail: number}
  checks: DoctorCheck[]
}

type CheckFields = {id: string; account?: string}

export function pass(at: CheckFields, message: string): DoctorCheck {
  return {...at, ok: true, severity: 'ok', message, fix: null}
}

export function warn(at: CheckFields, message: string, fix: string | null): DoctorCheck {
  return {...at, ok: true, severity: 'warn', message, fix}
}

export function fail(at: CheckFields, message: string, fix: string): DoctorCheck {
  return {...at, ok: false, severity: 'fail', message, fix}
}

export function summarise(config: string | null, configLoaded: boolean, checks: DoctorCheck[]): DoctorReport {
  const counts = {ok: 0, warn: 0, fail: 0}
  for (const check of checks) counts[check.severity]++
  return {config, configLoaded, ok: counts.fail === 0, counts, checks}
}
