/*
 * An operator's pause of an account (SPEC 7 `ccl pause|unpause ACCOUNT`): `<state>/paused/<account>.json`,
 * written atomically. A paused account gets no new task (assign, dispatch, a failover's target); the task
 * it has goes on, and reconcile keeps its session alive as before. `ccl status` shows it `paused`.
 */
import path from 'node:path'

import type {Config} from '../config/schema.js'
import {UserError, EXIT_CODES} from '../errors.js'
import {appendEvent} from '../events/log.js'
import {removeIfExists, writeFileAtomic} from '../queue/files.js'
import {readRegularText} from '../regular-file.js'
import {makeStateDir, type QueueLayout, STATE_FILE_MODE} from '../queue/layout.js'

export interface Pause {
  account: string
  since: string
  /** Why, as the operator said it (`--reason`), or null. */
  reason: string | null
}

export function pausePath(layout: QueueLayout, account: string): string {
  return path.join(layout.state, 'paused', `${account}.json`)
}

/** The account's pause, or null. A file that is not one still counts as paused (the operator's intent is the file). */
export function readPause(layout: QueueLayout, account: string): Pause | null {
  let text: string
  try {
    text = readRegularText(pausePath(layout, account))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    return {account, since: '?', reason: `unreadable pause record: ${(error as Error).message}`}
  }

  try {
    const data = JSON.parse(text) as Partial<Pause>
    return {account, since: typeof data.since === 'string' ? data.since : '?', reason: typeof data.reason === 'string' ? data.reason : null}
  } catch {
    return {account, since: '?', reason: null}
  }
}

function named(config: Config, account: string): void {
  if (!config.accounts.some((a) => a.name === account)) {
    throw new UserError(`${account}: no such account in ${config.file}`, EXIT_CODES.taskFile, {hint: `accounts: ${config.accounts.map((a) => a.name).join(', ')}`})
  }
}

/** Pauses an account; pausing a paused one keeps its first `since` and says so. */
export async function pauseAccount(config: Config, layout: QueueLayout, account: string, options: {reason?: string; now: Date}): Promise<{pause: Pause; already: boolean}> {
  named(config, account)
  const existing = readPause(layout, account)
  if (existing) return {pause: existing, already: true}
  const pause: Pause = {account, since: options.now.toISOString(), reason: options.reason ?? null}
  await makeStateDir(path.dirname(pausePath(layout, account)))
  await writeFileAtomic(pausePath(layout, account), JSON.stringify(pause, null, 2) + '\n', {mode: STATE_FILE_MODE})
  await appendEvent(layout.events, 'account.paused', {account, reason: pause.reason}, options.now)
  return {pause, already: false}
}

/** Ends a pause; an account that was not paused is fine (nothing to do). */
export async function unpauseAccount(config: Config, layout: QueueLayout, account: string, now: Date): Promise<{was: Pause | null}> {
  named(config, account)
  const was = readPause(layout, account)
  if (was && (await removeIfExists(pausePath(layout, account)))) await appendEvent(layout.events, 'account.unpaused', {account, paused_since: was.since}, now)
  return {was}
}
