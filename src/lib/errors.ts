// Every error a user can meet, each with the exit code it maps to.
// The README's exit-code table is checked against EXIT_CODES by a test.

export const EXIT_CODES = {
  ok: 0,
  failure: 1,
  taskFile: 2,
  config: 3,
  refused: 4,
  api: 5,
  timeout: 124,
} as const

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES]

/** What each exit code means, in the words of the README table. */
export const EXIT_CODE_MEANINGS: Record<ExitCode, string> = {
  0: 'success; for `validate-symlinks` and `status`, nothing needs an operator; for `fsck`, the queue and state are sound',
  1: 'something could not be done or needs an operator (invalid links, a failed job, a delivery that failed, a settings.json that `hooks install` refused, problems `fsck` found, an internal error)',
  2: 'usage error (unknown flag, missing or extra argument, flags that exclude each other, a flag without its value or with a bad one) or a task file missing or unreadable',
  3: 'configuration error, the state folder cannot be created or written, or delegation is off',
  4: 'refused: already delegated, kept local by the router, no free account, lost a race, a name already taken (`retry`), a hand-off or failover in the way (`requeue`), not delegated (`cancel`), or (`init`) the config file exists',
  5: 'the secutools API failed (after retries) or answered with something malformed',
  124: 'timed out waiting (`delegate result --wait --timeout`)',
}

export abstract class CclError extends Error {
  abstract readonly exitCode: ExitCode
  /** Short machine-readable name, used in `--json` error output. */
  abstract readonly code: string
  readonly hint?: string

  constructor(message: string, options: {cause?: unknown; hint?: string} = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    if (options.hint !== undefined) this.hint = options.hint
  }
}

/** A plain mistake or an expected refusal, with the exit code chosen by the caller. */
export class UserError extends CclError {
  readonly code = 'user'
  readonly exitCode: ExitCode

  constructor(message: string, exitCode: ExitCode = EXIT_CODES.failure, options: {cause?: unknown; hint?: string} = {}) {
    super(message, options)
    this.exitCode = exitCode
  }
}

/** The config file is missing, unreadable or invalid; the message names the file and key path. */
export class ConfigError extends CclError {
  readonly code = 'config'
  readonly exitCode = EXIT_CODES.config
}

/** Delegation was asked for but is off (no `delegation` block, or its key variable unset). */
export class DelegationOffError extends CclError {
  readonly code = 'delegation_off'
  readonly exitCode = EXIT_CODES.config
}

/** The command line is wrong: an unknown flag, a missing argument, flags that exclude each other. */
export class UsageError extends CclError {
  readonly code = 'usage'
  readonly exitCode = EXIT_CODES.taskFile
}

/**
 * A file ccl keeps for itself (session record, hand-off record, claim, lock) is unreadable or not
 * what ccl writes: the message names the file and says what to do.
 */
export class StateFileError extends CclError {
  readonly code = 'state_file'
  readonly exitCode = EXIT_CODES.failure
  readonly file: string

  constructor(file: string, problem: string, options: {cause?: unknown; hint?: string} = {}) {
    super(`${file}: ${problem}`, {hint: 'move it aside (ccl rebuilds what it needs) or fix it by hand', ...options})
    this.file = file
  }
}

/**
 * This run's lock (`reap`, `reconcile`) was taken over by another process, which judged this one
 * dead or stale: the run stops rather than work beside the new holder.
 */
export class LockLostError extends CclError {
  readonly code = 'lock_lost'
  readonly exitCode = EXIT_CODES.failure
  readonly file: string

  constructor(file: string, options: {cause?: unknown; hint?: string} = {}) {
    super(`lost the lock ${file}: another process took it over, so this run stopped`, {
      hint: 'the other process carries on; if this keeps happening, this host stalled for longer than the lock\'s stale time',
      ...options,
    })
    this.file = file
  }
}

/** A task file is missing, unreadable or not a regular file. */
export class TaskFileError extends CclError {
  readonly code = 'task_file'
  readonly exitCode = EXIT_CODES.taskFile
}

/** The command understood the request and declines it (already delegated, no free account, lost a race). */
export class RefusedError extends CclError {
  readonly code = 'refused'
  readonly exitCode = EXIT_CODES.refused
}

/** The remote API failed; `kind` says how, so callers can tell a bad key from an outage. */
export class ApiError extends CclError {
  readonly code = 'api'
  readonly exitCode = EXIT_CODES.api
  readonly kind: 'bad_request' | 'unauthorized' | 'not_found' | 'unavailable' | 'malformed'
  readonly status?: number

  constructor(
    kind: ApiError['kind'],
    message: string,
    options: {cause?: unknown; hint?: string; status?: number} = {},
  ) {
    super(message, options)
    this.kind = kind
    if (options.status !== undefined) this.status = options.status
  }
}

/** Waiting ran past its deadline. */
export class TimeoutError extends CclError {
  readonly code = 'timeout'
  readonly exitCode = EXIT_CODES.timeout
}

/** An outside program (tmux) failed; the message names the command that failed. */
export class ExternalError extends CclError {
  readonly code = 'external'
  readonly exitCode = EXIT_CODES.failure
}

/** The outside program is not installed or not on PATH (tmux): callers that can go on without it tell it apart. */
export class ProgramNotFoundError extends ExternalError {}

/** Something that should never happen: a bug in ccl. */
export class BugError extends CclError {
  readonly code = 'bug'
  readonly exitCode = EXIT_CODES.failure
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * The state folder (`state:`, by default `<queue>/.ccl`) or a folder in it cannot be created or
 * written: a file in the way, a read-only file system, no permission. A setup problem like a bad
 * config, so exit 3; the message names the folder.
 */
export class StateDirError extends CclError {
  readonly code = 'state_dir'
  readonly exitCode = EXIT_CODES.config
  readonly dir: string

  constructor(dir: string, problem: string, options: {cause?: unknown; hint?: string} = {}) {
    super(`state folder ${dir}: ${problem}`, {hint: 'fix "state" in the config, or make that folder creatable and writable by this user', ...options})
    this.dir = dir
  }
}
