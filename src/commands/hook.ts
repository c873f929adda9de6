import {BaseCommand} from '../base-command.js'
import {handleHook} from '../lib/accounts/hook.js'
import {errorMessage} from '../lib/errors.js'
import {readStdin} from '../stdin.js'

export default class Hook extends BaseCommand<typeof Hook> {
  static override summary = "The entry point Claude Code's hooks run: records what the account's session does."
  static override description = `Installed into each account's settings.json by \`ccl hooks install\`; not meant to be run by hand.
Reads one hook payload (JSON) on stdin and records the session's state under <state>/accounts/<account>.json: the account is the one whose home is the session's CLAUDE_CONFIG_DIR. It prints nothing on stdout and always exits 0, so it can never disturb a session (UserPromptSubmit and Stop hooks act on stdout); a payload it cannot use is logged as a hook.error event.`

  static override enableJsonFlag = false

  async run(): Promise<void> {
    const payload = await readStdin()
    try {
      await handleHook({config: this.cclConfig(), payload, env: process.env, now: new Date()})
    } catch (error) {
      // Whatever happened, the session carries on; one line on stderr (shown only in Claude Code's verbose mode).
      process.stderr.write(`ccl hook: ${errorMessage(error)}\n`)
    }
  }

  override async catch(error: Error): Promise<void> {
    // A config or usage error: still exit 0 with nothing on stdout.
    process.stderr.write(`ccl hook: ${errorMessage(error)}\n`)
    process.exitCode = 0
  }
}
