import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {type DispatchResult, dispatch} from '../lib/dispatch/dispatch.js'
import {EXIT_CODES} from '../lib/errors.js'
import {describeEntry, renderDispatch} from '../lib/render/dispatch.js'
import {printable} from '../lib/render/names.js'
import {connect, describeRetry} from '../lib/secutools/options.js'
import {createTmux} from '../lib/tmux/tmux.js'

export default class Dispatch extends BaseCommand<typeof Dispatch> {
  static override summary = 'One pass of the dispatcher: route every pending task, then submit it or hand it to a free account.'
  static override description = `Pending tasks go oldest first (mtime, then name); a task with a .delegated marker is already remote and is left to ccl reap. Each task is routed (see ccl route):
  remote       claimed and submitted to secutools, as ccl delegate submit does
  claude-code  handed to a free account's session, as ccl assign does; once no account is free,
               the remaining local tasks wait for the next pass (remote ones are still submitted)
Every hand-off is a claim (rename or exclusive create), so two dispatchers, or a dispatcher and a person, never hand one task out twice. A hand-off that an earlier run left half-done (killed between the claim and the Enter key) is undone first.
Safe to run every 15 s from a systemd timer or cron. stdout lists what was handed off (when stdout is not a terminal, a pass that changed nothing prints nothing); failures and routing warnings go to stderr.`

  static override examples = [
    {description: 'One pass (what the timer runs)', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Hand off at most 3 tasks this pass', command: '<%= config.bin %> <%= command.id %> --max 3'},
    {description: 'Machine-readable summary', command: '<%= config.bin %> <%= command.id %> --json'},
  ]

  static override flags = {
    max: Flags.integer({description: 'hand off at most N tasks (assigned + submitted) in this pass', min: 1, helpValue: 'N'}),
  }

  async run(): Promise<DispatchResult> {
    const config = this.cclConfig()
    const tmux = await createTmux({socket: config.tmux.socket})
    const result = await dispatch({
      config,
      env: process.env,
      tmux,
      max: this.flags.max,
      connect: (delegation) =>
        connect(delegation, process.env, {userAgent: `ccl/${this.config.version}`, onRetry: (info) => this.note(describeRetry(info))}),
      onEntry: (entry) => {
        // A task's routing warnings once, when it is handed off or fails, not on every pass it waits.
        if (entry.outcome !== 'waiting') for (const warning of entry.warnings) this.note(`dispatch: warning: ${printable(warning)}`)
        if (entry.outcome === 'failed') this.note(`dispatch: ${describeEntry(entry)}`)
      },
    })
    for (const {account, task, as} of result.recovered) {
      this.note(`dispatch: ${printable(task)}: an earlier hand-off to ${account} was interrupted; back in pending/${as === task ? '' : ` as ${printable(as)}`}`)
    }

    const text = renderDispatch(result, {quiet: !process.stdout.isTTY})
    if (text) this.log(text)
    if (!result.ok) this.setExitCode(EXIT_CODES.failure)
    return result
  }
}
