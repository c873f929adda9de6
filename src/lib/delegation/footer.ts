// The result footer of SPEC §3.3: a comment line of JSON for tools, then a section for people.
//
// Which footer line is ccl's: the LAST line of a file that is exactly `<!-- ccl:delegation {JSON} -->`
// AND is followed at once by the line `## Delegation result`, as renderFooter writes them. Anything
// else that looks like a footer line is not ccl's and is skipped. Two defences keep a forged one out:
// - nothing from the server can start a line: every field printed in the human section (provider,
//   job, dates, cost) has its control characters (C0, DEL, C1) and U+2028/U+2029 escaped, so it
//   stays on its `- provider: ...` line; the JSON line escapes the same characters and `<`, `>`, so it
//   is one line and can never hold `-->`;
// - a footer line inside the result or error text (free text) is defused to `ccl:delegation-quoted`.
// The heading rule also protects files written before field escaping existed, where a field holding
// a newline could plant a footer line among the human lines.

import {formatDuration} from '../config/duration.js'
import {printable} from '../render/names.js'

/** How a delegated job ended, as written in the footer's `status`. */
export type FooterStatus = 'completed' | 'failed' | 'cancelled' | 'timed_out'

/** The machine-readable line of the result footer (SPEC §3.3). */
export interface FooterData {
  status: FooterStatus
  provider: string
  job_id: string
  cost_usd: number | null
  submitted_at: string | null
  finished_at: string | null
  /** The task's name when it was delegated (the file in done/ may carry a different, free name). */
  task: string
  /** When reap wrote the footer; for a timed-out job the only end time there is. */
  reaped_at: string
  /** Who ended it when it was not the platform: `operator` for `ccl cancel`. */
  by?: 'operator'
}

export interface FooterText {
  /** The job's result text (completed jobs). */
  result?: string | null
  /** Why the job failed, was cancelled or timed out. */
  error?: string | null
}

const PREFIX = '<!-- ccl:delegation '
const SUFFIX = ' -->'
const HEADING = '## Delegation result'
const LINE = /^<!-- ccl:delegation (\{.*\}) -->$/
// A footer line inside text ccl did not write (a result, an error) is defused, so the
// last footer line of a file is always the one ccl appended last.
const FOREIGN = /^([ \t]*)<!-- ccl:delegation /gm
// What JSON.stringify leaves raw but a reader may take for a line break or a terminal control:
// DEL, C1, and the Unicode line and paragraph separators (C0 is escaped by JSON itself).
const JSON_RAW = /[<>\u007F-\u009F\u2028\u2029]/g

