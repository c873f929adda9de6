// The body of `ccl reconcile`, shared by its oclif command and the fast entry (src/fast/reconcile.ts).
import os from 'node:os'

import type {Config} from '../lib/config/schema.js'
import {EXIT_CODES} from '../lib/errors.js'
import {describeOutcome, renderReconcile} from '../lib/render/reconcile.js'
import {type AccountOutcome, type ReconcileResult, reconcile} from '../lib/sessions/reconcile.js'
import {createTmux} from '../lib/tmux/tmux.js'
import {runWithProgress} from '../progress.js'
import {logLine, note} from '../report.js'

export async function runReconcile(config: Config, options: {dryRun: boolean; release: string | undefined; json: boolean}): Promise<ReconcileResult> {
  const {dryRun} = options
  const tmux = await createTmux({socket: config.tmux.socket})
  const render = {crashLimit: config.watchdog.crash_limit, crashWindowMs: config.watchdog.crash_window}
  const tty = Boolean(process.stderr.isTTY) && !options.json
  const result = await reconcile({
    config,
    tmux,
    now: new Date(),
    bootTime: new Date(Date.now() - os.uptime() * 1000),
    dryRun,
    release: options.release,
    progress: (line) => note(`reconcile: ${line}`),
    runAccounts: (jobs) =>
      runWithProgress(
        jobs.map((job) => ({
          title: `${job.account} (${job.session})`,
          run: job.run,
          done: (outcome: AccountOutcome) => {
            const line = describeOutcome(outcome, dryRun, {...render, sayNothing: false})
            return line?.slice(`${job.account} (${job.session}): `.length) ?? 'alive'
          },
        })),
        {tty, prefix: 'reconcile: '},
      ),
  })

  for (const warning of result.warnings) note(`reconcile: warning: ${warning}`)
  const text = renderReconcile(result, {...render, sayNothing: Boolean(process.stdout.isTTY)})
  if (text && !options.json) logLine(text)
  if (!result.ok) process.exitCode = EXIT_CODES.failure
  return result
}
