import {readdir} from 'node:fs/promises'
import path from 'node:path'

import {activeDir, isTaskName, listTasks, MARKER_SUFFIX, type QueueLayout, scanTasks, type TaskEntry, unsafeNameReason} from '../queue/layout.js'

export interface QueueCounts {
  /** Waiting in pending/, not delegated. */
  pending: number
  /** Of those, modified less than `dispatch.settle` ago: dispatch leaves them for a later pass. */
  settling: number
  /** Markers in pending/: tasks handed to secutools and not yet reaped. */
  delegated: number
  active: number
  done: number
  failed: number
}

export interface ActiveTask {
  account: string
  task: string
  /** When it was handed to the account (assign sets the file's mtime). */
  since: string
  age_ms: number
  stale: boolean
}

/** A task in pending/ that is never dispatched as it is: an operator must rename, replace or remove it. */
export interface HeldTask {
  task: string
  why: string
}

export interface QueueScan {
  counts: QueueCounts
  active: ActiveTask[]
  held: HeldTask[]
  /** The pending tasks without a marker, oldest first (mtime, then name). */
  waiting: TaskEntry[]
  /** Every name in pending/ when it was listed (a marker's task among them is not orphaned). */
  pendingNames: ReadonlySet<string>
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
}

async function activeAccounts(layout: QueueLayout, configured: readonly string[]): Promise<string[]> {
  let found: string[] = []
  try {
    const entries = await readdir(layout.active, {withFileTypes: true})
    found = entries.filter((e) => e.isDirectory()).map((e) => e.name)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }

  // A folder of an account no longer in the config still holds tasks an operator must see.
  return [...configured, ...found.filter((name) => !configured.includes(name)).sort()]
}

/**
 * Counts the queue by folder names alone (no stat per file, so 10,000 tasks cost one readdir each),
 * and lists active/ with ages. A task in active/ longer than `staleAfterMs` is stale; delegated tasks
 * wait in pending/ beside their marker, so they are never stale.
 */
export async function scanQueue(
  layout: QueueLayout,
  options: {accounts: readonly string[]; staleAfterMs: number; settleMs: number; now: Date},
): Promise<QueueScan> {
  const [pendingListing, doneNames, failedNames, accounts] = await Promise.all([
    scanTasks(layout.pending),
    names(layout.done),
    names(layout.failed),
    activeAccounts(layout, options.accounts),
  ])
  const markers = new Set(
    pendingListing.names.filter((n) => n.endsWith(MARKER_SUFFIX)).map((n) => n.slice(0, -MARKER_SUFFIX.length)).filter((n) => isTaskName(n)),
  )
  const waiting = pendingListing.tasks.filter((t) => !markers.has(t.name))
  const held: HeldTask[] = pendingListing.irregular.map((e) => ({task: e.name, why: `${e.what}, not a regular file: never read, moved or sent`}))
  for (const task of waiting) {
    const why = unsafeNameReason(task.name)
    if (why) held.push({task: task.name, why})
  }

  const settleBefore = options.now.getTime() - options.settleMs
  const settling = waiting.filter((t) => t.mtimeMs > settleBefore).length

  const perAccount = await Promise.all(accounts.map(async (account) => ({account, tasks: await listTasks(activeDir(layout, account))})))
  const now = options.now.getTime()
  const active: ActiveTask[] = perAccount.flatMap(({account, tasks}) =>
    tasks.map((task) => {
      const age = Math.max(0, now - task.mtimeMs)
      return {account, task: path.basename(task.path), since: new Date(task.mtimeMs).toISOString(), age_ms: age, stale: age > options.staleAfterMs}
    }),
  )

  return {
    held,
    waiting,
    pendingNames: new Set(pendingListing.names),
    counts: {
      pending: waiting.length,
      settling,
      delegated: markers.size,
      active: active.length,
      done: doneNames.filter((n) => isTaskName(n)).length,
      failed: failedNames.filter((n) => isTaskName(n)).length,
    },
    active,
  }
}
