// Two hosts, one queue, on GlusterFS (issue 17, SPEC §8): host vm-a reaches the queue through /mnt/ccl-a,
// host vm-b through /mnt/ccl-b (the same folder through two FUSE clients). Each host has its own config,
// tmux server and two accounts running the stand-in for Claude Code with hooks installed; local tasks and
// remote ones (delegated to the fake platform) are in the queue; both hosts' reconcile, dispatch and reap
// run at once, round after round, as their timers would. Meanwhile a session of vm-b is killed mid-task,
// and both accounts of vm-a hit their usage limit holding a task, so with no account of vm-a free their
// tasks go back to pending/ and vm-b does them. Every task is done once; both hosts are sound by fsck.
import {readdir, readFile, rename, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startFakeSecutools, type FakeSecutools} from '../support/fake-secutools.js'
import {doneBy, expectResumedBy, type Fleet, fleetAccountState, makeFleet, startFleet} from '../support/fleet.js'
import {type FleetDir, fleetDir, glusterMounts} from '../support/gluster.js'
import {waitFor} from '../support/loop.js'

const LOCAL = Array.from({length: 10}, (_, i) => `local-${String(i).padStart(2, '0')}.md`)
const REMOTE = Array.from({length: 6}, (_, i) => `remote-${String(i).padStart(2, '0')}.md`)
const PROVIDERS = ['gemini', 'gpu', 'claude-api']

let dir: FleetDir
let fake: FakeSecutools
let fleet: Fleet
let resumeFleet: Fleet | undefined

beforeAll(async () => {
  dir = await fleetDir(await glusterMounts())
  fake = await startFakeSecutools({autoComplete: {afterPolls: 1, cost_usd: 0.01, result: 'remote work done'}})
}, 240_000)

afterAll(async () => {
  await resumeFleet?.cleanup()
  await fleet?.cleanup()
  await fake?.close()
  await dir?.cleanup()
})

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

async function events(): Promise<Json[]> {
  const run = await fleet.hosts[1]!.ccl(['events', '--json'])
  expect(run.code, run.stderr).toBe(0)
  return JSON.parse(run.stdout).events as Json[]
}

async function names(folder: string): Promise<string[]> {
  return (await readdir(path.join(dir.a, 'queue', folder)).catch(() => [] as string[])).sort()
}

/** Nothing left to do: no task or marker in pending/, no task in any active/ folder. */
async function settled(): Promise<boolean> {
  if ((await names('pending')).some((n) => n.endsWith('.md') || n.endsWith('.delegated'))) return false
  for (const host of fleet.hosts) for (const account of host.accounts) if ((await names(`active/${account}`)).some((n) => n.endsWith('.md'))) return false
  return true
}

