import {mkdtemp, readFile, rm, utimes, writeFile, mkdir} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {claimAccount, OWNER_STALE_MS, ownedElsewhereMessage, ownersDir} from '../../src/lib/fleet/owners.js'
import {setHostName} from '../../src/lib/queue/holder.js'

describe('account owners in the fleet (one host per account name)', () => {
  let state: string
  const layout = () => ({state})
  const file = (name: string) => path.join(ownersDir(layout()), `${name}.json`)
  const at = (ms: number) => new Date(Date.parse('2026-12-02T10:00:00Z') + ms)

  beforeEach(async () => {
    state = await mkdtemp(path.join(os.tmpdir(), 'ccl-owners-'))
  })

  afterEach(async () => {
    setHostName(os.hostname())
    await rm(state, {recursive: true, force: true})
  })

  it('the first host claims it; another host is refused while the claim is fresh; the first keeps it by refreshing', async () => {
    setHostName('vm-a')
    expect(await claimAccount(layout(), 'alpha', at(0))).toBeNull()
    expect(JSON.parse(await readFile(file('alpha'), 'utf8'))).toEqual({host: 'vm-a', since: at(0).toISOString()})
    setHostName('vm-b')
    const refused = await claimAccount(layout(), 'alpha', at(60_000))
    expect(refused).toEqual({host: 'vm-a', refreshedAt: at(0)})
    expect(ownedElsewhereMessage('alpha', refused!, at(60_000))).toBe(
      "account alpha is run by host vm-a (its last reconcile 60s ago): account names must be unique in the fleet; not started here (rename it in one config, or remove it from vm-a's and wait 10 minutes)",
    )
    setHostName('vm-a')
    expect(await claimAccount(layout(), 'alpha', at(OWNER_STALE_MS))).toBeNull() // refreshed: mtime now at(OWNER_STALE_MS)
    setHostName('vm-b')
    expect(await claimAccount(layout(), 'alpha', at(2 * OWNER_STALE_MS - 1000))).toEqual({host: 'vm-a', refreshedAt: at(OWNER_STALE_MS)})
  })

  it('a claim not refreshed for OWNER_STALE_MS is taken over by the next host', async () => {
    setHostName('vm-a')
    await claimAccount(layout(), 'alpha', at(0))
    setHostName('vm-b')
    expect(await claimAccount(layout(), 'alpha', at(OWNER_STALE_MS))).toBeNull()
    expect(JSON.parse(await readFile(file('alpha'), 'utf8'))).toMatchObject({host: 'vm-b'})
    setHostName('vm-a')
    expect(await claimAccount(layout(), 'alpha', at(OWNER_STALE_MS + 1000))).toMatchObject({host: 'vm-b'})
  })

  it('dry run claims nothing and refreshes nothing; a torn record is nobody\'s', async () => {
    setHostName('vm-a')
    expect(await claimAccount(layout(), 'beta', at(0), {dryRun: true})).toBeNull()
    await expect(readFile(file('beta'))).rejects.toMatchObject({code: 'ENOENT'})
    await mkdir(ownersDir(layout()), {recursive: true})
    await writeFile(file('beta'), '{"host": "vm-')
    await utimes(file('beta'), at(0), at(0))
    expect(await claimAccount(layout(), 'beta', at(1000))).toBeNull()
    expect(JSON.parse(await readFile(file('beta'), 'utf8'))).toMatchObject({host: 'vm-a'})
  })

  it("a host name with control characters is escaped in the message", () => {
    expect(ownedElsewhereMessage('alpha', {host: 'vm\nfake', refreshedAt: at(0)}, at(0))).toContain('host vm\\nfake')
  })
})
