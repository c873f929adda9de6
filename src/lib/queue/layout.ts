import {constants, lstatSync, statSync} from 'node:fs'
import {access, chmod, mkdir, readdir, stat} from 'node:fs/promises'
import path from 'node:path'

import type {Config} from '../config/schema.js'
import {CONTROL} from '../control-chars.js'
import {describeKind} from '../regular-file.js'
import {ConfigError, StateDirError} from '../errors.js'
import {currentHost} from './holder.js'

/** Where everything lives on disk (SPEC §3). */
export interface QueueLayout {
  root: string
  pending: string
  active: string
  done: string
  failed: string
  state: string
  sessions: string
  /** This host's event log, `<state>/hosts/<host>/events.jsonl`: the only log this host appends to (SPEC §8). */
  events: string
  /** The host whose log `events` is (the config's `host`, default the hostname). */
  host: string
  /** `<state>/hosts`: one folder per host that ever wrote an event, holding its log and its archives. */
  hosts: string
  /** `<state>/events.jsonl`, the one log of ccl before per-host logs: still read by every reader, never written. */
  legacyEvents: string
  locks: string
}

export const MARKER_SUFFIX = '.delegated'

/** The longest task name (bytes) whose marker `NAME.delegated` still fits in Linux's 255-byte file names. */
export const MAX_DELEGATED_NAME_BYTES = 255 - MARKER_SUFFIX.length

/** The layout of a config; `host` absent: the host of this run (holder.ts currentHost). */
export function queueLayout(config: Pick<Config, 'queue' | 'state'> & {host?: string | undefined}): QueueLayout {
  const root = config.queue
  const host = config.host ?? currentHost()
  const hosts = path.join(config.state, 'hosts')
  return {
    root,
    pending: path.join(root, 'pending'),
    active: path.join(root, 'active'),
    done: path.join(root, 'done'),
    failed: path.join(root, 'failed'),
    state: config.state,
    sessions: path.join(config.state, 'sessions'),
    events: path.join(hosts, host, 'events.jsonl'),
    host,
    hosts,
    legacyEvents: path.join(config.state, 'events.jsonl'),
    locks: path.join(config.state, 'locks'),
  }
}

export function activeDir(layout: QueueLayout, account: string): string {
  return path.join(layout.active, account)
}

export function markerPath(layout: QueueLayout, task: string): string {
  return path.join(layout.pending, task + MARKER_SUFFIX)
}

export function sessionStatePath(layout: QueueLayout, account: string): string {
  return path.join(layout.sessions, `${account}.json`)
}

/** NAME is any file name ending in `.md` without `/`, NUL or a leading dot (SPEC §3). */
export function isTaskName(name: string): boolean {
  return name.endsWith('.md') && name.length > 3 && !name.startsWith('.') && !name.includes('/') && !name.includes('\0')
}


/** Why a task of this name is never handed to a session or sent, or null when it may be. */
export function unsafeNameReason(name: string): string | null {
  if (!CONTROL.test(name)) return null
  const found = [...new Set([...name].filter((c) => CONTROL.test(c)))]
  const names = found.map((c) => (c === '\n' ? 'newline' : c === '\r' ? 'CR' : c === '\t' ? 'tab' : c === '\u001b' ? 'ESC' : `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`))
  return `its name holds control characters (${names.join(', ')}), which a paste into a session or a line of output cannot carry; rename it`
}

/**
 * The queue root (`queue:`) must be an existing folder for the commands that only read it or hand
 * tasks out (status, dispatch): a typo there would otherwise look like an empty, healthy queue.
 * Its sub-folders (pending/, active/, done/, failed/) may be missing: reconcile, assign and reap
 * create them (ensureLayout), and a reader counts a missing one as empty. Throws ConfigError (exit 3).
 */
export function requireQueueRoot(config: Pick<Config, 'queue' | 'file'>): void {
  let isDir: boolean
  try {
    isDir = statSync(config.queue).isDirectory()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new ConfigError(`${config.file}: queue: ${config.queue}: cannot read it: ${(error as Error).message}`)
    isDir = false
  }

  if (!isDir) {
    throw new ConfigError(`${config.file}: queue: ${config.queue} does not exist or is not a folder`, {
      hint: `create it (mkdir -p ${config.queue}; ccl reconcile then makes pending/, done/, failed/ in it) or fix "queue" in ${config.file}`,
    })
  }
}

/** Mode of the state folder and every folder ccl makes in it: only its user may look inside. */
export const STATE_DIR_MODE = 0o700

/** Mode of every file ccl writes in the state folder (events.jsonl, sessions/*.json, locks, journals). */
export const STATE_FILE_MODE = 0o600