describe('two hosts on one GlusterFS queue', () => {
  it('local and remote tasks, a session killed, a limit with no free account on its host: every task done once, across both hosts', {timeout: 170_000}, async () => {
    const started = Date.now()
    fleet = await makeFleet({
      hosts: [
        {host: 'vm-a', queue: path.join(dir.a, 'queue'), accounts: ['alpha', 'beta'], workMs: 300},
        {host: 'vm-b', queue: path.join(dir.b, 'queue'), accounts: ['gamma', 'delta'], workMs: 800},
      ],
      // each of vm-a's sessions does one task, then meets its usage limit on the next (reset in an hour);
      // delta works longer, so that its session can be killed mid-task
      standInEnv: {
        alpha: {STANDIN_LIMIT_AFTER: '1', STANDIN_NO_AUTO_CONTINUE: '1'},
        beta: {STANDIN_LIMIT_AFTER: '1', STANDIN_NO_AUTO_CONTINUE: '1'},
        delta: {STANDIN_WORK_MS: '6000'},
      },
      config: {delegation: {base_url: fake.url, providers: PROVIDERS, retries: 2, timeout: '5s'}},
      env: {SECUTOOLS_API_KEY: fake.apiKey, CCL_TEST_BACKOFF_BASE_MS: '1', CCL_TEST_MAX_RETRY_AFTER_MS: '5'},
    })
    await startFleet(fleet)
    for (const [i, name] of LOCAL.entries()) await fleet.addTask(name, `---\nneeds_claude_code: true\n---\nTask ${name}.\n`, 600 - i)
    for (const [i, name] of REMOTE.entries()) await fleet.addTask(name, `---\npreferred_ai: ${PROVIDERS[i % PROVIDERS.length]}\n---\nSummarise ${name}.\n`, 500 - i)

    let killed: {account: string; task: string} | undefined
    let log = ''
    let rounds = 0
    for (; rounds < 40 && !(await settled()); rounds++) {
      // as the timers fire: every host's three commands at once, each unaware of the others
      const runs = await Promise.all(
        fleet.hosts.flatMap((host) => [['reconcile'], ['dispatch'], ['reap']].map(async (command) => ({host: host.host, command: command[0], run: await host.ccl(command)}))),
      )
      for (const {host, command, run} of runs) {
        log += `--- ${host} ${command} (round ${rounds}) exit ${run.code}\n${run.stdout}${run.stderr}`
        // dispatch exits 1 when a task could not be handed out this pass (every account busy): not an error here
        expect(run.code === 0 || (command === 'dispatch' && run.code === 1), `${host} ${command}: ${run.stdout}${run.stderr}`).toBe(true)
      }

      if (!killed) {
        // delta's session working on a task (its prompt received, the task in active/delta/): killed, as a
        // crash would; it counts once the task is still there after the kill (no session can finish it now)
        const task = (await names('active/delta')).find((n) => n.endsWith('.md'))
        const entries = await fleet.standInEvents()
        if (task && entries.some((e) => e.event === 'received' && e.standIn === 'delta' && e.task && path.basename(e.task) === task)) {
          await fleet.hosts[1]!.server.tmux('kill-session', '-t', '=ccl-delta')
          if ((await names('active/delta')).includes(task)) killed = {account: 'delta', task}
        }
      }

      await waitFor(settled, 1500, 100)
    }

    const took = Math.round((Date.now() - started) / 1000)
    console.log(`two hosts on GlusterFS: settled in ${rounds} rounds, ${took} s in all`)
    expect(await settled(), `not settled after ${rounds} rounds:\n${log.slice(-6000)}`).toBe(true)

    // every task in done/ once, under its own name; nothing anywhere else
    expect(await names('done')).toEqual([...LOCAL, ...REMOTE].sort())
    expect((await names('failed')).filter((n) => n.endsWith('.md'))).toEqual([])
    const entries = await fleet.standInEvents()
    for (const task of LOCAL) expect(doneBy(entries, task), `${task} done by`).toHaveLength(1)
    // both hosts worked: some local tasks done on each
    const byHost = (accounts: string[]) => LOCAL.filter((t) => accounts.includes(doneBy(entries, t)[0]!)).length
    expect(byHost(['alpha', 'beta'])).toBeGreaterThan(0)
    expect(byHost(['gamma', 'delta'])).toBeGreaterThan(0)

    // every remote task submitted once and finished once, by whichever host's reap
    const jobs = [...fake.jobs.values()].map((job) => String(job.metadata.task))
    expect(jobs.sort()).toEqual(REMOTE)
    const all = await events()
    expect(all.filter((e) => e.event === 'delegation.completed').map((e) => e.task).sort()).toEqual(REMOTE)
    for (const task of REMOTE) expect((await readFile(path.join(dir.b, 'queue', 'done', task), 'utf8')).match(/<!-- ccl:delegation /g)).toHaveLength(1)

    // the killed session was recreated, and its task requeued (then done once, above)
    expect(killed, 'a vm-b session was killed mid-task').toBeDefined()
    expect(all.some((e) => e.event === 'session.crashed' && e.account === killed!.account)).toBe(true)
    expect(all.some((e) => e.event === 'task.requeued' && e.task === killed!.task && e.account === killed!.account)).toBe(true)
    expect((await fleet.hosts[1]!.server.tmux('list-sessions', '-F', '#{session_name}')).split('\n')).toContain(`ccl-${killed!.account}`)

    // both of vm-a's accounts limited, holding a task each, no account of vm-a free: released for vm-b, done there
    // (one may first have failed over to the other on vm-a, which then met its own limit with it)
    const released = all.filter((e) => e.event === 'task.requeued' && e.failover === 'release')
    expect(released.length).toBeGreaterThan(0)
    for (const e of released) expect(['alpha', 'beta']).toContain(e.account)
    for (const e of released) expect(['gamma', 'delta']).toContain(doneBy(entries, e.task)[0])
    // a limited account gets nothing more (its session restarted idle; a failover's --resume session is a new one)
    for (const account of ['alpha', 'beta']) {
      const limitedAt = entries.find((e) => e.event === 'limited' && e.standIn === account)?.ts
      expect(limitedAt, `${account} met its limit`).toBeDefined()
      expect(entries.filter((e) => e.event === 'received' && e.standIn === account && e.ts > limitedAt!)).toEqual([])
    }

    const failedOver = all.filter((e) => e.event === 'task.failed_over')
    console.log(`released for vm-b: ${released.map((e) => `${e.task} from ${e.account}`).join(', ')}; failed over on vm-a: ${failedOver.map((e) => `${e.task} ${e.from} → ${e.to} (${e.mode})`).join(', ') || 'none'}; killed ${killed!.account} on ${killed!.task}`)

    // no stray file: fsck sound from either host (through either mount); no journal left
    for (const host of fleet.hosts) {
      const fsck = await host.ccl(['fsck'])
      expect(fsck.code, `${host.host}: ${fsck.stdout}${fsck.stderr}`).toBe(0)
    }

    expect((await readdir(path.join(dir.a, 'queue', '.ccl', 'failover')).catch(() => [] as string[])).filter((n) => n.endsWith('.json'))).toEqual([])

    // status on either host shows the whole fleet: its own accounts from its tmux server, the other
    // host's as remote (their owner records were just refreshed), each with its host; the same counts.
    const views = []
    for (const host of fleet.hosts) {
      const run = await host.ccl(['status', '--json'])
      const report = JSON.parse(run.stdout) as {host: string; sessions: {account: string; host: string; state: string}[]; queue: {done: number}; counters: unknown}
      expect(report.host).toBe(host.host)
      const seen = Object.fromEntries(report.sessions.map((s) => [s.account, `${s.host} ${s.host === host.host ? (s.state === 'alive' ? 'own' : s.state) : s.state}`]))
      expect(seen, `${host.host}: ${run.stderr}`).toEqual({alpha: 'vm-a ' + (host.host === 'vm-a' ? 'own' : 'remote'), beta: 'vm-a ' + (host.host === 'vm-a' ? 'own' : 'remote'), gamma: 'vm-b ' + (host.host === 'vm-b' ? 'own' : 'remote'), delta: 'vm-b ' + (host.host === 'vm-b' ? 'own' : 'remote')})
      expect(report.queue.done).toBe(LOCAL.length + REMOTE.length)
      views.push({...(report.counters as Record<string, unknown>), since: 'the run time less 24 h'})
    }

    // One count of the fleet's logs from either host (each log counted once, whichever host reads it).
    expect(views[0]).toEqual(views[1])
  })
})

