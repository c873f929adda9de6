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

/** The statusLine command (failover.headroom): `ccl statusline`, carrying the operator's own command, if any, as `--chain=`. */
export function statusLineCommand(parts: {node: string; bin: string; configFile: string}, chain: string | null): string {
  const base = `${shellQuote(parts.node)} ${shellQuote(parts.bin)} statusline --config ${shellQuote(parts.configFile)}`
  return `${base}${chain === null ? '' : ` ${shellQuote(`--chain=${chain}`)}`} ${HOOK_MARKER}`
}

/**
 * The words of a command as sh reads them, up to a comment: bare words, single-quoted parts and
 * backslash escapes — what shellQuote writes. Null when a quote is left open.
 */
export function shellWords(command: string): string[] | null {
  const words: string[] = []
  let word: string | null = null
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!
    if (c === "'") {
      const end = command.indexOf("'", i + 1)
      if (end === -1) return null
      word = (word ?? '') + command.slice(i + 1, end)
      i = end
    } else if (c === '\\' && i + 1 < command.length) {
      word = (word ?? '') + command[++i]
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (word !== null) words.push(word)
      word = null
    } else if (c === '#' && word === null) {
      break
    } else {
      word = (word ?? '') + c
    }
  }

  if (word !== null) words.push(word)
  return words
}

/**
 * The operator's command a ccl statusLine command chains (through any ccl command chained inside
 * it, so ccl never ends up running itself); null when it chains none, undefined when the command
 * cannot be read back (edited by hand).
 */
export function chainedCommand(command: string): string | null | undefined {
  let current = command
  for (let depth = 0; depth < 10; depth++) {
    const words = shellWords(current)
    if (!words) return undefined
    const flag = words.find((w) => w.startsWith('--chain='))
    if (flag === undefined) return null
    const chain = flag.slice('--chain='.length)
    if (!isCclHook({type: 'command', command: chain})) return chain.trim() === '' ? null : chain
    current = chain
  }

  return undefined
}

/**
 * What happened to settings.json's statusLine: `added` (ccl's set, chaining the operator's if there
 * was one), `replaced` (an older ccl one), `unchanged`, `restored` (headroom off: the operator's
 * command put back), `removed` (headroom off: ccl's taken out, there was none before), `skipped`
 * (not a command: left alone), `none` (headroom off and nothing of ccl's there).
 */
export type StatusLineChange = 'added' | 'replaced' | 'unchanged' | 'restored' | 'removed' | 'skipped' | 'none'

export interface StatusLineResult {
  change: StatusLineChange
  /** The operator's command ccl's statusLine runs after it (or, restored, the one put back). */
  chained: string | null
  /** ccl's command taken out (replaced, restored, removed). */
  removed?: string
  /** Why it was skipped. */
  note?: string
}

export type StatusLineMerge = ({ok: true; settings: Record<string, unknown>} & StatusLineResult) | {ok: false; key: string; problem: string}

/**
 * settings.json's statusLine for failover.headroom (docs/hooks.md, "The statusLine"). With headroom,
 * ccl's command, chaining the operator's command that stood there; without, the operator's command
 * back where ccl's stood. Every other key of the statusLine object (padding, refreshInterval, …) is
 * kept. The input is not changed.
 */
export function mergeStatusLine(settings: Record<string, unknown>, want: {headroom: boolean; command: (chain: string | null) => string}): StatusLineMerge {
  const current = settings.statusLine
  const own = isCclHook(current)
  const chain = own ? chainedCommand((current as {command: string}).command) : null
  if (chain === undefined) {
    return {ok: false, key: 'statusLine', problem: "ccl's command there cannot be read back (edited by hand?); put the statusLine you want there and run again"}
  }

  const ownCommand = own ? (current as {command: string}).command : undefined
  const {statusLine: _old, ...without} = settings
  if (!want.headroom) {
    if (!own) return {ok: true, settings, change: 'none', chained: null}
    if (chain === null) return {ok: true, settings: without, change: 'removed', chained: null, removed: ownCommand!}
    return {ok: true, settings: {...settings, statusLine: {...(current as object), command: chain}}, change: 'restored', chained: chain, removed: ownCommand!}
  }

  if (current === undefined || current === null) {
    return {ok: true, settings: {...settings, statusLine: {type: 'command', command: want.command(null)}}, change: 'added', chained: null}
  }

  if (own) {
    const wanted = want.command(chain)
    if (ownCommand === wanted) return {ok: true, settings, change: 'unchanged', chained: chain}
    return {ok: true, settings: {...settings, statusLine: {...(current as object), command: wanted}}, change: 'replaced', chained: chain, removed: ownCommand!}
  }

  if (isObject(current) && current.type === 'command' && typeof current.command === 'string') {
    const theirs = current.command.trim() === '' ? null : current.command
    return {ok: true, settings: {...settings, statusLine: {...current, command: want.command(theirs)}}, change: 'added', chained: theirs}
  }

  const what = isObject(current) ? `its type is ${JSON.stringify(current.type ?? null)}, not "command"` : `it is ${kind(current)}, not an object`
  return {ok: true, settings, change: 'skipped', chained: null, note: `statusLine left alone: ${what}; this account's usage is not recorded`}
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
  /** What happened to its statusLine (failover.headroom); absent when nothing of ccl's was or is to be there. */
  statusLine?: StatusLineResult
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
  /** failover.headroom: set ccl's statusLine (chaining the operator's); false puts the operator's back. */
  headroom: boolean
  /** ccl's statusLine command, given the operator's command it chains. */
  statusLine: (chain: string | null) => string
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
    const line = mergeStatusLine(merged.settings, {headroom: options.headroom, command: options.statusLine})
    if (!line.ok) return refused(`${write}: ${line.key}: ${line.problem}`)
    const {ok: _ok, settings: next, ...statusLine} = line
    const lineChanged = !['unchanged', 'skipped', 'none'].includes(line.change)
    const changed = merged.changed || lineChanged
    const status: InstallStatus = !changed
      ? 'unchanged'
      : merged.events.every((event) => event.change !== 'replaced') && (!lineChanged || line.change === 'added')
        ? 'added'
        : 'updated'
    if (changed && !options.dryRun) {
      // Claude Code makes its config home private; a home ccl creates is made the same way.
      if (!located.exists) await mkdir(home, {recursive: true, mode: 0o700})
      await writeFileAtomic(write, JSON.stringify(next, null, 2) + '\n', mode === undefined ? {} : {mode})
    }

    return {...where, status, events: merged.events, ...(located.exists ? {} : {created: true}), ...(line.change === 'none' ? {} : {statusLine})}
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
