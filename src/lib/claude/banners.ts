import {BugError} from '../errors.js'

/**
 * Reads Claude Code's usage-limit banners (SPEC §6): from a hook payload's text, and from a tmux
 * `capture-pane -p` screen when a session has no hooks. Everything here is synchronous and pure:
 * the clock comes in as `hitAt`, the machine's zone is looked up only when no `defaultZone` is given.
 * docs/banners.md says which banners are read and the time and pane rules.
 *
 * Wording checked against the strings inside Claude Code 2.1.328 (`claude` binary of
 * @anthropic-ai/claude-code-linux-x64) and its screens under a stand-in API; older wording from
 * Claude Code issue threads. Bump BANNER_PATTERNS_VERSION whenever a pattern below changes, so a
 * recorded reading can say which patterns made it.
 */
export const BANNER_PATTERNS_VERSION = 1

export type LimitName = 'five_hour' | 'session' | 'weekly' | 'extra-usage' | 'generic'

export interface LimitReading {
  kind: 'usage-limit'
  /** The reset instant; null when the banner names no time that can be read. */
  until: Date | null
  limit: LimitName
  /** The zone the banner names; null when it names none (the time was read in `defaultZone`) or gives an epoch. */
  zone: string | null
  /** The matched line, trimmed and without a screen marker (`⎿`, `●`); on a pane, its wrapped rest joined on. */
  banner: string
}

export interface BannerOptions {
  hitAt: Date
  /** The zone of a banner that names none; default: this machine's. */
  defaultZone?: string
}

const APOS = `['\u2019]`
const MONTH = '(?<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\\.?'
const CLOCK = '(?<hour>\\d{1,2})(?::(?<minute>\\d{2}))?\\s*(?<meridiem>[ap])\\.?\\s?m\\b\\.?'
// "Jun 7, 4pm", "Dec 17 at 6am", "Jan 3, 2027, 4pm" (2.1.328 adds the year when it is not this one).
const DATE = `${MONTH}\\s+(?<day>\\d{1,2})(?:st|nd|rd|th)?(?:,\\s*(?<year>\\d{4}))?(?:,\\s*|\\s+at\\s+|\\s+)`

/**
 * Every pattern in one place. A headline must open the line (after an optional screen marker); the
 * reset clause may follow anywhere after it on the same line. Separators seen: " · " (U+00B7,
 * today's), " ∙ " (U+2219, 2025), ". " (1.0.x).
 */
