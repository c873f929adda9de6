import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {type AssignResult, assignTask} from '../lib/assign/assign.js'
import {RefusedError} from '../lib/errors.js'
import {describeRefusal} from '../lib/render/assign.js'
import {createTmux} from '../lib/tmux/tmux.js'
import {printable} from '../lib/render/names.js'

export default class Assign extends BaseCommand<typeof Assign> {
  static override summary = "Hand one pending task to a free account's Claude Code session."
  static override description = `The local hand-off. A free account is one whose session is alive, whose active/<account>/ is empty and which is not held; --account names the only one to try.
The task is claimed by renaming it from pending/ into active/<account>/ (its mtime is set to now: age in active/ counts from the hand-off), then the prompt from assign.prompt ({task} = the task's absolute path in active/, {done} = the absolute done/ folder) is pasted into the session through a uniquely named tmux buffer (bracketed paste), and Enter follows after assign.enter_delay. The text never goes through send-keys; before the paste the session's input box is cleared with Ctrl-U keys, so a prompt an interrupted assign left there unsent is not submitted with this one.
If the prompt cannot be delivered the task goes back to pending/ with its old mtime (exit 1). A task with a delegation marker is refused, and so is a task another process took first (exit 4).`

  static override examples = [
    {description: 'Hand a task to whichever account is free', command: '<%= config.bin %> <%= command.id %> /srv/agent-queue/pending/fix-login.md'},
    {description: 'A bare name is looked up in pending/', command: '<%= config.bin %> <%= command.id %> fix-login.md'},
    {description: 'Only this account, or not at all', command: '<%= config.bin %> <%= command.id %> fix-login.md --account beta'},
  ]

  static override args = {
    task: Args.string({description: "a task in the queue's pending/ folder (path or bare name)", required: true}),
  }

  static override flags = {
    account: Flags.string({description: 'hand it to this account only', helpValue: 'NAME'}),
  }

  async run(): Promise<Extract<AssignResult, {outcome: 'assigned'}>> {
    const config = this.cclConfig()
    const tmux = await createTmux({socket: config.tmux.socket})
    const result = await assignTask({
      config,
      tmux,
      task: this.args.task,
      account: this.flags.account,
    })
    if (result.outcome !== 'assigned') throw new RefusedError(describeRefusal(result))
    this.log(printable(`${result.task} -> ${result.account} (${result.session})`))
    return result
  }
}
