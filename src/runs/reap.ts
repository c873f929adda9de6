// The body of `ccl reap` off a terminal (cron, timers, a pipe), shared by its oclif command and the
// fast entry (src/fast/reap.ts). On a terminal the oclif command shows a listr2 line instead.
import type {Config} from '../lib/config/schema.js'
import {delegationState} from '../lib/config/read.js'
import {type ReapRun, runReap, type RunReapOptions} from '../lib/delegation/reap.js'
import {BugError, EXIT_CODES} from '../lib/errors.js'
import {queueLayout} from '../lib/queue/layout.js'
import {renderReapSummary} from '../lib/render/reap.js'
import {connect, describeRetry} from '../lib/secutools/options.js'
import {cclVersion} from '../lib/version.js'
import {logLine, note} from '../report.js'

export interface ReapFlags {
  dryRun: boolean
  quiet: boolean
  json: boolean
}

/** What reap is given: the queue, the delegation its environment allows, and a client made only when there is something to ask. */
export function reapOptions(config: Config): RunReapOptions {
  const delegation = delegationState(config, process.env)
  return {
    layout: queueLayout(config),
    delegation,
    client: delegation.on
      ? () => connect(delegation, process.env, {userAgent: `ccl/${cclVersion()}`, onRetry: (info) => note(describeRetry(info))})
      : () => Promise.reject(new BugError('reap asked for a client with delegation off')),
  }
}

/** Whether a run shows a listr2 line (progress on a terminal): that is the oclif command's. */
export function reapWantsListr(config: Config, flags: Pick<ReapFlags, 'quiet' | 'json'>): boolean {
  return !flags.json && !flags.quiet && Boolean(process.stderr.isTTY) && Boolean(process.stdout.isTTY) && delegationState(config, process.env).on
}

/** Reports a run (its result, the skip note, the exit code); `run` is the pass itself, plain or under listr2. */
export function reportReap(result: ReapRun, flags: ReapFlags): ReapRun {
  if (result.skipped) {
    note(`ccl reap: ${result.skipped}`)
    return result
  }

  const changed = result.jobs.some((job) => job.outcome !== 'running') || result.errors > 0
  if (!flags.json && (!flags.quiet || changed)) logLine(renderReapSummary(result))
  if (result.errors > 0) process.exitCode = EXIT_CODES.failure
  return result
}

/** One pass with plain progress lines on stderr (none with --quiet or --json). */
export async function runReapPlain(config: Config, flags: ReapFlags): Promise<ReapRun> {
  const showProgress = !flags.json && !flags.quiet
  const result = await runReap({
    ...reapOptions(config),
    dryRun: flags.dryRun,
    onStart: (markers) => {
      if (showProgress && markers > 0) note(`reap: ${markers} delegated job${markers === 1 ? '' : 's'} to look at`)
    },
  })
  return reportReap(result, flags)
}
