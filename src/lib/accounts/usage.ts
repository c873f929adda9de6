/*
 * Headroom (failover.headroom): how much of its plan an account has used, from the `rate_limits`
 * Claude Code gives its statusLine command, and the order assign tries accounts in. Pure.
 *
 * The payload (Claude Code 2.1.328's statusLine input, read from its bundle; the same shape since
 * 2.1.80; sample in test/fixtures/claude-code-2.1.328/statusline-rate-limits.json):
 *   "rate_limits": {"five_hour": {"used_percentage": 42.3, "resets_at": 1774137600},
 *                   "seven_day": {"used_percentage": 17, "resets_at": 1774500000}}
 * used_percentage is 0–100 (the API's utilization × 100, one decimal, capped at 100); resets_at is
 * Unix time in seconds. `rate_limits` is absent for API-key users, before the session's first API
 * response, and each window is absent when the API did not report it. An ISO resets_at (as one
 * report shows it) is read too.
 */
import type {Usage, UsageWindow} from './state.js'

export type WindowName = 'five_hour' | 'seven_day'

export const WINDOWS: readonly WindowName[] = ['five_hour', 'seven_day']

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Epoch seconds (or milliseconds, for a value too large to be seconds) or an ISO string, as ISO; null when unreadable. */
function instant(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) {
    return new Date(value > 1e11 ? value : value * 1000).toISOString()
  }

  if (typeof value === 'string' && value.trim() !== '') {
    const ms = Date.parse(value)
    return Number.isNaN(ms) ? null : new Date(ms).toISOString()
  }

  return null
}

function window(value: unknown): UsageWindow | null {
  if (!isObject(value)) return null
  const used = value.used_percentage
  if (typeof used !== 'number' || !Number.isFinite(used) || used < 0) return null
  return {used_percentage: used, resets_at: instant(value.resets_at)}
}

/**
 * The usage a statusLine payload reports, or undefined when it reports none (no `rate_limits`, or
 * neither window readable): then the usage recorded before stands, since it is the account's.
 */
export function usageFromPayload(payload: Record<string, unknown>, now: Date): Usage | undefined {
  const limits = payload.rate_limits
  if (!isObject(limits)) return undefined
  const five = window(limits.five_hour)
  const seven = window(limits.seven_day)
  if (!five && !seven) return undefined
  return {five_hour: five, seven_day: seven, at: now.toISOString()}
}

/** Whether two usages say the same (when they were seen aside). */
export function sameUsage(a: Usage | null, b: Usage | null): boolean {
  if (a === null || b === null) return a === b
  const same = (x: UsageWindow | null, y: UsageWindow | null) =>
    x === null || y === null ? x === y : x.used_percentage === y.used_percentage && x.resets_at === y.resets_at
  return same(a.five_hour, b.five_hour) && same(a.seven_day, b.seven_day)
}

/** A window's use now: 0 once its resets_at has passed (the window started anew since it was seen). */
export function usedNow(w: UsageWindow, now: Date): number {
  if (w.resets_at !== null && Date.parse(w.resets_at) <= now.getTime()) return 0
  return w.used_percentage
}

export interface Headroom {
  /** max(five_hour, seven_day) used now, 0–100: the lower, the more headroom. */
  used: number
  /** The window that used is of, and when it resets. */
  window: WindowName
  resets_at: string | null
}

/** The account's binding window now, or null when no usage is recorded (unknown). */
export function headroomOf(usage: Usage | null, now: Date): Headroom | null {
  if (!usage) return null
  let best: Headroom | null = null
  for (const name of WINDOWS) {
    const w = usage[name]
    if (!w) continue
    const used = usedNow(w, now)
    if (best === null || used > best.used) best = {used, window: name, resets_at: w.resets_at}
  }

  return best
}

export interface Ranked<T> {
  item: T
  headroom: Headroom | null
  /** Its used share is above the watermark: tried only after every other account. */
  above: boolean
}

/**
 * The order assign tries accounts in with failover.headroom on: known accounts below (or at) the
 * watermark, most headroom first; then accounts with no usage recorded; then those above the
 * watermark, most headroom first. Ties keep the config's order.
 */
export function rankByHeadroom<T>(items: readonly T[], usageOf: (item: T) => Usage | null, options: {watermark: number; now: Date}): Ranked<T>[] {
  const ranked = items.map((item, index) => {
    const headroom = headroomOf(usageOf(item), options.now)
    const above = headroom !== null && headroom.used > options.watermark
    const group = headroom === null ? 1 : above ? 2 : 0
    return {item, headroom, above, group, index}
  })
  ranked.sort((a, b) => a.group - b.group || (a.headroom?.used ?? 0) - (b.headroom?.used ?? 0) || a.index - b.index)
  return ranked.map(({item, headroom, above}) => ({item, headroom, above}))
}

/** "used 97% of five_hour, resets 2026-03-20T15:00:00.000Z" */
export function describeHeadroom(headroom: Headroom): string {
  return `used ${formatPercent(headroom.used)} of ${headroom.window}${headroom.resets_at ? `, resets ${headroom.resets_at}` : ''}`
}

/** 42, 42.3, 14.000000000000002 → "42%", "42.3%", "14%". */
export function formatPercent(value: number): string {
  return `${Math.round(value * 10) / 10}%`
}
