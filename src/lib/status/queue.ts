import {readdir} from 'node:fs/promises'
import path from 'node:path'

import {activeDir, isTaskName, listTasks, MARKER_SUFFIX, type QueueLayout} from '../queue/layout.js'

export interface QueueCounts {
  /** Waiting in pending/, not delegated. */
  pending: number
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

export interface QueueScan {
  counts: QueueCounts
  active: ActiveTask[]
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
  options: {accounts: readonly string[]; staleAfterMs: number; now: Date},
): Promise<QueueScan> {
  const [pendingNames, doneNames, failedNames, accounts] = await Promise.all([
    names(layout.pending),
    names(layout.done),
    names(layout.failed),
    activeAccounts(layout, options.accounts),
  ])
  const markers = new Set(
    pendingNames.filter((n) => n.endsWith(MARKER_SUFFIX)).map((n) => n.slice(0, -MARKER_SUFFIX.length)).filter((n) => isTaskName(n)),
  )
  const pending = pendingNames.filter((n) => isTaskName(n) && !markers.has(n)).length

  const perAccount = await Promise.all(accounts.map(async (account) => ({account, tasks: await listTasks(activeDir(layout, account))})))
  const now = options.now.getTime()
  const active: ActiveTask[] = perAccount.flatMap(({account, tasks}) =>
    tasks.map((task) => {
      const age = Math.max(0, now - task.mtimeMs)
      return {account, task: path.basename(task.path), since: new Date(task.mtimeMs).toISOString(), age_ms: age, stale: age > options.staleAfterMs}
    }),
  )

  return {
    counts: {
      pending,
      delegated: markers.size,
      active: active.length,
      done: doneNames.filter((n) => isTaskName(n)).length,
      failed: failedNames.filter((n) => isTaskName(n)).length,
    },
    active,
  }
}
