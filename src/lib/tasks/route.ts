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
 * Reads and decides each file, in the order given. A missing or unreadable file becomes an error
 * entry, never an exception, so one bad path does not hide the others' decisions.
 */
export async function routeFiles(
  files: readonly string[],
  delegation: DelegationState,
  options: {explain?: boolean; concurrency?: number} = {},
): Promise<RoutedTask[]> {
  const results: RoutedTask[] = Array.from({length: files.length})
  let next = 0
  const worker = async () => {
    while (next < files.length) {
      const index = next++
      const file = files[index]!
      try {
        const task = await readTask(file)
        results[index] = {
          file,
          decision: decide(task, delegation),
          ...(options.explain ? {checks: checkRules(task, delegation)} : {}),
        }
      } catch (error) {
        if (!(error instanceof TaskFileError)) throw error
        results[index] = {file, error}
      }
    }
  }

  // A few reads in flight hide file-system latency; more only costs memory.
  const workers = Math.min(options.concurrency ?? 16, files.length)
  await Promise.all(Array.from({length: workers}, worker))
  return results
}
