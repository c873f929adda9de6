// `ccl status` on any host shows the whole fleet (SPEC §8): two configs (hosts vm-a and vm-b) on one
// queue and state folder, each host's accounts claimed in <state>/fleet/accounts/ as reconcile does.
import os from 'node:os'
import {mkdir, utimes, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {claimAccount, OWNER_STALE_MS, ownersDir} from '../../src/lib/fleet/owners.js'
import {setHostName} from '../../src/lib/queue/holder.js'
import {limitedFields, writeAccountRecord} from '../support/accounts.js'
import {checkExposition} from '../support/exposition.js'
import {linkAll, makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
const socket = () => `ccl-test-none-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
const state = () => path.join(sandbox.queue, '.ccl')
const layout = () => ({state: state()})

beforeEach(async () => {
  sandbox = await makeSandbox({accounts: ['alpha', 'beta', 'gamma']})
  await linkAll(sandbox)
})
afterEach(async () => {
  setHostName(os.hostname())
  await sandbox.cleanup()
})

/** The config of one host: the sandbox's accounts named, on one queue (state <queue>/.ccl by default). */
async function hostConfig(host: string, accounts: string[]): Promise<string> {
  const all = sandbox.config.accounts as {name: string}[]
  const file = path.join(sandbox.dir, `${host}.yaml`)
  const {stringify} = await import('yaml')
  await writeFile(file, stringify({...sandbox.config, host, tmux: {socket: socket()}, accounts: all.filter((a) => accounts.includes(a.name))}))
  return file
}

/** What reconcile on `host` leaves for `account`: its owner record, last refreshed `agoMs` ago. */
async function owned(host: string, account: string, agoMs: number): Promise<void> {
  const at = new Date(Date.now() - agoMs)
  setHostName(host)
  expect(await claimAccount(layout(), account, at)).toBeNull()
  setHostName(os.hostname())
  const file = path.join(ownersDir(layout()), `${account}.json`)
  await utimes(file, at, at)
}

async function task(account: string, name: string): Promise<void> {
  const dir = path.join(sandbox.queue, 'active', account)
  await mkdir(dir, {recursive: true})
  await writeFile(path.join(dir, name), 'do it\n')
}

const status = (config: string, args: string[] = []) => runCcl(['status', '--config', config, ...args], {cwd: sandbox.dir})

interface Row {
  account: string
  host: string
  session: string | null
  state: string
  activity: string
  task: string | null
  owner_refreshed_at: string | null
}

describe('ccl status: the whole fleet', () => {
  it("from vm-a: vm-b's accounts with host vm-b, remote while its owner record is fresh, stale (never dead) once older than 10 minutes", async () => {
    const a = await hostConfig('vm-a', ['alpha'])
    const b = await hostConfig('vm-b', ['beta', 'gamma'])
    await owned('vm-a', 'alpha', 0)
    await owned('vm-b', 'beta', 60_000)
    await owned('vm-b', 'gamma', OWNER_STALE_MS + 60_000)
    // What the shared state knows of beta: its hooks said it is limited, and it holds a task.
    await writeAccountRecord(state(), 'beta', limitedFields(new Date(Date.now() + 3_600_000)))
    await task('beta', 'ported.md')

    const run = await status(a, ['--json'])
    expect(run.stderr).toBe('')
    const report = JSON.parse(run.stdout)
    expect(report.host).toBe('vm-a')
    const rows = report.sessions as Row[]
    expect(rows.map((s) => [s.account, s.host, s.session, s.state])).toEqual([
      ['alpha', 'vm-a', 'ccl-alpha', 'absent'],
      ['beta', 'vm-b', null, 'remote'],
      ['gamma', 'vm-b', null, 'stale'],
    ])
    expect(rows[0]!.owner_refreshed_at).toBeNull()
    expect(Date.parse(rows[1]!.owner_refreshed_at!)).toBeGreaterThan(Date.now() - 120_000)
    expect(rows[1]).toMatchObject({activity: 'limited', task: 'ported.md'})
    expect(report.active).toEqual([expect.objectContaining({account: 'beta', task: 'ported.md', host: 'vm-b'})])
    expect(report.warnings).toContainEqual(expect.stringMatching(/^account gamma of host vm-b: its owner record was last refreshed 11 min ago \(more than 10\): is ccl reconcile running on vm-b\?/))

    const human = await status(a)
    expect(human.stdout.split('\n')[0]).toBe('ok: nothing needs an operator (0/1 sessions alive, 2 accounts on other hosts, 0 pending, 1 active, 0 delegated)')
    expect(human.stdout).toMatch(/^account +host +session +state +activity/m)
    expect(human.stdout).toMatch(/^alpha +vm-a +ccl-alpha +absent +dead +- +- +0 +no$/m)
    expect(human.stdout).toMatch(/^beta +vm-b +- +remote +limited until .+ported\.md/m)
    expect(human.stdout).toMatch(/^gamma +vm-b +- +stale +free +- +- +0 +no$/m)
    expect(human.stdout).toContain('attach: tmux -L ')

    // The same fleet from vm-b: alpha is vm-a's, beta and gamma its own (asked of its own tmux server).
    const fromB = JSON.parse((await status(b, ['--json'])).stdout)
    expect((fromB.sessions as Row[]).map((s) => [s.account, s.host, s.state])).toEqual([
      ['beta', 'vm-b', 'absent'],
      ['gamma', 'vm-b', 'absent'],
      ['alpha', 'vm-a', 'remote'],
    ])
    expect(fromB.host).toBe('vm-b')
  })

  it('the owner record refreshed again (its mtime): stale turns back to remote', async () => {
    const a = await hostConfig('vm-a', ['alpha'])
    await owned('vm-b', 'beta', OWNER_STALE_MS + 1000)
    const state0 = JSON.parse((await status(a, ['--json'])).stdout).sessions.find((s: Row) => s.account === 'beta').state
    const file = path.join(ownersDir(layout()), 'beta.json')
    const now = new Date()
    await utimes(file, now, now)
    const state1 = JSON.parse((await status(a, ['--json'])).stdout).sessions.find((s: Row) => s.account === 'beta').state
    expect([state0, state1]).toEqual(['stale', 'remote'])
  })

  it("a task in the folder of an account no host claims: its hand-off record's host holds it; none: null", async () => {
    const a = await hostConfig('vm-a', ['alpha'])
    await task('delta', 'orphan.md')
    await task('epsilon', 'nobody.md')
    await mkdir(path.join(state(), 'handoff'), {recursive: true})
    const holder = {host: 'vm-c', pid: 4242, pid_start: null, boot_id: null}
    const record = {holder, nonce: 'n-1', version: 2, account: 'delta', task: 'orphan.md', state: 'delivered', started_at: new Date().toISOString(), pending_mtime_ms: 0, delivered_at: null}
    await writeFile(path.join(state(), 'handoff', 'delta.json'), JSON.stringify(record) + '\n')
    const report = JSON.parse((await status(a, ['--json'])).stdout)
    expect(report.active.map((t: {account: string; host: string | null}) => [t.account, t.host])).toEqual([
      ['delta', 'vm-c'],
      ['epsilon', null],
    ])
  })

  it('--prometheus: a valid host label on per-session metrics, and ccl_account_owner_fresh for the other hosts', async () => {
    const a = await hostConfig('vm-a', ['alpha'])
    await owned('vm-b', 'beta', 60_000)
    await owned('vm-b', 'gamma', OWNER_STALE_MS + 60_000)
    await writeAccountRecord(state(), 'beta', limitedFields(new Date(Date.now() + 3_600_000)))
    const run = await status(a, ['--prometheus'])
    const {errors, samples} = checkExposition(run.stdout)
    expect(errors).toEqual([])
    const pick = (name: string) => samples.filter((s) => s.name === name).map((s) => [s.labels, s.value])
    expect(pick('ccl_session_up')).toEqual([[{account: 'alpha', host: 'vm-a'}, 0]])
    expect(pick('ccl_account_owner_fresh')).toEqual([
      [{account: 'beta', host: 'vm-b'}, 1],
      [{account: 'gamma', host: 'vm-b'}, 0],
    ])
    expect(pick('ccl_account_limited')).toEqual([
      [{account: 'alpha', host: 'vm-a'}, 0],
      [{account: 'beta', host: 'vm-b'}, 1],
      [{account: 'gamma', host: 'vm-b'}, 0],
    ])
  })

  it('a single host (only its own owner records): the accounts of its config, each with its host, as before', async () => {
    const a = await hostConfig('vm-a', ['alpha', 'beta'])
    await owned('vm-a', 'alpha', 0)
    await owned('vm-a', 'beta', 0)
    // A record of this host for an account no longer in its config is nobody's now: not shown.
    await owned('vm-a', 'gamma', 0)
    const report = JSON.parse((await status(a, ['--json'])).stdout)
    expect((report.sessions as Row[]).map((s) => [s.account, s.host, s.state])).toEqual([
      ['alpha', 'vm-a', 'absent'],
      ['beta', 'vm-a', 'absent'],
    ])
    expect((await status(a)).stdout.split('\n')[0]).toBe('ok: nothing needs an operator (0/2 sessions alive, 0 pending, 0 active, 0 delegated)')
  })

  it("a torn owner record (a foreign file) is a warning and no host's account; a write's temp file is no record at all", async () => {
    const a = await hostConfig('vm-a', ['alpha'])
    await mkdir(ownersDir(layout()), {recursive: true})
    await writeFile(path.join(ownersDir(layout()), 'zeta.json'), '{"host": "vm-')
    await writeFile(path.join(ownersDir(layout()), '.ccl-tmp-zeta.json'), JSON.stringify({host: 'vm-b', since: new Date().toISOString()}))
    const report = JSON.parse((await status(a, ['--json'])).stdout)
    expect((report.sessions as Row[]).map((s) => s.account)).toEqual(['alpha'])
    expect(report.warnings).toContain(`${path.join(ownersDir(layout()), 'zeta.json')}: not an owner record (torn or foreign): account zeta shown as no host's`)
  })
})
