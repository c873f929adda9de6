import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {loadHotConfigCached} from '../lib/config/cached.js'
import {runStatusLine, statusLineFailed} from '../runs/statusline.js'

export default class StatusLine extends BaseCommand<typeof StatusLine> {
  // Reads only the config keys it uses (src/lib/config/hot.ts), as route and hook do.
  static override usesConfig = false
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
    await runStatusLine(async () => loadHotConfigCached({flag: this.flags.config, env: process.env, cwd: process.cwd()}), this.flags.chain)
  }

  override async catch(error: Error): Promise<void> {
    // A usage error (no --chain value, an unknown flag): nothing to pass on; still exit 0, the session goes on.
    statusLineFailed(error)
    process.exitCode = 0
  }
}