/** One line of JSON that can sit inside an HTML comment: `<`, `>` and the characters above as \\uXXXX. */
function commentJson(data: FooterData): string {
  return JSON.stringify(data).replace(JSON_RAW, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** A server's value in a human line: control characters and line separators escaped, so it cannot start a line. */
function field(value: string): string {
  return printable(value)
}

function defuse(text: string): string {
  return text.replace(FOREIGN, '$1<!-- ccl:delegation-quoted ')
}

function formatCost(cost: number | null): string {
  return cost === null ? 'unknown' : `$${cost.toFixed(4)}`
}

function durationLine(data: FooterData): string {
  const start = data.submitted_at ? Date.parse(data.submitted_at) : Number.NaN
  const endAt = data.finished_at ?? data.reaped_at
  const end = Date.parse(endAt)
  if (Number.isNaN(start) || Number.isNaN(end)) return 'unknown'
  const took = formatDuration(Math.max(0, end - start))
  return `${took} (submitted ${field(data.submitted_at!)}, ${data.finished_at ? 'finished' : 'given up'} ${field(endAt)})`
}

const HEADINGS: Record<FooterStatus, string> = {
  completed: 'Result',
  failed: 'Error',
  cancelled: 'Error',
  timed_out: 'Error',
}

/**
 * The footer appended to a delegated task when it moves to done/ or failed/:
 * a blank line, the one-line JSON comment, then a section for people.
 */
export function renderFooter(data: FooterData, text: FooterText = {}): string {
  const body = data.status === 'completed' ? text.result : text.error
  const fallback = data.status === 'completed' ? '(the job returned no result text)' : '(the job gave no error text)'
  const lines = [
    '',
    PREFIX + commentJson(data) + SUFFIX,
    HEADING,
    '',
    `- status: ${field(data.status)}`,
    `- provider: ${field(data.provider)}`,
    `- job: ${data.job_id === '' ? '(none: no job id was recorded)' : field(data.job_id)}`,
    `- cost: ${field(formatCost(data.cost_usd))}`,
    `- duration: ${durationLine(data)}`,
    '',
    `### ${HEADINGS[data.status]}`,
    '',
    defuse(body === null || body === undefined || body === '' ? fallback : body),
  ]
  const out = lines.join('\n')
  return out.endsWith('\n') ? out : out + '\n'
}

/** The task's content with the footer appended; the content is kept byte for byte. */
export function appendFooter(content: string, data: FooterData, text: FooterText = {}): string {
  const separator = content === '' || content.endsWith('\n') ? '' : '\n'
  return content + separator + renderFooter(data, text)
}

/** Parses one footer comment line; undefined when the line is not one. */
export function parseFooterLine(line: string): FooterData | undefined {
  const match = LINE.exec(line.endsWith('\r') ? line.slice(0, -1) : line)
  if (!match) return undefined
  let value: unknown
  try {
    value = JSON.parse(match[1]!)
  } catch {
    return undefined
  }

  if (!value || typeof value !== 'object') return undefined
  const data = value as Partial<FooterData>
  if (typeof data.job_id !== 'string' || typeof data.status !== 'string' || typeof data.provider !== 'string') return undefined
  return data as FooterData
}

/**
 * The footer of the last delegation a file went through: its last footer comment line that is
 * followed by the `## Delegation result` heading (see the top of this file). A task delegated twice
 * carries two; the later wins. Lines quoted inside results were defused when written.
 */
export function parseFooter(text: string): FooterData | undefined {
  return findFooter(text)?.data
}

/** The last footer (as parseFooter finds it) and where its comment line starts. */
function findFooter(text: string): {data: FooterData; at: number} | undefined {
  let end = text.length
  for (;;) {
    const at = text.lastIndexOf(PREFIX, end)
    if (at === -1) return undefined
    const stop = text.indexOf('\n', at)
    if ((at === 0 || text[at - 1] === '\n') && stop !== -1) {
      const after = text.indexOf('\n', stop + 1)
      const next = text.slice(stop + 1, after === -1 ? undefined : after)
      const found = next === HEADING || next === HEADING + '\r' ? parseFooterLine(text.slice(at, stop)) : undefined
      if (found) return {data: found, at}
    }

    if (at === 0) return undefined
    end = at - 1
  }
}

/**
 * The task as it was before ccl appended footers: everything from the first footer of ccl's on
 * (its blank line, the comment line, the heading and the `- status:` line, as renderFooter writes
 * them) to the end of the file goes. A footer's error or result text has no end mark, so text
 * below a footer is taken for part of it; the operator's edits above the first footer are kept
 * byte for byte. `removed` counts the footers of ccl's in the part that went.
 */
export function stripFooters(text: string): {text: string; removed: number} {
  const starts: number[] = []
  for (let at = text.indexOf(PREFIX); at !== -1; at = text.indexOf(PREFIX, at + PREFIX.length)) {
    if (at !== 0 && text[at - 1] !== '\n') continue
    const lines = text.slice(at).split('\n', 4).map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
    const data = parseFooterLine(lines[0] ?? '')
    if (data && lines[1] === HEADING && lines[2] === '' && lines[3] === `- status: ${field(data.status)}`) starts.push(at)
  }

  const first = starts[0]
  if (first === undefined) return {text, removed: 0}
  // The blank line renderFooter begins with is ccl's too.
  const cut = first > 0 && text[first - 1] === '\n' && (first === 1 || text[first - 2] === '\n') ? first - 1 : first
  return {text: text.slice(0, cut), removed: starts.length}
}

/**
 * The first line of the error text under the last footer of a file in failed/ (`### Error`), as
 * `ccl status` lists it; null for a completed job's footer or when there is none.
 */
export function footerError(text: string): {data: FooterData; line: string | null} | undefined {
  const found = findFooter(text)
  if (!found) return undefined
  if (found.data.status === 'completed') return {data: found.data, line: null}
  const heading = text.indexOf(`\n### ${HEADINGS.failed}\n`, found.at)
  if (heading === -1) return {data: found.data, line: null}
  const rest = text.slice(heading + HEADINGS.failed.length + 6)
  const line = rest.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? null
  return {data: found.data, line}
}