describe('two hosts on one GlusterFS queue, one shared root on the volume (failover.across_hosts: resume)', () => {
  it("vm-a's limited task is adopted by vm-b, whose account resumes the conversation through its own mount; done once", {timeout: 120_000}, async () => {
    const f = await makeFleet({
      hosts: [
        {host: 'vm-a', queue: path.join(dir.a, 'resume-queue'), accounts: ['alpha', 'beta'], sharedRoot: path.join(dir.a, 'shared')},
        {host: 'vm-b', queue: path.join(dir.b, 'resume-queue'), accounts: ['gamma'], sharedRoot: path.join(dir.b, 'shared')},
      ],
      standInEnv: {alpha: {STANDIN_LIMIT_AFTER: '1', STANDIN_NO_AUTO_CONTINUE: '1'}},
      config: {failover: {margin: '1s', across_hosts: 'resume'}},
      workMs: 200,
    })
    resumeFleet = f
    await startFleet(f)
    const [a, b] = f.hosts as [(typeof f.hosts)[0], (typeof f.hosts)[0]]
    const queue = (...parts: string[]) => path.join(a.queue, ...parts)
    // beta busy with a task of its own; alpha does first.md, then meets its limit on second.md
    await writeFile(queue('active', 'beta', 'long.md'), 'Long.\n')
    await f.addTask('first.md', 'First.\n', 90)
    expect((await a.ccl(['assign', 'first.md', '--account', 'alpha'])).code).toBe(0)
    expect(await waitFor(async () => doneBy(await f.standInEvents(), 'first.md').length > 0, 20_000)).toBe(true)
    await f.addTask('second.md', 'Second.\n', 80)
    expect((await a.ccl(['assign', 'second.md', '--account', 'alpha'])).code).toBe(0)
    expect(await waitFor(async () => (await fleetAccountState(f, 'alpha'))?.limited != null, 20_000)).toBe(true)
    const id = (await fleetAccountState(f, 'alpha'))!.session_id as string

    const released = await a.ccl(['reconcile'])
    expect(released.stdout).toContain('failover: second.md: alpha: back in pending/ for any host of the fleet (gamma on vm-b looked free)')
    for (let i = 0; i < 6 && !(await f.where()).done?.includes('second.md'); i++) {
      // both hosts' timers; dispatch leaves the task to vm-b's reconcile, which adopts it
      for (const host of [a, b]) for (const command of [['reconcile'], ['dispatch']]) expect((await host.ccl(command)).code).toBeLessThanOrEqual(1)
      await waitFor(async () => (await f.where()).done?.includes('second.md') ?? false, 6000)
    }

    // gamma's session came up in alpha's conversation, its transcript read through mount B
    const told = await expectResumedBy(f, 'second.md', 'gamma', id)
    expect(told).toEqual([expect.objectContaining({session: id, prompt: expect.stringContaining(`it is now at ${path.join(b.queue, 'active', 'gamma', 'second.md')}`)})])
    const folders = await readdir(path.join(dir.b, 'shared', 'projects'))
    const found = []
    for (const folder of folders) if ((await readdir(path.join(dir.b, 'shared', 'projects', folder))).includes(`${id}.jsonl`)) found.push(folder)
    expect(found, 'one transcript of the conversation in the shared projects/').toHaveLength(1)
    const transcript = await readFile(path.join(dir.b, 'shared', 'projects', found[0]!, `${id}.jsonl`), 'utf8')
    expect(transcript).toContain(path.join(a.queue, 'active', 'alpha', 'second.md'))
    expect(transcript).toContain('Continue the task you were working on')
    const run = await b.ccl(['events', '--json'])
    const failedOver = (JSON.parse(run.stdout).events as Json[]).filter((e) => e.event === 'task.failed_over')
    expect(failedOver).toEqual([expect.objectContaining({task: 'second.md', from: 'alpha', to: 'gamma', mode: 'resume', session_id: id})])
    await rename(queue('active', 'beta', 'long.md'), queue('done', 'long.md'))
    expect(await f.where()).toEqual({done: ['first.md', 'long.md', 'second.md']})
    for (const host of f.hosts) {
      const fsck = await host.ccl(['fsck'])
      expect(fsck.code, `${host.host}: ${fsck.stdout}${fsck.stderr}`).toBe(0)
    }
  })
})
