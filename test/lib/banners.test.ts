import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {
  BANNER_PATTERNS_VERSION,
  classifyStopFailure,
  inputBoxText,
  isTransientRateLimit,
  type LimitName,
  NEEDS_LOGIN_ERRORS,
  parseLimit,
  scanPane,
  scanPaneForRateLimitMenu,
  scanPaneForTrustDialog,
} from '../../src/lib/claude/banners.js'
import {BugError} from '../../src/lib/errors.js'

// Every expected instant below was worked out by hand and checked with Python's zoneinfo, not with
// this module. hitAt is always passed in; no test touches the clock.

interface Sample {
  /** Where the banner text comes from. */
  source: string
  text: string
  hitAt: string
  defaultZone?: string
  until: string
  limit: LimitName
  zone: string | null
  /** When it differs from text: the banner without its screen marker. */
  banner?: string
}

const SAMPLES: Sample[] = [
  {
    source: 'REAL-CLAUDE-CODE.md: measured with the real CLI 2.1.328 (StopFailure last_assistant_message)',
    text: "You've hit your 5-hour limit · resets 9:34pm (UTC)",
    hitAt: '2026-05-04T18:10:00Z',
    until: '2026-05-04T21:34:00.000Z',
    limit: 'five_hour',
    zone: 'UTC',
  },
  {
    source: 'issue 12: the 1.0.x epoch form (epoch seconds after the bar)',
    text: 'Claude AI usage limit reached|1750708800',
    hitAt: '2025-06-23T16:00:00Z',
    until: '2025-06-23T20:00:00.000Z',
    limit: 'generic',
    zone: null,
  },
  {
    // U+2219 separator; no zone, read in New York on the morning clocks go forward (Mar 8 2026):
    // 00:30 EST at hitAt, 5am is already EDT (UTC-4).
    source: 'issue 12; the same shape quoted in https://github.com/benbasha/Claude-Autopilot/issues/25',
    text: '5-hour limit reached ∙ resets 5am',
    hitAt: '2026-03-08T05:30:00Z',
    defaultZone: 'America/New_York',
    until: '2026-03-08T09:00:00.000Z',
    limit: 'five_hour',
    zone: null,
  },
  {
    // Read at noon in Seoul: 10am has passed, so tomorrow's.
    source: 'issue 12',
    text: 'Weekly limit reached · resets 10am (Asia/Seoul)',
    hitAt: '2026-01-15T03:00:00Z',
    until: '2026-01-16T01:00:00.000Z',
    limit: 'weekly',
    zone: 'Asia/Seoul',
  },
  {
    // Anchorage in July is AKDT (UTC-8).
    source: 'issue 12',
    text: "You've hit your limit · resets 11pm (America/Anchorage)",
    hitAt: '2026-07-01T20:00:00Z',
    until: '2026-07-02T07:00:00.000Z',
    limit: 'generic',
    zone: 'America/Anchorage',
  },
  {
    source: 'issue 12; also the title of https://github.com/anthropics/claude-code/issues/77082',
    text: "You've hit your session limit · resets 8:30pm (Asia/Tokyo)",
    hitAt: '2026-07-13T09:00:00Z',
    until: '2026-07-13T11:30:00.000Z',
    limit: 'session',
    zone: 'Asia/Tokyo',
  },
  {
    // Rome in June is CEST (UTC+2).
    source: 'issue 12',
    text: "You've hit your weekly limit · resets Jun 7, 4pm (Europe/Rome)",
    hitAt: '2026-06-02T10:00:00Z',
    until: '2026-06-07T14:00:00.000Z',
    limit: 'weekly',
    zone: 'Europe/Rome',
  },
  {
    // Oslo in December is CET (UTC+1).
    source: 'issue 12',
    text: 'Limit reached · resets Dec 17 at 6am (Europe/Oslo)',
    hitAt: '2026-12-15T12:00:00Z',
    until: '2026-12-17T05:00:00.000Z',
    limit: 'generic',
    zone: 'Europe/Oslo',
  },
  {
    // A dated reset with no zone: read in defaultZone (PDT, UTC-7).
    source: 'issue 12 ("… resets Sep 15 at 7pm", headline as 2.1.x prints it)',
    text: "You've hit your weekly limit · resets Sep 15 at 7pm",
    hitAt: '2026-09-10T12:00:00Z',
    defaultZone: 'America/Los_Angeles',
    until: '2026-09-16T02:00:00.000Z',
    limit: 'weekly',
    zone: null,
  },
  {
    // London left BST at 01:00 UTC that day: 3pm is GMT.
    source: 'issue 12',
    text: "You're out of extra usage · resets 3pm",
    hitAt: '2026-10-25T09:00:00Z',
    defaultZone: 'Europe/London',
    until: '2026-10-25T15:00:00.000Z',
    limit: 'extra-usage',
    zone: null,
  },
  {
    source: 'issue 12; REAL-CLAUDE-CODE.md: shown on screen after the banner since 2.1.234',
    text: 'Usage limit reached · continuing automatically at 9:37pm · esc to cancel',
    hitAt: '2026-05-04T18:10:00Z',
    defaultZone: 'UTC',
    until: '2026-05-04T21:37:00.000Z',
    limit: 'generic',
    zone: null,
  },
  {
    // U+2019 apostrophe.
    source: 'issue 12 (typographic apostrophe)',
    text: 'You’ve hit your 5-hour limit · resets 9:34pm (UTC)',
    hitAt: '2026-05-04T18:10:00Z',
    until: '2026-05-04T21:34:00.000Z',
    limit: 'five_hour',
    zone: 'UTC',
  },
  {
    // 12:50am, read at 10pm the evening before (PDT).
    source: 'https://github.com/anthropics/claude-code/issues/74079 (title, Claude Code 2.1.201)',
    text: "You've hit your session limit · resets 12:50am (America/Los_Angeles)",
    hitAt: '2026-07-04T05:00:00Z',
    until: '2026-07-04T07:50:00.000Z',
    limit: 'session',
    zone: 'America/Los_Angeles',
  },
  {
    // hitAt is the issue's own error timestamp: 20:58 in Dhaka, so 1:30am is the next night's.
    source: 'https://github.com/anthropics/claude-code/issues/54698 (title, Claude Code 2.1.123)',
    text: "You've hit your limit · resets 1:30am (Asia/Dhaka)",
    hitAt: '2026-04-29T14:58:12Z',
    until: '2026-04-29T19:30:00.000Z',
    limit: 'generic',
    zone: 'Asia/Dhaka',
  },
  {
    // 1.0.58 wording, read at the issue's error timestamp (9:32am CST, past 9am): the next day's 9am,
    // which is exactly the epoch 1766502000 in that issue's title.
    source: 'https://github.com/anthropics/claude-code/issues/15064 (body, Claude Code 1.0.58)',
    text: 'Claude usage limit reached. Your limit will reset at 9am (America/Chicago).',
    hitAt: '2025-12-22T15:32:14Z',
    until: '2025-12-23T15:00:00.000Z',
    limit: 'generic',
    zone: 'America/Chicago',
  },
  {
    // 2.1.328 adds the year when the reset falls in another one (its formatter in the binary).
    source: 'Claude Code 2.1.328 reset formatter (toLocaleString with year when it differs)',
    text: "You've hit your weekly limit · resets Jan 3, 2027, 4pm (Europe/Rome)",
    hitAt: '2026-12-30T10:00:00Z',
    until: '2027-01-03T15:00:00.000Z',
    limit: 'weekly',
    zone: 'Europe/Rome',
  },
  {
    // Measured on the pane of 2.1.328 (the status line under the input box).
    source: 'measured: Claude Code 2.1.328 pane under a stand-in API (2026-12-01)',
    text: '⚠ Usage limit reached · limit resets 1:40am',
    hitAt: '2026-12-01T22:22:00Z',
    defaultZone: 'UTC',
    until: '2026-12-02T01:40:00.000Z',
    limit: 'generic',
    zone: null,
    banner: 'Usage limit reached · limit resets 1:40am',
  },
  {
    source: 'measured: Claude Code 2.1.328 pane under a stand-in API (2026-12-01)',
    text: 'Continuing automatically at 1:40am · Esc to cancel',
    hitAt: '2026-12-01T22:22:00Z',
    defaultZone: 'UTC',
    until: '2026-12-02T01:40:00.000Z',
    limit: 'generic',
    zone: null,
  },
]

