// `ccl hooks install`: ccl's command hooks in every account's Claude Code settings.json (SPEC §6).
// mergeHooks decides (pure); installHooks reads, merges and writes each file once. docs/hooks.md
// explains every rule here.
import {lstat, mkdir, readFile, readlink, realpath, stat} from 'node:fs/promises'
import path from 'node:path'
import {isDeepStrictEqual} from 'node:util'

import type {Account} from '../config/schema.js'
import {writeFileAtomic} from '../queue/files.js'
import {parseJson} from './json.js'

/** The events ccl's `hook` command records, in the order they are written. */
export const HOOK_EVENTS = ['SessionStart', 'UserPromptSubmit', 'Stop', 'StopFailure', 'Notification', 'SessionEnd'] as const

/**
 * Events whose matcher groups Claude Code filters (by source, end reason, notification type, error
 * type): ccl's group carries `"matcher": ""`, which matches every one. On UserPromptSubmit and Stop
 * a matcher means nothing, so ccl's group has none.
 */
const MATCHER_EVENTS: ReadonlySet<string> = new Set(['SessionStart', 'SessionEnd', 'Notification', 'StopFailure'])

/** Ends every command ccl installs; a command hook ending with it is ccl's (and is replaced). */
export const HOOK_MARKER = '# ccl-hook'

/** Seconds Claude Code gives the hook; `ccl hook` only records a line, and must never hold a session up. */
export const HOOK_TIMEOUT = 10

/** A word for sh, bash, zsh and fish alike: single quotes, each quote inside as `'\''`. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`
}

/** The command Claude Code runs: ccl by absolute paths, so the session's PATH and cwd do not matter. */
export function hookCommand(parts: {node: string; bin: string; configFile: string}): string {
  return `${shellQuote(parts.node)} ${shellQuote(parts.bin)} hook --config ${shellQuote(parts.configFile)} ${HOOK_MARKER}`
}

export function isCclHook(entry: unknown): boolean {
  if (!isObject(entry) || entry.type !== 'command' || typeof entry.command !== 'string') return false
  return entry.command.trimEnd().endsWith(` ${HOOK_MARKER}`)
}

export type EventChange = 'added' | 'replaced' | 'unchanged'

export interface EventResult {
  event: string
  change: EventChange
  /** Commands of ccl entries taken out (a moved ccl, another config, a duplicate). */
  removed: string[]
}

export type MergeResult =
  | {ok: true; changed: boolean; settings: Record<string, unknown>; events: EventResult[]}
  | {ok: false; key: string; problem: string}

/**
 * ccl's entry on each event, everything else kept as it was. For each event: exactly ccl's group
 * already there → unchanged; otherwise every ccl entry on that event is taken out (a group left
 * empty by that goes too), and ccl's group is put where the first one was, or appended. The input
 * is not changed.
 */
export function mergeHooks(settings: unknown, command: string, events: readonly string[] = HOOK_EVENTS): MergeResult {
  if (!isObject(settings)) return {ok: false, key: '(top level)', problem: `expected a JSON object, got ${kind(settings)}`}
  const hooks = settings.hooks ?? {}
  if (!isObject(hooks)) return {ok: false, key: 'hooks', problem: `expected an object of events, got ${kind(hooks)}`}
  const nextHooks: Record<string, unknown> = {...hooks}
  const results: EventResult[] = []
  for (const event of events) {
    const groups = hooks[event] ?? []
    if (!Array.isArray(groups)) {
      return {ok: false, key: `hooks.${event}`, problem: `expected an array of matcher groups, got ${kind(groups)}`}
    }

    const merged = mergeEvent(groups, command, MATCHER_EVENTS.has(event))
    results.push({event, change: merged.change, removed: merged.removed})
    if (merged.change !== 'unchanged') nextHooks[event] = merged.groups
  }

  const changed = results.some((result) => result.change !== 'unchanged')
  return {ok: true, changed, settings: changed ? {...settings, hooks: nextHooks} : settings, events: results}
}

function mergeEvent(groups: readonly unknown[], command: string, takesMatcher: boolean) {
  const entry = {type: 'command', command, timeout: HOOK_TIMEOUT}
  const wanted = takesMatcher ? {matcher: '', hooks: [entry]} : {hooks: [entry]}
  const removed = groups.flatMap((group) => (isGroup(group) ? group.hooks.filter((hook) => isCclHook(hook)) : []))
  if (removed.length === 1 && groups.some((group) => isDeepStrictEqual(group, wanted))) {
    return {change: 'unchanged' as const, groups, removed: []}
  }

  const next: unknown[] = []
  let at: number | undefined
  for (const group of groups) {
    if (!isGroup(group) || !group.hooks.some((hook) => isCclHook(hook))) {
      next.push(group)
      continue
    }

    const kept = group.hooks.filter((hook) => !isCclHook(hook))
    if (kept.length > 0) next.push({...group, hooks: kept})
    else at ??= next.length
  }

  next.splice(at ?? next.length, 0, wanted)
  return {
    change: removed.length > 0 ? ('replaced' as const) : ('added' as const),
    groups: next,
    removed: removed.map((hook) => (hook as {command: string}).command),
  }
}

export type InstallStatus = 'added' | 'updated' | 'unchanged' | 'refused'

