import {Errors, type Hook} from '@oclif/core'

/**
 * oclif joins `ccl validate-symlinks extra` into the command id `validate-symlinks:extra` (for a
 * command that takes no argument, an extra word looks like a subcommand), finds no such command and
 * prints its own "command validate-symlinks:extra not found", without our `ccl:` line, hint or
 * `--json` document. The longest prefix that is a command is run instead, with the rest as its
 * arguments, so it answers "Unexpected argument: extra" (exit 2) like every other usage error.
 * A word that names no command at all keeps oclif's answer.
 */
const hook: Hook.CommandNotFound = async function ({argv = [], config, id}) {
  const words = id.split(':')
  for (let n = words.length - 1; n > 0; n--) {
    const prefix = words.slice(0, n).join(':')
    if (config.findCommand(prefix)) return config.runCommand(prefix, [...words.slice(n), ...argv])
  }

  throw new Errors.CLIError(`command ${words.join(config.topicSeparator)} not found`)
}

export default hook
