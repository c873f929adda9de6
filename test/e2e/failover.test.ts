// Failover end to end (issue 13): the stand-in for Claude Code in a private tmux server, its hooks
// running `ccl hook`, transcripts under the shared projects/, and `ccl reconcile` as cron runs it.
import {readFile, rename, rm, truncate, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it, onTestFinished} from 'vitest'

import {accountState, doneBy, doneLog, events, exactlyOnceInDone, limitedOnSecond, reconcileUntil, type Setup, started as startLoop} from '../support/failover.js'
import {startFakeSecutools} from '../support/fake-secutools.js'
import {type LoopSandbox, waitFor} from '../support/loop.js'

let loop: LoopSandbox | undefined

afterEach(async () => {
  await loop?.cleanup()
  loop = undefined
})

async function started(setup: Setup = {}): Promise<LoopSandbox> {
  loop = await startLoop(setup)
  return loop
}

/** The account's stand-in shows the folder-trust dialog until its home trusts the cwd. */
function withTrustDialog(l: LoopSandbox, name: string): void {
  const accounts = l.sandbox.config.accounts as {name: string; command: string}[]
  for (const account of accounts) if (account.name === name) account.command = `STANDIN_TRUST_DIALOG=1 ${account.command}`
}

describe('failover with the stand-in', {timeout: 240_000}, () => {
  it("a limited account's task is finished by another account in the same conversation, exactly once; the limited one restarts idle, then works again after its reset", async () => {
    // A reset on a whole minute at least 20 s away: the banner shows minutes.
    const resetsAt = new Date(Math.ceil((Date.now() + 20_000) / 60_000) * 60_000)
    const l = await started({standInEnv: {alpha: {STANDIN_LIMIT_AFTER: '1', STANDIN_LIMIT_RESETS_AT: resetsAt.toISOString()}}})
    const id = await limitedOnSecond(l)

    const pass = await reconcileUntil(l, async () => (await l.where()).done?.includes('second.md') ?? false)
    expect(pass.stdout).toContain(`failover: second.md: alpha → beta: beta resumed alpha's conversation ${id}`)
    await exactlyOnceInDone(l, ['first.md', 'second.md'])

    const log = await doneLog(l, ['first.md', 'second.md'])
    // beta came up resuming alpha's conversation: SessionStart source resume, the same id
    expect(log.filter((e) => e.event === 'session' && e.standIn === 'beta').at(-1)).toMatchObject({source: 'resume', session: id})
    const told = log.filter((e) => e.event === 'received' && e.standIn === 'beta')
    expect(told).toHaveLength(1)
    expect(told[0]!.session).toBe(id)
    expect(told[0]!.prompt).toContain(`Continue the task you were working on; it is now at ${path.join(l.sandbox.queue, 'active', 'beta', 'second.md')}`)
    expect(doneBy(log, 'second.md')).toEqual(['beta'])
    // the conversation is one transcript in the shared projects/: alpha's turns, then beta's
    const transcript = await readFile(told[0]!.transcript ?? log.find((e) => e.event === 'session' && e.session === id)!.transcript!, 'utf8')
    expect(transcript).toContain(path.join('active', 'alpha', 'second.md'))
    expect(transcript).toContain('Continue the task you were working on')

    const failedOver = (await events(l)).filter((e) => e.event === 'task.failed_over')
    expect(failedOver).toEqual([expect.objectContaining({task: 'second.md', from: 'alpha', to: 'beta', session_id: id, mode: 'resume'})])
    expect(await waitFor(async () => (await events(l)).some((e) => e.event === 'task.done' && e.task === 'second.md' && e.account === 'beta'), 10_000)).toBe(true)

    // alpha runs a fresh session (not its old conversation), stays limited and gets nothing until its reset
    const alphaSessions = log.filter((e) => e.event === 'session' && e.standIn === 'alpha')
    expect(alphaSessions).toHaveLength(2)
    expect(alphaSessions[1]).toMatchObject({source: 'startup'})
    expect(alphaSessions[1]!.session).not.toBe(id)
    expect((await accountState(l, 'alpha'))?.limited).toMatchObject({reason: 'usage-limit'})
    await l.addTask('third.md', 'Third.\n', 70)
    const refused = await l.ccl(['assign', 'third.md', '--account', 'alpha'])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toMatch(/alpha: limited until/)
    // alpha's old session never carried on with second.md at the reset: it was killed
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, resetsAt.getTime() + 1500 - Date.now())))
    const again = await l.ccl(['assign', 'third.md', '--account', 'alpha'])
    expect(again.code, again.stderr).toBe(0)
    expect(await waitFor(async () => (await l.where()).done?.includes('third.md') ?? false, 20_000)).toBe(true)
    const after = await doneLog(l, ['second.md', 'third.md'])
    expect(after.filter((e) => e.event === 'continued')).toEqual([])
    expect(doneBy(after, 'third.md')).toEqual(['alpha'])
    expect(doneBy(after, 'second.md')).toEqual(['beta'])
    await exactlyOnceInDone(l, ['first.md', 'second.md', 'third.md'])
  })

  it('no free account: the task waits with the limited account, and moves when another frees up', async () => {
    const l = await started({standInEnv: {alpha: {STANDIN_LIMIT_AFTER: '1'}}})
    // beta holds a task (one an operator put there by hand): busy
    await writeFile(path.join(l.sandbox.queue, 'active', 'beta', 'long.md'), 'Long.\n')
    const id = await limitedOnSecond(l)

    const waiting = await l.ccl(['reconcile'])
    expect(waiting.code, waiting.stderr).toBe(0)
    expect(waiting.stdout).not.toContain('failover') // a state, not an action: cron mails nothing
    expect(await l.where()).toEqual({done: ['first.md'], 'active/alpha': ['second.md'], 'active/beta': ['long.md']})
    const json = JSON.parse((await l.ccl(['reconcile', '--json'])).stdout)
    expect(json.failovers).toEqual([expect.objectContaining({task: 'second.md', from: 'alpha', to: null, result: 'waiting', detail: expect.stringMatching(/^waiting for a free account \(alpha limited until \S+\)$/)})])
    expect((await events(l)).filter((e) => e.event === 'task.failed_over')).toEqual([])

    // beta's task is finished (by hand here): beta is free, and the next pass hands it second.md
    await rename(path.join(l.sandbox.queue, 'active', 'beta', 'long.md'), path.join(l.sandbox.queue, 'done', 'long.md'))
    const moved = await reconcileUntil(l, async () => (await l.where()).done?.includes('second.md') ?? false)
    expect(moved.stdout).toContain(`beta resumed alpha's conversation ${id}`)
    expect(doneBy(await doneLog(l, ['second.md']), 'second.md')).toEqual(['beta'])
    await exactlyOnceInDone(l, ['first.md', 'long.md', 'second.md'])
  })

  it('resume impossible (the accounts run in different cwds): a fresh start on the other account, and reconcile warns about the cwds', async () => {
    const other = path.join(os.tmpdir(), `ccl-other-cwd-${process.pid}-${Date.now()}`)
    const l = await started({standInEnv: {alpha: {STANDIN_LIMIT_AFTER: '1'}}, cwds: {beta: other}})
    onTestFinished(() => rm(other, {recursive: true, force: true}))
    const id = await limitedOnSecond(l)
    const pass = await reconcileUntil(l, async () => (await l.where()).done?.includes('second.md') ?? false)
    expect(pass.stderr).toMatch(/warning: accounts run in different cwds \(alpha in \S+; beta in \S+ccl-other-cwd-\S+\)/)
    expect(pass.stdout).toContain("failover: second.md: alpha → beta: beta started it afresh (the accounts' cwds differ")
    const log = await l.standInEvents()
    expect(log.filter((e) => e.event === 'session' && e.standIn === 'beta').at(-1)).toMatchObject({source: 'startup'})
    const told = log.filter((e) => e.event === 'received' && e.standIn === 'beta')
    expect(told).toHaveLength(1)
    expect(told[0]!.session).not.toBe(id)
    expect(told[0]!.prompt).toContain('Read the task in') // the assign prompt: it starts afresh
    expect((await events(l)).filter((e) => e.event === 'task.failed_over')).toEqual([expect.objectContaining({task: 'second.md', from: 'alpha', to: 'beta', mode: 'fresh', why: expect.stringContaining("cwds differ")})])
    await exactlyOnceInDone(l, ['first.md', 'second.md'])
  })

  it("the --resume fails (Claude Code: No conversation found): it falls back to a fresh start on the same account", async () => {
    const l = await started({standInEnv: {alpha: {STANDIN_LIMIT_AFTER: '1'}}})
    const id = await limitedOnSecond(l)
    // the transcript is there but empty: the stand-in, as Claude Code, finds no conversation in it
    const transcript = (await l.standInEvents()).find((e) => e.event === 'session' && e.session === id)!.transcript!
    await truncate(transcript, 0)
    const pass = await reconcileUntil(l, async () => (await l.where()).done?.includes('second.md') ?? false)
    expect(pass.stderr).toContain('beta could not resume')
    const failedOver = (await events(l)).filter((e) => e.event === 'task.failed_over')
    expect(failedOver).toEqual([expect.objectContaining({task: 'second.md', to: 'beta', mode: 'fresh', why: expect.stringMatching(/No conversation found|exited at start/)})])
    const told = (await l.standInEvents()).filter((e) => e.event === 'received' && e.standIn === 'beta')
    expect(told).toHaveLength(1)
    expect(told[0]!.prompt).toContain('Read the task in')
    await exactlyOnceInDone(l, ['first.md', 'second.md'])
  })

  it("after the reset, with no account free meanwhile: a session that did not carry on gets the continue prompt in its own conversation; one that carried on by itself (Claude Code >= 2.1.234) gets nothing", async () => {
    const resetsAt = new Date(Math.ceil((Date.now() + 20_000) / 60_000) * 60_000)
    const limit = {STANDIN_LIMIT_AFTER: '1', STANDIN_LIMIT_RESETS_AT: resetsAt.toISOString()}
    const l = await started({
      // alpha as Claude Code before 2.1.234 (or with the automatic continuation cancelled); beta carries on by itself
      standInEnv: {alpha: {...limit, STANDIN_NO_AUTO_CONTINUE: '1'}, beta: limit},
    })
    const ids: Record<string, string> = {}
    for (const [account, first, second] of [['alpha', 'a1.md', 'a2.md'], ['beta', 'b1.md', 'b2.md']] as const) {
      await l.addTask(first, `${first}\n`, 90)
      expect((await l.ccl(['assign', first, '--account', account])).code).toBe(0)
      expect(await waitFor(async () => (await events(l)).some((e) => e.event === 'task.done' && e.task === first), 20_000)).toBe(true)
      await l.addTask(second, `${second}\n`, 80)
      expect((await l.ccl(['assign', second, '--account', account])).code).toBe(0)
      expect(await waitFor(async () => (await accountState(l, account))?.limited != null, 20_000)).toBe(true)
      ids[account] = (await accountState(l, account))!.session_id as string
    }

    // both limited, both holding a task: each waits
    const before = JSON.parse((await l.ccl(['reconcile', '--json'])).stdout)
    expect(before.failovers.map((f: {task: string; result: string}) => [f.task, f.result])).toEqual([
      ['a2.md', 'waiting'],
      ['b2.md', 'waiting'],
    ])
    // beta's session carries on at the reset by itself (its UserPromptSubmit recorded); then ccl's pass
    expect(await waitFor(async () => (await l.standInEvents()).some((e) => e.event === 'continued' && e.standIn === 'beta'), resetsAt.getTime() - Date.now() + 20_000)).toBe(true)
    expect(await waitFor(async () => ((await accountState(l, 'beta'))?.prompts as {at: string}[]).some((p) => Date.parse(p.at) >= resetsAt.getTime() - 1000), 10_000)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, resetsAt.getTime() + 1500 - Date.now())))
    const pass = await reconcileUntil(l, async () => {
      const done = (await l.where()).done ?? []
      return done.includes('a2.md') && done.includes('b2.md')
    })
    expect(pass.stdout).toContain("failover: a2.md: alpha (in place): continued in alpha's own conversation")
    expect(pass.stdout).not.toContain('b2.md')
    const log = await doneLog(l, ['a2.md', 'b2.md'])
    for (const account of ['alpha', 'beta']) expect(log.filter((e) => e.event === 'session' && e.standIn === account)).toHaveLength(1) // none restarted
    const continued = log.filter((e) => e.event === 'received' && e.prompt?.includes('Continue the task you were working on'))
    expect(continued).toEqual([expect.objectContaining({standIn: 'alpha', session: ids.alpha})])
    expect(doneBy(log, 'a2.md')).toEqual(['alpha'])
    expect(doneBy(log, 'b2.md')).toEqual(['beta'])
    expect((await events(l)).filter((e) => e.event === 'task.failed_over')).toEqual([expect.objectContaining({from: 'alpha', to: 'alpha', mode: 'resume', session_id: ids.alpha})])
    await exactlyOnceInDone(l, ['a1.md', 'a2.md', 'b1.md', 'b2.md'])
  })

  it("a target showing Claude Code's folder-trust dialog: reported as waiting, nothing pasted into it; once answered, the failover goes on", async () => {
    const l = await started({standInEnv: {alpha: {STANDIN_LIMIT_AFTER: '1'}}})
    const id = await limitedOnSecond(l)
    // beta's home forgets it trusted the folder: its next start shows the dialog (as a new home does)
    await writeFile(path.join(l.sandbox.homes.beta!, '.claude.json'), '{}\n')
    withTrustDialog(l, 'beta')
    await l.sandbox.writeConfig()

    const first = await l.ccl(['reconcile'])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toContain("under way: ccl-beta shows Claude Code's folder-trust dialog")
    expect(await l.where()).toMatchObject({'active/beta': ['second.md']})
    const status = JSON.parse((await l.ccl(['status', '--json'])).stdout)
    expect(status.sessions.find((s: {account: string}) => s.account === 'beta')).toMatchObject({activity: 'waiting'})
    expect((await events(l)).filter((e) => e.event === 'session.waiting')).toEqual([expect.objectContaining({account: 'beta', reason: 'folder-trust'})])
    expect((await l.standInEvents()).filter((e) => e.event === 'swallowed')).toEqual([])

    // the operator answers it ("Yes, I trust this folder")
    await l.server.tmux('send-keys', '-t', '=ccl-beta:', '2')
    await reconcileUntil(l, async () => (await l.where()).done?.includes('second.md') ?? false)
    const told = (await l.standInEvents()).filter((e) => e.event === 'received' && e.standIn === 'beta')
    expect(told).toEqual([expect.objectContaining({session: id})])
    await exactlyOnceInDone(l, ['first.md', 'second.md'])
  })

  it('a session showing the folder-trust dialog gets no task (a paste would be swallowed), and status says it waits', async () => {
    const l = await started({accounts: ['alpha']})
    withTrustDialog(l, 'alpha')
    await l.sandbox.writeConfig()
    await writeFile(path.join(l.sandbox.homes.alpha!, '.claude.json'), '{}\n')
    // A SessionStart within 1 s of a session's creation counts as its own (hooksActive's clock slack): the
    // old one's must be older than that, as it is unless a session dies within a second of starting.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    await l.server.tmux('kill-session', '-t', '=ccl-alpha')
    expect((await l.ccl(['reconcile'])).code).toBe(0)
    expect(await waitFor(async () => (await l.server.tmux('capture-pane', '-p', '-t', '=ccl-alpha:')).includes('Quick safety check'), 10_000)).toBe(true)
    await l.addTask('t.md', 'T.\n', 60)
    const refused = await l.ccl(['assign', 't.md'])
    expect(refused.code, refused.stdout + refused.stderr).toBe(4)
    expect(refused.stderr).toContain("alpha: waiting: Claude Code's folder-trust dialog is on screen")
    expect(await l.where()).toEqual({pending: ['t.md']})
    const pass = await l.ccl(['reconcile'])
    expect(pass.stderr).toContain("waiting: Claude Code's folder-trust dialog is on screen")
    const status = JSON.parse((await l.ccl(['status', '--json'])).stdout)
    expect(status.sessions[0]).toMatchObject({activity: 'waiting'})
  })

  it('every account limited, spill on: a delegable task goes to the remote platform, a local-only one waits and status says why', async () => {
    const fake = await startFakeSecutools({apiKey: 'k-spill', autoComplete: {afterPolls: 1, cost_usd: 0.01, result: 'remote work done'}})
    onTestFinished(() => fake.close())
    const l = await started({
      // each account's first prompt meets its limit
      standInEnv: {alpha: {STANDIN_LIMIT_AFTER: '0'}, beta: {STANDIN_LIMIT_AFTER: '0'}},
      config: {failover: {margin: '1s', spill_to_remote: true}, delegation: {base_url: fake.url, retries: 1, timeout: '5s'}},
    })
    l.env.SECUTOOLS_API_KEY = 'k-spill'
    for (const [name, account] of [['a.md', 'alpha'], ['b.md', 'beta']] as const) {
      await l.addTask(name, `${name}\n`, 120)
      expect((await l.ccl(['assign', name, '--account', account])).code).toBe(0)
      expect(await waitFor(async () => (await accountState(l, account))?.limited != null, 15_000)).toBe(true)
    }

    // both limited, each holding a task: nothing to fail over to
    const stuck = JSON.parse((await l.ccl(['reconcile', '--json'])).stdout)
    expect(stuck.failovers.map((f: {task: string; result: string}) => [f.task, f.result])).toEqual([
      ['a.md', 'waiting'],
      ['b.md', 'waiting'],
    ])
    await l.addTask('remote-ok.md', 'Summarise it.\n', 60)
    await l.addTask('local-only.md', '---\nneeds_claude_code: true\n---\nRun the tests.\n', 50)
    const route = await l.ccl(['route', '--explain', path.join(l.sandbox.queue, 'pending', 'remote-ok.md')])
    expect(route.stdout).toMatch(/spill.*WINS/)
    const dispatched = await l.ccl(['dispatch'])
    expect(dispatched.code, dispatched.stderr).toBe(0)
    expect(dispatched.stdout).toMatch(/remote-ok\.md: submitted to gemini as job j-1/)
    expect([...fake.jobs.values()].map((j) => j.prompt)).toEqual([expect.stringContaining('Summarise it.')])
    const where = await l.where()
    expect(where.pending).toEqual(['local-only.md', 'remote-ok.md']) // remote-ok.md beside its marker
    const status = await l.ccl(['status'])
    expect(status.stdout).toMatch(/1 pending task waits.*every account is limited or needs login/)
    expect(status.stdout).toMatch(/a\.md waits for a free account \(alpha limited until/)
  })
})
