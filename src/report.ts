// How a command's outcome reaches the terminal, shared by the oclif commands (BaseCommand) and the
// fast entry of the hot commands (src/fast.ts), so both paths print the same bytes. Imports no oclif.
import {BugError, CclError, EXIT_CODES} from './lib/errors.js'
import {printable} from './lib/render/names.js'

export const SCHEMA_VERSION = 1

export interface DescribedError {
  code: string
  exitCode: number
  message: string
  hint?: string
}

/** A typed error as it is reported; anything else is a bug: "internal error: …", exit 1. */
export function describeError(error: Error): DescribedError {
  if (error instanceof CclError) return {code: error.code, exitCode: error.exitCode, message: error.message, ...(error.hint ? {hint: error.hint} : {})}
  const bug = new BugError(`internal error: ${error.message}`, {cause: error})
  return {code: bug.code, exitCode: EXIT_CODES.failure, message: bug.message}
}

/** A progress or warning line: stderr, so stdout stays results only. */
export function note(message: string): void {
  process.stderr.write(message.endsWith('\n') ? message : message + '\n')
}

/** A result line on stdout, as written (no printf-style formatting: a task named `50%%.md` stays so). */
export function logLine(message: string): void {
  process.stdout.write(message + '\n')
}

/** A JSON document on stdout, plain (a terminal gets oclif's colours through BaseCommand instead). */
export function logPlainJson(json: unknown): void {
  process.stdout.write(JSON.stringify(json, null, 2) + '\n')
}

/** A command's result with the schema version first, unless it carries its own. */
export function successJson(result: unknown): unknown {
  return result && typeof result === 'object' && !('schemaVersion' in result) ? {schemaVersion: SCHEMA_VERSION, ...result} : result
}

/**
 * Reports a failed run: one line on stderr (names and values escaped, so it stays one line), the hint
 * indented below, the error document on stdout under --json, and the exit code.
 */
export function reportError(described: DescribedError, options: {json: boolean; logJson?: (json: unknown) => void; stack?: string}): void {
  if (options.stack !== undefined && process.env.DEBUG) note(options.stack)
  note(`ccl: ${printable(described.message)}${described.hint ? `\n  hint: ${printable(described.hint)}` : ''}`)
  if (options.json) (options.logJson ?? logPlainJson)({schemaVersion: SCHEMA_VERSION, error: described})
  process.exitCode = described.exitCode
}