export const BANNER_PATTERNS = {
  /** Pane markers that may open a banner line: result `⎿`, message `●`/`⏺`, status `⚠`. */
  marker: /^[\s⎿●⏺⚠]*/u,
  /** 1.0.x put the reset as epoch seconds after a bar. */
  epoch: /^Claude AI usage limit reached\|(?<seconds>\d{9,11})(?!\d)/i,
  headlines: [
    // 2.1.x: "You've hit your 5-hour limit", "… your limit", "… your session limit", "… your Opus limit",
    // "… your monthly spend limit". Not "your fast limit" (fast mode only slows down).
    new RegExp(
      `^You${APOS}ve (?:hit|reached) your (?<which>(?:5-hour|five-hour|session|weekly|opus|sonnet|fable|usage credit|usage|(?:org${APOS}s |channel${APOS}s )?monthly (?:spend|usage)) )?limit\\b`,
      'i',
    ),
    // "5-hour limit reached", "Weekly limit reached", "Limit reached", "Usage limit reached (again)",
    // 1.0.x "Claude usage limit reached." Not "Context limit reached", "Fast limit reached", "spend limit reached".
    /^(?<which>(?:claude (?:ai )?)?(?:usage|5-hour|five-hour|session|weekly) )?limit reached\b/i,
    new RegExp(`^You${APOS}re out of (?<which>extra usage|usage credits)\\b`, 'i'),
    // The status line while Claude Code waits to continue by itself (2.1.234 and later).
    /^Continuing automatically at\b/i,
  ],
  reset: new RegExp(
    `(?:^|[^\\w])(?:resets|resets at|reset at|will reset at|continuing automatically at)\\s+(?<when>(?:${DATE})?${CLOCK})(?:\\s*\\((?<zone>[A-Za-z][\\w+\\-/]*)\\))?`,
    'i',
  ),
  /** API-key mode shows the 429 itself: a short cooldown, not a usage limit. */
  transient: [/\bRequest rejected \(429\)/i, /\bAPI Error:?\s*429\b/i, /\brate[_ ]limit(?:ed|_error)\b/i, /\b429 Too Many Requests\b/i],
  trustDialog: [
    // 2.1.328: "Accessing workspace:" … "Quick safety check: Is this a project you created or one you trust?"
    /Quick safety check: Is this a project you created or one you trust\?/i,
    // Older releases' heading.
    /Do you trust the files in this folder\?/i,
  ],
  // A whole line, inside the older releases' box border or not.
  trustOption: /^\s*│?\s*(?:[❯>›]\s*)?(?:\d+\.\s*)?(?:Yes, I trust this folder|Yes, proceed)\s*│?$/u,
  menuTitle: /^\s*What do you want to do\?\s*$/,
  menuOption: /^\s*(?:[❯>›]\s*)?\d+\.\s+(?<label>\S.*?)\s*$/u,
  /** Labels only /rate-limit-options shows (2.1.328 strings). */
  menuLabels: [
    /^Stop and wait for limit to reset\b/i,
    /^Wait here, then continue automatically\b/i,
    new RegExp(`^Don${APOS}t continue automatically\\b`, 'i'),
    /^Ask your admin for more usage\b/i,
    /^Switch to usage\b/i,
  ],
  /** "Stop" alone counts only beside these (it is the short label of the first option on some plans). */
  menuStopCompanions: [/^Upgrade your plan\b/i, /^Add funds to continue with\b/i],
} as const

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']

interface Match {
  banner: string
  limit: LimitName
  /** Epoch seconds, when the banner gives them. */
  seconds: number | null
  /** The reset clause's groups, when there is one. */
  reset: Record<string, string | undefined> | null
}

function limitName(which: string | undefined): LimitName {
  const w = (which ?? '').toLowerCase()
  if (/5-hour|five-hour/.test(w)) return 'five_hour'
  if (w.includes('session')) return 'session'
  if (/weekly|opus|sonnet|fable/.test(w)) return 'weekly'
  if (/extra usage|usage credit/.test(w)) return 'extra-usage'
  return 'generic'
}

function matchLine(rawLine: string): Match | null {
  const banner = rawLine.replace(BANNER_PATTERNS.marker, '').trimEnd()
  const epoch = BANNER_PATTERNS.epoch.exec(banner)
  if (epoch) return {banner, limit: 'generic', seconds: Number(epoch.groups?.seconds), reset: null}
  for (const headline of BANNER_PATTERNS.headlines) {
    const head = headline.exec(banner)
    // No headline holds a reset clause but "Continuing automatically at …", which is its own.
    if (head) return {banner, limit: limitName(head.groups?.which), seconds: null, reset: BANNER_PATTERNS.reset.exec(banner)?.groups ?? null}
  }
  return null
}

/** The banner's reset instant, or null when it names none that can be read. */
function resetInstant(match: Match, hitAt: Date, defaultZone: string): {until: Date | null; zone: string | null} {
  if (match.seconds !== null) return {until: new Date(match.seconds * 1000), zone: null}
  const groups = match.reset
  if (!groups) return {until: null, zone: null}
  const zone = groups.zone ?? null
  const readIn = zone ?? defaultZone
  if (!isZone(readIn)) return {until: null, zone}
  const clock = clockTime(groups)
  if (!clock) return {until: null, zone}
  if (groups.month === undefined) return {until: nextClockTime(hitAt, readIn, clock), zone}
  const month = MONTHS.indexOf(groups.month.slice(0, 3).toLowerCase()) + 1
  const day = Number(groups.day)
  const year = groups.year === undefined ? null : Number(groups.year)
  return {until: datedTime({month, day, year, clock, hitAt, zone: readIn}), zone}
}

interface Clock {
  hour: number
  minute: number
}

