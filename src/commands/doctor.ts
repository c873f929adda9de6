import path from 'node:path'

import {BaseCommand} from '../base-command.js'
import {runDoctor} from '../lib/doctor/doctor.js'
import type {DoctorReport} from '../lib/doctor/report.js'
import {EXIT_CODES} from '../lib/errors.js'
import {renderDoctor} from '../lib/render/doctor.js'

export default class Doctor extends BaseCommand<typeof Doctor> {
  // Reads the config its own way (not through cclConfig).
  static override usesConfig = false
  static override summary = 'Check everything the timers rely on, one line each, with how to fix what is wrong.'
  static override description = `Checks: the config; the queue folders (pending/, active/, done/, failed/: present, on one filesystem) and the state folder (writable); tmux; the shared root; per account: home, shared links, ccl's hooks in settings.json, the program of its command on the session's PATH, cwd, Claude Code's first-run screens answered in .claude.json (onboarding, folder trust for the cwd, the auto-mode question), a permission mode that runs unattended; the accounts' cwds for failover; delegation on or off and, when on, secutools reachable with the key accepted (a GET of a job id that cannot exist; the key is never printed); the systemd timers or cron lines.
Each line starts with ok, warn (works, but worth a look) or FAIL (followed by how to fix it). Changes nothing.
Exit codes: 0 nothing failed (warnings allowed), 1 a check failed, 3 the config could not be loaded (the checks that need no config still run).`

  static override examples = [
    {description: 'Check the site', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Only what is wrong', command: "<%= config.bin %> <%= command.id %> | grep -v '^ok'"},
    {description: 'For scripts and monitoring', command: '<%= config.bin %> <%= command.id %> --json'},
  ]

  async run(): Promise<DoctorReport> {
    const report = await runDoctor({
      source: {flag: this.flags.config, env: process.env, cwd: process.cwd()},
      env: process.env,
      hookParts: {node: process.execPath, bin: path.join(this.config.root, 'bin', 'run.js')},
      uid: process.getuid?.(),
    })
    this.log(renderDoctor(report))
    if (!report.configLoaded) this.setExitCode(EXIT_CODES.config)
    else if (!report.ok) this.setExitCode(EXIT_CODES.failure)
    return report
  }
}
