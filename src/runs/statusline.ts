// The body of `ccl statusline`, shared by its oclif command and the fast entry (src/fast/statusline.ts).
import {recordStatusLine, type StatusLineOutcome} from '../lib/accounts/statusline.js'
import type {HotConfig} from '../lib/config/hot.js'
import {errorMessage} from '../lib/errors.js'
import {runChained} from '../lib/hooks/chain.js'
import {renderStatusLine} from '../lib/render/statusline.js'
import {readStdin} from '../stdin.js'

/**
 * Records the payload's rate limits, then prints what the chained command printed (with its exit
 * code), or ccl's own short line. A problem of ccl's is one line on stderr; the session goes on.
 */
export async function runStatusLine(loadConfig: () => Promise<HotConfig>, chain: string | undefined): Promise<void> {
  const payload = await readStdin()
  // Started first: the operator's command runs while ccl records.
  const chained = chain === undefined ? undefined : runChained(chain, payload, process.env)
  let outcome: StatusLineOutcome | undefined
  try {
    outcome = await recordStatusLine({config: await loadConfig(), payload, env: process.env, now: new Date()})
  } catch (error) {
    statusLineFailed(error)
  }

  if (chained) {
    const result = await chained
    process.stdout.write(result.stdout)
    process.stderr.write(result.stderr)
    if (result.error) process.stderr.write(`ccl statusline: could not run sh: ${result.error}\n`)
    process.exitCode = result.code
    return
  }

  if (outcome && outcome.kind !== 'ignored') process.stdout.write(renderStatusLine(outcome.account, outcome.usage, new Date()) + '\n')
}

export function statusLineFailed(error: unknown): void {
  process.stderr.write(`ccl statusline: ${errorMessage(error)}\n`)
}
