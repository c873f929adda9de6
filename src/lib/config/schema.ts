import os from 'node:os'
import path from 'node:path'
import {z} from 'zod'

import {CONTROL_BUT_TAB_NEWLINE, hasControl} from '../control-chars.js'
import {MAX_DURATION_TEXT, MAX_TIMER_MS, parseDuration} from './duration.js'

const NAME = /^[a-z0-9][a-z0-9-]*$/

const absolutePath = z
  .string({error: 'expected an absolute path'})
  .min(1, {error: 'expected an absolute path'})
  .refine((value) => path.isAbsolute(value), {error: (issue) => `expected an absolute path, got "${String(issue.input)}"`})
  // Paths end up in prompts pasted into sessions: a control character there could end the paste.
  .refine((value) => !hasControl(value), {error: 'expected a path without control characters'})
  .transform((value) => path.normalize(value))

/** A duration such as `45m`, held as milliseconds. */
const duration = z
  .string({error: 'expected a duration such as 300ms, 30s, 45m, 6h or 1d'})
  .transform((value, ctx) => {
    const ms = parseDuration(value)
    if (ms === undefined) {
      ctx.addIssue({code: 'custom', message: `expected a duration such as 300ms, 30s, 45m, 6h or 1d, got "${value}"`})
      return z.NEVER
    }

    // Node fires a longer timer after 1 ms (with a TimeoutOverflowWarning): 25d would time out at once.
    if (ms > MAX_TIMER_MS) {
      ctx.addIssue({code: 'custom', message: `expected a duration of at most ${MAX_DURATION_TEXT} (${MAX_TIMER_MS} ms, the longest a timer holds), got "${value}"`})
      return z.NEVER
    }

    return ms
  })

// Prefixes of well-known secret keys (Stripe, GitHub, Slack, AWS, OpenAI/Anthropic-style sk_).
const KEY_PREFIX = /^(?:sk_|pk_|rk_|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|xox[abprs]_|glpat_|A[KS]IA[0-9A-Z]{12})/

/**
 * A value of api_key_env that is more likely a key than a variable's name: a known key prefix, or
 * 24+ characters mixing lower case, upper case and digits (names are SHOUTING_SNAKE_CASE by habit).
 */
export function looksLikeKey(value: string): boolean {
  if (KEY_PREFIX.test(value) && /\d/.test(value) && value.length >= 16) return true
  return value.length >= 24 && /[a-z]/.test(value) && /[A-Z]/.test(value) && /\d/.test(value)
}

const positiveInt = z.number({error: 'expected a whole number'}).int({error: 'expected a whole number'})

const providerName = z
  .string({error: 'expected a provider name'})
  .regex(NAME, {error: 'expected a provider name of a-z, 0-9 and -'})
  .refine((value) => value !== 'claude-code', {error: '"claude-code" is local, not a remote provider'})

const accountSchema = z.strictObject({
  name: z.string({error: 'expected an account name'}).regex(NAME, {
    error: (issue) => `expected a name of a-z, 0-9 and - that starts with a letter or digit, got "${String(issue.input)}"`,
  }),
  home: absolutePath,
  session: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, {error: 'expected a tmux session name of letters, digits, _ and -'})
    .optional(),
  command: z.string().min(1).default('claude'),
  cwd: absolutePath.optional(),
})

const delegationSchema = z
  .strictObject({
    base_url: z.url({protocol: /^https?$/, error: 'expected an http(s) URL'}).transform((value) => value.replace(/\/+$/, '')),
    // Neither message quotes the value: it may be the key itself, pasted in the wrong place.
    api_key_env: z
      .string({error: 'expected the NAME of an environment variable, not the key itself'})
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {error: 'expected the NAME of an environment variable, not the key itself'})
      .refine((value) => !looksLikeKey(value), {error: 'expected the NAME of an environment variable (such as SECUTOOLS_API_KEY), but this looks like a key itself (not shown); put the key in the environment, its name here'})
      .default('SECUTOOLS_API_KEY'),
    providers: z.array(providerName).min(1).default(['gpu', 'gemini', 'claude-api']),
    complexity_map: z
      .strictObject({low: providerName, medium: providerName, high: providerName})
      .default({low: 'gemini', medium: 'gemini', high: 'claude-api'}),
    default_provider: providerName.default('gemini'),
    timeout: duration.default(30_000),
    retries: positiveInt.min(0).max(20).default(5),
    concurrency: positiveInt.min(1).max(256).default(8),
    job_timeout: duration.default(6 * 3_600_000),
  })
  .superRefine((value, ctx) => {
    for (const level of ['low', 'medium', 'high'] as const) {
      if (!value.providers.includes(value.complexity_map[level])) {
        ctx.addIssue({
          code: 'custom',
          path: ['complexity_map', level],
          message: `"${value.complexity_map[level]}" is not in providers [${value.providers.join(', ')}]`,
        })
      }
    }

    if (!value.providers.includes(value.default_provider)) {
      ctx.addIssue({
        code: 'custom',
        path: ['default_provider'],
        message: `"${value.default_provider}" is not in providers [${value.providers.join(', ')}]`,
      })
    }
  })