function clockTime(groups: Record<string, string | undefined>): Clock | null {
  const hour12 = Number(groups.hour)
  const minute = groups.minute === undefined ? 0 : Number(groups.minute)
  if (hour12 < 1 || hour12 > 12 || minute > 59) return null
  const pm = groups.meridiem?.toLowerCase() === 'p'
  return {hour: (hour12 % 12) + (pm ? 12 : 0), minute}
}

type Reading = LimitReading & {clock: string | null}

function zoneOf(options: BannerOptions): string {
  const zone = options.defaultZone ?? machineZone()
  if (!isZone(zone)) throw new BugError(`defaultZone ${JSON.stringify(zone)} is not a time zone this Node knows`)
  return zone
}

/** Every banner line of `text`, in order; `clock` is the reset as printed, to match lines of one event. */
function readAll(text: string, hitAt: Date, defaultZone: string): Reading[] {
  const readings: Reading[] = []
  for (const line of text.split(/\r?\n/)) {
    const match = matchLine(line)
    if (!match) continue
    const {until, zone} = resetInstant(match, hitAt, defaultZone)
    const clock = match.reset?.when?.toLowerCase().replace(/\s+/gu, ' ') ?? null
    readings.push({kind: 'usage-limit', until, limit: match.limit, zone, banner: match.banner, clock})
  }
  return readings
}

function strip({clock: _clock, ...reading}: Reading): LimitReading {
  return reading
}

/**
 * The usage-limit banner in `text` (a hook's last_assistant_message or error_details, or a pane
 * line), or null when there is none. With several banner lines, the first whose time can be read
 * wins, else the first.
 */
export function parseLimit(text: string, options: BannerOptions): LimitReading | null {
  const readings = readAll(text, options.hitAt, zoneOf(options))
  const chosen = readings.find((r) => r.until !== null) ?? readings[0]
  return chosen ? strip(chosen) : null
}

/** True when `text` is a 429 that is not a usage limit (API-key mode): worth a short cooldown only. */
export function isTransientRateLimit(text: string): boolean {
  if (text.split(/\r?\n/).some((line) => matchLine(line) !== null)) return false
  return BANNER_PATTERNS.transient.some((re) => re.test(text))
}

// ---- time -------------------------------------------------------------------------------------

function machineZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone
}

const formats = new Map<string, Intl.DateTimeFormat>()

function formatFor(zone: string): Intl.DateTimeFormat {
  let format = formats.get(zone)
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
    formats.set(zone, format)
  }
  return format
}

function isZone(zone: string): boolean {
  try {
    formatFor(zone)
    return true
  } catch (error) {
    if (error instanceof RangeError) return false
    throw error
  }
}

interface Wall {
  year: number
  month: number
  day: number
  hour: number
  minute: number
}

function wallAt(instant: number, zone: string): Wall & {second: number} {
  const parts: Record<string, number> = {}
  for (const part of formatFor(zone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value)
  }
  return {year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!, second: parts.second!}
}

/** The zone's offset from UTC at `instant`, in ms. */
function offsetAt(instant: number, zone: string): number {
  const w = wallAt(instant, zone)
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(instant / 1000) * 1000
}

const DAY = 86_400_000

/**
 * The instants at which the zone's clock shows `wall`, earliest first: two in a fall-back hour; in a
 * spring-forward gap (which Claude Code never prints), the instant an hour later on the clock.
 */
function instantsAt(wall: Wall, zone: string): number[] {
  const guess = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute)
  const offsets = new Set([offsetAt(guess - DAY, zone), offsetAt(guess, zone), offsetAt(guess + DAY, zone)])
  const found = new Set<number>()
  for (const offset of offsets) {
    const t = guess - offset
    const back = wallAt(t, zone)
    if (back.year === wall.year && back.month === wall.month && back.day === wall.day && back.hour === wall.hour && back.minute === wall.minute) found.add(t)
  }
  if (found.size === 0) return [guess - offsetAt(guess - DAY, zone)]
  return [...found].sort((a, b) => a - b)
}

/** The civil date `days` after year/month/day. */
function addDays(date: {year: number; month: number; day: number}, days: number): {year: number; month: number; day: number} {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days))
  return {year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate()}
}

