/*
 * What Claude Code's hooks told ccl about each account: `<state>/accounts/<account>.json`, one small
 * JSON record per account, rewritten atomically (temp + fsync + rename) under a short per-account
 * lock, because two hooks of one session can run at once (a Stop and a Notification).
 *
 * From it (and tmux, and the queue) comes the account's activity (SPEC 6):
 *   dead         the session is not running
 *   needs-login  an authentication or billing error: held until an operator acts
 *   limited      a usage limit, until its reset time plus failover.margin
 *   waiting      a permission prompt or an elicitation, or its turn ended with the task still in active/
 *   working      a prompt submitted and no Stop since (or, without hooks, a task in active/)
 *   free         none of those
 */
import {mkdirSync} from 'node:fs'
import path from 'node:path'

import {StateFileError} from '../errors.js'
import {appendEvent} from '../events/log.js'
import {writeFileAtomic} from '../queue/files.js'
import {type QueueLayout, STATE_FILE_MODE} from '../queue/layout.js'
import {createRecord, isBreakable, readRecord, releaseOwn, removeIfUnchanged, stamp} from '../queue/record.js'
import {readRegularText} from '../regular-file.js'
import {fnv1a64, sha256Hex} from '../digest.js'

export type Activity = 'free' | 'working' | 'waiting' | 'limited' | 'needs-login' | 'paused' | 'dead'

export const ACTIVITIES: readonly Activity[] = ['free', 'working', 'waiting', 'limited', 'needs-login', 'paused', 'dead']

/** Why a session waits. */
export type WaitReason = 'permission_prompt' | 'elicitation_dialog' | 'turn-ended' | 'folder-trust'

export interface Limited {
  /** The reset instant (ISO); the account is handed nothing until this plus failover.margin. */
  until: string
  /** `usage-limit` (a banner was read), `transient` (a bare rate_limit), `default-cooldown` (no time could be read). */
  reason: 'usage-limit' | 'transient' | 'default-cooldown'
  /** The limit's name when a banner said it (five_hour, weekly, session, …). */
  limit: string | null
  banner: string | null
  since: string
}

/** One rate-limit window as Claude Code's statusLine payload reported it (`ccl statusline`). */
export interface UsageWindow {
  /** 0–100, as Claude Code reports it (it caps at 100). */
  used_percentage: number
  /** When the window resets (ISO); null when the payload did not say. */
  resets_at: string | null
}

/** The account's plan usage, from the statusLine payload's `rate_limits` (docs/activity.md, Headroom). */
export interface Usage {
  five_hour: UsageWindow | null
  seven_day: UsageWindow | null
  /** When these values were first seen (the record is rewritten only when they change). */
  at: string
}

export interface AccountState {
  version: 1
  account: string
  session_id: string | null
  transcript_path: string | null
  cwd: string | null
  /** When the current session started (its SessionStart): hooks work for it from then on. */
  session_started_at: string | null
  last_event: string | null
  last_event_at: string | null
  /** What the last hooks say the session does: a turn under way, ended, or waiting for someone. */
  turn: 'idle' | 'working' | 'waiting'
  waiting: {reason: WaitReason; message: string | null; since: string} | null
  limited: Limited | null
  /** The last limit that ended (cleared at its reset plus the margin): a task it stopped may need a nudge to go on. */
  last_limited: Limited | null
  /** What the last SessionStart said: the failover knows from it that a `--resume` came up in the right conversation. */
  session_start: {session_id: string | null; source: string | null; at: string} | null
  /** What the last SessionEnd said (a session that could not resume ends at once). */
  session_end: {session_id: string | null; reason: string | null; at: string} | null
  needs_login: {error: string; message: string | null; since: string} | null
  /**
   * The last prompts the session really submitted (UserPromptSubmit), newest last: delivery is
   * confirmed from them. `head` is the prompt's first characters, which name the task's path.
   */
  prompts: PromptSeen[]
  /** The last rate-limit usage its status line reported; null until one did (failover.headroom). */
  usage: Usage | null
}

const KEEP_PROMPTS = 8
const PROMPT_HEAD = 1000

export function emptyAccountState(account: string): AccountState {
  return {
    version: 1,
    account,
    session_id: null,
    transcript_path: null,
    cwd: null,
    session_started_at: null,
    last_event: null,
    last_event_at: null,
    turn: 'idle',
    waiting: null,
    limited: null,
    last_limited: null,
    session_start: null,
    session_end: null,
    needs_login: null,
    prompts: [],
    usage: null,
  }
}

