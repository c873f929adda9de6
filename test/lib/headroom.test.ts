import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import type {Usage} from '../../src/lib/accounts/state.js'
import {describeHeadroom, headroomOf, rankByHeadroom, sameUsage, usageFromPayload} from '../../src/lib/accounts/usage.js'
import {REPO} from '../support/sandbox.js'

const fixture = (name: string) =>
  JSON.parse(readFileSync(path.join(REPO, 'test/fixtures/claude-code-2.1.328/statusline', name), 'utf8')) as Record<string, unknown>

const NOW = new Date('2026-03-21T12:00:00Z')
const LATER = '2026-03-21T15:00:00.000Z'
const EARLIER = '2026-03-21T11:00:00.000Z'
const WEEK = '2026-03-26T00:00:00.000Z'

function usage(five: number | null, seven: number | null, resets: {five?: string; seven?: string} = {}): Usage {
  return {
    five_hour: five === null ? null : {used_percentage: five, resets_at: resets.five ?? LATER},
    seven_day: seven === null ? null : {used_percentage: seven, resets_at: resets.seven ?? WEEK},
    at: '2026-03-21T10:00:00.000Z',
  }
}

describe('usageFromPayload', () => {
  it("reads Claude Code 2.1.328's rate_limits: used_percentage as given, resets_at from Unix seconds to ISO", () => {
    expect(usageFromPayload(fixture('rate-limits.json'), NOW)).toEqual({
      five_hour: {used_percentage: 42.3, resets_at: '2026-03-22T00:00:00.000Z'},
      seven_day: {used_percentage: 14.000000000000002, resets_at: '2026-03-26T04:40:00.000Z'},
      at: NOW.toISOString(),
    })
  })

  it('reports nothing without rate_limits (an API-key account, before the first API response), so the earlier record stands', () => {
    expect(usageFromPayload(fixture('no-rate-limits.json'), NOW)).toBeUndefined()
    expect(usageFromPayload({rate_limits: null}, NOW)).toBeUndefined()
    expect(usageFromPayload({rate_limits: {spend_limit: {used_percentage: 3, resets_at: 1774137600}}}, NOW)).toBeUndefined()
  })

  it('reads one window alone, an ISO resets_at, and leaves out a window it cannot read', () => {
    expect(usageFromPayload({rate_limits: {five_hour: {used_percentage: 7, resets_at: '2026-03-20T15:00:00Z'}}}, NOW)).toEqual({
      five_hour: {used_percentage: 7, resets_at: '2026-03-20T15:00:00.000Z'},
      seven_day: null,
      at: NOW.toISOString(),
    })
    expect(usageFromPayload({rate_limits: {five_hour: {used_percentage: 'lots'}, seven_day: {used_percentage: 9}}}, NOW)).toEqual({
      five_hour: null,
      seven_day: {used_percentage: 9, resets_at: null},
      at: NOW.toISOString(),
    })
  })

  it('sameUsage ignores when the numbers were seen', () => {
    expect(sameUsage(usage(10, 20), {...usage(10, 20), at: NOW.toISOString()})).toBe(true)
    expect(sameUsage(usage(10, 20), usage(10.1, 20))).toBe(false)
    expect(sameUsage(usage(10, 20), usage(10, 20, {five: EARLIER}))).toBe(false)
    expect(sameUsage(usage(10, null), usage(10, 20))).toBe(false)
    expect(sameUsage(null, usage(10, 20))).toBe(false)
    expect(sameUsage(null, null)).toBe(true)
  })
})

describe('headroomOf', () => {
  it('is the larger window, and a window whose resets_at has passed counts as 0 %', () => {
    expect(headroomOf(usage(40, 70), NOW)).toEqual({used: 70, window: 'seven_day', resets_at: WEEK})
    expect(headroomOf(usage(99, 30, {five: EARLIER}), NOW)).toEqual({used: 30, window: 'seven_day', resets_at: WEEK})
    expect(headroomOf(usage(99, null, {five: EARLIER}), NOW)).toEqual({used: 0, window: 'five_hour', resets_at: EARLIER})
    expect(headroomOf(null, NOW)).toBeNull()
  })
})

describe('rankByHeadroom', () => {
  const rank = (usages: Record<string, Usage | null>, watermark = 95) =>
    rankByHeadroom(Object.keys(usages), (name) => usages[name]!, {watermark, now: NOW}).map((r) => `${r.item}${r.above ? '!' : ''}`)

  it('puts the account with the most headroom first; ties keep the config order', () => {
    expect(rank({alpha: usage(50, 10), beta: usage(20, 20), gamma: usage(80, 5), delta: usage(20, 1)})).toEqual(['beta', 'delta', 'alpha', 'gamma'])
  })

  it('puts accounts with no usage recorded after the known ones below the watermark and before those above it', () => {
    expect(rank({alpha: usage(97, 10), beta: null, gamma: usage(60, 60), delta: usage(99, 99), eps: null})).toEqual(['gamma', 'beta', 'eps', 'alpha!', 'delta!'])
  })

  it('counts usage older than its resets_at as 0 %: the window reset', () => {
    expect(rank({alpha: usage(99, 10, {five: EARLIER}), beta: usage(30, 30)})).toEqual(['alpha', 'beta'])
  })

  it('"above" is strictly above the watermark', () => {
    expect(rank({alpha: usage(95, 0), beta: usage(95.1, 0)})).toEqual(['alpha', 'beta!'])
    expect(rank({alpha: usage(81, 0), beta: usage(79, 0)}, 80)).toEqual(['beta', 'alpha!'])
  })

  it('describes the binding window for the reason assign gives', () => {
    expect(describeHeadroom({used: 97.04, window: 'five_hour', resets_at: LATER})).toBe(`used 97% of five_hour, resets ${LATER}`)
    expect(describeHeadroom({used: 96.5, window: 'seven_day', resets_at: null})).toBe('used 96.5% of seven_day')
  })
})
