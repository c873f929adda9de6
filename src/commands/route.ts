import {Args, Flags} from '@oclif/core'

import {splitOperands, valueFlagNames} from '../argv.js'
import {BaseCommand} from '../base-command.js'
import {loadHotConfigCached} from '../lib/config/cached.js'
import {type RouteResult, runRoute} from '../runs/route.js'

export type {RouteResult} from '../runs/route.js'

export default class Route extends BaseCommand<typeof Route> {
  // Reads the config its own way (not through cclConfig).
  static override usesConfig = false
  static override summary = 'Decide where each task runs: claude-code or a remote provider.'
  static override description = `Applies the routing rules to each task's frontmatter (needs_claude_code, preferred_ai, allow_delegation, complexity_hint); the first rule that matches wins:
  1 needs_claude_code: true -> claude-code
  2 preferred_ai: claude-code -> claude-code
  3 allow_delegation: false -> claude-code
  4 delegation off -> claude-code
  5 preferred_ai is a configured provider -> that provider
  6 preferred_ai set but unknown -> claude-code (warning)
  7 allow_delegation: true -> complexity_map[complexity_hint], else default_provider
  spill  failover.spill_to_remote: true and every account limited or needing login -> complexity_map[complexity_hint], else default_provider
         (not for a task kept local by rules 1-3 or 6)
  8 otherwise -> claude-code
One task prints the target alone; several print NAME<TAB>target<TAB>reason lines. Malformed frontmatter or an invalid field keeps the task in claude-code, with a warning on stderr. A missing or unreadable file is reported on stderr and exits 2; the other files are still decided.`

  static override examples = [
    {description: 'Where does one task go?', command: '<%= config.bin %> <%= command.id %> pending/fix-login.md'},
    {description: 'Every pending task, one line each', command: '<%= config.bin %> <%= command.id %> pending/*.md'},
    {description: 'Why did it go there?', command: '<%= config.bin %> <%= command.id %> --explain pending/fix-login.md'},
    {description: 'For scripts', command: '<%= config.bin %> <%= command.id %> --json pending/*.md'},
  ]

  static override strict = false
  static override args = {
    task: Args.string({required: true, description: 'task file(s) to decide'}),
  }

  static override flags = {
    explain: Flags.boolean({description: 'print every rule and why it did or did not match'}),
  }

  private files: string[] = []

  override async init(): Promise<void> {
    // oclif only sees the flags and the first file (for its missing-argument error): its parser
    // is quadratic in the number of arguments, and the dispatcher may pass thousands.
    const {flags, operands} = splitOperands(this.argv, valueFlagNames(Route.baseFlags, Route.flags))
    this.files = operands
    this.argv = operands.length > 0 ? [...flags, '--', operands[0]!] : flags
    await super.init()
  }

  async run(): Promise<RouteResult> {
    // Only the keys route uses, as the fast entry reads them (src/lib/config/hot.ts).
    const config = await loadHotConfigCached({flag: this.flags.config, env: process.env, cwd: process.cwd()})
    return runRoute(this.files, {config, explain: this.flags.explain, json: this.jsonEnabled()})
  }
}