describe('parseLimit: the samples', () => {
  it.each(SAMPLES)('$text', (sample) => {
    const reading = parseLimit(sample.text, {hitAt: new Date(sample.hitAt), defaultZone: sample.defaultZone ?? 'Pacific/Kiritimati'})
    expect(reading).toEqual({kind: 'usage-limit', until: new Date(sample.until), limit: sample.limit, zone: sample.zone, banner: sample.banner ?? sample.text})
  })
})

describe('parseLimit: time rules', () => {
  const utc = (text: string, hitAt: string) => parseLimit(text, {hitAt: new Date(hitAt), defaultZone: 'UTC'})?.until?.toISOString()

  it('reads 9pm at 10pm as tomorrow 9pm, and at 8pm as today', () => {
    expect(utc("You've hit your limit · resets 9pm", '2026-05-04T22:00:00Z')).toBe('2026-05-05T21:00:00.000Z')
    expect(utc("You've hit your limit · resets 9pm", '2026-05-04T20:00:00Z')).toBe('2026-05-04T21:00:00.000Z')
  })

  it('reads 12am as midnight and 12pm as noon, with and without minutes', () => {
    expect(utc("You've hit your limit · resets 12am (UTC)", '2026-05-04T18:00:00Z')).toBe('2026-05-05T00:00:00.000Z')
    expect(utc("You've hit your limit · resets 12pm (UTC)", '2026-05-04T08:00:00Z')).toBe('2026-05-04T12:00:00.000Z')
    expect(utc("You've hit your limit · resets 12:30am (UTC)", '2026-05-04T18:00:00Z')).toBe('2026-05-05T00:30:00.000Z')
    expect(utc("You've hit your limit · resets 12:05pm (UTC)", '2026-05-04T12:10:00Z')).toBe('2026-05-05T12:05:00.000Z')
  })

  it('counts a time as ahead during its own printed minute (Claude Code drops the seconds), not after', () => {
    expect(utc("You've hit your 5-hour limit · resets 9:34pm (UTC)", '2026-05-04T21:34:30Z')).toBe('2026-05-04T21:34:00.000Z')
    expect(utc("You've hit your 5-hour limit · resets 9:34pm (UTC)", '2026-05-04T21:35:00Z')).toBe('2026-05-05T21:34:00.000Z')
  })

  it('takes the next of the two 1:30ams on the night clocks go back', () => {
    // New York, Nov 1 2026: 1:30 EDT is 05:30Z, 1:30 EST is 06:30Z.
    const ny = (hitAt: string) => parseLimit("You've hit your limit · resets 1:30am (America/New_York)", {hitAt: new Date(hitAt)})?.until?.toISOString()
    expect(ny('2026-11-01T04:00:00Z')).toBe('2026-11-01T05:30:00.000Z')
    expect(ny('2026-11-01T05:40:00Z')).toBe('2026-11-01T06:30:00.000Z')
  })

  it('moves a time inside the spring-forward gap (never printed by Claude Code) an hour on', () => {
    const reading = parseLimit("You've hit your limit · resets 2:30am (America/New_York)", {hitAt: new Date('2026-03-08T05:00:00Z')})
    expect(reading?.until?.toISOString()).toBe('2026-03-08T07:30:00.000Z')
  })

  it('puts a month/day before hitAt\'s day into next year, and keeps hitAt\'s own day', () => {
    const oslo = (hitAt: string) => parseLimit('Limit reached · resets Dec 17 at 6am (Europe/Oslo)', {hitAt: new Date(hitAt)})?.until?.toISOString()
    expect(oslo('2026-12-20T12:00:00Z')).toBe('2027-12-17T05:00:00.000Z')
    expect(oslo('2026-12-17T04:00:00Z')).toBe('2026-12-17T05:00:00.000Z')
    expect(utc("You've hit your weekly limit · resets Feb 29, 9am (UTC)", '2026-03-01T00:00:00Z')).toBe('2028-02-29T09:00:00.000Z')
  })

  it('uses the machine\'s zone when neither the banner nor the caller names one', () => {
    const saved = process.env.TZ
    try {
      process.env.TZ = 'Asia/Tokyo'
      const reading = parseLimit("You're out of extra usage · resets 3pm", {hitAt: new Date('2026-05-04T00:00:00Z')})
      expect(reading?.until?.toISOString()).toBe('2026-05-04T06:00:00.000Z')
    } finally {
      if (saved === undefined) delete process.env.TZ
      else process.env.TZ = saved
    }
  })

  it('lets the banner\'s zone win over defaultZone', () => {
    const reading = parseLimit('Weekly limit reached · resets 10am (Asia/Seoul)', {hitAt: new Date('2026-01-15T00:00:00Z'), defaultZone: 'America/New_York'})
    expect(reading?.until?.toISOString()).toBe('2026-01-15T01:00:00.000Z')
  })

  it('still reports the banner when its time cannot be read', () => {
    const hitAt = new Date('2026-05-04T18:00:00Z')
    expect(parseLimit("You've hit your limit", {hitAt, defaultZone: 'UTC'})).toEqual({kind: 'usage-limit', until: null, limit: 'generic', zone: null, banner: "You've hit your limit"})
    expect(parseLimit("You've hit your limit · resets 9pm (Mars/Olympus)", {hitAt, defaultZone: 'UTC'})).toMatchObject({until: null, zone: 'Mars/Olympus'})
    expect(parseLimit("You've hit your limit · resets 13pm (UTC)", {hitAt, defaultZone: 'UTC'})).toMatchObject({until: null, zone: 'UTC'})
    expect(parseLimit("You've hit your weekly limit · resets Feb 30, 9am (UTC)", {hitAt, defaultZone: 'UTC'})).toMatchObject({until: null, limit: 'weekly'})
  })

  it('refuses a defaultZone that is no time zone', () => {
    expect(() => parseLimit('anything', {hitAt: new Date(), defaultZone: 'Mars/Olympus'})).toThrow(BugError)
  })
})

