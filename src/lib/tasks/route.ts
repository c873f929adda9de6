import type {DelegationState} from '../config/load.js'
import {TaskFileError} from '../errors.js'
import {type Decision, type RuleCheck, checkRules, decide} from './decide.js'
import {readTask} from './task.js'

export interface RoutedTask {
  /** The path as given. */
  file: string
  decision?: Decision
  /** Every rule and why it did or did not match (only when asked for). */
  checks?: RuleCheck[]
  /** Set when the file could not be read; the other files are still decided. */
  error?: TaskFileError
}

/**
 * Reads and decides each file, one after the other, in the order given (readTask reads
 * synchronously, so running several at once would gain nothing). A missing or unreadable file becomes an error
 * entry, never an exception, so one bad path does not hide the others' decisions.
 */
export async function routeFiles(
  files: readonly string[],
  delegation: DelegationState,
  options: {explain?: boolean} = {},
): Promise<RoutedTask[]> {
  const results: RoutedTask[] = []
  for (const file of files) {
    try {
      const task = await readTask(file)
      results.push({file, decision: decide(task, delegation), ...(options.explain ? {checks: checkRules(task, delegation)} : {})})
    } catch (error) {
      if (!(error instanceof TaskFileError)) throw error
      results.push({file, error})
    }
  }

  return results
}