export function accountsDir(layout: QueueLayout): string {
  return path.join(layout.state, 'accounts')
}

export function accountStatePath(layout: QueueLayout, account: string): string {
  return path.join(accountsDir(layout), `${account}.json`)
}

/**
 * A prompt the session submitted. `fnv1a64` fingerprints its text (CRLF as LF, trimmed): the hook
 * runs at every turn, and a sha256 would load node:crypto there (src/lib/digest.ts). Records of
 * earlier versions hold `sha256` instead; both are still compared.
 */
export interface PromptSeen {
  fnv1a64?: string
  sha256?: string
  head: string
  at: string
}

const normalizePrompt = (prompt: string) => prompt.replaceAll('\r\n', '\n').trim()

/** The fingerprint the hook records of a submitted prompt. */
export function promptFingerprint(prompt: string): string {
  return fnv1a64(normalizePrompt(prompt))
}

/** The account's record, or an empty one when its hooks never ran. A file ccl did not write is a StateFileError. */
export function readAccountState(layout: QueueLayout, account: string): AccountState {
  const file = accountStatePath(layout, account)
  let text: string
  try {
    text = readRegularText(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyAccountState(account)
    throw new StateFileError(file, `cannot read account state: ${(error as Error).message}`)
  }

  let data: Partial<AccountState>
  try {
    data = JSON.parse(text) as Partial<AccountState>
  } catch (error) {
    throw new StateFileError(file, `not an account state record: ${(error as Error).message}`, {hint: 'remove it: the next hook of that account writes it anew'})
  }

  if (!data || typeof data !== 'object' || data.version !== 1) {
    throw new StateFileError(file, 'not an account state record (version 1)', {hint: 'remove it: the next hook of that account writes it anew'})
  }

  return {...emptyAccountState(account), ...data, account, prompts: Array.isArray(data.prompts) ? data.prompts : [], usage: usageOrNull(data.usage)}
}

/** A usage record of the expected shape, or null (absent in records written before headroom, or edited by hand). */
function usageOrNull(value: unknown): Usage | null {
  if (!value || typeof value !== 'object') return null
  const usage = value as Record<string, unknown>
  const window = (w: unknown): UsageWindow | null => {
    if (!w || typeof w !== 'object') return null
    const {used_percentage: used, resets_at: resets} = w as Record<string, unknown>
    return typeof used === 'number' && Number.isFinite(used) ? {used_percentage: used, resets_at: typeof resets === 'string' ? resets : null} : null
  }

  return typeof usage.at === 'string' ? {five_hour: window(usage.five_hour), seven_day: window(usage.seven_day), at: usage.at} : null
}

const LOCK_STALE_MS = 10_000

/**
 * Reads, changes and writes an account's record under its lock, so two hooks of one session never
 * lose each other's update. The lock is held for a read and a write; a holder that died is broken.
 */
export async function updateAccountState(layout: QueueLayout, account: string, change: (state: AccountState) => AccountState | undefined): Promise<AccountState> {
  const dir = accountsDir(layout)
  mkdirSync(dir, {recursive: true})
  const lock = path.join(dir, `.${account}.lock`)
  const record = stamp()
  const text = JSON.stringify(record) + '\n'
  for (let attempt = 0; ; attempt++) {
    if (await createRecord(lock, record)) break
    const found = readRecord(lock)
    if (isBreakable(found, LOCK_STALE_MS, Date.now()) && found.kind !== 'none') {
      await removeIfUnchanged(lock, found.text)
      continue
    }

    if (attempt > 200) throw new StateFileError(lock, 'held for over 2 s by another process', {hint: 'remove it if no ccl process is running'})
    await new Promise((resolve) => setTimeout(resolve, 10))
  }

  try {
    const current = readAccountState(layout, account)
    const next = change(current)
    if (next === undefined) return current
    await writeFileAtomic(accountStatePath(layout, account), JSON.stringify(next, null, 2) + '\n', {mode: STATE_FILE_MODE})
    return next
  } finally {
    await releaseOwn(lock, text)
  }
}

/** Adds a submitted prompt to the record's short history. */
export function withPrompt(state: AccountState, prompt: string, at: Date): AccountState {
  const entry: PromptSeen = {fnv1a64: promptFingerprint(prompt), head: prompt.slice(0, PROMPT_HEAD), at: at.toISOString()}
  return {...state, prompts: [...state.prompts, entry].slice(-KEEP_PROMPTS)}
}

/**
 * Whether the session submitted, at or after `since`, the prompt ccl pasted: the same text, or one
 * that names the task's path (each hand-off's path is its own; Claude Code may have reflowed a paste).
 */
export function promptReceived(state: AccountState, wanted: {prompt: string | null; taskPath: string}, since: Date): boolean {
  const recent = state.prompts.filter((p) => Date.parse(p.at) >= since.getTime() - 1000)
  if (recent.some((p) => p.head.includes(wanted.taskPath))) return true
  if (wanted.prompt === null) return false
  const fingerprint = promptFingerprint(wanted.prompt)
  // sha256 only for a record of an earlier version, which is the one case that loads node:crypto.
  return recent.some((p) => (p.fnv1a64 !== undefined ? p.fnv1a64 === fingerprint : p.sha256 !== undefined && p.sha256 === sha256Hex(normalizePrompt(wanted.prompt!))))
}

/**
 * Clears a limit whose time (plus margin) has passed, once: the caller that cleared it gets the
 * limit back (and logs account.available); every other caller gets null.
 */
export async function clearExpiredLimit(layout: QueueLayout, account: string, now: Date, marginMs: number): Promise<Limited | null> {
  const expired = (state: AccountState) => {
    const until = limitedUntil(state, marginMs)
    return until !== null && until <= now.getTime()
  }

  if (!expired(readAccountState(layout, account))) return null
  let cleared: Limited | null = null
  await updateAccountState(layout, account, (state) => {
    if (!expired(state)) return undefined
    cleared = state.limited
    return {...state, limited: null, last_limited: state.limited}
  })
  if (cleared) await appendEvent(layout.events, 'account.available', {account, was_limited_until: (cleared as Limited).until, reason: (cleared as Limited).reason}, now)
  return cleared
}

/** Whether the hooks work for the session that runs now: a SessionStart recorded since it was created. */
export function hooksActive(state: AccountState, sessionCreatedAt: string | null): boolean {
  if (state.session_started_at === null) return false
  return sessionCreatedAt === null || Date.parse(state.session_started_at) >= Date.parse(sessionCreatedAt) - 1000
}

export interface ActivityFacts {
  state: AccountState
  /** tmux says the session runs. */
  alive: boolean
  /** The task in active/<account>/, if any. */
  task: string | null
  now: Date
  /** failover.margin */
  marginMs: number
  paused?: boolean
}

export interface ActivityView {
  activity: Activity
  /** When limited: until when (reset + margin), ISO. */
  limited_until: string | null
  /** When waiting or needing login: why and since when. */
  why: string | null
  since: string | null
}

/** The activity of SPEC 6, from the hook record, tmux and the queue. Pure. */
export function activityOf(facts: ActivityFacts): ActivityView {
  const {state, now} = facts
  const none = {limited_until: null, why: null, since: null}
  if (!facts.alive) return {activity: 'dead', ...none}
  if (facts.paused) return {activity: 'paused', ...none}
  if (state.needs_login) return {activity: 'needs-login', limited_until: null, why: state.needs_login.error, since: state.needs_login.since}
  const until = limitedUntil(state, facts.marginMs)
  if (until !== null && until > now.getTime()) {
    return {activity: 'limited', limited_until: new Date(until).toISOString(), why: state.limited?.limit ?? state.limited?.reason ?? null, since: state.limited?.since ?? null}
  }

  if (state.turn === 'waiting' && state.waiting) return {activity: 'waiting', limited_until: null, why: state.waiting.reason, since: state.waiting.since}
  if (facts.task !== null && state.turn === 'idle' && state.last_event === 'Stop' && state.last_event_at) {
    return {activity: 'waiting', limited_until: null, why: 'turn-ended', since: state.last_event_at}
  }

  if (state.turn === 'working' || facts.task !== null) return {activity: 'working', ...none}
  return {activity: 'free', ...none}
}

/** The instant (ms) an account's limit ends, margin included; null when it is not limited. */
export function limitedUntil(state: AccountState, marginMs: number): number | null {
  if (!state.limited) return null
  const until = Date.parse(state.limited.until)
  return Number.isNaN(until) ? null : until + marginMs
}