describe('parseLimit: which line, and what is not a usage limit', () => {
  const hitAt = new Date('2026-12-01T22:22:00Z')

  it('finds the banner line inside a longer message and trims it', () => {
    // The measured message: banner, then the upgrade hint on the next line.
    const text = "  You've hit your 5-hour limit · resets 1:41am (UTC)  \n/upgrade to increase your usage limit."
    expect(parseLimit(text, {hitAt})).toEqual({kind: 'usage-limit', until: new Date('2026-12-02T01:41:00Z'), limit: 'five_hour', zone: 'UTC', banner: "You've hit your 5-hour limit · resets 1:41am (UTC)"})
  })

  it('prefers a line whose time it can read', () => {
    const text = "You've hit your limit\nUsage limit reached · continuing automatically at 1:40am · esc to cancel"
    expect(parseLimit(text, {hitAt, defaultZone: 'UTC'})?.until?.toISOString()).toBe('2026-12-02T01:40:00.000Z')
  })

  it('maps the 2.1.328 limit names', () => {
    // Names from the 2.1.328 binary: 5-hour, weekly, Opus, Sonnet, Fable; "session" from 2.1.1xx–2.1.2xx.
    const limit = (text: string) => parseLimit(text, {hitAt, defaultZone: 'UTC'})?.limit
    expect(limit("You've hit your Opus limit · resets Dec 5, 4pm (UTC)")).toBe('weekly')
    expect(limit("You've hit your Sonnet limit · resets Dec 5, 4pm (UTC)")).toBe('weekly')
    expect(limit("You've hit your usage limit · resets 3am (UTC)")).toBe('generic')
    expect(limit("You're out of usage credits · resets 3am (UTC)")).toBe('extra-usage')
    expect(limit("You've hit your monthly spend limit · your 5-hour limit resets 3am (UTC)")).toBe('generic')
  })

  it.each([
    // REAL-CLAUDE-CODE.md: what an API key shows for the same 429.
    'API Error: Request rejected (429) · Rate limited',
    // Claude Code 2.1.328 strings that say "limit" but are no usage limit.
    'Context limit reached · /compact or /clear to continue',
    "You've hit your fast limit · resets in 3m",
    'Fast limit reached, fast mode paused · resets in 3m',
    'spend limit reached · resets Aug 8 · request an increase at https://go.corp.example.com/claude-limits',
    '/upgrade to increase your usage limit.',
    // Prose that merely mentions a limit.
    'I will wait until the usage limit resets at 9pm.',
    'Done: the command printed two lines.',
    '',
  ])('no usage limit in %j', (text) => {
    expect(parseLimit(text, {hitAt, defaultZone: 'UTC'})).toBeNull()
  })
})

describe('isTransientRateLimit', () => {
  it('is true for a 429 that carries no usage-limit banner', () => {
    expect(isTransientRateLimit('API Error: Request rejected (429) · Rate limited')).toBe(true)
    expect(isTransientRateLimit('API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account\'s rate limit. Please try again later."}}')).toBe(true)
  })

  it('is false for a usage limit, even next to a 429, and for other errors', () => {
    expect(isTransientRateLimit("You've hit your 5-hour limit · resets 9:34pm (UTC)")).toBe(false)
    expect(isTransientRateLimit('API Error: 429 rate_limit_error\nClaude AI usage limit reached|1750708800')).toBe(false)
    expect(isTransientRateLimit('API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')).toBe(false)
    expect(isTransientRateLimit('API Error: 500 Internal server error')).toBe(false)
  })
})

