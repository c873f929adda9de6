import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {type Pause, pauseAccount} from '../lib/accounts/pause.js'
import {queueLayout} from '../lib/queue/layout.js'

export default class PauseCommand extends BaseCommand<typeof PauseCommand> {
  static override summary = 'Stop giving new work to an account (maintenance); its current task goes on.'
  static override description = `A paused account gets no new task: assign, dispatch and failover pass it by, saying why. The task it has goes on, and reconcile keeps its session alive as before. ccl status shows it paused. The pause is kept in <state>/paused/<account>.json until ccl unpause.
Exit codes: 0 paused (or already paused), 2 no such account.`

  static override examples = [
    {description: 'Take beta out of rotation', command: '<%= config.bin %> <%= command.id %> beta --reason "re-login"'},
    {description: 'Put it back', command: '<%= config.bin %> unpause beta'},
  ]

  static override args = {
    account: Args.string({description: 'the account to pause', required: true}),
  }

  static override flags = {
    reason: Flags.string({description: 'why, shown by status and assign', helpValue: 'TEXT'}),
  }

  async run(): Promise<{account: string; paused: Pause; already: boolean}> {
    const config = this.cclConfig()
    const {pause, already} = await pauseAccount(config, queueLayout(config), this.args.account, {reason: this.flags.reason, now: new Date()})
    this.log(already ? `${pause.account}: already paused since ${pause.since}` : `${pause.account}: paused; it gets no new task until: ccl unpause ${pause.account}`)
    return {account: pause.account, paused: pause, already}
  }
}
