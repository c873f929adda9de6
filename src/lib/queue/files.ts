import {constants} from 'node:fs'
import {lstat, open, rename, unlink} from 'node:fs/promises'
import path from 'node:path'

import {MARKER_SUFFIX} from './layout.js'

/**
 * Writes a file so that a reader sees the old content or the new, never a part:
 * temp name in the same folder, fsync, rename (write-file-atomic does exactly that).
 */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const {default: write} = await import('write-file-atomic')
  await write(file, data, {fsync: true})
}

/**
 * Creates a file only if no file of that name exists (O_EXCL): the claim primitive.
 * Returns false when it already existed. The content is fsynced before the call returns.
 */
export async function createExclusive(file: string, data: string | Buffer): Promise<boolean> {
  let handle
  try {
    handle = await open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }

  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }

  return true
}

export async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

/**
 * A name in `dir` not yet taken, starting from `name` (`fix.md`, then `fix.2.md`, `fix.3.md`, …).
 * A task is never moved over another one: rename(2) would silently replace it. A name whose
 * delegation marker is still there counts as taken too: the task would look delegated.
 */
export async function freeName(dir: string, name: string): Promise<string> {
  const taken = async (candidate: string) =>
    (await exists(path.join(dir, candidate))) || (await exists(path.join(dir, candidate + MARKER_SUFFIX)))
  if (!(await taken(name))) return name
  const stem = name.slice(0, -'.md'.length)
  for (let n = 2; ; n++) {
    const candidate = `${stem}.${n}.md`
    if (!(await taken(candidate))) return candidate
  }
}

export interface MoveResult {
  /** The path the task now has. */
  path: string
  /** The name it has there, which differs from the original when that name was taken. */
  name: string
  renamed: boolean
}

/**
 * Moves a task into `dir` by rename(2) (atomic within one filesystem), under a free name.
 * Throws ENOENT when the source is gone: another process moved it first.
 */
export async function moveTask(source: string, dir: string, name = path.basename(source)): Promise<MoveResult> {
  const target = await freeName(dir, name)
  const destination = path.join(dir, target)
  await rename(source, destination)
  return {path: destination, name: target, renamed: target !== name}
}

/** Removes a file; a file already gone is fine (the step was done before a crash). */
export async function removeIfExists(file: string): Promise<boolean> {
  try {
    await unlink(file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}
