// Reading an account's `command` the way the session's shell will run it: which program starts,
// with which PATH, and which permission mode its flags ask Claude Code for. Synchronous.

/**
 * The words of a command as sh splits them, up to a comment or an operator (`;`, `&`, `|`):
 * bare words, '…', "…" (where a backslash escapes only $ ` " \ and newline) and backslash escapes.
 * Expansions ($VAR, ~, globs) are left as written. Null when a quote is left open.
 */
export function commandWords(command: string): string[] | null {
  const words: string[] = []
  let word: string | null = null
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!
    if (c === "'") {
      const end = command.indexOf("'", i + 1)
      if (end === -1) return null
      word = (word ?? '') + command.slice(i + 1, end)
      i = end
    } else if (c === '"') {
      let text = ''
      let j = i + 1
      for (; j < command.length && command[j] !== '"'; j++) {
        if (command[j] === '\\' && j + 1 < command.length && '$`"\\\n'.includes(command[j + 1]!)) j++
        text += command[j]
      }

      if (j >= command.length) return null
      word = (word ?? '') + text
      i = j
    } else if (c === '\\' && i + 1 < command.length) {
      word = (word ?? '') + command[++i]
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (word !== null) words.push(word)
      word = null
    } else if ((c === '#' && word === null) || c === ';' || c === '&' || c === '|') {
      break
    } else {
      word = (word ?? '') + c
    }
  }

  if (word !== null) words.push(word)
  return words
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s

export interface CommandProgram {
  /** The program the shell (or `exec`/`env`) looks up: the first word after assignments. */
  program: string
  /** The words after it. */
  args: string[]
  /** A `PATH=…` assignment before it, which the lookup then uses instead of the session's PATH. */
  path?: string
}

/**
 * The program of a command such as `CLAUDE_X=1 exec env -u FOO claude --resume`: leading
 * assignments, `exec`, `command` and `env` (its assignments and options) are skipped. Null when
 * the command has no program (empty, only assignments, or a quote left open).
 */
export function commandProgram(command: string): CommandProgram | null {
  const words = commandWords(command)
  if (!words) return null
  let pathValue: string | undefined
  let i = 0
  let inEnv = false
  while (i < words.length) {
    const word = words[i]!
    const assignment = ASSIGNMENT.exec(word)
    if (assignment) {
      if (assignment[1] === 'PATH') pathValue = assignment[2]
      i++
    } else if (!inEnv && (word === 'exec' || word === 'command')) {
      i++
    } else if (word === 'env' && !inEnv) {
      inEnv = true
      i++
    } else if (inEnv && (word === '-u' || word === '--unset' || word === '-C' || word === '--chdir')) {
      i += 2
    } else if (inEnv && word.startsWith('-')) {
      i++
    } else {
      return {program: word, args: words.slice(i + 1), ...(pathValue === undefined ? {} : {path: pathValue})}
    }
  }

  return null
}

/** The permission mode asked for on the command line, if any: `--dangerously-skip-permissions` is bypassPermissions. */
export function commandPermissionMode(args: readonly string[]): {mode: string; flag: string} | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--dangerously-skip-permissions') return {mode: 'bypassPermissions', flag: arg}
    if (arg === '--permission-mode' && args[i + 1] !== undefined) return {mode: args[i + 1]!, flag: `${arg} ${args[i + 1]}`}
    if (arg.startsWith('--permission-mode=')) return {mode: arg.slice('--permission-mode='.length), flag: arg}
  }

  return undefined
}
