import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {emptyAccountState} from '../../src/lib/accounts/state.js'

/**
 * Writes `<state>/accounts/<account>.json` the way `ccl hook` leaves it (the record's version-1
 * shape), for tests of the readers: it is another command's output, an input here.
 */
export async function writeAccountRecord(stateDir: string, account: string, fields: Record<string, unknown>): Promise<void> {
  const record = {...emptyAccountState(account), ...fields}
  await mkdir(path.join(stateDir, 'accounts'), {recursive: true})
  await writeFile(path.join(stateDir, 'accounts', `${account}.json`), JSON.stringify(record, null, 2) + '\n')
}

/** A usage limit as the StopFailure hook records it, resetting at `until`. */
export function limitedFields(until: Date, since: Date = new Date(until.getTime() - 3_600_000)): Record<string, unknown> {
  return {
    limited: {until: until.toISOString(), reason: 'usage-limit', limit: 'five_hour', banner: "You've hit your 5-hour limit", since: since.toISOString()},
    last_event: 'StopFailure',
    last_event_at: since.toISOString(),
  }
}

/** An authentication error as the StopFailure hook records it. */
export function needsLoginFields(since: Date): Record<string, unknown> {
  return {needs_login: {error: 'authentication_failed', message: 'Please run /login', since: since.toISOString()}, last_event: 'StopFailure', last_event_at: since.toISOString()}
}
