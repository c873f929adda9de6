import {Args} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {type RequeueResult, requeueTask} from '../lib/sessions/requeue.js'
import {createTmux} from '../lib/tmux/tmux.js'
import {printable} from '../lib/render/names.js'

export default class Requeue extends BaseCommand<typeof Requeue> {
  static override summary = "Take a task back from an account: to pending/ in its place, the account's session restarted."
  static override description = `For a stale or stuck task in active/<account>/NAME: the account's session is killed (so it stops working on the task), the task goes back to pending/ with the place in line it had before it was handed out, and the session is created again as reconcile creates it (not for an account on hold). Event task.requeued with reason "operator".
Refused while a hand-off to that account is under way or a failover journal names it, and while a reconcile runs (it is waited for up to 10 s). Crash-safe: killed after the session was killed, the next reconcile puts the task back and creates the session; after the move, it creates the session.
Exit codes: 0 requeued, 2 not in any account's active/ folder (the message says where it is), 4 refused (a hand-off, a failover or a reconcile under way), 1 tmux failed.`

  static override examples = [
    {description: 'Take a stuck task back', command: '<%= config.bin %> <%= command.id %> fix-login.md'},
    {description: 'Machine-readable', command: '<%= config.bin %> <%= command.id %> fix-login.md --json'},
  ]

  static override args = {
    name: Args.string({description: "the task in an account's active/ folder (bare name)", required: true}),
  }

  async run(): Promise<RequeueResult> {
    const config = this.cclConfig()
    const tmux = await createTmux({socket: config.tmux.socket})
    const result = await requeueTask({config, tmux, name: this.args.name, now: () => new Date()})
    const as = result.renamed ? `pending/${result.as} (pending/ already held a ${result.task})` : `pending/${result.as}`
    const place = result.restored ? 'its place in line kept' : 'no hand-off record: its mtime kept'
    const session = result.restarted ? `session ${result.session} restarted` : `session ${result.session} killed, not recreated: the account is on hold (ccl reconcile --release ${result.account})`
    this.log(printable(`active/${result.account}/${result.task} -> ${as}, ${place}; ${session}`))
    return result
  }
}