export interface AccountInstall {
  account: string
  /** `<home>/settings.json`. */
  file: string
  /** The file really read and written, when `file` is a symlink to it. */
  target?: string
  status: InstallStatus
  events: EventResult[]
  /** The file did not exist (it is created, with the home folder if that was missing too). */
  created?: boolean
  /** An earlier account with the same file (a shared link): it was read and written once, for that one. */
  sharedWith?: string
  /** Why the file was refused; it names the file, and for a syntax error the line and column. */
  error?: string
}

export interface InstallReport {
  command: string
  dryRun: boolean
  accounts: AccountInstall[]
}

export interface InstallOptions {
  command: string
  /** Decide and report, write nothing. */
  dryRun: boolean
}

type Outcome = Omit<AccountInstall, 'account' | 'file' | 'sharedWith'>

/** Installs ccl's hooks in every account's settings.json; a file refused never stops the others. */
export async function installHooks(accounts: readonly Pick<Account, 'name' | 'home'>[], options: InstallOptions): Promise<InstallReport> {
  const done = new Map<string, {account: string; outcome: Outcome}>()
  const results: AccountInstall[] = []
  for (const account of accounts) {
    const file = path.join(account.home, 'settings.json')
    const located = await locate(file).catch((error: unknown) => {
      if (!isErrno(error)) throw error
      return {error: `${file}: ${error.message}`}
    })
    if ('error' in located) {
      results.push({account: account.name, file, status: 'refused', events: [], error: located.error})
      continue
    }

    const first = done.get(located.key)
    if (first) {
      results.push({account: account.name, file, ...first.outcome, sharedWith: first.account})
      continue
    }

    const outcome = await installOne(located, account.home, options)
    done.set(located.key, {account: account.name, outcome})
    results.push({account: account.name, file, ...outcome})
  }

  return {command: options.command, dryRun: options.dryRun, accounts: results}
}

type Located =
  | {key: string; write: string; target?: string; exists: boolean}
  | {error: string}

/** Where an account's settings live: the file itself, or the target of its link (written through, the link kept). */
async function locate(file: string): Promise<Located> {
  let info
  try {
    info = await lstat(file)
  } catch (error) {
    if (!isErrno(error) || (error.code !== 'ENOENT' && error.code !== 'ENOTDIR')) throw error
    // Two accounts can name one home, or homes linked to one folder: the key is the real place.
    const dir = await realpath(path.dirname(file)).catch(() => path.dirname(file))
    return {key: path.join(dir, path.basename(file)), write: file, exists: false}
  }

  let real: string
  try {
    real = await realpath(file)
  } catch (error) {
    const broken = isErrno(error) && (error.code === 'ENOENT' || error.code === 'ELOOP') && info.isSymbolicLink()
    if (!broken) throw error
    const why = error.code === 'ELOOP' ? 'which loops' : 'which does not exist'
    return {error: `${file}: a symlink to ${await readlink(file)}, ${why}; point it at a settings file or remove it`}
  }

  const target = info.isSymbolicLink() ? real : undefined
  const targetInfo = await stat(real)
  if (!targetInfo.isFile()) return {error: `${target ?? file}: not a regular file${targetInfo.isDirectory() ? ' (a directory)' : ''}`}
  return {key: real, write: target ?? file, ...(target ? {target} : {}), exists: true}
}

async function installOne(located: Extract<Located, {key: string}>, home: string, options: InstallOptions): Promise<Outcome> {
  const {write} = located
  const where = located.target ? {target: located.target} : {}
  const refused = (error: string): Outcome => ({...where, status: 'refused', events: [], error})
  try {
    let settings: unknown = {}
    let mode: number | undefined
    if (located.exists) {
      const text = await readFile(write, 'utf8')
      mode = (await stat(write)).mode & 0o7777
      // An empty file holds nothing to keep; a byte-order mark is not JSON but says nothing either.
      const body = text.replace(/^\uFEFF/, '')
      if (body.trim() !== '') {
        const parsed = parseJson(body)
        if (!parsed.ok) return refused(`${write}:${parsed.line}:${parsed.column}: not valid JSON: ${parsed.message}`)
        settings = parsed.value
      }
    }

    const merged = mergeHooks(settings, options.command)
    if (!merged.ok) return refused(`${write}: ${merged.key}: ${merged.problem}`)
    const status: InstallStatus = !merged.changed
      ? 'unchanged'
      : merged.events.every((event) => event.change !== 'replaced')
        ? 'added'
        : 'updated'
    if (merged.changed && !options.dryRun) {
      // Claude Code makes its config home private; a home ccl creates is made the same way.
      if (!located.exists) await mkdir(home, {recursive: true, mode: 0o700})
      await writeFileAtomic(write, JSON.stringify(merged.settings, null, 2) + '\n', mode === undefined ? {} : {mode})
    }

    return {...where, status, events: merged.events, ...(located.exists ? {} : {created: true})}
  } catch (error) {
    // A file or folder ccl may not read or write (EACCES, EROFS, ENOSPC, …) is that account's refusal.
    if (!isErrno(error)) throw error
    return refused(`${write}: ${error.message}`)
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isGroup(value: unknown): value is {hooks: unknown[]} {
  return isObject(value) && Array.isArray(value.hooks)
}

function kind(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/** A failed system call (it has a syscall and an errno code), not a bug. */
function isErrno(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && typeof (error as NodeJS.ErrnoException).syscall === 'string'
}
