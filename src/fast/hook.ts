// `ccl hook` without oclif (src/fast/argv.ts says when): one self-contained file, built apart.
import {hookFailed, runHook} from '../runs/hook.js'
import {fastAllowed, hotConfigOf, parse} from './argv.js'

/** Runs `hook` with `args` (after the command's name); false hands the line to oclif. */
export async function runFast(args: readonly string[]): Promise<boolean> {
  if (!fastAllowed()) return false
  const parsed = parse(args, {booleans: [], operands: 'none'})
  if (!parsed) return false
  try {
    await runHook(() => hotConfigOf(parsed))
  } catch (error) {
    hookFailed(error)
  }

  return true
}
