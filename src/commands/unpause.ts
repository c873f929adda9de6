import {Args} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {type Pause, unpauseAccount} from '../lib/accounts/pause.js'
import {queueLayout} from '../lib/queue/layout.js'

export default class UnpauseCommand extends BaseCommand<typeof UnpauseCommand> {
  static override summary = 'Give a paused account work again.'
  static override description = `Ends ccl pause: the account is handed tasks again from the next assign or dispatch.
Exit codes: 0 unpaused (or was not paused), 2 no such account.`

  static override examples = [{description: 'Put beta back in rotation', command: '<%= config.bin %> <%= command.id %> beta'}]

  static override args = {
    account: Args.string({description: 'the account to unpause', required: true}),
  }

  async run(): Promise<{account: string; was: Pause | null}> {
    const config = this.cclConfig()
    const {was} = await unpauseAccount(config, queueLayout(config), this.args.account, new Date())
    this.log(was ? `${this.args.account}: unpaused (paused since ${was.since})` : `${this.args.account}: was not paused`)
    return {account: this.args.account, was}
  }
}
