// `ccl statusline` without oclif (src/fast/argv.ts says when): Claude Code runs it on every status refresh.
import {runStatusLine, statusLineFailed} from '../runs/statusline.js'
import {fastAllowed, hotConfigOf, parse} from './argv.js'

/** Runs `statusline` with `args` (after the command's name); false hands the line to oclif. */
export async function runFast(args: readonly string[]): Promise<boolean> {
  if (!fastAllowed()) return false
  const parsed = parse(args, {booleans: [], values: ['--chain'], operands: 'none'})
  if (!parsed) return false
  try {
    await runStatusLine(() => hotConfigOf(parsed), parsed.values.get('--chain'))
  } catch (error) {
    statusLineFailed(error)
    process.exitCode = 0
  }

  return true
}