describe('classifyStopFailure', () => {
  const hitAt = new Date('2026-05-04T18:10:00Z')
  const measured = "You've hit your 5-hour limit · resets 9:34pm (UTC)"
  const usage = {kind: 'usage-limit', reading: {kind: 'usage-limit', until: new Date('2026-05-04T21:34:00Z'), limit: 'five_hour', zone: 'UTC', banner: measured}}

  it('reads the measured payload (REAL-CLAUDE-CODE.md) as a usage limit', () => {
    expect(classifyStopFailure({error: 'rate_limit', last_assistant_message: measured}, hitAt)).toEqual(usage)
  })

  it('accepts error_type for error, and a banner in error_details', () => {
    expect(classifyStopFailure({error_type: 'rate_limit', last_assistant_message: measured}, hitAt)).toEqual(usage)
    expect(classifyStopFailure({error: 'rate_limit', last_assistant_message: 'API Error', error_details: measured}, hitAt)).toEqual(usage)
  })

  it('passes defaultZone on to a banner without a zone', () => {
    const result = classifyStopFailure({error: 'rate_limit', last_assistant_message: "You're out of extra usage · resets 3pm"}, new Date('2026-05-04T00:00:00Z'), 'Asia/Tokyo')
    expect(result).toMatchObject({kind: 'usage-limit', reading: {until: new Date('2026-05-04T06:00:00Z'), zone: null}})
  })

  it('calls a rate_limit without a banner, or from a subagent, transient', () => {
    expect(classifyStopFailure({error: 'rate_limit', last_assistant_message: 'API Error: Request rejected (429) · Rate limited'}, hitAt)).toEqual({kind: 'transient'})
    expect(classifyStopFailure({error: 'rate_limit'}, hitAt)).toEqual({kind: 'transient'})
    expect(classifyStopFailure({error: 'rate_limit', last_assistant_message: measured, agent_id: 'a1b2c3'}, hitAt)).toEqual({kind: 'transient'})
  })

  it.each([...NEEDS_LOGIN_ERRORS])('calls %s needs-login', (error) => {
    expect(classifyStopFailure({error, last_assistant_message: measured}, hitAt)).toEqual({kind: 'needs-login', error})
  })

  it('lists exactly the login and billing names of SDKAssistantMessageError', () => {
    expect([...NEEDS_LOGIN_ERRORS].sort()).toEqual(['account_on_hold', 'authentication_failed', 'billing_error', 'cloud_credential_error', 'oauth_org_not_allowed', 'verification_required'])
  })

  it('calls everything else other, naming the error', () => {
    for (const error of ['overloaded', 'invalid_request', 'model_not_found', 'server_error', 'unknown', 'max_output_tokens', 'something_new']) {
      expect(classifyStopFailure({error, last_assistant_message: measured}, hitAt)).toEqual({kind: 'other', error})
    }
    expect(classifyStopFailure({}, hitAt)).toEqual({kind: 'other', error: 'unknown'})
    expect(classifyStopFailure({error: {type: 'rate_limit'}}, hitAt)).toEqual({kind: 'other', error: 'unknown'})
  })

  it('prefers error over error_type', () => {
    expect(classifyStopFailure({error: 'billing_error', error_type: 'rate_limit', last_assistant_message: measured}, hitAt)).toEqual({kind: 'needs-login', error: 'billing_error'})
  })
})

/** A screen as tmux prints it: raw (backslashes kept), with `\u00A0` spelled out for the no-break space. */
function screen(strings: TemplateStringsArray): string {
  return strings.raw.join('').replaceAll('\\u00A0', '\u00A0')
}

// ---- screens --------------------------------------------------------------------------------------
// Captured with `tmux capture-pane -p` from the real Claude Code 2.1.328 (npm
// @anthropic-ai/claude-code@2.1.328, linux-x64) in a 100×32 pane (BANNER_SCROLLED_UP: 100×60), logged
// in with a stand-in subscription token against a stand-in Messages API that answered with a Bash
// tool_use printing banner text, and then with a 429 carrying anthropic-ratelimit-unified-status:
// rejected / -reset / -representative-claim: five_hour. Captured 2026-12-01 ~22:22 UTC. Only runs of
// more than two empty lines were shortened (the rules count non-empty lines only). Claude Code writes
// a no-break space (U+00A0) after ❯ and after ⎿; the captures keep it.

const LIMIT_AT_BOTTOM = screen`
 ▐▛███▛█   Claude Code v2.1.328
▝▜██████▀  Opus 5.5 · Claude Max
 ▝▝   ▝▝   /tmp/banners-probe/proj


❯ Print the two banner lines with Bash

● Running it.

  Ran 1 shell command

● Done: the command printed two lines.

✻ Crunched for 0s · done 10:22 PM

❯ Now do the next step
  ⎿ \u00A0You've hit your 5-hour limit · resets 1:40am (UTC)

● Usage limit reached · continuing automatically at 1:40am · esc to cancel


────────────────────────────────────────────────────────────────────────────────────────────────────
❯\u00A0
────────────────────────────────────────────────────────────────────────────────────────────────────
  ⚠ Usage limit reached · limit resets 1:40am
    Continuing automatically at 1:40am · Esc to cancel
  ⏵⏵ accept edits on (shift+tab to cycle)
`

const LIMIT_AFTER_TOOL = screen`
 ▐▛███▛█   Claude Code v2.1.328
▝▜██████▀  Opus 5.5 · Claude Max
 ▝▝   ▝▝   /tmp/banners-probe/proj


❯ Print the banner lines, then go on

● Running it.

  Ran 1 shell command
  ⎿ \u00A0You've hit your 5-hour limit · resets 1:42am (UTC)

● Usage limit reached · continuing automatically at 1:42am · esc to cancel


────────────────────────────────────────────────────────────────────────────────────────────────────
❯\u00A0
────────────────────────────────────────────────────────────────────────────────────────────────────
  ⚠ Usage limit reached · limit resets 1:42am
    Continuing automatically at 1:42am · Esc to cancel
  ⏵⏵ accept edits on (shift+tab to cycle)
`