/**
 * The next time the zone's clock shows `clock` after `hitAt`. Claude Code drops the seconds when it
 * prints a reset ("9:34pm" is 21:34:00–21:34:59), so a time in hitAt's own minute is still ahead.
 */
function nextClockTime(hitAt: Date, zone: string, clock: Clock): Date {
  const after = hitAt.getTime() - 60_000
  const today = wallAt(hitAt.getTime(), zone)
  for (let days = 0; days <= 2; days++) {
    const date = addDays(today, days)
    const t = instantsAt({...date, ...clock}, zone).find((instant) => instant > after)
    if (t !== undefined) return new Date(t)
  }
  throw new BugError(`no ${clock.hour}:${clock.minute} in ${zone} within two days of ${hitAt.toISOString()}`)
}

/** A dated reset: the year given, else the next such date on or after hitAt's day in the zone. */
function datedTime(options: {month: number; day: number; year: number | null; clock: Clock; hitAt: Date; zone: string}): Date | null {
  const {month, day, clock, zone} = options
  const exists = (year: number) => addDays({year, month, day}, 0).day === day
  let year: number
  if (options.year === null) {
    const today = wallAt(options.hitAt.getTime(), zone)
    year = month < today.month || (month === today.month && day < today.day) ? today.year + 1 : today.year
    // Feb 29: the next leap year.
    for (let tries = 0; !exists(year) && tries < 8; tries++) year++
  } else {
    year = options.year
  }
  if (!exists(year)) return null
  return new Date(instantsAt({year, month, day, ...clock}, zone)[0]!)
}

// ---- the pane ---------------------------------------------------------------------------------

/** How many non-empty lines at the bottom of a screen are read. */
export const PANE_WINDOW_LINES = 15

const RULE = /^─{8,}/u
const OLD_BOX_TOP = /^\s*╭─/u
const OLD_BOX_BOTTOM = /^\s*╰─/u
const PROMPT = /^(?:[❯>!](?:\s|$))/u
const OLD_BOX_PROMPT = /^\s*│\s*>(?:\s|$)/u
// "● Bash(", "⏺ Read(", "● mcp__server__tool(", "● Web Search(": a tool name glued to its "(".
const TOOL_CALL = /^[●⏺]\s*(?:[A-Za-z_][\w.:-]*(?: [A-Z][\w.:-]*)?|[\w.-]+ - [\w.-]+ \(MCP\))\(/u
const MESSAGE = /^[●⏺⚠✻]/u
const RESULT = /^\s+⎿/u

type Role = 'blank' | 'box' | 'status' | 'tool' | 'message' | 'plain' | 'result' | 'tool-output' | 'cont'

function screenLines(screen: string): string[] {
  // eslint-disable-next-line no-control-regex -- a capture taken with -e carries SGR escapes
  return screen.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '').split(/\r?\n/).map((line) => line.replace(/\s+$/u, ''))
}

/** The input box's lines [from, to], inclusive, or null. Today's box is two rules around `❯ `; 1.x drew ╭─…╰─. */
function inputBox(lines: string[]): {from: number; to: number} | null {
  const rules: number[] = []
  lines.forEach((line, i) => {
    if (RULE.test(line)) rules.push(i)
  })
  for (let k = rules.length - 1; k > 0; k--) {
    const top = rules[k - 1]!
    const bottom = rules[k]!
    const first = lines.slice(top + 1, bottom).find((line) => line.trim() !== '')
    if (first !== undefined && PROMPT.test(first)) return {from: top, to: bottom}
  }
  for (let bottom = lines.length - 1; bottom >= 0; bottom--) {
    if (!OLD_BOX_BOTTOM.test(lines[bottom]!)) continue
    for (let top = bottom - 1; top >= 0; top--) {
      if (OLD_BOX_TOP.test(lines[top]!)) {
        if (lines.slice(top + 1, bottom).some((line) => OLD_BOX_PROMPT.test(line))) return {from: top, to: bottom}
        break
      }
    }
  }
  return null
}

