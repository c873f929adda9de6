// ccl pause / unpause against real tmux sessions of the stand-in: a paused account gets no new task
// (assign, dispatch, a failover's target), its current task goes on, status says paused.
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {events, limitedOnSecond, reconcileUntil, started as startLoop} from '../support/failover.js'
import {type LoopSandbox, waitFor} from '../support/loop.js'

let loop: LoopSandbox | undefined
afterEach(async () => {
  await loop?.cleanup()
  loop = undefined
})

describe('ccl pause / unpause', {timeout: 120_000}, () => {
  it('a paused account gets no new task, its current one goes on; status shows it paused; unpause gives it work again', async () => {
    const l = (loop = await startLoop({workMs: 1500}))
    await l.addTask('running.md', 'Running.\n', 100)
    expect((await l.ccl(['assign', 'running.md', '--account', 'alpha'])).code).toBe(0)
    const paused = await l.ccl(['pause', 'alpha', '--reason', 're-login', '--json'])
    expect(paused.code, paused.stderr).toBe(0)
    expect(JSON.parse(paused.stdout)).toMatchObject({schemaVersion: 1, account: 'alpha', already: false, paused: {reason: 're-login'}})
    expect(JSON.parse(await readFile(path.join(l.sandbox.queue, '.ccl', 'paused', 'alpha.json'), 'utf8'))).toMatchObject({account: 'alpha', reason: 're-login'})
    // the task it had goes on to done/
    expect(await waitFor(async () => (await l.where()).done?.includes('running.md') ?? false, 20_000)).toBe(true)
    expect(await waitFor(async () => (await events(l)).some((e) => e.event === 'task.done' && e.task === 'running.md'), 10_000)).toBe(true)

    const status = JSON.parse((await l.ccl(['status', '--json'])).stdout)
    expect(status.sessions.map((s: {account: string; activity: string}) => [s.account, s.activity])).toEqual([
      ['alpha', 'paused'],
      ['beta', 'free'],
    ])
    await l.addTask('next.md', 'Next.\n', 90)
    const refused = await l.ccl(['assign', 'next.md', '--account', 'alpha'])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toMatch(/alpha: paused by an operator since \S+ \(re-login\); resume with: ccl unpause alpha/)
    // dispatch passes it by: the task goes to beta
    expect((await l.ccl(['dispatch'])).stdout).toContain('next.md: assigned to beta')
    expect((await l.ccl(['pause', 'alpha'])).stdout).toMatch(/alpha: already paused since/)

    const unpaused = await l.ccl(['unpause', 'alpha'])
    expect(unpaused.code).toBe(0)
    expect(unpaused.stdout).toMatch(/alpha: unpaused \(paused since /)
    await l.addTask('after.md', 'After.\n', 80)
    const given = await l.ccl(['assign', 'after.md', '--account', 'alpha'])
    expect(given.code, given.stderr).toBe(0)
    expect((await events(l)).filter((e) => e.event === 'account.paused' || e.event === 'account.unpaused').map((e) => e.event)).toEqual(['account.paused', 'account.unpaused'])
    expect((await l.ccl(['unpause', 'alpha'])).stdout).toBe('alpha: was not paused\n')
  })

  it('a paused account is not a failover target; unpaused, it takes the waiting task over', async () => {
    const l = (loop = await startLoop({standInEnv: {alpha: {STANDIN_LIMIT_AFTER: '1'}}}))
    expect((await l.ccl(['pause', 'beta'])).code).toBe(0)
    await limitedOnSecond(l)
    const waiting = JSON.parse((await l.ccl(['reconcile', '--json'])).stdout)
    expect(waiting.failovers).toEqual([expect.objectContaining({task: 'second.md', from: 'alpha', result: 'waiting'})])
    expect((await l.ccl(['unpause', 'beta'])).code).toBe(0)
    const moved = await reconcileUntil(l, async () => (await l.where()).done?.includes('second.md') ?? false)
    expect(moved.stdout).toContain("failover: second.md: alpha → beta: beta resumed alpha's conversation")
  })

  it('an account that is not configured: exit 2, one line naming it', async () => {
    const l = (loop = await startLoop({accounts: ['alpha']}))
    const wrong = await l.ccl(['pause', 'gamma'])
    expect(wrong.code).toBe(2)
    expect(wrong.stderr.trim().split('\n')[0]).toMatch(/^ccl: gamma: no such account in \S+ccl\.yaml$/)
    expect(wrong.stdout).toBe('')
  })
})
