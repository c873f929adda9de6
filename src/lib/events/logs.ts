// Which event logs there are (SPEC §8: what several hosts write goes to per-host files). Each host
// appends only to `<state>/hosts/<host>/events.jsonl` and rotates it into archives in that folder;
// the top-level `<state>/events.jsonl` (and its archives beside it) is the log of ccl before
// per-host logs: read by every reader, never written again. Every reader of the log starts here.
import {readdirSync} from 'node:fs'
import {readdir} from 'node:fs/promises'
import path from 'node:path'

import {HOST} from '../config/rules.js'
import type {QueueLayout} from '../queue/layout.js'
import {existingSegments} from './archive.js'

/** One event log: a live file and the archives beside it (its own folder). */
export interface EventLog {
  /** The host folder's name; null for the legacy top-level log (its events may carry no host). */
  host: string | null
  /** The folder of the live log and its archives. */
  dir: string
  /** The live log, `<dir>/events.jsonl` (may not exist). */
  live: string
}

type Layout = Pick<QueueLayout, 'state' | 'hosts' | 'host' | 'legacyEvents'>


function logsOf(layout: Layout, folders: readonly string[]): EventLog[] {
  // A folder under hosts/ named as no host can be is not a host's: not read.
  const hosts = new Set(folders.filter((name) => HOST.test(name)))
  hosts.add(layout.host)
  return [
    {host: null, dir: layout.state, live: layout.legacyEvents},
    ...[...hosts].sort().map((host) => ({host, dir: path.join(layout.hosts, host), live: path.join(layout.hosts, host, 'events.jsonl')})),
  ]
}

function foldersOrNone(error: unknown): string[] {
  const {code} = error as NodeJS.ErrnoException
  if (code === 'ENOENT' || code === 'ENOTDIR') return []
  throw error
}

/**
 * Every event log, in a fixed order: the legacy top-level log first, then each host's by host name
 * (this host's always among them, even before its first event). Their files may not exist.
 */
export async function eventLogs(layout: Layout): Promise<EventLog[]> {
  let folders: string[]
  try {
    folders = (await readdir(layout.hosts, {withFileTypes: true})).filter((entry) => entry.isDirectory()).map((entry) => entry.name)
  } catch (error) {
    folders = foldersOrNone(error)
  }

  return logsOf(layout, folders)
}

/** eventLogs, synchronous (for fsck, whose checks are). */
export function eventLogsSync(layout: Layout): EventLog[] {
  let folders: string[]
  try {
    folders = readdirSync(layout.hosts, {withFileTypes: true}).filter((entry) => entry.isDirectory()).map((entry) => entry.name)
  } catch (error) {
    folders = foldersOrNone(error)
  }

  return logsOf(layout, folders)
}

/** The existing files of one log, oldest first: its archives, then its live log (see existingSegments). */
export async function logFiles(log: EventLog): Promise<string[]> {
  return existingSegments(log)
}

/** This host's log: the only one it appends to and rotates. */
export function hostLog(layout: Pick<QueueLayout, 'host' | 'events'>): EventLog {
  return {host: layout.host, dir: path.dirname(layout.events), live: layout.events}
}
