import {BaseCommand} from '../base-command.js'
import {loadHotConfigCached} from '../lib/config/cached.js'
import {hookFailed, runHook} from '../runs/hook.js'

export default class Hook extends BaseCommand<typeof Hook> {
  // Reads the config its own way (not through cclConfig).
  static override usesConfig = false
  static override summary = "The entry point Claude Code's hooks run: records what the account's session does."
  static override description = `Installed into each account's settings.json by \`ccl hooks install\`; not meant to be run by hand.
Reads one hook payload (JSON) on stdin and records the session's state under <state>/accounts/<account>.json: the account is the one whose home is the session's CLAUDE_CONFIG_DIR. It prints nothing on stdout and always exits 0, so it can never disturb a session (UserPromptSubmit and Stop hooks act on stdout); a payload it cannot use is logged as a hook.error event.`

  static override enableJsonFlag = false

  async run(): Promise<void> {
    await runHook(async () => loadHotConfigCached({flag: this.flags.config, env: process.env, cwd: process.cwd()}))
  }

  override async catch(error: Error): Promise<void> {
    // A config or usage error: still exit 0 with nothing on stdout.
    hookFailed(error)
  }
}
