import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {EXIT_CODES} from '../lib/errors.js'
import {type FsckReport, runFsck} from '../lib/fsck/fsck.js'
import {requireQueueRoot} from '../lib/queue/layout.js'
import {renderFsck} from '../lib/render/fsck.js'

export default class Fsck extends BaseCommand<typeof Fsck> {
  static override summary = 'Check the queue and the state for broken invariants; --repair fixes what is safe.'
  static override description = `Checks (docs/fsck.md): each task in exactly one of pending/, active/<account>/, done/, failed/; markers without their task, malformed, or for a task already in done/ or failed/; temp files of killed writers; hand-off and failover journals whose process is gone; active/ folders of unknown accounts, or holding more than one task; state files that do not parse; the event log's torn last line; file modes (group/other-writable, world-readable state: warnings).
One line per problem: its kind, the file, what is wrong, and what to do. Without --repair it changes nothing.
--repair takes the reap and reconcile locks (waiting up to 10 s) and each task's claim, and fixes only what is safe: removes a killed writer's temp file, moves an orphaned marker to <queue>/lost+found/, truncates a torn last event line, removes a pending/ copy of a task whose identical copy is in active/, done/ or failed/, settles a hand-off whose process died. It says what it repaired and what it left for a person.
Exit codes: 0 sound (warnings allowed; with --repair, sound after the repairs), 1 problems remain, 3 the config or the queue folder is missing.`

  static override examples = [
    {description: 'Check the queue and the state', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Fix what is safe, list the rest', command: '<%= config.bin %> <%= command.id %> --repair'},
    {description: 'For scripts', command: '<%= config.bin %> <%= command.id %> --json | jq -r \'.problems[] | "\\(.kind) \\(.path)"\''},
  ]

  static override flags = {
    repair: Flags.boolean({description: 'fix what is safe (under the reap and reconcile locks), leave the rest for a person'}),
  }

  async run(): Promise<FsckReport> {
    const config = this.cclConfig()
    requireQueueRoot(config)
    const report = await runFsck(config, {repair: this.flags.repair, now: new Date()})
    this.log(renderFsck(report, this.flags.repair))
    if (!report.sound) this.setExitCode(EXIT_CODES.failure)
    return report
  }
}
