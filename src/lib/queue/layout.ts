import {mkdir, readdir, stat} from 'node:fs/promises'
import path from 'node:path'

import type {Config} from '../config/schema.js'

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

/** Task files in a folder, oldest first (by mtime, then name); a missing folder holds none. */
export async function listTasks(dir: string): Promise<TaskEntry[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }

  const entries = await Promise.all(
    names.filter((name) => isTaskName(name)).map(async (name) => {
      const file = path.join(dir, name)
      try {
        const info = await stat(file)
        return info.isFile() ? {name, path: file, mtimeMs: info.mtimeMs} : undefined
      } catch {
        return undefined // moved away while we looked: not ours to report
      }
    }),
  )
  return entries.filter((e): e is TaskEntry => e !== undefined).sort(byAge)
}

export function byAge(a: TaskEntry, b: TaskEntry): number {
  return a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}
