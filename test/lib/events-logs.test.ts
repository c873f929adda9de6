// The event logs of a fleet (SPEC §8) read back: eventLogs finds each host's and the legacy one,
// and queryEvents merges them by ts exactly as a naive one-event-at-a-time merge would, across
// read batches, ties, clocks that step back and ts that are no time.
import {appendFile, mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {appendEvent} from '../../src/lib/events/log.js'
import {eventLogs, hostLog} from '../../src/lib/events/logs.js'
import {queryEvents} from '../../src/lib/events/query.js'
import {queueLayout} from '../../src/lib/queue/layout.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-logs-'))
})
afterEach(async () => {
  await rm(dir, {recursive: true, force: true})
})

// Long enough lines that a log of 1500 spans two read chunks of 256 KiB.
const PAD = 'x'.repeat(200)
const layoutOf = (host: string) => queueLayout({queue: dir, state: path.join(dir, '.ccl'), host})

async function query(host = 'h1', lines?: number): Promise<Record<string, unknown>[]> {
  const events: Record<string, unknown>[] = []
  for await (const batch of queryEvents(await eventLogs(layoutOf(host)), lines === undefined ? {} : {lines})) events.push(...batch)
  return events
}

/** The reference: of each log's next event the earliest (a ts that is no time: its predecessor's), ties to the log listed first. */
function naiveMerge(logs: {host: string | null; events: {ts: string; n: number}[]}[]): unknown[] {
  const at = logs.map(() => 0)
  const last = logs.map(() => Number.NEGATIVE_INFINITY)
  const key = (l: number) => {
    const ms = Date.parse(logs[l]!.events[at[l]!]!.ts)
    return Number.isNaN(ms) ? last[l]! : ms
  }

  const out: unknown[] = []
  for (;;) {
    let pick = -1
    for (let l = 0; l < logs.length; l++) if (at[l]! < logs[l]!.events.length && (pick === -1 || key(l) < key(pick))) pick = l
    if (pick === -1) return out
    last[pick] = key(pick)
    const event = logs[pick]!.events[at[pick]!]!
    out.push({ts: event.ts, event: 'task.done', n: event.n, pad: PAD, ...(logs[pick]!.host === null ? {} : {host: logs[pick]!.host})})
    at[pick]!++
  }
}

describe('eventLogs', () => {
  it('lists the legacy log, then every host folder by name (this host\'s even before its first event), never a folder no host can be named', async () => {
    const state = path.join(dir, '.ccl')
    await mkdir(path.join(state, 'hosts', 'zed'), {recursive: true})
    await mkdir(path.join(state, 'hosts', 'alpha-1'), {recursive: true})
    await mkdir(path.join(state, 'hosts', '.ccl-tmp'), {recursive: true})
    await writeFile(path.join(state, 'hosts', 'not-a-folder'), '')
    const logs = await eventLogs(layoutOf('me'))
    expect(logs.map((l) => [l.host, path.relative(state, l.live)])).toEqual([
      [null, 'events.jsonl'],
      ['alpha-1', 'hosts/alpha-1/events.jsonl'],
      ['me', 'hosts/me/events.jsonl'],
      ['zed', 'hosts/zed/events.jsonl'],
    ])
    expect(hostLog(layoutOf('me'))).toEqual({host: 'me', dir: path.join(state, 'hosts', 'me'), live: path.join(state, 'hosts', 'me', 'events.jsonl')})
  })

  it('appendEvent on a layout writes its host\'s log only, making hosts/<host>/ 0700 and the log 0600', async () => {
    const {stat} = await import('node:fs/promises')
    await appendEvent(layoutOf('h1').events, 'task.done', {task: 'a.md'})
    await appendEvent(layoutOf('h2').events, 'task.done', {task: 'b.md'})
    const state = path.join(dir, '.ccl')
    for (const rel of ['hosts', 'hosts/h1', 'hosts/h2']) expect(((await stat(path.join(state, rel))).mode & 0o777).toString(8)).toBe('700')
    for (const rel of ['hosts/h1/events.jsonl', 'hosts/h2/events.jsonl']) expect(((await stat(path.join(state, rel))).mode & 0o777).toString(8)).toBe('600')
    await expect(stat(path.join(state, 'events.jsonl'))).rejects.toThrow(/ENOENT/)
    expect((await query()).map((e) => [e.task, e.host])).toEqual([['a.md', 'h1'], ['b.md', 'h2']])
  })
})

describe('queryEvents over several logs', () => {
  const tsArb = fc.oneof(
    {arbitrary: fc.integer({min: 0, max: 40}).map((s) => new Date(Date.UTC(2026, 11, 1, 10, 0, s)).toISOString()), weight: 8},
    {arbitrary: fc.integer({min: 0, max: 40}).map((s) => `2026-12-01T11:00:${String(s).padStart(2, '0')}+01:00`), weight: 1},
    {arbitrary: fc.constant('sometime'), weight: 1},
  )
  const logArb = fc.array(tsArb, {maxLength: 1500})

  it('merges like a naive merge, whatever the times (ties, steps back, no time) and however the logs split into read batches', async () => {
    await fc.assert(
      fc.asyncProperty(logArb, logArb, logArb, async (legacy, h1, h2) => {
        await rm(path.join(dir, '.ccl'), {recursive: true, force: true})
        let n = 0
        const logs = [
          {host: null, file: path.join(dir, '.ccl', 'events.jsonl'), events: legacy.map((ts) => ({ts, n: n++}))},
          {host: 'h1', file: path.join(dir, '.ccl', 'hosts', 'h1', 'events.jsonl'), events: h1.map((ts) => ({ts, n: n++}))},
          {host: 'h2', file: path.join(dir, '.ccl', 'hosts', 'h2', 'events.jsonl'), events: h2.map((ts) => ({ts, n: n++}))},
        ]
        for (const log of logs) {
          await mkdir(path.dirname(log.file), {recursive: true})
          await appendFile(log.file, log.events.map((e) => JSON.stringify({ts: e.ts, event: 'task.done', n: e.n, pad: PAD}) + '\n').join(''))
        }

        expect(await query()).toEqual(naiveMerge(logs))
        expect(await query('h1', 3)).toEqual(naiveMerge(logs).slice(-3))
      }),
      {numRuns: 60, seed: 17},
    )
  }, 120_000)
})
