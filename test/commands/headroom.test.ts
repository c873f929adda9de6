// failover.headroom end to end: usage recorded by `ccl statusline` (as Claude Code would run it for each
// account), then `ccl assign` and `ccl status` against stand-in sessions in a private tmux server.
import {afterEach, describe, expect, it} from 'vitest'

import {type LoopSandbox, makeLoopSandbox} from '../support/loop.js'
import {checkExposition} from '../support/exposition.js'
import {runCcl} from '../support/sandbox.js'

let loop: LoopSandbox | undefined

afterEach(async () => {
  await loop?.cleanup()
  loop = undefined
})

async function started(accounts: string[], headroom = true): Promise<LoopSandbox> {
  loop = await makeLoopSandbox({accounts, workMs: 600_000, config: {failover: {headroom, watermark: '90%'}}})
  const reconciled = await loop.ccl(['reconcile'])
  expect(reconciled.code, reconciled.stderr).toBe(0)
  await loop.ready()
  return loop
}

const HOUR = 3600
const at = (seconds: number) => Math.floor(Date.now() / 1000) + seconds

/** What a status refresh of that account's session reports; null for a window it leaves out. */
async function report(l: LoopSandbox, account: string, five: [number, number] | null, seven: [number, number] | null = null): Promise<void> {
  const window = (w: [number, number] | null) => (w ? {used_percentage: w[0], resets_at: w[1]} : undefined)
  const payload = JSON.stringify({session_id: `s-${account}`, rate_limits: {five_hour: window(five), seven_day: window(seven)}})
  const run = await runCcl(['statusline', '--config', l.sandbox.configFile], {input: payload, env: {CLAUDE_CONFIG_DIR: l.sandbox.homes[account]!}})
  expect(run.code, run.stderr).toBe(0)
}

const assign = async (l: LoopSandbox, task: string) => {
  await l.addTask(task)
  return l.ccl(['assign', task])
}

describe('failover.headroom', {timeout: 120_000}, () => {
  it('assign hands the task to the account with the most headroom (the lowest of its two windows), not the first in the config', async () => {
    const l = await started(['alpha', 'beta', 'gamma'])
    await report(l, 'alpha', [50, at(HOUR)], [10, at(50 * HOUR)])
    await report(l, 'beta', [20, at(HOUR)], [70, at(50 * HOUR)])
    await report(l, 'gamma', [30, at(HOUR)], [25, at(50 * HOUR)])
    expect((await assign(l, 'a.md')).stdout).toBe('a.md -> gamma (ccl-gamma)\n')
    expect((await assign(l, 'b.md')).stdout).toBe('b.md -> alpha (ccl-alpha)\n')
    expect((await assign(l, 'c.md')).stdout).toBe('c.md -> beta (ccl-beta)\n')
  })

  it('passes over an account above the watermark while another is free below it; unknown ones come between; when only it is free it still gets the task', async () => {
    const l = await started(['alpha', 'beta', 'gamma'])
    await report(l, 'alpha', [97, at(HOUR)])
    await report(l, 'gamma', [60, at(HOUR)])
    // beta: no usage recorded (unknown)
    expect((await assign(l, 'a.md')).stdout).toBe('a.md -> gamma (ccl-gamma)\n')
    expect((await assign(l, 'b.md')).stdout).toBe('b.md -> beta (ccl-beta)\n')
    expect((await assign(l, 'c.md')).stdout).toBe('c.md -> alpha (ccl-alpha)\n')
    expect(await l.where()).toEqual({'active/alpha': ['c.md'], 'active/beta': ['b.md'], 'active/gamma': ['a.md']})
  })

  it('counts usage whose resets_at has passed as 0 %: the window reset', async () => {
    const l = await started(['alpha', 'beta'])
    await report(l, 'alpha', [99, at(-60)], [5, at(50 * HOUR)])
    await report(l, 'beta', [30, at(HOUR)])
    expect((await assign(l, 'a.md')).stdout).toBe('a.md -> alpha (ccl-alpha)\n')
  })

  it('with headroom off the config order stands, whatever the usage', async () => {
    const l = await started(['alpha', 'beta'], false)
    await report(l, 'alpha', [99, at(HOUR)])
    await report(l, 'beta', [1, at(HOUR)])
    expect((await assign(l, 'a.md')).stdout).toBe('a.md -> alpha (ccl-alpha)\n')
  })

  it('status shows each account its usage: human, --json and Prometheus', async () => {
    const l = await started(['alpha', 'beta'])
    const five = at(2 * HOUR)
    const seven = at(100 * HOUR)
    await report(l, 'alpha', [92.5, five], [40, seven])

    const json = JSON.parse((await l.ccl(['status', '--json'])).stdout) as {sessions: {account: string; usage?: unknown}[]}
    const iso = (s: number) => new Date(s * 1000).toISOString()
    // beta reported none: no usage key at all
    expect(json.sessions.map((s) => [s.account, 'usage' in s ? s.usage : 'absent'])).toEqual([
      [
        'alpha',
        {
          five_hour: {used_percentage: 92.5, resets_at: iso(five), used_now: 92.5},
          seven_day: {used_percentage: 40, resets_at: iso(seven), used_now: 40},
          at: expect.any(String),
          above_watermark: true,
        },
      ],
      ['beta', 'absent'],
    ])

    const human = (await l.ccl(['status'])).stdout
    const header = human.split('\n').find((line) => line.startsWith('account'))!
    expect(header.trimEnd().endsWith('usage')).toBe(true)
    const alpha = human.split('\n').find((line) => line.startsWith('alpha'))!
    expect(alpha).toMatch(/5h 92\.5% until \S+( \S+)? UTC, 7d 40% until .* UTC \(above watermark\)$/)
    expect(human.split('\n').find((line) => line.startsWith('beta'))!.trimEnd().endsWith('-')).toBe(true)

    const text = (await l.ccl(['status', '--prometheus'])).stdout
    const {errors, samples} = checkExposition(text)
    expect(errors).toEqual([])
    const pick = (name: string) => samples.filter((s) => s.name === name).map((s) => [s.labels.account, s.labels.window, s.value])
    expect(pick('ccl_account_usage_ratio')).toEqual([
      ['alpha', 'five_hour', 0.925],
      ['alpha', 'seven_day', 0.4],
    ])
    expect(pick('ccl_account_usage_reset_timestamp_seconds')).toEqual([
      ['alpha', 'five_hour', five],
      ['alpha', 'seven_day', seven],
    ])
  })
})