/** What each line is: the input box, the status lines under it, or a part of the transcript. */
function roles(lines: string[]): Role[] {
  const box = inputBox(lines)
  const out: Role[] = []
  lines.forEach((line, i) => {
    if (box && i >= box.from && i <= box.to) return out.push('box')
    if (line.trim() === '') return out.push('blank')
    if (box && i > box.to) return out.push('status')
    if (RESULT.test(line)) {
      // A result glued to a tool call (its head reached without a blank line) is that tool's output;
      // one under a prompt, after a blank line or after a collapsed "Ran 1 shell command" is Claude
      // Code's own message (measured: that is where 2.1.328 puts the limit banner).
      let k = i - 1
      while (k >= 0 && (out[k] === 'cont' || out[k] === 'result' || out[k] === 'tool-output')) k--
      return out.push(k >= 0 && out[k] === 'tool' ? 'tool-output' : 'result')
    }
    if (/^\s/.test(line)) return out.push('cont')
    // A sent prompt (`❯ …`, `> …`) is a plain line: ❯ and > are no banner markers, so it never matches.
    if (TOOL_CALL.test(line)) return out.push('tool')
    return out.push(MESSAGE.test(line) ? 'message' : 'plain')
  })
  return out
}

/** A transcript line that can carry a real banner, with its wrapped continuation joined on. */
function candidates(lines: string[], role: Role[]): Array<{index: number; text: string}> {
  const found: Array<{index: number; text: string}> = []
  lines.forEach((line, i) => {
    const r = role[i]
    if (r === 'status') return found.push({index: i, text: line})
    if (r !== 'message' && r !== 'result' && r !== 'plain') return
    let text = line
    for (let k = i + 1; k < lines.length && role[k] === 'cont'; k++) text += ` ${lines[k]!.trim()}`
    return found.push({index: i, text})
  })
  return found
}

/** The indexes of the last `count` non-empty lines outside the input box. */
function windowStart(role: Role[], count: number): number {
  let seen = 0
  for (let i = role.length - 1; i >= 0; i--) {
    if (role[i] === 'blank' || role[i] === 'box') continue
    if (++seen === count) return i
  }
  return 0
}

/**
 * The usage-limit banner at the bottom of a `capture-pane -p` screen (the last PANE_WINDOW_LINES
 * non-empty lines outside the input box), or null. Not read: what the user typed or sent (`❯ `/`> `
 * lines and the input box), tool calls (`● Bash(…)`) and their output (the `⎿` block glued to them).
 * The bottom-most banner with a readable time wins (else the bottom-most); when it names no zone and
 * a banner above it shows the same time with one (Claude Code prints the zone on the first line
 * only), that one is returned.
 */
export function scanPane(screen: string, options: BannerOptions): LimitReading | null {
  const defaultZone = zoneOf(options)
  const lines = screenLines(screen)
  const role = roles(lines)
  const from = windowStart(role, PANE_WINDOW_LINES)
  const readings: Reading[] = []
  for (const {index, text} of candidates(lines, role)) {
    if (index < from) continue
    const reading = readAll(text, options.hitAt, defaultZone)[0]
    if (reading) readings.push(reading)
  }
  if (readings.length === 0) return null
  const timed = readings.filter((r) => r.until !== null)
  const last = timed.at(-1) ?? readings.at(-1)!
  if (last.zone === null && last.clock !== null) {
    const zoned = timed.findLast((r) => r.zone !== null && r.clock === last.clock)
    if (zoned) return strip(zoned)
  }
  return strip(last)
}

/**
 * What Claude Code's input box holds on a `capture-pane -p -J` screen: its text with the `❯` and the
 * continuation indent taken off, '' when the box is empty, null when no box is recognised (another
 * program, a menu, the stand-in). The box of 2.1.328 is two rules around `❯ text`; 1.x drew ╭─…╰─.
 */
export function inputBoxText(screen: string): string | null {
  const lines = screenLines(screen)
  const box = inputBox(lines)
  if (!box) return null
  return lines
    .slice(box.from + 1, box.to)
    .map((line) => line.replace(/^\s*│/u, '').replace(/│\s*$/u, '').replace(/^\s*[❯>!](?=\s|$)/u, '').trim())
    .filter((line) => line !== '')
    .join('\n')
}

