import {EXIT_CODES, UserError} from '../errors.js'

/** A secutools job id (SPEC §5). Anything else is never used in a path or a URL. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * True for an id that is safe to put in `{base}/jobs/{id}`.
 * The pattern alone allows `.` and `..`, which a URL parser resolves as dot segments
 * (`/jobs/..` is `/`), even percent-encoded; those two are refused too.
 */
export function isJobId(value: string): boolean {
  return JOB_ID_PATTERN.test(value) && value !== '.' && value !== '..'
}

/** A job id given on the command line, checked before any request; a usage error (exit 2) otherwise. */
export function requireJobId(id: string): string {
  if (!isJobId(id)) {
    throw new UserError(`${JSON.stringify(id.slice(0, 80))}: not a job id (expected ${JOB_ID_PATTERN}, and not . or ..)`, EXIT_CODES.taskFile)
  }

  return id
}
