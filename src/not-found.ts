// "did you mean": the answer to a command line (or `ccl help WORD`) whose words name no command.
import {Errors, type Interfaces, toConfiguredId} from '@oclif/core'
import levenshtein from 'fast-levenshtein'

import {EXIT_CODES} from './lib/errors.js'
import {printable} from './lib/render/names.js'

const SCHEMA_VERSION = 1

/**
 * Says, in ccl's one-line form, that `id` names no command and which commands are closest, then
 * ends the run with the usage exit code (2). Under `--json` the same error document as a
 * command's usage error goes to stdout.
 */
export function notACommand(id: string, config: Interfaces.Config, json: boolean): never {
  // oclif joins the words after a topic into the id (`delegate sumbit x.md` → delegate:sumbit:x.md):
  // the mistyped command is the topics and the first word after them
  const words = id.split(':')
  let end = 1
  while (end < words.length && config.findTopic(words.slice(0, end).join(':'))) end++
  id = words.slice(0, end).join(':')
  const typed = toConfiguredId(id, config)
  const guesses = closest(id, config.commands.filter((c) => !c.hidden).map((c) => c.id))
  const suggestion = guesses.length > 0 ? `; did you mean ${guesses.map((g) => `${config.bin} ${toConfiguredId(g, config)}`).join(' or ')}?` : ''
  const error = {code: 'usage', exitCode: EXIT_CODES.taskFile, message: `${printable(typed)} is not a ${config.bin} command${suggestion}`, hint: `${config.bin} help lists the commands`}
  process.stderr.write(`${config.bin}: ${error.message}\n  hint: ${error.hint}\n`)
  if (json) process.stdout.write(JSON.stringify({schemaVersion: SCHEMA_VERSION, error}, null, 2) + '\n')
  throw new Errors.ExitError(EXIT_CODES.taskFile)
}

/** The commands within a small edit distance of what was typed (a third of its length, at least 2), best first. */
export function closest(typed: string, ids: readonly string[]): string[] {
  const limit = Math.max(2, Math.floor(typed.length / 3))
  const scored = ids
    .map((id) => ({id, distance: Math.min(levenshtein.get(typed, id), prefixDistance(typed, id))}))
    .filter(({distance}) => distance <= limit)
    .sort((a, b) => a.distance - b.distance || a.id.localeCompare(b.id))
  const best = scored[0]?.distance
  return scored
    .filter(({distance}) => distance === best)
    .slice(0, 3)
    .map(({id}) => id)
}

/** `ccl stat` for `ccl status`: a typed prefix of at least 3 letters counts as close. */
function prefixDistance(typed: string, id: string): number {
  return typed.length >= 3 && id.startsWith(typed) ? 1 : Number.POSITIVE_INFINITY
}
