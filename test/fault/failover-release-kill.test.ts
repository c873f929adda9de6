// Failover across hosts (SPEC §8, docs/failover.md "Across hosts"): two hosts on one queue (a local folder
// here; test/fleet/two-hosts.test.ts runs it on GlusterFS). vm-a's alpha hits its limit holding a task while
// vm-a's other account is busy; vm-b's gamma is free. vm-a's reconcile releases the task back to pending/
// (its place in line kept) and vm-b's dispatch hands it to gamma, which starts it afresh. Killed at every
// step of the release, the next passes finish it: the task is done once, by gamma, and alpha never got it again.
import {mkdtemp, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {doneBy, expectResumedBy, type Fleet, fleetAccountState, makeFleet, startFleet} from '../support/fleet.js'
import {waitFor} from '../support/loop.js'

let fleet: Fleet | undefined
let base: string | undefined

afterEach(async () => {
  await fleet?.cleanup()
  fleet = undefined
  if (base) await rm(base, {recursive: true, force: true})
  base = undefined
})

async function twoHosts(limited: string[] = ['alpha'], resume = false): Promise<Fleet> {
  base = await mkdtemp(path.join(os.tmpdir(), 'ccl-release-'))
  const queue = path.join(base, 'queue')
  fleet = await makeFleet({
    hosts: [
      {host: 'vm-a', queue, accounts: ['alpha', 'beta']},
      {host: 'vm-b', queue, accounts: ['gamma']},
    ],
    standInEnv: Object.fromEntries(limited.map((account) => [account, {STANDIN_LIMIT_AFTER: '1', STANDIN_NO_AUTO_CONTINUE: '1'}])),
    ...(resume ? {oneSharedRoot: true, config: {failover: {margin: '1s', across_hosts: 'resume'}}} : {}),
  })
  await startFleet(fleet)
  return fleet
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function events(f: Fleet): Promise<Record<string, any>[]> {
  const run = await f.hosts[0]!.ccl(['events', '--json'])
  expect(run.code, run.stderr).toBe(0)
  return JSON.parse(run.stdout).events
}

/** vm-a: alpha does first.md, then is limited holding second.md; beta holds a task of its own (busy). */
async function limitedWithNoLocalAccount(f: Fleet): Promise<void> {
  const a = f.hosts[0]!
  await writeFile(path.join(a.queue, 'active', 'beta', 'long.md'), 'Long.\n')
  await f.addTask('first.md', 'First.\n', 90)
  expect((await a.ccl(['assign', 'first.md', '--account', 'alpha'])).code).toBe(0)
  expect(await waitFor(async () => (await events(f)).some((e) => e.event === 'task.done' && e.task === 'first.md'), 20_000)).toBe(true)
  await f.addTask('second.md', 'Second.\n', 80)
  const second = await a.ccl(['assign', 'second.md', '--account', 'alpha'])
  expect(second.code, second.stderr).toBe(0)
  expect(await waitFor(async () => (await fleetAccountState(f, 'alpha'))?.limited != null, 20_000)).toBe(true)
  expect(await f.where()).toMatchObject({'active/alpha': ['second.md'], 'active/beta': ['long.md'], done: ['first.md']})
  expect((await f.where()).pending).toBeUndefined()
}

/** The timers of both hosts, one round at a time, until second.md is in done/. */
async function settle(f: Fleet): Promise<string> {
  let out = ''
  for (let round = 0; round < 8; round++) {
    for (const host of f.hosts) {
      for (const command of [['reconcile'], ['dispatch']]) {
        const run = await host.ccl(command)
        out += `${host.host} ${command[0]}: ${run.stdout}${run.stderr}`
        expect(run.code, `${host.host} ${command[0]}: ${run.stderr}`).toBe(0)
      }
    }

    if (await waitFor(async () => (await f.where()).done?.includes('second.md') ?? false, 5000)) return out
  }

  throw new Error(`second.md not done:\n${out}`)
}

/** `released`: the task.requeued of the release was logged (a release cut between link and unlink is completed by the next claim, silently). */
async function expectDoneOnceByGamma(f: Fleet, released = 1): Promise<void> {
  expect(await waitFor(async () => doneBy(await f.standInEvents(), 'second.md').length > 0, 5000)).toBe(true)
  await rename(path.join(f.hosts[0]!.queue, 'active', 'beta', 'long.md'), path.join(f.hosts[0]!.queue, 'done', 'long.md'))
  expect(await f.where()).toEqual({done: ['first.md', 'long.md', 'second.md']})
  const log = await f.standInEvents()
  expect(doneBy(log, 'second.md')).toEqual(['gamma'])
  // alpha got second.md once (the prompt it was limited on), never again after the release
  expect(log.filter((e) => e.event === 'received' && e.standIn === 'alpha' && e.prompt?.includes('second.md'))).toHaveLength(1)
  const gammaGot = log.filter((e) => e.event === 'received' && e.standIn === 'gamma')
  expect(gammaGot).toHaveLength(1)
  expect(gammaGot[0]!.prompt).toContain(`Read the task in ${path.join(f.hosts[1]!.queue, 'active', 'gamma', 'second.md')}`)
  const logged = (await events(f)).filter((e) => e.event === 'task.requeued' && e.failover === 'release')
  expect(logged).toEqual(Array.from({length: released}, () => expect.objectContaining({task: 'second.md', account: 'alpha', as: 'second.md', session_id: expect.stringMatching(/^[0-9a-f-]{36}$/)})))
  expect((await events(f)).filter((e) => e.event === 'task.failed_over')).toEqual([])
  for (const host of f.hosts) {
    const fsck = await host.ccl(['fsck'])
    expect(fsck.code, `${host.host} fsck: ${fsck.stdout}${fsck.stderr}`).toBe(0)
  }
}

const POINTS = ['failover.after-begin', 'failover.after-stop', 'move.after-link', 'failover.after-release', 'failover.after-release-restart'] as const

describe('failover across hosts: the task goes back to pending/ for another host', {timeout: 180_000}, () => {
  it('no account of vm-a free, gamma on vm-b free: vm-a releases the task, vm-b starts it afresh; done once', async () => {
    const f = await twoHosts()
    await limitedWithNoLocalAccount(f)
    const pass = await f.hosts[0]!.ccl(['reconcile'])
    expect(pass.code, pass.stderr).toBe(0)
    expect(pass.stdout).toContain('failover: second.md: alpha: back in pending/ for any host of the fleet (gamma on vm-b looked free)')
    expect(await f.where()).toEqual({pending: ['second.md'], 'active/beta': ['long.md'], done: ['first.md']})
    // alpha runs a fresh session (its old one would carry on with second.md at its reset)
    expect(await waitFor(async () => (await f.standInEvents()).filter((e) => e.event === 'session' && e.standIn === 'alpha').length === 2, 10_000)).toBe(true)
    // vm-a's own dispatch has no account for it; vm-b's hands it to gamma
    const dispatchA = await f.hosts[0]!.ccl(['dispatch'])
    expect(dispatchA.code, dispatchA.stderr).toBe(0)
    expect(await f.where()).toMatchObject({pending: ['second.md']})
    await settle(f)
    await expectDoneOnceByGamma(f)
  })

  it('with no free account on any host the task stays with the limited account (nothing released)', async () => {
    const f = await twoHosts()
    await writeFile(path.join(f.hosts[1]!.queue, 'active', 'gamma', 'other.md'), 'Other.\n')
    await limitedWithNoLocalAccount(f)
    const json = JSON.parse((await f.hosts[0]!.ccl(['reconcile', '--json'])).stdout)
    expect(json.failovers).toEqual([expect.objectContaining({task: 'second.md', from: 'alpha', to: null, result: 'waiting'})])
    expect(await f.where()).toMatchObject({'active/alpha': ['second.md']})
    // vm-b's reconcile does not touch vm-a's accounts or journals
    expect((await f.hosts[1]!.ccl(['reconcile'])).code).toBe(0)
    expect(await f.where()).toMatchObject({'active/alpha': ['second.md']})
  })

  it('two accounts of vm-a limited holding a task each, one account free on vm-b: one task released, the other waits', async () => {
    const f = await twoHosts(['alpha', 'beta'])
    const a = f.hosts[0]!
    for (const [account, first, second] of [['alpha', 'a1.md', 'a2.md'], ['beta', 'b1.md', 'b2.md']] as const) {
      await f.addTask(first, `${first}\n`, 90)
      expect((await a.ccl(['assign', first, '--account', account])).code).toBe(0)
      expect(await waitFor(async () => (await events(f)).some((e) => e.event === 'task.done' && e.task === first), 20_000)).toBe(true)
      await f.addTask(second, `${second}\n`, 80)
      expect((await a.ccl(['assign', second, '--account', account])).code).toBe(0)
      expect(await waitFor(async () => (await fleetAccountState(f, account))?.limited != null, 20_000)).toBe(true)
    }

    const json = JSON.parse((await a.ccl(['reconcile', '--json'])).stdout)
    expect(json.failovers.map((o: {task: string; result: string}) => [o.task, o.result])).toEqual([
      ['a2.md', 'done'],
      ['b2.md', 'waiting'],
    ])
    expect(await f.where()).toEqual({pending: ['a2.md'], 'active/beta': ['b2.md'], done: ['a1.md', 'b1.md']})
  })

  for (const point of POINTS) {
    it(`vm-a's reconcile killed at ${point}: the next passes finish the release; done once, by gamma`, async () => {
      const f = await twoHosts()
      await limitedWithNoLocalAccount(f)
      const killed = await f.hosts[0]!.ccl(['reconcile'], {env: {CCL_FAILPOINTS: `${point}=kill`}})
      expect(killed.code, killed.stderr).not.toBe(0)
      // the task is in active/alpha/ or pending/ (a cut move: one file under both names), nowhere else
      const cut = await f.where()
      expect([...(cut['active/alpha'] ?? []), ...(cut.pending ?? [])].every((name) => name === 'second.md')).toBe(true)
      expect(cut['active/gamma']).toBeUndefined()
      // vm-b's dispatch right after the kill: a task cut in two is not handed out
      expect((await f.hosts[1]!.ccl(['dispatch'])).code).toBe(0)
      await settle(f)
      await expectDoneOnceByGamma(f, point === 'move.after-link' ? 0 : 1)
    })
  }
})

describe('failover.across_hosts: resume, every host on one shared root and cwd', {timeout: 180_000}, () => {
  const hints = (f: Fleet) => path.join(f.hosts[0]!.queue, '.ccl', 'failover', 'released')

  async function released(f: Fleet): Promise<string> {
    await limitedWithNoLocalAccount(f)
    const id = (await fleetAccountState(f, 'alpha'))!.session_id as string
    const pass = await f.hosts[0]!.ccl(['reconcile'])
    expect(pass.code, pass.stderr).toBe(0)
    expect(await f.where()).toMatchObject({pending: ['second.md']})
    expect(JSON.parse(await readFile(path.join(hints(f), 'second.md.json'), 'utf8'))).toMatchObject({task: 'second.md', from: 'alpha', host: 'vm-a', session_id: id})
    // both hosts' dispatch leave it for a reconcile that can resume it
    for (const host of f.hosts) {
      const run = await host.ccl(['dispatch', '--json'])
      expect(JSON.parse(run.stdout).entries).toEqual([expect.objectContaining({task: 'second.md', outcome: 'waiting', detail: expect.stringContaining('released by another host')})])
    }

    expect(await f.where()).toMatchObject({pending: ['second.md']})
    return id
  }

  async function resumedByGamma(f: Fleet, id: string): Promise<void> {
    for (let i = 0; i < 6 && !((await f.where()).done ?? []).includes('second.md'); i++) {
      const run = await f.hosts[1]!.ccl(['reconcile'])
      expect(run.code, run.stderr).toBe(0)
      await waitFor(async () => (await f.where()).done?.includes('second.md') ?? false, 6000)
    }

    const told = await expectResumedBy(f, 'second.md', 'gamma', id)
    expect(told).toHaveLength(1)
    expect(told[0]!.session).toBe(id)
    expect(told[0]!.prompt).toContain(`Continue the task you were working on; it is now at ${path.join(f.hosts[1]!.queue, 'active', 'gamma', 'second.md')}`)
    expect((await f.standInEvents()).filter((e) => e.event === 'received' && e.standIn === 'alpha' && e.prompt?.includes('second.md'))).toHaveLength(1)
    expect((await events(f)).filter((e) => e.event === 'task.failed_over')).toEqual([expect.objectContaining({task: 'second.md', from: 'alpha', to: 'gamma', mode: 'resume', session_id: id})])
    await rename(path.join(f.hosts[0]!.queue, 'active', 'beta', 'long.md'), path.join(f.hosts[0]!.queue, 'done', 'long.md'))
    expect(await f.where()).toEqual({done: ['first.md', 'long.md', 'second.md']})
    expect(await readdir(hints(f))).toEqual([])
    expect((await readdir(path.join(f.hosts[0]!.queue, '.ccl', 'failover'))).filter((n) => n.endsWith('.json'))).toEqual([])
    for (const host of f.hosts) expect((await host.ccl(['fsck'])).code).toBe(0)
  }

  it("vm-b's reconcile adopts the released task: gamma resumes alpha's conversation, done once", async () => {
    const f = await twoHosts(['alpha'], true)
    const id = await released(f)
    await resumedByGamma(f, id)
  })

  for (const point of ['failover.after-adopt-begin', 'failover.after-adopt-move', 'failover.after-target-start'] as const) {
    it(`vm-b's reconcile killed at ${point}: the next passes go on; gamma resumes it, done once`, async () => {
      const f = await twoHosts(['alpha'], true)
      const id = await released(f)
      const killed = await f.hosts[1]!.ccl(['reconcile'], {env: {CCL_FAILPOINTS: `${point}=kill`}})
      expect(killed.code, killed.stderr).not.toBe(0)
      // vm-a's passes leave vm-b's adoption alone (its journal is named after alpha)
      expect((await f.hosts[0]!.ccl(['reconcile'])).code).toBe(0)
      expect((await f.hosts[0]!.ccl(['dispatch'])).code).toBe(0)
      await resumedByGamma(f, id)
    })
  }

  it('nobody resumed it in time: once the hint is past its time, dispatch hands it out afresh and reconcile drops the hint', async () => {
    const f = await twoHosts(['alpha'], true)
    await released(f)
    const file = path.join(hints(f), 'second.md.json')
    const hint = JSON.parse(await readFile(file, 'utf8'))
    await writeFile(file, JSON.stringify({...hint, resume_until: new Date(Date.now() - 1000).toISOString()}) + '\n')
    await settle(f)
    await expectDoneOnceByGamma(f)
    expect(await readdir(hints(f))).toEqual([])
  })
})
