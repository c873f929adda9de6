import type {HotConfig, HotDelegation} from '../config/hot.js'
import type {DelegationState} from '../config/read.js'
import {TaskFileError} from '../errors.js'
import {type Decision, type RuleCheck, checkRules, decide} from './decide.js'
import {type SpillContext, spillContext} from './spill.js'
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

export interface RouteOptions {
  config: HotConfig
  delegation: DelegationState<HotDelegation>
  now: Date
  /** Also check every rule, for `--explain`. */
  explain?: boolean
}

/**
 * Reads and decides each file, one after the other, in the order given (readTask reads
 * synchronously, so running several at once would gain nothing). A missing or unreadable file becomes an error
 * entry, never an exception, so one bad path does not hide the others' decisions.
 */
export async function routeFiles(files: readonly string[], options: RouteOptions): Promise<{routed: RoutedTask[]; spill: SpillContext}> {
  const {delegation} = options
  // Once for all files: the accounts are read only when spill is on (and delegation too).
  const spill = await spillContext(options.config, delegation, options.now)
  const results: RoutedTask[] = []
  for (const file of files) {
    try {
      const task = await readTask(file)
      results.push({file, decision: decide(task, delegation, spill), ...(options.explain ? {checks: checkRules(task, delegation, spill)} : {})})
    } catch (error) {
      if (!(error instanceof TaskFileError)) throw error
      results.push({file, error})
    }
  }

  return {routed: results, spill}
}