const LIMIT_AFTER_TOOL_EXPANDED = screen`
 ▐▛███▛█   Claude Code v2.1.328
▝▜██████▀  Opus 5.5 · Claude Max
 ▝▝   ▝▝   /tmp/banners-probe/proj


❯ Print the banner lines, then go on

                                                                         10:25 PM claude-sonnet-4-5
● Running it.

● Bash(printf '%s\n' "You've hit your 5-hour limit · resets 9:34pm (UTC)" 'Weekly limit reached ·
      resets 10am (Asia/Seoul)')
  ⎿ \u00A0You've hit your 5-hour limit · resets 9:34pm (UTC)
     Weekly limit reached · resets 10am (Asia/Seoul)

                                                                               10:25 PM <synthetic>
  ⎿ \u00A0You've hit your 5-hour limit · resets 1:42am (UTC)

● Usage limit reached · continuing automatically at 1:42am · esc to cancel


────────────────────────────────────────────────────────────────────────────────────────────────────
  Showing detailed transcript · ctrl+o to toggle · ? for shortcuts                          verbose
`

const BANNER_IN_TOOL_OUTPUT = screen`
 ▐▛███▛█   Claude Code v2.1.328
▝▜██████▀  Opus 5.5 · Claude Max
 ▝▝   ▝▝   /tmp/banners-probe/proj


❯ Print the two banner lines with Bash

                                                                         10:22 PM claude-sonnet-4-5
● Running it.

● Bash(printf '%s\n' "You've hit your 5-hour limit · resets 9:34pm (UTC)" 'Weekly limit reached ·
      resets 10am (Asia/Seoul)')
  ⎿ \u00A0You've hit your 5-hour limit · resets 9:34pm (UTC)
     Weekly limit reached · resets 10am (Asia/Seoul)

                                                                         10:22 PM claude-sonnet-4-5
● Done: the command printed two lines.

✻ Crunched for 0s · done 10:22 PM


────────────────────────────────────────────────────────────────────────────────────────────────────
  Showing detailed transcript · ctrl+o to toggle · ? for shortcuts                          verbose
`

const BANNER_TYPED = screen`
 ▐▛███▛█   Claude Code v2.1.328
▝▜██████▀  Opus 5.5 · Claude Max
 ▝▝   ▝▝   /tmp/banners-probe/proj


                                                                                ◐ medium · /effort
────────────────────────────────────────────────────────────────────────────────────────────────────
❯\u00A0You've hit your 5-hour limit · resets 9:34pm (UTC)
────────────────────────────────────────────────────────────────────────────────────────────────────
  ⏵⏵ accept edits on (shift+tab to cycle)
`

const BANNER_TYPED_WRAPPED = screen`
 ▐▛███▛█   Claude Code v2.1.328
▝▜██████▀  Opus 5.5 · Claude Max
 ▝▝   ▝▝   /tmp/banners-probe/proj


                                                                      ctrl+y to paste deleted text
────────────────────────────────────────────────────────────────────────────────────────────────────
❯\u00A0Please explain what this message means and whether the account should be paused: You've hit your
  weekly limit · resets Jun 7, 4pm (Europe/Rome)
────────────────────────────────────────────────────────────────────────────────────────────────────
  ⏵⏵ accept edits on (shift+tab to cycle)
`

const BANNER_SCROLLED_UP = screen`
 ▐▛███▛█   Claude Code v2.1.328
▝▜██████▀  Opus 5.5 · Claude Max
 ▝▝   ▝▝   /tmp/banners-probe/proj


❯ Start the refactor
  ⎿ \u00A0You've hit your 5-hour limit · resets 1:41am (UTC)
     /upgrade to increase your usage limit.

● Usage limit reached · continuing automatically at 1:41am · esc to cancel

● Automatic continue cancelled · /rate-limit-options to re-arm

❯ Check every file

● Step 1: checked the next file and found nothing to change.
  Step 2: checked the next file and found nothing to change.
  Step 3: checked the next file and found nothing to change.
  Step 4: checked the next file and found nothing to change.
  Step 5: checked the next file and found nothing to change.
  Step 6: checked the next file and found nothing to change.
  Step 7: checked the next file and found nothing to change.
  Step 8: checked the next file and found nothing to change.
  Step 9: checked the next file and found nothing to change.
  Step 10: checked the next file and found nothing to change.
  Step 11: checked the next file and found nothing to change.
  Step 12: checked the next file and found nothing to change.
  Step 13: checked the next file and found nothing to change.
  Step 14: checked the next file and found nothing to change.
  Step 15: checked the next file and found nothing to change.
  Step 16: checked the next file and found nothing to change.
  Step 17: checked the next file and found nothing to change.
  Step 18: checked the next file and found nothing to change.
  Step 19: checked the next file and found nothing to change.
  Step 20: checked the next file and found nothing to change.
  Step 21: checked the next file and found nothing to change.
  Step 22: checked the next file and found nothing to change.
  Step 23: checked the next file and found nothing to change.
  Step 24: checked the next file and found nothing to change.

✻ Baked for 0s · done 10:24 PM


  tmux focus-events off · add 'set -g focus-events on' to ~/.tmux.conf and reattach for focus tra…
────────────────────────────────────────────────────────────────────────────────────────────────────
❯\u00A0
────────────────────────────────────────────────────────────────────────────────────────────────────
  ⏵⏵ accept edits on (shift+tab to cycle)
`

const RATE_LIMIT_MENU = screen`
 ▐▛███▛█   Claude Code v2.1.328
▝▜██████▀  Opus 5.5 · Claude Max
 ▝▝   ▝▝   /tmp/banners-probe/proj


❯ Print the two banner lines with Bash

● Running it.

  Ran 1 shell command

● Done: the command printed two lines.

✻ Crunched for 0s · done 10:22 PM

❯ Now do the next step
  ⎿ \u00A0You've hit your 5-hour limit · resets 1:40am (UTC)

● Usage limit reached · continuing automatically at 1:40am · esc to cancel


▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔▔
  What do you want to do?

  ❯ 1. Stop and wait for limit to reset
    2. Don’t continue automatically
    3. Upgrade your plan

  Enter to confirm · Esc to cancel
`