/** A prompt template: pasted into a session, so no control character but newline and tab (ESC could end the paste). */
const promptTemplate = z
  .string()
  .min(1)
  .refine((value) => !CONTROL_BUT_TAB_NEWLINE.test(value), {error: 'expected text without control characters (newline and tab are fine)'})

export const DEFAULT_FAILOVER_PROMPT =
  'Continue the task you were working on; it is now at {task}. When it is finished, move that file into {done}/.'

/** A percentage such as `95%` (or a bare number), held as a number 0–100. */
const percent = z
  .union([z.number(), z.string()], {error: 'expected a percentage such as 95%'})
  .transform((value, ctx) => {
    const n = typeof value === 'number' ? value : Number(value.trim().replace(/%$/, ''))
    if (!Number.isFinite(n) || n < 0 || n > 100) {
      ctx.addIssue({code: 'custom', message: `expected a percentage from 0% to 100%, got ${JSON.stringify(value)}`})
      return z.NEVER
    }

    return n
  })

export const DEFAULT_PROMPT =
  'Read the task in {task} and do it. When it is finished, move that file into {done}/.'

export const configSchema = z
  .strictObject({
    queue: absolutePath,
    state: absolutePath.optional(),
    shared: z.strictObject({
      root: absolutePath,
      dirs: z
        .array(z.string().regex(/^[A-Za-z0-9._-]+$/, {error: 'expected a folder name without /'}))
        .min(1)
        .default(['projects', 'file-history', 'session-env']),
    }),
    tmux: z.strictObject({socket: z.string().regex(/^[A-Za-z0-9._-]+$/).optional()}).default({}),
    accounts: z.array(accountSchema, {error: 'expected a list of accounts'}).min(1, {error: 'expected at least one account'}),
    watchdog: z
      .strictObject({
        stale_after: duration.default(45 * 60_000),
        crash_limit: positiveInt.min(1).default(5),
        crash_window: duration.default(30 * 60_000),
        // A session waiting (permission prompt, elicitation, turn ended unfinished) longer needs an operator.
        waiting_after: duration.default(5 * 60_000),
      })
      .default({stale_after: 45 * 60_000, crash_limit: 5, crash_window: 30 * 60_000, waiting_after: 5 * 60_000}),
    assign: z
      .strictObject({
        prompt: promptTemplate.default(DEFAULT_PROMPT),
        enter_delay: duration.default(300),
        // A session reconcile created this recently is still starting Claude Code: no prompt yet.
        ready_after: duration.default(10_000),
        // With hooks installed: how long to wait for the session's UserPromptSubmit of the pasted prompt
        // before pressing Enter again, and how many more Enters before the delivery counts as failed.
        confirm_within: duration.default(5000),
        enter_retries: positiveInt.min(0).max(10).default(2),
      })
      .default({prompt: DEFAULT_PROMPT, enter_delay: 300, ready_after: 10_000, confirm_within: 5000, enter_retries: 2}),
    dispatch: z
      .strictObject({
        // A task modified more recently than this may still be being written: left for the next pass.
        settle: duration.default(2000),
      })
      .default({settle: 2000}),
    failover: z
      .strictObject({
        resume: z.boolean().default(true),
        prompt: promptTemplate.default(DEFAULT_FAILOVER_PROMPT),
        // A limited account gets nothing until its reset time plus this.
        margin: duration.default(60_000),
        // When no reset time can be read from the banner.
        default_cooldown: duration.default(5 * 3_600_000),
        // A rate_limit without a usage-limit banner (a transient 429).
        transient_cooldown: duration.default(2 * 60_000),
        spill_to_remote: z.boolean().default(false),
        headroom: z.boolean().default(false),
        watermark: percent.default(95),
      })
      .default({
        resume: true,
        prompt: DEFAULT_FAILOVER_PROMPT,
        margin: 60_000,
        default_cooldown: 5 * 3_600_000,
        transient_cooldown: 2 * 60_000,
        spill_to_remote: false,
        headroom: false,
        watermark: 95,
      }),
    delegation: delegationSchema.optional(),
  })
  .superRefine((value, ctx) => {
    const seen = new Map<string, number>()
    for (const [index, account] of value.accounts.entries()) {
      const first = seen.get(account.name)
      if (first === undefined) seen.set(account.name, index)
      else {
        ctx.addIssue({
          code: 'custom',
          path: ['accounts', index, 'name'],
          message: `duplicate account name "${account.name}" (also accounts[${first}].name)`,
        })
      }
    }
  })

type RawConfig = z.output<typeof configSchema>
export type Account = Required<Pick<RawConfig['accounts'][number], 'name' | 'home' | 'session' | 'command' | 'cwd'>>
export type Delegation = NonNullable<RawConfig['delegation']>

/** The validated config with every default filled in; durations are milliseconds. */
export interface Config extends Omit<RawConfig, 'accounts' | 'state'> {
  /** The file it was read from. */
  file: string
  state: string
  accounts: Account[]
}

export function completeConfig(raw: RawConfig, file: string): Config {
  return {
    ...raw,
    file,
    state: raw.state ?? path.join(raw.queue, '.ccl'),
    accounts: raw.accounts.map((account) => ({
      ...account,
      session: account.session ?? `ccl-${account.name}`,
      cwd: account.cwd ?? os.homedir(),
    })),
  }
}