/** Why a folder could not be made or written, in words (a file in the way, read-only, no permission). */
export function dirProblem(error: NodeJS.ErrnoException): string {
  const what =
    error.code === 'ENOTDIR' || error.code === 'EEXIST'
      ? 'a file is in the way'
      : error.code === 'EROFS'
        ? 'the file system is read-only'
        : error.code === 'EACCES' || error.code === 'EPERM'
          ? 'permission denied'
          : error.code === 'ENOSPC'
            ? 'no space left on the device'
            : (error.code ?? 'error')
  return `cannot be created or written (${what}: ${error.message})`
}

/**
 * Makes a folder of the state (the state folder itself, sessions/, locks/, handoff/…) with mode
 * 0700; safe to repeat. Any failure is a StateDirError (exit 3) naming the folder, never a bare
 * ENOTDIR or EROFS from mkdir. Use it for every folder ccl makes under `state:`.
 */
export async function makeStateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, {recursive: true, mode: STATE_DIR_MODE})
  } catch (error) {
    throw new StateDirError(dir, dirProblem(error as NodeJS.ErrnoException), {cause: error})
  }
}

/**
 * The state folder exists, is a folder this user can write, and is 0700: made when missing (0700),
 * tightened to 0700 when it exists with a looser mode (an older ccl made it 0755). Throws
 * StateDirError (exit 3) naming it. Every command that writes state calls it first.
 */
export async function ensureStateDir(layout: Pick<QueueLayout, 'state'> & Partial<Pick<QueueLayout, 'events'>>): Promise<void> {
  const dir = layout.state
  await makeStateDir(dir)
  try {
    const info = await stat(dir)
    if (!info.isDirectory()) throw new StateDirError(dir, 'is not a folder')
    // Tightened only when it is ours: another user's folder is left as it is (access says whether we may write).
    if ((info.mode & 0o077) !== 0 && info.uid === process.getuid?.()) await chmod(dir, info.mode & 0o700)
    await access(dir, constants.W_OK | constants.X_OK)
    // The log is created 0600; one an older ccl made 0644 (the legacy top-level log) is tightened here,
    // once per command that writes state, and so is this host's.
    for (const file of [path.join(dir, 'events.jsonl'), ...(layout.events ? [layout.events] : [])]) {
      const log = await stat(file).catch(() => null)
      if (log && (log.mode & 0o077) !== 0 && log.uid === process.getuid?.()) await chmod(file, log.mode & 0o700)
    }
  } catch (error) {
    if (error instanceof StateDirError) throw error
    throw new StateDirError(dir, dirProblem(error as NodeJS.ErrnoException), {cause: error})
  }
}

/** Creates every folder of the layout (and one active/ folder per account); safe to repeat. The state folder's are 0700. */
export async function ensureLayout(layout: QueueLayout, accounts: readonly string[] = []): Promise<void> {
  await ensureStateDir(layout)
  await Promise.all([layout.sessions, layout.locks, path.dirname(layout.events)].map(async (dir) => makeStateDir(dir)))
  const dirs = [layout.pending, layout.done, layout.failed, ...accounts.map((a) => activeDir(layout, a))]
  await Promise.all(dirs.map((dir) => mkdir(dir, {recursive: true})))
}

export interface TaskEntry {
  name: string
  path: string
  mtimeMs: number
}

/** A name that looks like a task but is a symlink, a folder, a FIFO…: never read, moved or sent. */
export interface NotATask {
  name: string
  path: string
  what: string
}

export interface TaskListing {
  tasks: TaskEntry[]
  /** Entries with a task's name that are not regular files, by name. */
  irregular: NotATask[]
  /** Every name in the folder, as read (markers included), for callers that need more than the tasks. */
  names: string[]
}

/**
 * Task files in a folder, oldest first (by mtime, then name); a missing folder holds none. lstat, not
 * stat: a symlink is reported in `irregular` and never followed (it may point anywhere).
 */
export async function scanTasks(dir: string): Promise<TaskListing> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {tasks: [], irregular: [], names: []}
    throw error
  }

  const tasks: TaskEntry[] = []
  const irregular: NotATask[] = []
  // A task name has no slash and is no dot segment (isTaskName): joined by hand, path.join's
  // normalising of 10,000 names cost ~10 ms of a status run.
  const prefix = path.join(dir, '/')
  // Synchronous lstat one by one: thousands of tasks cost a few milliseconds, no thread-pool trips.
  for (const name of names) {
    if (!isTaskName(name)) continue
    const file = prefix + name
    let info
    try {
      info = lstatSync(file)
    } catch {
      continue // moved away while we looked: not ours to report
    }

    if (info.isFile()) tasks.push({name, path: file, mtimeMs: info.mtimeMs})
    else irregular.push({name, path: file, what: describeKind(info)})
  }

  return {tasks: tasks.sort(byAge), irregular, names}
}

/** The regular task files in a folder, oldest first. */
export async function listTasks(dir: string): Promise<TaskEntry[]> {
  return (await scanTasks(dir)).tasks
}

export function byAge(a: TaskEntry, b: TaskEntry): number {
  return a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}
