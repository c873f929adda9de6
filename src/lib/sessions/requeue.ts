/*
 * `ccl requeue NAME` (SPEC 7): a task in active/<account>/ back to pending/, its place in line kept,
 * and that account's session restarted so it stops working on it (a stale or stuck task).
 *
 * Under the `reconcile` lock (reconcile creates sessions and requeues dead ones' tasks under it):
 *   1. refused while a hand-off to the account or a failover naming it stands
 *   2. the session record forgets the session (created_at null), so its death is not counted as a crash
 *   3. the session is killed                     ← crash: reconcile finds it gone, requeues the task, creates it
 *   4. the task goes back to pending/ (queue core, reason "operator")
 *                                                ← crash: reconcile creates the session
 *   5. the session is created as reconcile creates it (not for a held account)
 * The session is killed before the task moves: a session that went on working on a task already in
 * pending/ could meet it again in another account's hands.
 */
import {lstatSync} from 'node:fs'
import path from 'node:path'

import type {Account, Config} from '../config/schema.js'
import {RefusedError, TaskFileError, UserError, EXIT_CODES} from '../errors.js'
import {failpoint} from '../failpoints.js'
import {activeDir, isTaskName, type QueueLayout, queueLayout} from '../queue/layout.js'
import {describeLockHolder, lockWithin} from '../queue/lock.js'
import {type Requeued, requeueBlocker, requeueByOperator, whereIs} from '../queue/transitions.js'
import type {Tmux} from '../tmux/tmux.js'
import {readSessionRecord, writeSessionRecord} from './record.js'
import {startSession} from './start.js'

export interface RequeueResult extends Requeued {
  session: string
  /** The session was created again; false for a held account (reconcile --release it first). */
  restarted: boolean
}

export interface RequeueOptions {
  config: Config
  tmux: Tmux
  name: string
  now: () => Date
  /** How long to wait for a running reconcile to let go of its lock. */
  lockWaitMs?: number
}

function holderOf(config: Config, layout: QueueLayout, name: string): Account {
  const base = path.basename(name)
  if (!isTaskName(base)) throw new TaskFileError(`${name}: not a task file name (must end in .md, without a leading dot)`)
  const account = config.accounts.find((a) => isIn(layout, a.name, base))
  if (account) return account
  const where = whereIs(layout, base)
  if (where?.startsWith('active/')) {
    throw new UserError(`${path.join(layout.root, where, base)}: ${where} is not the folder of an account in ${config.file}; move it back by hand`, EXIT_CODES.taskFile)
  }

  const pending = isInPending(layout, base)
  const said = where ? ` (it is in ${where})` : pending ? ' (it is in pending/ already)' : ' nor anywhere else in the queue'
  throw new TaskFileError(`${base}: not in any account's active/ folder${said}; only a task an account holds can be requeued`)
}

function isIn(layout: QueueLayout, account: string, name: string): boolean {
  return whereIn(path.join(activeDir(layout, account), name))
}

function isInPending(layout: QueueLayout, name: string): boolean {
  return whereIn(path.join(layout.pending, name))
}

function whereIn(file: string): boolean {
  try {
    return lstatSync(file).isFile()
  } catch {
    return false
  }
}

export async function requeueTask(options: RequeueOptions): Promise<RequeueResult> {
  const {config, tmux} = options
  const layout = queueLayout(config)
  const account = holderOf(config, layout, options.name)
  const name = path.basename(options.name)
  const attempt = await lockWithin(layout.locks, 'reconcile', {staleMs: 10_000, waitMs: options.lockWaitMs ?? 10_000})
  if (!attempt.lock) throw new RefusedError(`${name}: not requeued: a ccl reconcile is running (${describeLockHolder(attempt.holder)}); try again in a moment`)
  const {lock} = attempt
  try {
    const why = await requeueBlocker(layout, account.name, options.now())
    if (why) throw new RefusedError(`${path.join(activeDir(layout, account.name), name)}: not requeued: ${why}; nothing changed`)
    const record = await readSessionRecord(layout, account.name)
    const forgotten = {...record, created_at: null}
    if (record.created_at !== null) await writeSessionRecord(layout, account.name, forgotten)
    try {
      await tmux.killSession(account.session)
    } catch (error) {
      // Nothing changed after all: the session that may still run is ccl's again.
      if (record.created_at !== null) await writeSessionRecord(layout, account.name, record)
      throw error
    }

    failpoint('requeue.after-kill')
    lock.assertHeld()
    const moved = await requeueByOperator(layout, {account: account.name, name, now: options.now()})
    failpoint('requeue.after-move')
    // The session was killed: it is created again whatever became of the task.
    const restarted = !record.held
    if (restarted) await startSession({layout, tmux, account, record: forgotten, now: options.now(), after: 'requeue'})
    const file = path.join(activeDir(layout, account.name), name)
    switch (moved.kind) {
      case 'requeued': {
        return {...moved.requeued, session: account.session, restarted}
      }

      case 'blocked': {
        throw new RefusedError(`${file}: not requeued: ${moved.why} (it began meanwhile); its session was restarted`)
      }

      case 'claimed': {
        throw new RefusedError(`${file}: not requeued: claimed by ${moved.by} right now; its session was restarted`)
      }

      case 'gone': {
        throw new RefusedError(`${file}: left active/${account.name}/ meanwhile${moved.where ? ` (now in ${moved.where})` : ''}; its session was restarted`)
      }
    }
  } finally {
    await lock.release()
  }
}
