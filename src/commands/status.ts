import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import type {StatusReport} from '../lib/status/report.js'
import {runStatus} from '../runs/status.js'

export default class Status extends BaseCommand<typeof Status> {
  static override summary = "The operator's view: sessions, queue, delegated jobs, counters, stale tasks, symlinks."
  static override description = `Reads files and asks tmux once; never calls the secutools API, changes nothing, and works with no tmux server running.
Prints a one-line verdict, then tables: sessions of the whole fleet, each with its host (alive, working on what since when,
crashes within crash_window, held; another host's accounts, from <state>/fleet/accounts/, are remote while that host's
reconcile refreshes their owner record and stale after 10 minutes without) with the tmux attach line for ccl's server, queue counts with the oldest pending task and where the next five would go
and why they wait, whether delegation is on, delegated jobs (task, provider, job, state, age), delegation counters from
every host's event log (all time and last 24 h), stale tasks and symlink health.
Exits 1 when something needs a person, each an attention item with a stable kind (--json attention[]): tmux missing, no
session alive while tasks wait, delegation off although configured (its key variable unset), a claim stuck submitting,
failed tasks (with the ccl retry line), stale tasks, held accounts or tasks, accounts needing login, sessions waiting
too long, invalid symlinks, unreadable markers or records. Exits 3 when the queue folder does not exist.
--prometheus prints the node_exporter textfile format instead.`

  static override examples = [
    {description: 'Look at the machine', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'For scripts', command: '<%= config.bin %> <%= command.id %> --json'},
    {
      description: 'Feed node_exporter (textfile collector); exit 1 still writes the file',
      command: '<%= config.bin %> <%= command.id %> --prometheus > /var/lib/node_exporter/ccl.prom.$$; [ $? -le 1 ] && mv /var/lib/node_exporter/ccl.prom.$$ /var/lib/node_exporter/ccl.prom',
    },
  ]

  static override flags = {
    prometheus: Flags.boolean({description: 'print metrics in the Prometheus text format (node_exporter textfile collector)', exclusive: ['json']}),
  }

  async run(): Promise<StatusReport> {
    return runStatus(this.cclConfig(), {prometheus: this.flags.prometheus, json: this.jsonEnabled()})
  }
}
