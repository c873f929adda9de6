// Rotation of one event log (a host's `hosts/<host>/events.jsonl`, see logs.ts): the live log renamed
// to `events-YYYYMMDDTHHMMSSZ.jsonl` in its own folder, and the list of every segment of that log
// (archives oldest first, then the live log).
// Writers need nothing: appendEvent opens the path with O_APPEND on every event and creates it
// when missing, so the first event after a rotation starts the new live log.
import {link, open, readdir, rename, unlink} from 'node:fs/promises'
import path from 'node:path'

import {STATE_FILE_MODE} from '../queue/layout.js'
import {statOrNull} from './stream.js'

const ARCHIVE = /^events-(\d{8}T\d{6}Z)(?:-(\d+))?\.jsonl$/

interface ArchiveName {
  name: string
  stamp: string
  n: number
}

function parseArchive(name: string): ArchiveName | null {
  const match = ARCHIVE.exec(name)
  return match ? {name, stamp: match[1]!, n: match[2] === undefined ? 0 : Number(match[2])} : null
}

/** Oldest first: by the time in the name, then by the suffix (`-1`, `-2`, … taken when the name was). */
function byAge(a: ArchiveName, b: ArchiveName): number {
  return a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : a.n - b.n
}

function archiveFile(stamp: string, n: number): string {
  return n === 0 ? `events-${stamp}.jsonl` : `events-${stamp}-${n}.jsonl`
}

/** `YYYYMMDDTHHMMSSZ` of an instant, UTC. */
export function archiveStamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')
}

async function archiveNames(stateDir: string): Promise<ArchiveName[]> {
  let names: string[]
  try {
    names = await readdir(stateDir)
  } catch (error) {
    const {code} = error as NodeJS.ErrnoException
    if (code === 'ENOENT' || code === 'ENOTDIR') return []
    throw error
  }

  return names.flatMap((name) => parseArchive(name) ?? []).sort(byAge)
}

/** Where one log lives: the folder of its archives and its live file (an EventLog of logs.ts is one). */
export interface LogFolder {
  dir: string
  live: string
}

/** The archives of the log in its folder, oldest first (full paths). */
export async function listArchives(dir: string): Promise<string[]> {
  return (await archiveNames(dir)).map((a) => path.join(dir, a.name))
}

/** Every segment of the log, oldest first: the archives, then the live log (which may not exist). */
export async function logSegments(log: LogFolder): Promise<string[]> {
  return [...(await listArchives(log.dir)), log.live]
}

/**
 * The segments that exist, oldest first, each file once: a rotation killed between its link and its
 * unlink leaves the live log and its archive as two names of one file, read as the archive.
 */
export async function existingSegments(log: LogFolder): Promise<string[]> {
  const seen = new Set<number>()
  const found: string[] = []
  for (const file of await logSegments(log)) {
    const info = await statOrNull(file)
    if (!info || !info.isFile() || seen.has(info.ino)) continue
    seen.add(info.ino)
    found.push(file)
  }

  return found
}

export type RotateOutcome = {rotated: true; archive: string} | {rotated: false; archive: null; reason: 'missing' | 'empty'}

/**
 * Renames the live log to a new archive. Never overwrites: the archive is made by link(2), which
 * fails on a taken name (then the next suffix is tried), and the live name is unlinked after; a kill
 * in between leaves two names of one file, which readers count once and the next rotation finishes.
 * The name is after every existing archive's, even when the clock went back, so that names order
 * the archives as they were made. A missing or empty live log is not rotated.
 */
export async function rotateLog(log: LogFolder, now: Date): Promise<RotateOutcome> {
  const live = await statOrNull(log.live)
  if (!live) return {rotated: false, archive: null, reason: 'missing'}
  const archives = await archiveNames(log.dir)
  for (const archive of archives) {
    const file = path.join(log.dir, archive.name)
    const info = await statOrNull(file)
    if (info && info.ino === live.ino && info.dev === live.dev) {
      // An earlier rotation was stopped after its link: finish it.
      await unlinkIfThere(log.live)
      await createEmpty(log.live)
      return {rotated: true, archive: file}
    }
  }

  if (live.size === 0) return {rotated: false, archive: null, reason: 'empty'}
  const newest = archives.at(-1)
  let stamp = archiveStamp(now)
  let n = 0
  if (newest && newest.stamp >= stamp) {
    stamp = newest.stamp
    n = newest.n + 1
  }

  for (;; n++) {
    const file = path.join(log.dir, archiveFile(stamp, n))
    try {
      await link(log.live, file)
    } catch (error) {
      const {code} = error as NodeJS.ErrnoException
      if (code === 'EEXIST') continue
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error
      // A filesystem without hard links: a checked rename (the race with another rotation is the only gap).
      if (await statOrNull(file)) continue
      await rename(log.live, file)
      await createEmpty(log.live)
      return {rotated: true, archive: file}
    }

    await unlinkIfThere(log.live)
    await createEmpty(log.live)
    return {rotated: true, archive: file}
  }
}

/**
 * A new, empty live log (0600; left alone if a writer made it first), so that the counters'
 * checkpoint moves onto it at once and no longer depends on the archive being kept.
 */
async function createEmpty(file: string): Promise<void> {
  const handle = await open(file, 'a', STATE_FILE_MODE)
  await handle.close()
}

async function unlinkIfThere(file: string): Promise<void> {
  try {
    await unlink(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}
