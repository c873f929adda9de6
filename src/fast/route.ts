// `ccl route FILE…` without oclif (src/fast/argv.ts says when): one self-contained file, built apart.
import {describeError, logPlainJson, reportError, successJson} from '../report.js'
import {runRoute} from '../runs/route.js'
import {fastAllowed, hotConfigOf, parse} from './argv.js'

/** Runs `route` with `args` (after the command's name); false hands the line to oclif. */
export async function runFast(args: readonly string[]): Promise<boolean> {
  if (!fastAllowed()) return false
  const parsed = parse(args, {booleans: ['--explain', '--json'], operands: 'one or more'})
  if (!parsed) return false
  try {
    const result = await runRoute(parsed.operands, {config: await hotConfigOf(parsed), explain: parsed.booleans.has('--explain'), json: parsed.json})
    if (parsed.json) logPlainJson(successJson(result))
  } catch (error) {
    reportError(describeError(error instanceof Error ? error : new Error(String(error))), {json: parsed.json})
  }

  return true
}
