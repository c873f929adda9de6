import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import type {ReconcileResult} from '../lib/sessions/reconcile.js'
import {runReconcile} from '../runs/reconcile.js'

export default class Reconcile extends BaseCommand<typeof Reconcile> {
  static override summary = 'One pass of the lifecycle manager: keep one live tmux session per account.'
  static override description = `Safe to run at any pace; the timers (contrib/systemd) and cron lines (contrib/cron) run it at boot and every 15 s.
First the symlinks are validated: when they are invalid nothing is done (exit 1).
Then, for each account:
  alive: nothing.
  dead or gone: a crash is recorded if ccl created that session; the task in active/<account>/ goes back to pending/ (as NAME.2.md if the name is taken); the session is created again.
  crash loop (more than crash_limit crashes within crash_window): held, not recreated, until --release NAME.
Failover: the task of an account that is limited or needs login moves to a free account, whose session resumes the first one's conversation (<command> --resume <id>, same cwd) and is told to continue; the limited account's session is restarted fresh. No free account: the task waits, and the first account to become free takes it. Every step is journaled in <state>/failover/: a killed pass is carried on by the next.
Sessions run the account's command in its cwd with CLAUDE_CONFIG_DIR=<home>.
One reconcile runs at a time; an overlapping one exits 0 at once.
Prints only what it did or what is wrong: cron mails only when something happened.`

  static override examples = [
    {description: 'One pass (what the timer runs every 15 s)', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Show the plan, change nothing', command: '<%= config.bin %> <%= command.id %> --dry-run'},
    {description: 'Let a held account run again', command: '<%= config.bin %> <%= command.id %> --release alpha'},
  ]

  static override flags = {
    'dry-run': Flags.boolean({description: 'print what would be done; change nothing'}),
    release: Flags.string({description: "clear this account's hold and crash record, then reconcile", helpValue: 'NAME'}),
  }

  async run(): Promise<ReconcileResult> {
    return runReconcile(this.cclConfig(), {dryRun: this.flags['dry-run'], release: this.flags.release, json: this.jsonEnabled()})
  }
}
