import {type Hook} from '@oclif/core'

import {notACommand} from '../not-found.js'

/**
 * A command line whose words name no command.
 *
 * oclif joins `ccl validate-symlinks extra` into the command id `validate-symlinks:extra` (for a
 * command that takes no argument, an extra word looks like a subcommand), finds no such command and
 * prints its own "command validate-symlinks:extra not found", without our `ccl:` line, hint or
 * `--json` document. The longest prefix that is a command is run instead, with the rest as its
 * arguments, so it answers "Unexpected argument: extra" (exit 2) like every other usage error.
 *
 * A word that names no command at all is a usage error (exit 2) naming the closest commands: "did
 * you mean". Not @oclif/plugin-not-found: on a terminal it asks and then runs its guess (a typo of
 * `ccl retry --all` must not run something else), off a terminal it prints no suggestion, and it
 * exits 127, outside ccl's exit codes.
 */
const hook: Hook.CommandNotFound = async function ({argv = [], config, id}) {
  const words = id.split(':')
  for (let n = words.length - 1; n > 0; n--) {
    const prefix = words.slice(0, n).join(':')
    if (config.findCommand(prefix)) return config.runCommand(prefix, [...words.slice(n), ...argv])
  }

  notACommand(id, config, argv.includes('--json'))
}

export default hook
