import path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {EXIT_CODES} from '../../lib/errors.js'
import {hookCommand, type InstallReport, installHooks, statusLineCommand} from '../../lib/hooks/install.js'
import {renderHooksReport} from '../../lib/render/hooks.js'

export default class HooksInstall extends BaseCommand<typeof HooksInstall> {
  static override summary = "Add ccl's hook entries to every account's Claude Code settings.json."
  static override description = `For each account, <home>/settings.json gets one command hook on SessionStart, UserPromptSubmit, Stop, StopFailure, Notification and SessionEnd that runs \`ccl hook\` by absolute paths (this Node, this ccl, this config file), so the session's PATH does not matter. ccl's entries end with "# ccl-hook"; an entry of ccl's with another command (ccl moved, another config) is replaced, never duplicated. Everything else in the file is kept; a second run changes nothing.
A file that is not valid JSON, or whose top level or "hooks" is not an object, is refused (file, line and column, or the key) and left untouched, and the other accounts are still done. A missing file is created (and the home, mode 0700). A settings.json that is a symlink is written through the link, once for all the accounts that share it.
With failover.headroom: true it also sets each settings.json's statusLine to \`ccl statusline\` (which records the account's rate-limit usage), chaining the operator's own statusLine command: ccl's runs it with the same input and prints what it prints. With headroom false, a statusLine of ccl's is taken out and the operator's command put back.
Run it once after configuring the accounts, and again after moving ccl or its config. Exit 0 when every file is done, 1 when one was refused.`

  static override examples = [
    {description: 'Install (or bring up to date) the hooks of every account', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Show what would change, write nothing', command: '<%= config.bin %> <%= command.id %> --dry-run'},
    {description: 'Machine-readable report', command: '<%= config.bin %> <%= command.id %> --json'},
  ]

  static override flags = {
    'dry-run': Flags.boolean({description: 'print what would change, write nothing', default: false}),
  }

  async run(): Promise<InstallReport> {
    const config = this.cclConfig()
    const parts = {node: process.execPath, bin: path.join(this.config.root, 'bin', 'run.js'), configFile: config.file}
    const report = await installHooks(config.accounts, {
      command: hookCommand(parts),
      dryRun: this.flags['dry-run'],
      headroom: config.failover.headroom,
      statusLine: (chain) => statusLineCommand(parts, chain),
    })
    this.log(renderHooksReport(report))
    if (report.accounts.some((account) => account.status === 'refused')) this.setExitCode(EXIT_CODES.failure)
    return report
  }
}
