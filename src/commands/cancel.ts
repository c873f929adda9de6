import {Args} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {type CancelResult, cancelTask} from '../lib/delegation/cancel.js'
import {EXIT_CODES} from '../lib/errors.js'
import {queueLayout} from '../lib/queue/layout.js'
import {printable} from '../lib/render/names.js'

export default class Cancel extends BaseCommand<typeof Cancel> {
  static override summary = 'Stop waiting for a delegated task: to failed/ with a "cancelled" footer; the remote job is left to the platform.'
  static override description = `For pending/NAME.md beside its marker NAME.md.delegated (state submitted, or still submitting): the task goes to failed/ with a result footer of status "cancelled" ("cancelled by operator; the remote job <id> is left to the platform"), and the marker is removed. ccl does not cancel the job on secutools: it may still run and cost; ccl reap no longer looks at it. A claim still "submitting" has no job id: one may have been created all the same.
Runs under the reap lock (a running reap is waited for up to 10 s), through the same journaled finish as reap: a cancel killed at any point is completed by the next reap or cancel, never finished twice. Works with delegation off. Retry the task with ccl retry.
Exit codes: 0 cancelled, 2 no such task (or its marker is unreadable, or the task is gone beside its marker), 4 refused (not delegated, a reap still running, or an interrupted reap had already finished it: then it was completed as reap decided).`

  static override examples = [
    {description: 'Give up on a delegated task', command: '<%= config.bin %> <%= command.id %> summarise-logs.md'},
    {description: 'Then run it locally or delegate it again', command: '<%= config.bin %> retry summarise-logs.md'},
  ]

  static override args = {
    name: Args.string({description: 'the delegated task in pending/ (bare name)', required: true}),
  }

  async run(): Promise<CancelResult> {
    const config = this.cclConfig()
    const result = await cancelTask({layout: queueLayout(config), name: this.args.name, now: () => new Date()})
    if (result.status !== 'cancelled') {
      this.note(printable(`ccl: ${result.task}: not cancelled: an interrupted reap had already finished it (${result.status}); completed as it decided -> ${result.destination}`))
      this.setExitCode(EXIT_CODES.refused)
      return result
    }

    this.log(printable(`pending/${result.task} -> ${result.destination} (cancelled${result.recovered ? ', completing an interrupted cancel' : ''}); ${result.remote}`))
    return result
  }
}
