import type {Account} from '../config/schema.js'
import {appendEvent} from '../events/log.js'
import type {QueueLayout} from '../queue/layout.js'
import type {Tmux} from '../tmux/tmux.js'
import {type SessionRecord, writeSessionRecord} from './record.js'

/**
 * Creates an account's session as reconcile does — its `command` in its `cwd` with
 * `CLAUDE_CONFIG_DIR=<home>` — records when (a later death of it is a crash) and logs
 * `session.created`. `after` says why it was made (the state reconcile found, `requeue`…).
 */
export async function startSession(options: {layout: QueueLayout; tmux: Tmux; account: Account; record: SessionRecord; now: Date; after: string}): Promise<void> {
  const {layout, tmux, account, record, now} = options
  await tmux.newSession({name: account.session, cwd: account.cwd, command: account.command, env: {CLAUDE_CONFIG_DIR: account.home}})
  // Written after tmux made it: a run killed in between misses one crash count rather than inventing one.
  await writeSessionRecord(layout, account.name, {...record, created_at: now.toISOString()})
  await appendEvent(layout.events, 'session.created', {account: account.name, session: account.session, cwd: account.cwd, command: account.command, after: options.after}, now)
}
