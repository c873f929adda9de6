import {describe, expect, it} from 'vitest'

import {renderPrompt} from '../../src/lib/assign/assign.js'
import {parseConfig} from '../../src/lib/config/load.js'
import {DEFAULT_FAILOVER_PROMPT, DEFAULT_PROMPT} from '../../src/lib/config/schema.js'

const BASE = 'queue: /q\nshared: {root: /s}\naccounts: [{name: alpha, home: /h}]\n'

describe('assign config', () => {
  it('defaults: the spec prompt, Enter after 300 ms, a session ready 10 s after reconcile created it', () => {
    const config = parseConfig(BASE, '/etc/ccl.yaml')
    expect(config.assign).toEqual({prompt: DEFAULT_PROMPT, enter_delay: 300, ready_after: 10_000, confirm_within: 5000, enter_retries: 2})
  })

  it('reads ready_after as a duration and names the key when it is not one', () => {
    expect(parseConfig(BASE + 'assign: {ready_after: 2m}\n', '/c.yaml').assign.ready_after).toBe(120_000)
    expect(() => parseConfig(BASE + 'assign: {ready_after: soon}\n', '/c.yaml')).toThrow(
      '/c.yaml: assign.ready_after: expected a duration such as 300ms, 30s, 45m, 6h or 1d, got "soon"',
    )
  })
})

describe('failover and watchdog config', () => {
  it('defaults as SPEC 6 gives them, and reads a watermark as a percentage', () => {
    const config = parseConfig(BASE, '/etc/ccl.yaml')
    expect(config.failover).toEqual({
      resume: true,
      prompt: DEFAULT_FAILOVER_PROMPT,
      margin: 60_000,
      default_cooldown: 5 * 3_600_000,
      transient_cooldown: 120_000,
      spill_to_remote: false,
      headroom: false,
      watermark: 95,
      across_hosts: 'fresh',
    })
    expect(config.watchdog.waiting_after).toBe(300_000)
    expect(parseConfig(BASE + 'failover: {watermark: 80%}\n', '/c.yaml').failover.watermark).toBe(80)
    expect(() => parseConfig(BASE + 'failover: {watermark: 180%}\n', '/c.yaml')).toThrow('/c.yaml: failover.watermark: expected a percentage from 0% to 100%, got "180%"')
    expect(() => parseConfig(BASE + 'failover: {prompt: "a\\u001bb"}\n', '/c.yaml')).toThrow('failover.prompt: expected text without control characters')
  })
})

describe('renderPrompt', () => {
  it('replaces every {task} and {done} with the absolute paths and leaves the rest as written', () => {
    expect(renderPrompt(DEFAULT_PROMPT, '/q/active/alpha/fix login.md', '/q/done')).toBe(
      'Read the task in /q/active/alpha/fix login.md and do it. When it is finished, move that file into /q/done/.',
    )
    expect(renderPrompt('{task} {task} {done} {other} $1 $&', '/t.md', '/d')).toBe('/t.md /t.md /d {other} $1 $&')
    // A file name holding replacement patterns stays as it is.
    expect(renderPrompt('in {task} then {done}', "/q/a/$&-$'-$$.md", '/q/$`done')).toBe("in /q/a/$&-$'-$$.md then /q/$`done")
  })
})
