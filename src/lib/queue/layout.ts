import {lstatSync, statSync} from 'node:fs'
import {mkdir, readdir} from 'node:fs/promises'
import path from 'node:path'

import type {Config} from '../config/schema.js'
import {CONTROL} from '../control-chars.js'
import {describeKind} from '../regular-file.js'
import {ConfigError} from '../errors.js'

/** Where everything lives on disk (SPEC §3). */
export interface QueueLayout {
  root: string
  pending: string
  active: string
  done: string
  failed: string
  state: string
  sessions: string
  events: string
  locks: string
}

export const MARKER_SUFFIX = '.delegated'

/** The longest task name (bytes) whose marker `NAME.delegated` still fits in Linux's 255-byte file names. */
export const MAX_DELEGATED_NAME_BYTES = 255 - MARKER_SUFFIX.length

export function queueLayout(config: Pick<Config, 'queue' | 'state'>): QueueLayout {
  const root = config.queue
  return {
    root,
    pending: path.join(root, 'pending'),
    active: path.join(root, 'active'),
    done: path.join(root, 'done'),
    failed: path.join(root, 'failed'),
    state: config.state,
    sessions: path.join(config.state, 'sessions'),
    events: path.join(config.state, 'events.jsonl'),
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

/** Creates every folder of the layout (and one active/ folder per account); safe to repeat. */
export async function ensureLayout(layout: QueueLayout, accounts: readonly string[] = []): Promise<void> {
  const dirs = [layout.pending, layout.done, layout.failed, layout.sessions, layout.locks, ...accounts.map((a) => activeDir(layout, a))]
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
  // Synchronous lstat one by one: thousands of tasks cost a few milliseconds, no thread-pool trips.
  for (const name of names) {
    if (!isTaskName(name)) continue
    const file = path.join(dir, name)
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
