import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {recordStatusLine, type StatusLineOutcome} from '../lib/accounts/statusline.js'
import {errorMessage} from '../lib/errors.js'
import {runChained} from '../lib/hooks/chain.js'
import {renderStatusLine} from '../lib/render/statusline.js'
import {readStdin} from '../stdin.js'

export default class StatusLine extends BaseCommand<typeof StatusLine> {
  static override summary = "The statusLine command Claude Code runs (failover.headroom): records the account's rate-limit usage."
  static override description = `Installed as each account's statusLine by \`ccl hooks install\` when failover.headroom is true; not meant to be run by hand.
Reads Claude Code's statusLine payload (JSON) on stdin and records its rate_limits (five_hour, seven_day: used percentage and reset time) in <state>/accounts/<account>.json, the account being the one whose home is the session's CLAUDE_CONFIG_DIR; the record is rewritten only when the numbers changed.
With --chain (the operator's own statusLine command, kept by \`hooks install\`), it then prints exactly what that command prints, given the same stdin through sh -c, and exits with its exit code. Without one it prints one short line: "ccl ACCOUNT · 5h N% · 7d N%".
Nothing it cannot use (bad JSON, an unknown home, an unreadable record, a broken config) disturbs the session: the chained command still runs, and the problem is a hook.error event (or a line on stderr).`

  static override enableJsonFlag = false

  static override flags = {
    chain: Flags.string({description: "the operator's statusLine command, run with the same stdin; its output and exit code are passed on"}),
  }

  async run(): Promise<void> {
    const payload = await readStdin()
    const chain = this.flags.chain
    // Started first: the operator's command runs while ccl records.
    const chained = chain === undefined ? undefined : runChained(chain, payload, process.env)
    let outcome: StatusLineOutcome | undefined
    try {
      outcome = await recordStatusLine({config: this.cclConfig(), payload, env: process.env, now: new Date()})
    } catch (error) {
      process.stderr.write(`ccl statusline: ${errorMessage(error)}\n`)
    }

    if (chained) {
      const result = await chained
      process.stdout.write(result.stdout)
      process.stderr.write(result.stderr)
      if (result.error) process.stderr.write(`ccl statusline: could not run sh: ${result.error}\n`)
      process.exitCode = result.code
      return
    }

    if (outcome && outcome.kind !== 'ignored') process.stdout.write(renderStatusLine(outcome.account, outcome.usage, new Date()) + '\n')
  }

  override async catch(error: Error): Promise<void> {
    // A usage error (no --chain value, an unknown flag): nothing to pass on; still exit 0, the session goes on.
    process.stderr.write(`ccl statusline: ${errorMessage(error)}\n`)
    process.exitCode = 0
  }
}
