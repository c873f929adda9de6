// `ccl status` without oclif (src/fast/argv.ts says when): the Prometheus timer runs it every minute.
import {loadConfigCached} from '../lib/config/cached.js'
import {describeError, logPlainJson, reportError, successJson} from '../report.js'
import {runStatus} from '../runs/status.js'
import {configSource, fastAllowed, parse} from './argv.js'

/** Runs `status` with `args` (after the command's name); false hands the line to oclif. */
export async function runFast(args: readonly string[]): Promise<boolean> {
  if (!fastAllowed()) return false
  const parsed = parse(args, {booleans: ['--json', '--prometheus'], operands: 'none'})
  // --json with --prometheus is oclif's usage error.
  if (!parsed || (parsed.json && parsed.booleans.has('--prometheus'))) return false
  try {
    const report = await runStatus(await loadConfigCached(configSource(parsed)), {prometheus: parsed.booleans.has('--prometheus'), json: parsed.json})
    if (parsed.json) logPlainJson(successJson(report))
  } catch (error) {
    reportError(describeError(error instanceof Error ? error : new Error(String(error))), {json: parsed.json})
  }

  return true
}
