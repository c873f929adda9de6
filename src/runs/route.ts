// The body of `ccl route`, shared by its oclif command and the fast entry (src/fast/index.ts).
import path from 'node:path'

import type {HotConfig} from '../lib/config/hot.js'
import {delegationState} from '../lib/config/read.js'
import {EXIT_CODES} from '../lib/errors.js'
import {printable} from '../lib/render/names.js'
import {renderRoute} from '../lib/render/route.js'
import type {Decision, RuleCheck} from '../lib/tasks/decide.js'
import {routeFiles} from '../lib/tasks/route.js'
import {logLine, note} from '../report.js'

export interface RouteResult {
  decisions: (Decision & {rules?: RuleCheck[]})[]
  /** Present only when a file could not be read. */
  errors?: {task: string; file: string; message: string}[]
}

/** Decides each file; warnings and unreadable files on stderr, the decisions on stdout unless `json`. */
export async function runRoute(files: readonly string[], options: {config: HotConfig; explain: boolean; json: boolean}): Promise<RouteResult> {
  const {config, explain} = options
  const {routed} = await routeFiles(files, {config, delegation: delegationState(config, process.env), now: new Date(), explain})
  const result: RouteResult = {decisions: []}
  for (const item of routed) {
    if (item.error) {
      note(`ccl: ${printable(item.error.message)}`)
      ;(result.errors ??= []).push({task: path.basename(item.file), file: item.file, message: item.error.message})
      continue
    }

    for (const warning of item.decision!.warnings) note(`ccl: warning: ${printable(warning)}`)
    result.decisions.push(item.checks ? {...item.decision!, rules: item.checks} : item.decision!)
  }

  const text = renderRoute(routed, {explain})
  if (text && !options.json) logLine(text)
  if (result.errors) process.exitCode = EXIT_CODES.taskFile
  return result
}
