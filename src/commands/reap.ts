import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {type ReapedJob, type ReapRun, runReap, type RunReapOptions, summarize} from '../lib/delegation/reap.js'
import {renderReapedJob, renderReapTotals} from '../lib/render/reap.js'
import {reapOptions, reapWantsListr, reportReap, runReapPlain} from '../runs/reap.js'

export default class Reap extends BaseCommand<typeof Reap> {
  static override summary = 'Collect finished delegated jobs into done/ or failed/, with a result footer.'
  static override description = `For every marker pending/NAME.md.delegated:
  submitting            resubmit with the same idempotency key (the platform answers with the same job)
  submitted             poll the job (at most delegation.concurrency requests at once)
    completed           -> done/NAME.md with the result footer
    failed, cancelled   -> failed/NAME.md with the footer and the error
    past job_timeout    -> failed/NAME.md, status timed_out (measured from submitted_at)
    queued, running     -> left for the next reap
Each outcome appends an event to this host's events.jsonl. Finishing is crash-safe: the result is written first,
then the task and the marker are removed; a reap killed at any point is completed by the next one
without a second file or footer. One reap runs at a time: a second exits 0 at once saying so.
The timer (contrib/systemd) and cron lines (contrib/cron) run it every 30 s; with delegation off and no markers it does nothing and exits 0.`

  static override examples = [
    {description: 'One pass (what the timer runs every 30 s)', command: '<%= config.bin %> <%= command.id %> --quiet'},
    {description: 'See what would happen, change nothing', command: '<%= config.bin %> <%= command.id %> --dry-run'},
    {description: 'Machine-readable summary', command: '<%= config.bin %> <%= command.id %> --json'},
  ]

  static override flags = {
    'dry-run': Flags.boolean({description: 'poll and report what would happen; move, resubmit and log nothing'}),
    quiet: Flags.boolean({description: 'print only jobs that finished or failed, and errors (for cron mail)'}),
  }

  async run(): Promise<ReapRun> {
    const config = this.cclConfig()
    const flags = {dryRun: this.flags['dry-run'], quiet: this.flags.quiet, json: this.jsonEnabled()}
    // Off a terminal the same plain run as the fast entry (src/runs/reap.ts); on one, a listr2 line.
    if (!reapWantsListr(config, flags)) return runReapPlain(config, flags)
    const options = {...reapOptions(config), dryRun: flags.dryRun}
    const concurrency = options.delegation.on ? options.delegation.settings.concurrency : 1
    return reportReap(await this.withListr(options, concurrency), flags)
  }

  /** On a terminal: a listr2 line that counts jobs as they come in (on stderr, so stdout stays the result). */
  private async withListr(options: RunReapOptions, concurrency: number): Promise<ReapRun> {
    const {Listr, ListrLogger, ProcessOutput} = await import('listr2')
    let result: ReapRun | undefined
    const seen: ReapedJob[] = []
    let total = 0
    await new Listr(
      [
        {
          title: 'reap: reading markers',
          task: async (_, task) => {
            result = await runReap({
              ...options,
              onStart(markers) {
                total = markers
                task.title = `reap: ${markers} delegated job${markers === 1 ? '' : 's'}, ${concurrency} polls at once`
              },
              onJob(job) {
                seen.push(job)
                const counts = summarize(seen, [], Boolean(options.dryRun))
                task.output = `${seen.length}/${total}: ${renderReapTotals(counts).replace(/^reap[^:]*: /, '')}\n${renderReapedJob(job, counts.dry_run)}`
              },
            })
            task.title = result.skipped ? `reap: ${result.skipped}` : renderReapTotals(result)
          },
        },
      ],
      {
        rendererOptions: {logger: new ListrLogger({processOutput: new ProcessOutput(process.stderr, process.stderr)})},
        registerSignalListeners: false,
      },
    ).run()
    if (!result) throw new Error('reap did not run')
    return result
  }
}
