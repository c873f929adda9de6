import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {EXIT_CODES, UsageError} from '../lib/errors.js'
import {queueLayout} from '../lib/queue/layout.js'
import {type RetryRun, retryAll, retryTask} from '../lib/queue/retry.js'
import {printable} from '../lib/render/names.js'

export default class Retry extends BaseCommand<typeof Retry> {
  static override summary = 'Put a failed task back in pending/, without the footers ccl appended.'
  static override description = `Moves failed/NAME back to pending/NAME with exactly its own content: every result footer ccl appended (from the first "<!-- ccl:delegation" footer to the end of the file) is removed, and nothing else; edits you made to the file in failed/ above the footer are kept, and so is its mode. It goes to the end of the line (its mtime is set to now). Event task.retried.
A task whose name is already in use elsewhere in the queue (pending/, a delegation marker, active/, done/) is refused and nothing changes. The move is crash-safe: a retry killed at any point is finished or undone by the next command that touches pending/NAME.
Exit codes: 0 retried, 2 not in failed/ (the message says where it is), 4 refused (its name is taken, or it is claimed right now; with --all: any task refused).`

  static override examples = [
    {description: 'Retry one task', command: '<%= config.bin %> <%= command.id %> fix-login.md'},
    {description: 'Retry every failed task', command: '<%= config.bin %> <%= command.id %> --all'},
    {description: 'Machine-readable', command: '<%= config.bin %> <%= command.id %> fix-login.md --json'},
  ]

  static override args = {
    name: Args.string({description: 'the task in failed/ (bare name, or a path to it)'}),
  }

  static override flags = {
    all: Flags.boolean({description: 'retry every task in failed/'}),
  }

  async run(): Promise<RetryRun> {
    const config = this.cclConfig()
    const layout = queueLayout(config)
    const {name} = this.args
    const all = Boolean(this.flags.all)
    if (all === (name !== undefined)) {
      throw new UsageError(all ? 'give NAME or --all, not both' : 'Missing 1 required arg: name (or --all)', {hint: 'see: ccl retry --help'})
    }

    const now = new Date()
    const run: RetryRun = name === undefined ? await retryAll(layout, now) : {retried: [await retryTask(layout, name, now)], refused: []}
    for (const task of run.retried) {
      this.log(printable(`${task.from} -> ${task.to}${task.footers_removed > 0 ? ` (${task.footers_removed} footer${task.footers_removed === 1 ? '' : 's'} removed)` : ''}`))
    }

    for (const refused of run.refused) this.note(`ccl: ${printable(refused.message)}`)
    if (all && run.retried.length === 0 && run.refused.length === 0) this.log('failed/ holds no task: nothing to retry')
    if (run.refused.length > 0) this.setExitCode(EXIT_CODES.refused)
    return run
  }
}
