// `ccl reap` without oclif (src/fast/argv.ts says when): the timers run it every 30 s. On a terminal
// without --quiet or --json the run shows a listr2 line: that is the oclif command's.
import {loadConfigCached} from '../lib/config/cached.js'
import {describeError, logPlainJson, reportError, successJson} from '../report.js'
import {reapWantsListr, runReapPlain} from '../runs/reap.js'
import {configSource, fastAllowed, parse} from './argv.js'

/** Runs `reap` with `args` (after the command's name); false hands the line to oclif. */
export async function runFast(args: readonly string[]): Promise<boolean> {
  if (!fastAllowed()) return false
  const parsed = parse(args, {booleans: ['--dry-run', '--quiet', '--json'], operands: 'none'})
  if (!parsed) return false
  const flags = {dryRun: parsed.booleans.has('--dry-run'), quiet: parsed.booleans.has('--quiet'), json: parsed.json}
  try {
    const config = await loadConfigCached(configSource(parsed))
    if (reapWantsListr(config, flags)) return false
    const result = await runReapPlain(config, flags)
    if (parsed.json) logPlainJson(successJson(result))
  } catch (error) {
    reportError(describeError(error instanceof Error ? error : new Error(String(error))), {json: parsed.json})
  }

  return true
}