const RATE_LIMIT_MENU_TYPED = screen`
 ▐▛███▛█   Claude Code v2.1.328
▝▜██████▀  Opus 5.5 · Claude Max
 ▝▝   ▝▝   /tmp/banners-probe/proj


❯ Print the two banner lines with Bash

● Running it.

  Ran 1 shell command

● Done: the command printed two lines.

✻ Crunched for 0s · done 10:22 PM

❯ Now do the next step
  ⎿ \u00A0You've hit your 5-hour limit · resets 1:40am (UTC)

● Usage limit reached · continuing automatically at 1:40am · esc to cancel


  ❯ /rate-limit-options         Manage usage limits and upgrade options
────────────────────────────────────────────────────────────────────────────────────────────────────
❯\u00A0/rate-limit-options
────────────────────────────────────────────────────────────────────────────────────────────────────
  ⚠ Usage limit reached · limit resets 1:40am
    Continuing automatically at 1:40am · Esc to cancel
  ⏵⏵ accept edits on (shift+tab to cycle)
`

const TRUST_DIALOG = screen`
────────────────────────────────────────────────────────────────────────────────────────────────────
 Accessing workspace:

 /tmp/banners-probe/proj

 Quick safety check: Is this a project you created or one you trust? (Like your own code, a
 well-known open source project, or work from your team). If not, take a moment to review what's in
 this folder first.

 Claude Code'll be able to read, edit, and execute files here.

 Security guide

 ❯ No, exit
   Yes, I trust this folder

 Enter to confirm · Esc to cancel
`

const FRESH_SESSION = screen`
 ▐▛███▛█   Claude Code v2.1.328
▝▜██████▀  Opus 5.5 · Claude Max
 ▝▝   ▝▝   /tmp/banners-probe/proj


                                                                                ◐ medium · /effort
────────────────────────────────────────────────────────────────────────────────────────────────────
❯\u00A0
────────────────────────────────────────────────────────────────────────────────────────────────────
  ⏵⏵ accept edits on (shift+tab to cycle) · ← for agents
`

// Claude Code 1.x/2.0 drew the input box with ╭─ … ╰─ and `> `; built from that layout and the
// banner quoted in https://github.com/anthropics/claude-code/issues/15064 ("⎿  Claude usage limit
// reached. Your limit will reset at 9am (America/Chicago).", Claude Code 1.0.58).
const OLD_LAYOUT_LIMIT = screen`
> Carry on with the migration

⏺ Reading the schema first.

⏺ Read(db/schema.sql)
  ⎿  Read 120 lines (ctrl+r to expand)

  ⎿  Claude usage limit reached. Your limit will reset at 9am (America/Chicago).

╭──────────────────────────────────────────────────────────────────────────────╮
│ >                                                                            │
╰──────────────────────────────────────────────────────────────────────────────╯
  ? for shortcuts
`

const OLD_LAYOUT_TYPED = screen`
> Carry on with the migration

⏺ Done: three tables migrated.

╭──────────────────────────────────────────────────────────────────────────────╮
│ > Claude usage limit reached. Your limit will reset at 9am (America/Chicago). │
╰──────────────────────────────────────────────────────────────────────────────╯
  ? for shortcuts
`

// Older trust dialog wording, as quoted in https://github.com/anthropics/claude-code/issues/90582 and
// /issues/6397 ("Do you trust the files in this folder?", options "Yes, proceed" / "No, exit").
const OLD_TRUST_DIALOG = screen`
╭──────────────────────────────────────────────────────────────────────────────╮
│                                                                              │
│ Do you trust the files in this folder?                                       │
│                                                                              │
│ /srv/agent-queue/work                                                        │
│                                                                              │
│ Claude Code may read files in this folder. Reading untrusted files may lead  │
│ Claude Code to behave in unexpected ways.                                    │
│                                                                              │
│ ❯ 1. Yes, proceed                                                            │
│   2. No, exit                                                                │
│                                                                              │
╰──────────────────────────────────────────────────────────────────────────────╯
   Enter to confirm · Esc to exit
`

// The menu as quoted in https://github.com/cheapestinference/claude-auto-retry/pull/17 (Claude Code
// 2.1.170, one option) and https://github.com/anthropics/claude-code/issues/40898.
const MENU_ONE_OPTION = screen`
You've hit your session limit · resets 12:10am (Europe/Dublin)
/rate-limit-options
What do you want to do?
❯ 1. Stop and wait for limit to reset
Enter to confirm · Esc to cancel
`

const MENU_ISSUE_40898 = screen`
/rate-limit-options

What do you want to do?

❯ 1. Stop and wait for limit to reset
2. Add funds to continue with extra usage
3. Upgrade your plan

Enter to confirm · Esc to cancel
`

// The "trial has ended" dialog of 2.1.328 shares the title (strings from the binary); it is no limit menu.
const TRIAL_ENDED = screen`
  Your Claude Code trial has ended.

  What do you want to do?

  ❯ 1. Upgrade to Max or Ultra
    2. Add funds to continue with usage credits

  Enter to confirm · Esc to cancel
`

/** The screen with the lines of the measured prompt turn replaced by `lines`. */
function withTurn(lines: string): string {
  return LIMIT_AT_BOTTOM.replace(/❯ Now do the next step\n[\s\S]*?(?=\n\n\n─)/, lines)
}

