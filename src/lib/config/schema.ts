import os from 'node:os'
import path from 'node:path'
import {z} from 'zod'

import {CONTROL_BUT_TAB_NEWLINE, hasControl} from '../control-chars.js'
import {
  API_KEY_ENV_MESSAGE,
  API_KEY_LOOKS_LIKE_KEY_MESSAGE,
  DEFAULT_API_KEY_ENV,
  DEFAULT_COMPLEXITY_MAP,
  DEFAULT_FAILOVER_TIMES,
  DEFAULT_PROVIDER,
  DEFAULT_PROVIDERS,
  DURATION_MESSAGE,
  ENV_NAME,
  HOST,
  HOST_MESSAGE,
  LOCAL_PROVIDER_MESSAGE,
  looksLikeKey,
  NAME,
  NAME_MESSAGE,
  PROVIDER_MESSAGE,
  providerProblems,
  readDuration,
} from './rules.js'

export {looksLikeKey} from './rules.js'

const absolutePath = z
  .string({error: 'expected an absolute path'})
  .min(1, {error: 'expected an absolute path'})
  .refine((value) => path.isAbsolute(value), {error: (issue) => `expected an absolute path, got "${String(issue.input)}"`})
  // Paths end up in prompts pasted into sessions: a control character there could end the paste.
  .refine((value) => !hasControl(value), {error: 'expected a path without control characters'})
  .transform((value) => path.normalize(value))

/** A duration such as `45m`, held as milliseconds. */
const duration = z
  .string({error: DURATION_MESSAGE})
  .transform((value, ctx) => {
    const read = readDuration(value)
    if ('problem' in read) {
      ctx.addIssue({code: 'custom', message: read.problem})
      return z.NEVER
    }

    return read.ms
  })

const positiveInt = z.number({error: 'expected a whole number'}).int({error: 'expected a whole number'})

const providerName = z
  .string({error: 'expected a provider name'})
  .regex(NAME, {error: PROVIDER_MESSAGE})
  .refine((value) => value !== 'claude-code', {error: LOCAL_PROVIDER_MESSAGE})

const accountSchema = z.strictObject({
  name: z.string({error: 'expected an account name'}).regex(NAME, {error: (issue) => NAME_MESSAGE(issue.input)}),
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
      .string({error: API_KEY_ENV_MESSAGE})
      .regex(ENV_NAME, {error: API_KEY_ENV_MESSAGE})
      .refine((value) => !looksLikeKey(value), {error: API_KEY_LOOKS_LIKE_KEY_MESSAGE})
      .default(DEFAULT_API_KEY_ENV),
    providers: z.array(providerName).min(1).default(DEFAULT_PROVIDERS),
    complexity_map: z.strictObject({low: providerName, medium: providerName, high: providerName}).default(DEFAULT_COMPLEXITY_MAP),
    default_provider: providerName.default(DEFAULT_PROVIDER),
    timeout: duration.default(30_000),
    retries: positiveInt.min(0).max(20).default(5),
    concurrency: positiveInt.min(1).max(256).default(8),
    job_timeout: duration.default(6 * 3_600_000),
  })
  .superRefine((value, ctx) => {
    for (const [path, message] of providerProblems(value)) ctx.addIssue({code: 'custom', path, message})
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
    // This machine's name in the fleet (SPEC §8), written into every claim, lock and journal; default the hostname.
    host: z
      .string({error: (issue) => HOST_MESSAGE(issue.input)})
      .regex(HOST, {error: (issue) => HOST_MESSAGE(issue.input)})
      .optional(),
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
        margin: duration.default(DEFAULT_FAILOVER_TIMES.margin),
        // When no reset time can be read from the banner.
        default_cooldown: duration.default(DEFAULT_FAILOVER_TIMES.default_cooldown),
        // A rate_limit without a usage-limit banner (a transient 429).
        transient_cooldown: duration.default(DEFAULT_FAILOVER_TIMES.transient_cooldown),
        spill_to_remote: z.boolean().default(false),
        headroom: z.boolean().default(false),
        watermark: percent.default(95),
        // A fleet (SPEC §8): a task released for another host starts afresh there, or (resume: every
        // host's shared.root is one folder and the accounts share a cwd) resumes its conversation.
        across_hosts: z.enum(['fresh', 'resume']).default('fresh'),
      })
      .default({
        resume: true,
        prompt: DEFAULT_FAILOVER_PROMPT,
        ...DEFAULT_FAILOVER_TIMES,
        spill_to_remote: false,
        headroom: false,
        watermark: 95,
        across_hosts: 'fresh' as const,
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
