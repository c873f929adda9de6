import {appendFile, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {appendEvent, EVENT_NAMES, readEvents} from '../../src/lib/events/log.js'
import {countDelegations, type DelegationCounts} from '../../src/lib/status/counters.js'

let dir: string
let file: string
const now = new Date('2026-11-25T12:00:00.000Z')
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000)

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-counters-'))
  file = path.join(dir, 'events.jsonl')
})
afterEach(async () => rm(dir, {recursive: true, force: true}))

/** The obvious way, through readEvents and JSON.parse: what the fast scan must agree with. */
async function reference(): Promise<{all: DelegationCounts; recent: DelegationCounts}> {
  const zero = () => ({submitted: 0, completed: 0, failed: 0, timed_out: 0, cost_usd: 0})
  const all = zero()
  const recent = zero()
  for (const event of await readEvents(file)) {
    const kind = ({
      'delegation.submitted': 'submitted',
      'delegation.completed': 'completed',
      'delegation.failed': 'failed',
      'delegation.timed_out': 'timed_out',
    } as const)[event.event as string]
    if (!kind) continue
    for (const c of Date.parse(event.ts) >= now.getTime() - 86_400_000 ? [all, recent] : [all]) {
      c[kind]++
      if (kind !== 'submitted' && typeof event.cost_usd === 'number') c.cost_usd += event.cost_usd
    }
  }

  for (const c of [all, recent]) c.cost_usd = Math.round(c.cost_usd * 1e6) / 1e6
  return {all, recent}
}

