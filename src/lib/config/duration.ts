/** The longest delay a Node timer holds (2^31 - 1 ms, about 24.9 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647

/** MAX_TIMER_MS as an operator writes it, to the whole second below it. */
export const MAX_DURATION_TEXT = '24d20h31m23s'

const UNIT_MS = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000} as const
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/

/** Parses `300ms`, `45m`, `1h30m` into milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim()
  if (!WHOLE.test(trimmed)) return undefined
  let total = 0
  for (const [, amount, unit] of trimmed.matchAll(PART)) {
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS]
  }
  return Math.round(total)
}

/** Renders milliseconds the way an operator writes them: `1h30m`, `45s`, `300ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  let rest = Math.round(ms / 1000)
  const parts: string[] = []
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`)
      rest %= size
    }
  }
  return parts.slice(0, 2).join('')
}
