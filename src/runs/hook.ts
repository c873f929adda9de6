// The body of `ccl hook`, shared by its oclif command and the fast entry (src/fast/index.ts).
import {handleHook} from '../lib/accounts/hook.js'
import type {HotConfig} from '../lib/config/hot.js'
import {errorMessage} from '../lib/errors.js'
import {readStdin} from '../stdin.js'

/**
 * Reads the payload and records it. Whatever happens, the session carries on: nothing on stdout,
 * exit 0, one line on stderr (shown only in Claude Code's verbose mode).
 */
export async function runHook(loadConfig: () => Promise<HotConfig>): Promise<void> {
  const payload = await readStdin()
  try {
    await handleHook({config: await loadConfig(), payload, env: process.env, now: new Date()})
  } catch (error) {
    hookFailed(error)
  }
}

export function hookFailed(error: unknown): void {
  process.stderr.write(`ccl hook: ${errorMessage(error)}\n`)
  process.exitCode = 0
}