describe('scanPane', () => {
  const hitAt = new Date('2026-12-01T22:30:00Z')
  const options = {hitAt, defaultZone: 'UTC'}
  const fiveHour = (until: string) => ({kind: 'usage-limit', until: new Date(until), limit: 'five_hour', zone: 'UTC', banner: `You've hit your 5-hour limit · resets ${new Date(until).getUTCHours()}:${String(new Date(until).getUTCMinutes()).padStart(2, '0')}am (UTC)`})

  it('finds the limit at the bottom (under the prompt, and in the status lines under the box)', () => {
    expect(scanPane(LIMIT_AT_BOTTOM, options)).toEqual(fiveHour('2026-12-02T01:40:00Z'))
  })

  it('finds the limit that hit after a tool call, collapsed and expanded', () => {
    expect(scanPane(LIMIT_AFTER_TOOL, options)).toEqual(fiveHour('2026-12-02T01:42:00Z'))
    // The expanded screen also shows the same words inside the Bash call and its output (9:34pm).
    expect(scanPane(LIMIT_AFTER_TOOL_EXPANDED, options)).toEqual(fiveHour('2026-12-02T01:42:00Z'))
  })

  it('takes the zone from the first line of the event even when the bottom line names none', () => {
    // Read in Tokyo, "1:40am" with no zone would be 16:40Z; the zoned line of the same event says UTC.
    expect(scanPane(LIMIT_AT_BOTTOM, {hitAt, defaultZone: 'Asia/Tokyo'})).toEqual(fiveHour('2026-12-02T01:40:00Z'))
  })

  it('reads the status lines under the box when the transcript no longer shows the banner', () => {
    const screen = LIMIT_AT_BOTTOM.replace(/❯ Now do the next step\n[\s\S]*?(?=\n\n\n─)/, '❯ Now do the next step')
    expect(screen).not.toContain("You've hit")
    expect(scanPane(screen, {hitAt, defaultZone: 'Asia/Tokyo'})).toEqual({
      kind: 'usage-limit',
      until: new Date('2026-12-02T16:40:00Z'),
      limit: 'generic',
      zone: null,
      banner: 'Continuing automatically at 1:40am · Esc to cancel',
    })
  })

  it('reads Claude Code\'s own ● line', () => {
    // The measured screen without the ⎿ banner and without the box and status lines under it.
    const screen = LIMIT_AT_BOTTOM.replace(/ {2}⎿.*\n/, '').replace(/\n─{8,}[\s\S]*$/, '')
    expect(screen).not.toContain("You've hit")
    expect(scanPane(screen, options)).toEqual({kind: 'usage-limit', until: new Date('2026-12-02T01:40:00Z'), limit: 'generic', zone: null, banner: 'Usage limit reached · continuing automatically at 1:40am · esc to cancel'})
  })

  it('reads what `claude -p` printed into a shell (REAL-CLAUDE-CODE.md: it prints the banner and exits 0)', () => {
    const shell = "root@host:/srv/work# claude -p 'carry on'\nYou've hit your 5-hour limit · resets 9:37pm (UTC)\nroot@host:/srv/work# "
    expect(scanPane(shell, {hitAt: new Date('2026-05-04T18:10:00Z'), defaultZone: 'UTC'})).toMatchObject({until: new Date('2026-05-04T21:37:00Z'), limit: 'five_hour'})
  })

  it('does not read the banner text inside a tool call or its ⎿ output', () => {
    // The words are on this screen, in parseable lines...
    expect(parseLimit(BANNER_IN_TOOL_OUTPUT.split('\n').find((line) => line.includes('⎿'))!, options)).not.toBeNull()
    // ...but only as the Bash call's arguments and output.
    expect(scanPane(BANNER_IN_TOOL_OUTPUT, options)).toBeNull()
    // A ⎿ block glued to an old-style ⏺ call is that call's output too.
    expect(scanPane(withTurn("❯ Show me\n\n⏺ Bash(cat notes.txt)\n  ⎿  You've hit your 5-hour limit · resets 1:40am (UTC)\n     Weekly limit reached · resets 10am (Asia/Seoul)"), options)).toMatchObject({zone: null, limit: 'generic'})
  })

  it('does not read what is typed in the input box, wrapped or not', () => {
    // Claude Code writes a no-break space after ❯ (and after ⎿).
    expect(parseLimit(BANNER_TYPED.split('\n').find((line) => line.startsWith('❯\u00A0'))!.slice(2), options)).not.toBeNull()
    expect(scanPane(BANNER_TYPED, options)).toBeNull()
    expect(scanPane(BANNER_TYPED_WRAPPED, options)).toBeNull()
    expect(scanPane(OLD_LAYOUT_TYPED, options)).toBeNull()
  })

  it('does not read a prompt the user sent', () => {
    const sent = withTurn("❯ You've hit your 5-hour limit · resets 9:34pm (UTC)\n  what does this mean?\n\n● It means the 5-hour window is used up.")
    expect(scanPane(sent, options)).toMatchObject({limit: 'generic', zone: null, banner: 'Continuing automatically at 1:40am · Esc to cancel'})
    expect(scanPane(sent.replace(/\n─{8,}[\s\S]*$/, ''), options)).toBeNull()
  })

  it('does not read a banner scrolled more than 15 lines up', () => {
    // The banner is on this 60-line screen, 30 non-empty lines above the bottom.
    expect(BANNER_SCROLLED_UP).toMatch(/⎿\s+You've hit your 5-hour limit · resets 1:41am \(UTC\)/)
    expect(scanPane(BANNER_SCROLLED_UP, options)).toBeNull()
    // Cut the answer that followed it and it is found again.
    expect(scanPane(BANNER_SCROLLED_UP.replace(/ {2}Step [\s\S]*?Step 24[^\n]*\n/, ''), options)).toMatchObject({limit: 'five_hour', zone: 'UTC'})
  })

  it('still reads the banner while the /rate-limit-options menu is open', () => {
    expect(scanPane(RATE_LIMIT_MENU, options)).toEqual(fiveHour('2026-12-02T01:40:00Z'))
  })

  it('reads the 1.x layout: ⏺ markers and the ╭─ box', () => {
    expect(scanPane(OLD_LAYOUT_LIMIT, {hitAt: new Date('2025-12-22T15:32:14Z'), defaultZone: 'UTC'})).toEqual({
      kind: 'usage-limit',
      until: new Date('2025-12-23T15:00:00Z'),
      limit: 'generic',
      zone: 'America/Chicago',
      banner: 'Claude usage limit reached. Your limit will reset at 9am (America/Chicago).',
    })
  })

  it('finds nothing on a screen without a limit, and ignores colour escapes', () => {
    expect(scanPane(FRESH_SESSION, options)).toBeNull()
    expect(scanPane(TRUST_DIALOG, options)).toBeNull()
    const coloured = LIMIT_AT_BOTTOM.replace("You've hit your 5-hour limit", "\u001B[31mYou've hit your 5-hour limit\u001B[39m")
    expect(scanPane(coloured, options)).toEqual(fiveHour('2026-12-02T01:40:00Z'))
  })
})

describe('scanPaneForTrustDialog', () => {
  it('sees the 2.1.328 dialog and the older one', () => {
    expect(scanPaneForTrustDialog(TRUST_DIALOG)).toBe(true)
    expect(scanPaneForTrustDialog(OLD_TRUST_DIALOG)).toBe(true)
  })

  it('reads a heading that a narrow pane wrapped, inside the older box too', () => {
    expect(scanPaneForTrustDialog(TRUST_DIALOG.replace('project you created', 'project you\n created'))).toBe(true)
    const boxed = OLD_TRUST_DIALOG.replace('│ Do you trust the files in this folder?                                       │', '│ Do you trust the files in      │\n│ this folder?                   │')
    expect(boxed).not.toContain('trust the files in this folder')
    expect(scanPaneForTrustDialog(boxed)).toBe(true)
  })

  it('is false for a session screen, even one quoting the dialog', () => {
    expect(scanPaneForTrustDialog(FRESH_SESSION)).toBe(false)
    expect(scanPaneForTrustDialog(LIMIT_AT_BOTTOM)).toBe(false)
    const quoted = withTurn('❯ What does this mean?\n  Quick safety check: Is this a project you created or one you trust?\n  Yes, I trust this folder')
    expect(scanPaneForTrustDialog(quoted)).toBe(false)
  })

  it('wants both the heading and its "Yes" option', () => {
    // A shell that printed the dialog's words, without Claude Code's input box on screen.
    expect(scanPaneForTrustDialog('$ grep -r "trust" notes.txt\nQuick safety check: Is this a project you created or one you trust?\n$ ')).toBe(false)
    expect(scanPaneForTrustDialog(TRUST_DIALOG.replace('Yes, I trust this folder', 'Yes, trust it'))).toBe(false)
    expect(scanPaneForTrustDialog(TRUST_DIALOG.replace('Quick safety check', 'Quick check'))).toBe(false)
  })
})

describe('scanPaneForRateLimitMenu', () => {
  it('sees the menu measured on 2.1.328 and as quoted from older releases', () => {
    expect(scanPaneForRateLimitMenu(RATE_LIMIT_MENU)).toBe(true)
    expect(scanPaneForRateLimitMenu(MENU_ONE_OPTION)).toBe(true)
    expect(scanPaneForRateLimitMenu(MENU_ISSUE_40898)).toBe(true)
  })

  it('accepts the short "Stop" option only beside the plan and funds options', () => {
    expect(scanPaneForRateLimitMenu('What do you want to do?\n❯ 1. Stop\n  2. Upgrade your plan')).toBe(true)
    expect(scanPaneForRateLimitMenu('What do you want to do?\n❯ 1. Stop\n  2. Keep going')).toBe(false)
  })

  it('is false for the command being typed, the limit without the menu, and the trial dialog', () => {
    expect(scanPaneForRateLimitMenu(RATE_LIMIT_MENU_TYPED)).toBe(false)
    expect(scanPaneForRateLimitMenu(LIMIT_AT_BOTTOM)).toBe(false)
    expect(scanPaneForRateLimitMenu(TRIAL_ENDED)).toBe(false)
    expect(scanPaneForRateLimitMenu(TRUST_DIALOG)).toBe(false)
  })

  it('looks only at the bottom of the screen', () => {
    const later = Array.from({length: 16}, (_, i) => `  Step ${i + 1}: checked the next file.`).join('\n')
    expect(scanPaneForRateLimitMenu(`${MENU_ISSUE_40898}\n● Carrying on.\n${later}\n`)).toBe(false)
  })
})

describe('BANNER_PATTERNS_VERSION', () => {
  it('is 1 until a pattern changes', () => {
    expect(BANNER_PATTERNS_VERSION).toBe(1)
  })
})

describe('inputBoxText: what Claude Code\'s input box holds', () => {
  // Captured from 2.1.328 at 80 columns (capture-pane -p -J) in the real lane's stale-input test: the
  // box holding a three-line prompt a killed assign left unsent, and the same box after 40 Ctrl-U.
  const screen = (name: string) =>
    readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/claude-code-2.1.328/screens', name), 'utf8')

  it('reads the text of the box, its lines without the ❯ and the indent', () => {
    expect(inputBoxText(screen('input-box-stale.txt'))).toBe(
      'Read the task in /tmp/ccl-fixture/queue/active/alpha/first.md and do it.\nIt is a test of the hand-off.\nWhen it is finished, move that file into /tmp/ccl-fixture/queue/done/.',
    )
  })

  it('reads an emptied box as empty, and the usage-limit screen\'s empty box', () => {
    expect(inputBoxText(screen('input-box-cleared.txt'))).toBe('')
    expect(inputBoxText(screen('usage-limit.txt'))).toBe('')
  })

  it('is null on a screen with no box: another program, a menu, a shell', () => {
    expect(inputBoxText('$ ls\nfile.md\n$ ')).toBeNull()
    expect(inputBoxText('What do you want to do?\n❯ 1. Stop and wait for limit to reset\n  2. Upgrade')).toBeNull()
  })

  it('reads the box of 1.x (╭─ … │ > text │ … ╰─)', () => {
    expect(inputBoxText('╭──────────╮\n│ > hello  │\n╰──────────╯')).toBe('hello')
  })
})
