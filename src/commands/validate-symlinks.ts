import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {EXIT_CODES} from '../lib/errors.js'
import {renderSymlinkReport} from '../lib/render/symlinks.js'
import {type SymlinkReport, validateSymlinks} from '../lib/symlinks/validate.js'

export default class ValidateSymlinks extends BaseCommand<typeof ValidateSymlinks> {
  static override summary = "Check that every account's shared state folders are symlinks to one canonical root."
  static override description = `For each account and each shared dir, <home>/<dir> must be a symlink pointing straight at <shared.root>/<dir>, which must be a directory. Every problem is reported in one run, one line each, naming account and dir:
  missing            the link does not exist
  not-a-symlink      a real directory or file stands there (divergent state)
  wrong-target       the link points elsewhere (both targets are named)
  dangling           the link points at something that does not exist
  chain              the link points at another link (Claude Code's atomic writes follow one hop)
  canonical-missing  <shared.root>/<dir> itself is not a directory
Nothing is changed, except with --create-missing, which creates only links that are absent: it never replaces a directory or a wrong link. With nothing at <shared.root>/<dir> (a new machine) it creates that folder first, so no link points at nothing; a file or a dangling link standing there is reported, and no link is made to it.`

  static override examples = [
    {description: 'Check every account', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Create the links that are absent (never touches existing ones)', command: '<%= config.bin %> <%= command.id %> --create-missing'},
    {description: 'Show what --create-missing would create', command: '<%= config.bin %> <%= command.id %> --create-missing --dry-run'},
    {description: 'Machine-readable report', command: '<%= config.bin %> <%= command.id %> --json'},
  ]

  static override flags = {
    'create-missing': Flags.boolean({description: 'create links that are absent (never replaces anything)'}),
    'dry-run': Flags.boolean({description: 'with --create-missing: print what would be created, change nothing'}),
  }

  async run(): Promise<SymlinkReport> {
    const config = this.cclConfig()
    const report = await validateSymlinks(config, {
      createMissing: this.flags['create-missing'],
      dryRun: this.flags['dry-run'],
    })
    this.log(renderSymlinkReport(report))
    if (!report.valid) this.setExitCode(EXIT_CODES.failure)
    return report
  }
}
