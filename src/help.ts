import {Help} from '@oclif/core'

import {notACommand} from './not-found.js'

/** The root help's examples: the commands a newcomer runs first, and the ones the timers run. */
export const ROOT_EXAMPLES: ReadonlyArray<{description: string; command: string}> = [
  {description: 'Write a starter config and the queue folders', command: 'ccl init --queue /srv/agent-queue --account alpha=/home/agent/.claude-alpha'},
  {description: 'Check everything before trusting the timers', command: 'ccl doctor'},
  {description: 'What the timers run (reconcile and dispatch every 15 s, reap every 30 s)', command: 'ccl reconcile && ccl dispatch && ccl reap'},
  {description: 'What needs a person, and what happened lately', command: 'ccl status && ccl events --since 1h'},
  {description: 'Help on one command', command: 'ccl help status'},
]

/**
 * oclif's help (loaded through package.json `oclif.helpClass`, by `--help`, `-h` and `ccl help`
 * alike), with an EXAMPLES section at the end of the root page (oclif shows examples only per
 * command), and "did you mean" for `ccl help WORD` when WORD names nothing.
 */
export default class CclHelp extends Help {
  override async showHelp(argv: string[]): Promise<void> {
    try {
      await super.showHelp(argv)
    } catch (error) {
      // oclif's own "Command X not found." (after its own reading of argv): ours, with "did you mean"
      const unknown = error instanceof Error ? /^Command (\S+) not found\.$/.exec(error.message) : null
      if (!unknown) throw error
      notACommand(unknown[1]!.replaceAll(' ', ':'), this.config, false)
    }
  }

  protected override async showRootHelp(): Promise<void> {
    await super.showRootHelp()
    const examples = ROOT_EXAMPLES.map(({description, command}) => `${description}\n  $ ${command}`).join('\n\n')
    this.log(this.section('EXAMPLES', examples))
  }
}
