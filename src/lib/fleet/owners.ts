// Which host of a fleet runs each account (SPEC §8: account names are unique in the fleet). Every
// reconcile pass of a host claims the accounts of its config in `<state>/fleet/accounts/<name>.json`:
// created exclusively the first time, its mtime refreshed by every pass after. A host whose config
// names an account another host holds refuses to start it until that host has not refreshed the
// record for OWNER_STALE_MS (it was shut down, or the account was moved out of its config).
import {mkdir, readdir, readFile, stat, utimes} from 'node:fs/promises'
import path from 'node:path'

import {NAME} from '../config/rules.js'
import {createExclusive, writeFileAtomic} from '../queue/files.js'
import {currentHost} from '../queue/holder.js'
import {type QueueLayout, STATE_DIR_MODE, STATE_FILE_MODE} from '../queue/layout.js'
import {printable} from '../render/names.js'

/** How long a host's claim on an account outlives its last reconcile pass. */
export const OWNER_STALE_MS = 10 * 60_000

export interface AccountOwner {
  host: string
  since: string
}

/** Another host holds the account: who, and when it last said so. */
export interface OwnedElsewhere {
  host: string
  refreshedAt: Date
}

export function ownersDir(layout: Pick<QueueLayout, 'state'>): string {
  return path.join(layout.state, 'fleet', 'accounts')
}

async function readOwner(file: string): Promise<{owner: AccountOwner | null; mtime: Date} | null> {
  try {
    const [text, info] = await Promise.all([readFile(file, 'utf8'), stat(file)])
    let owner: AccountOwner | null = null
    try {
      const data = JSON.parse(text) as Partial<AccountOwner>
      if (typeof data.host === 'string' && typeof data.since === 'string') owner = {host: data.host, since: data.since}
    } catch {
      // torn or foreign: nobody holds it
    }
    return {owner, mtime: info.mtime}
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

/**
 * Claims `account` for this host, or says which host holds it. Read-only under `dryRun` (a free or
 * stale record is reported as ours, nothing written).
 */
export async function claimAccount(layout: Pick<QueueLayout, 'state'>, account: string, now: Date, options: {dryRun?: boolean} = {}): Promise<OwnedElsewhere | null> {
  const dir = ownersDir(layout)
  const file = path.join(dir, `${account}.json`)
  const host = currentHost()
  const record = `${JSON.stringify({host, since: now.toISOString()} satisfies AccountOwner)}\n`
  for (let attempt = 0; attempt < 3; attempt++) {
    const found = await readOwner(file)
    if (found?.owner?.host === host) {
      if (!options.dryRun) await utimes(file, now, now)
      return null
    }

    if (found?.owner && now.getTime() - found.mtime.getTime() < OWNER_STALE_MS) return {host: found.owner.host, refreshedAt: found.mtime}
    if (options.dryRun) return null
    if (found === null) {
      await mkdir(dir, {recursive: true, mode: STATE_DIR_MODE})
      if (await createExclusive(file, record, {mode: STATE_FILE_MODE})) {
        await utimes(file, now, now) // its age is measured on the passes' clock
        return null
      }

      continue // another host created it first: read who
    }

    // A stale or unreadable record: take it over, then read it back, since another host may have done the same.
    await writeFileAtomic(file, record, {mode: STATE_FILE_MODE})
    await utimes(file, now, now)
    const after = await readOwner(file)
    if (after?.owner?.host === host) return null
  }

  const found = await readOwner(file)
  return found?.owner ? {host: found.owner.host, refreshedAt: found.mtime} : null
}

/** Whether an owner record last refreshed at `refreshedAt` still holds its account (claimAccount's rule). */
export function ownerFresh(refreshedAt: Date, now: Date): boolean {
  return now.getTime() - refreshedAt.getTime() < OWNER_STALE_MS
}

/** One record of `<state>/fleet/accounts/`: its account, who wrote it (null when torn or foreign) and its last refresh. */
export interface OwnerEntry {
  account: string
  owner: AccountOwner | null
  refreshedAt: Date
}

/**
 * Every owner record of the fleet, by account name (what `ccl status` shows another host's accounts
 * from). Read-only; a name that is no account name (a temp file of a write cut by a kill) is skipped.
 */
export async function listOwners(layout: Pick<QueueLayout, 'state'>): Promise<OwnerEntry[]> {
  let names: string[]
  try {
    names = await readdir(ownersDir(layout))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }

  const accounts = names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -'.json'.length)).filter((n) => NAME.test(n)).sort()
  const found = await Promise.all(accounts.map(async (account) => ({account, found: await readOwner(path.join(ownersDir(layout), `${account}.json`))})))
  return found.flatMap(({account, found: f}) => (f ? [{account, owner: f.owner, refreshedAt: f.mtime}] : []))
}

/** The line an operator reads for an account another host holds. */
export function ownedElsewhereMessage(account: string, elsewhere: OwnedElsewhere, now: Date): string {
  const ago = Math.max(0, Math.round((now.getTime() - elsewhere.refreshedAt.getTime()) / 1000))
  const host = printable(elsewhere.host)
  return `account ${account} is run by host ${host} (its last reconcile ${ago}s ago): account names must be unique in the fleet; not started here (rename it in one config, or remove it from ${host}'s and wait ${OWNER_STALE_MS / 60_000} minutes)`
}