describe('countDelegations', () => {
  it('counts submitted, completed, failed, timed out and cost, all-time and in the last 24 h', async () => {
    await appendEvent(file, 'delegation.claimed', {task: 'a.md'}, hoursAgo(30))
    await appendEvent(file, 'delegation.submitted', {task: 'a.md', job_id: 'j-1'}, hoursAgo(30))
    await appendEvent(file, 'delegation.completed', {task: 'a.md', job_id: 'j-1', cost_usd: 0.5}, hoursAgo(25))
    await appendEvent(file, 'delegation.submitted', {task: 'b.md', job_id: 'j-2'}, hoursAgo(2))
    await appendEvent(file, 'delegation.completed', {task: 'b.md', job_id: 'j-2', cost_usd: 0.25}, hoursAgo(1))
    await appendEvent(file, 'delegation.failed', {task: 'c.md', job_id: 'j-3', cost_usd: null}, hoursAgo(1))
    await appendEvent(file, 'delegation.timed_out', {task: 'd.md', job_id: 'j-4', cost_usd: 0.125}, hoursAgo(1))
    await appendEvent(file, 'session.crashed', {account: 'alpha'}, hoursAgo(1))
    const counters = await countDelegations(file, now)
    expect(counters.all_time).toEqual({submitted: 2, completed: 2, failed: 1, timed_out: 1, cost_usd: 0.875})
    expect(counters.last_24h).toEqual({submitted: 1, completed: 1, failed: 1, timed_out: 1, cost_usd: 0.375})
    expect(counters.since).toBe('2026-11-24T12:00:00.000Z')
  })

  it('counts the tasks sessions finished locally (task.done), all-time and in the last 24 h, like remote work', async () => {
    await appendEvent(file, 'task.done', {task: 'a.md', account: 'alpha', duration_ms: 1000}, hoursAgo(30))
    await appendEvent(file, 'task.done', {task: 'b.md', account: 'beta', duration_ms: 2000}, hoursAgo(2))
    await appendEvent(file, 'task.assigned', {task: 'c.md', account: 'beta'}, hoursAgo(1))
    await appendFile(file, '{"ts":"2026-11-25T11:00:00.000Z","event":"task.done","task":"torn')
    const counters = await countDelegations(file, now)
    expect(counters.local_done).toEqual({all_time: 2, last_24h: 1})
  })

  it('counts task.failed_over: totals by mode, and per account moved in and out over 24 h; an in-place resume moves nothing', async () => {
    const moved = (h: number, from: string, to: string, mode: string) => appendEvent(file, 'task.failed_over', {task: 't.md', from, to, session_id: 's-1', mode}, hoursAgo(h))
    await moved(1, 'alpha', 'beta', 'resume')
    await moved(2, 'alpha', 'beta', 'fresh')
    await moved(3, 'beta', 'gamma', 'resume')
    await moved(0.5, 'beta', 'beta', 'resume') // its own reset came first: resumed in place
    await moved(48, 'gamma', 'alpha', 'fresh') // outside the window: totals only
    await appendFile(file, '{"ts":"2026-11-25T11:00:00.000Z","event":"task.failed_over","from":"alpha","to":"be') // torn by a crash
    await appendFile(file, '\n{"ts":"2026-11-25T11:00:00.000Z","event":"task.failed_over","task":"no-accounts.md"}\n')
    const {failovers} = await countDelegations(file, now)
    expect(failovers.all_time).toEqual({resume: 3, fresh: 2})
    expect(failovers.last_24h).toEqual({resume: 3, fresh: 1})
    expect(failovers.by_account_24h).toEqual({alpha: {in: 0, out: 2}, beta: {in: 2, out: 1}, gamma: {in: 1, out: 0}})
  })

  it('reads a missing log as empty', async () => {
    const counters = await countDelegations(path.join(dir, 'nope.jsonl'), now)
    expect(counters.all_time).toEqual({submitted: 0, completed: 0, failed: 0, timed_out: 0, cost_usd: 0})
  })

  it('skips a line torn by a crash and foreign lines, and reads a timestamp with an offset', async () => {
    await appendEvent(file, 'delegation.completed', {task: 'a.md', cost_usd: 1}, hoursAgo(1))
    await appendFile(file, '{"ts":"2026-11-25T11:00:00.000Z","event":"delegation.completed","task":"torn.md","cost_')
    await appendFile(file, '\nnot json at all\n{"event":"delegation.completed","cost_usd":9}\n')
    await appendFile(file, '{"ts":"2026-11-25T13:00:00+02:00","event":"delegation.completed","task":"tz.md","cost_usd":2}\n')
    await appendFile(file, '{"ts":"2026-11-25T11:00:00.000Z","event":"delegation.completed","task":"crlf.md","cost_usd":4}\r\n')
    const counters = await countDelegations(file, now)
    expect(counters.all_time).toMatchObject({completed: 3, cost_usd: 7})
    expect(counters.last_24h).toMatchObject({completed: 3})
  })

  it('reads a log bigger than its read size in pieces: lines across a piece boundary count once, a line over 16 MiB is skipped', async () => {
    const line = (task: string, cost: number) => JSON.stringify({ts: hoursAgo(1).toISOString(), event: 'delegation.completed', task, cost_usd: cost}) + '\n'
    // Padding lines so that real lines straddle the 4 MiB read boundaries, then a 20 MiB foreign line, then one more event.
    const pad = JSON.stringify({ts: hoursAgo(1).toISOString(), event: 'session.created', note: 'x'.repeat(999_937)}) + '\n'
    const parts: string[] = []
    for (let i = 0; i < 12; i++) parts.push(pad, line(`t${i}.md`, 1))
    parts.push('{"blob":"' + 'y'.repeat(20 * 1024 * 1024) + '"}\n', line('after.md', 10))
    await writeFile(file, parts.join(''))
    const counters = await countDelegations(file, now)
    expect(counters.all_time).toMatchObject({completed: 13, cost_usd: 22})
    expect((await reference()).all).toEqual({...counters.all_time})
  })

  it('is not fooled by task names that quote the event key', async () => {
    await appendEvent(file, 'task.assigned', {task: 'x "event":"delegation.completed" y.md', account: 'alpha'}, hoursAgo(1))
    await appendEvent(file, 'session.created', {account: 'alpha', note: '"event":"delegation.submitted"'}, hoursAgo(1))
    const counters = await countDelegations(file, now)
    expect(counters.all_time).toEqual({submitted: 0, completed: 0, failed: 0, timed_out: 0, cost_usd: 0})
  })

  it('agrees with a full JSON parse of any log appendEvent can write', async () => {
    const eventArb = fc.record({
      name: fc.constantFrom(...EVENT_NAMES),
      hours: fc.double({min: 0, max: 72, noNaN: true}),
      task: fc.string({maxLength: 12}).map((s) => `${s}.md`),
      cost: fc.option(fc.double({min: 0, max: 5, noNaN: true}), {nil: null}),
    })
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, {maxLength: 40}), async (events) => {
        await writeFile(file, '')
        for (const e of events) await appendEvent(file, e.name, {task: e.task, job_id: 'j', cost_usd: e.cost}, hoursAgo(e.hours))
        const fast = await countDelegations(file, now)
        const slow = await reference()
        expect(fast.all_time).toEqual(slow.all)
        expect(fast.last_24h).toEqual(slow.recent)
      }),
      {numRuns: 60},
    )
  })
})
