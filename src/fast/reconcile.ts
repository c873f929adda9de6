// `ccl reconcile` without oclif (src/fast/argv.ts says when): the timers run it every 15 s.
import {loadConfigCached} from '../lib/config/cached.js'
import {describeError, logPlainJson, reportError, successJson} from '../report.js'
import {runReconcile} from '../runs/reconcile.js'
import {configSource, fastAllowed, parse} from './argv.js'

/** Runs `reconcile` with `args` (after the command's name); false hands the line to oclif. */
export async function runFast(args: readonly string[]): Promise<boolean> {
  if (!fastAllowed()) return false
  const parsed = parse(args, {booleans: ['--dry-run', '--json'], values: ['--release'], operands: 'none'})
  if (!parsed) return false
  try {
    const result = await runReconcile(await loadConfigCached(configSource(parsed)), {dryRun: parsed.booleans.has('--dry-run'), release: parsed.values.get('--release'), json: parsed.json})
    if (parsed.json) logPlainJson(successJson(result))
  } catch (error) {
    reportError(describeError(error instanceof Error ? error : new Error(String(error))), {json: parsed.json})
  }

  return true
}
