// oclif's parse errors as one line: oclif lays them out for a terminal (a heading, an indented
// list wrapped to the screen's width, "See more help with --help"), and a reader that keeps only
// the first line got "Missing 1 required arg:" and nothing else. Lives beside the commands, not in
// src/lib, because it knows oclif's messages; it does not import oclif itself.

import {printable} from './lib/render/names.js'

// oclif colours parts of its messages (`dim`) when the terminal supports it: SGR sequences only,
// so any other escape (typed on the command line) is shown escaped by printable().
// eslint-disable-next-line no-control-regex
const SGR = /\u001B\[[0-9;]*m/g
const MORE_HELP = 'See more help with --help'

interface ArgSpec {
  name: string
  description?: string
  options?: readonly string[]
}

/** The arguments a RequiredArgsError lists (it has no exported class to test with instanceof). */
function missingArgs(error: {message: string; args?: unknown}): ArgSpec[] | undefined {
  if (!error.message.startsWith('Missing ') || !Array.isArray(error.args)) return undefined
  const args = error.args as unknown[]
  const named = args.filter((a): a is ArgSpec => typeof a === 'object' && a !== null && typeof (a as ArgSpec).name === 'string')
  return named.length === args.length && named.length > 0 ? named : undefined
}

function describeArg(arg: ArgSpec): string {
  const description = [arg.options ? `one of ${arg.options.join('|')}` : '', arg.description ?? ''].filter(Boolean).join(': ')
  return description ? `${arg.name} (${description})` : arg.name
}

/**
 * One paragraph of oclif's message as one line: `heading: detail; detail`; a heading that ends in
 * `:` keeps its colon, and one that ends a sentence is followed by the next.
 */
function paragraphLine(paragraph: string): string | undefined {
  const lines = paragraph
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && line !== MORE_HELP)
  const [head, ...rest] = lines
  if (head === undefined) return undefined
  if (rest.length === 0) return head
  return `${head}${/[:.]$/.test(head) ? ' ' : ': '}${rest.join('; ')}`
}

/**
 * The whole of an oclif parse error on one line, in oclif's words: the missing arguments named
 * with their descriptions, every reason of a failed flag check, a flag parser's complaint after the
 * flag it is about; paragraphs joined by `; `, colours and "See more help with --help" dropped,
 * control characters (from the command line itself) escaped.
 */
export function usageMessage(error: {message: string; args?: unknown}): string {
  const paragraphs = error.message.replace(SGR, '').split(/\n[ \t]*\n/)
  const missing = missingArgs(error)
  if (missing) {
    // oclif's list of them is wrapped to the terminal's width: rebuilt from the arguments instead.
    const heading = (paragraphs[0] ?? '').split('\n')[0]!.replace(/:\s*$/, '')
    paragraphs[0] = `${heading}: ${missing.map((arg) => describeArg(arg)).join(', ')}`
  }

  const line = paragraphs.map((p) => paragraphLine(p)).filter((p) => p !== undefined).join('; ')
  return printable(line === '' ? 'invalid command line' : line)
}
