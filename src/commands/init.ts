import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {type InitResult, initSite} from '../lib/doctor/init.js'

export default class Init extends BaseCommand<typeof Init> {
  // Reads the config its own way (not through cclConfig).
  static override usesConfig = false
  static override summary = 'Write a commented starter config and make the queue folders.'
  static override description = `Writes the config where ccl looks for it: --config PATH or $CCL_CONFIG when given, else $XDG_CONFIG_HOME/ccl/config.yaml (~/.config/ccl/config.yaml, the file the systemd units name). Every key is commented; the optional blocks are there, commented out, at their defaults; delegation stays off until you fill in its block. Then makes pending/, active/, done/, failed/ and the state folder, and prints the next steps.
An existing file is never replaced (exit 4) unless --force, which keeps the old one as FILE.bak.
Exit codes: 0 written, 2 a bad --account, 4 the file exists.`

  static override examples = [
    {description: 'A config for two accounts', command: '<%= config.bin %> <%= command.id %> --queue /srv/agent-queue --account alpha=/home/ops/.claude-alpha --account beta=/home/ops/.claude-beta'},
    {description: 'Somewhere else (then pass --config to every command, or export CCL_CONFIG)', command: '<%= config.bin %> <%= command.id %> --config /srv/agent-queue/ccl.yaml'},
  ]

  static override flags = {
    queue: Flags.string({description: 'root of the queue folders (default ~/agent-queue)', helpValue: 'DIR'}),
    account: Flags.string({description: 'an account, its name and its CLAUDE_CONFIG_DIR; repeat for more (default alpha=~/.claude-alpha)', helpValue: 'NAME=HOME', multiple: true}),
    force: Flags.boolean({description: 'replace an existing config file (kept as FILE.bak)', default: false}),
  }

  async run(): Promise<InitResult> {
    const result = await initSite({
      ...(this.flags.config ? {flag: this.flags.config} : {}),
      env: process.env,
      cwd: process.cwd(),
      ...(this.flags.queue ? {queue: this.flags.queue} : {}),
      accounts: this.flags.account ?? [],
      force: this.flags.force,
    })
    const lines = [
      `wrote ${result.file}${result.backup ? ` (the old one kept as ${result.backup})` : ''}`,
      ...(result.foundByDefault ? [] : [`ccl does not look there by itself: pass --config ${result.file} or export CCL_CONFIG=${result.file}`]),
      `made ${result.created.join(', ')}`,
      'next:',
      ...result.next.map((step, i) => `  ${i + 1}. ${step}`),
    ]
    this.log(lines.join('\n'))
    return result
  }
}