/** Claude Code's folder-trust dialog is on screen (a prompt pasted now would be lost). */
export function scanPaneForTrustDialog(screen: string): boolean {
  const lines = screenLines(screen)
  if (inputBox(lines)) return false
  // Joined, so a heading wrapped by a narrow pane (or inside the older box's │ borders) still reads whole.
  const joined = lines.map((line) => line.replace(/^\s*│|│\s*$/gu, '').trim()).join(' ').replace(/\s+/gu, ' ')
  return BANNER_PATTERNS.trustDialog.some((re) => re.test(joined)) && lines.some((line) => BANNER_PATTERNS.trustOption.test(line))
}

/** The /rate-limit-options menu ("What do you want to do?" over its numbered options) is open at the bottom. */
export function scanPaneForRateLimitMenu(screen: string): boolean {
  const lines = screenLines(screen)
  const role = roles(lines)
  const from = windowStart(role, PANE_WINDOW_LINES)
  const title = lines.findLastIndex((line, i) => i >= from && role[i] !== 'box' && BANNER_PATTERNS.menuTitle.test(line))
  if (title < 0) return false
  const labels = lines
    .slice(title + 1)
    .map((line) => BANNER_PATTERNS.menuOption.exec(line)?.groups?.label)
    .filter((label): label is string => label !== undefined)
  if (labels.some((label) => BANNER_PATTERNS.menuLabels.some((re) => re.test(label)))) return true
  return labels.some((label) => /^Stop$/i.test(label)) && labels.some((label) => BANNER_PATTERNS.menuStopCompanions.some((re) => re.test(label)))
}

// ---- StopFailure ------------------------------------------------------------------------------

/**
 * `error` values that need a person to log in or fix billing. Names from SDKAssistantMessageError in
 * @anthropic-ai/claude-agent-sdk 0.3.333 sdk.d.ts ('authentication_failed' | 'oauth_org_not_allowed' |
 * 'account_on_hold' | 'verification_required' | 'billing_error' | 'rate_limit' | 'overloaded' |
 * 'invalid_request' | 'model_not_found' | 'server_error' | 'unknown' | 'max_output_tokens' |
 * 'cloud_credential_error'); StopFailureHookInput there is BaseHookInput & {hook_event_name:
 * 'StopFailure'; error: SDKAssistantMessageError; error_details?: string; last_assistant_message?:
 * string}, and BaseHookInput.agent_id is "present only when the hook fires from within a subagent".
 */
export const NEEDS_LOGIN_ERRORS = [
  'authentication_failed',
  'oauth_org_not_allowed',
  'account_on_hold',
  'verification_required',
  'billing_error',
  'cloud_credential_error',
] as const

export interface StopFailurePayload {
  error?: unknown
  /** What some docs call `error`. */
  error_type?: unknown
  last_assistant_message?: unknown
  error_details?: unknown
  agent_id?: unknown
}

export type StopFailureClass =
  | {kind: 'usage-limit'; reading: LimitReading}
  | {kind: 'transient'}
  | {kind: 'needs-login'; error: string}
  | {kind: 'other'; error: string}

/** What a StopFailure hook's payload means for the account. */
export function classifyStopFailure(payload: StopFailurePayload, hitAt: Date, defaultZone?: string): StopFailureClass {
  const error = typeof payload.error === 'string' ? payload.error : typeof payload.error_type === 'string' ? payload.error_type : 'unknown'
  if (error === 'rate_limit') {
    // A subagent's 429 stops only that subagent; the session goes on.
    if (payload.agent_id !== undefined && payload.agent_id !== null) return {kind: 'transient'}
    for (const text of [payload.last_assistant_message, payload.error_details]) {
      if (typeof text !== 'string') continue
      const reading = parseLimit(text, {hitAt, defaultZone})
      if (reading) return {kind: 'usage-limit', reading}
    }
    return {kind: 'transient'}
  }
  if ((NEEDS_LOGIN_ERRORS as readonly string[]).includes(error)) return {kind: 'needs-login', error}
  return {kind: 'other', error}
}
