// status's counters from counters.json plus the tail of the log: always what a full read of every
// segment gives, through appends, torn lines, time passing, rotations (also stopped half-way),
// truncation, edits and a damaged checkpoint; and only the tail is read.
import {appendFile, chmod, link, mkdtemp, open, readFile, rm, stat, truncate, unlink, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {existingSegments, rotateLog} from '../../src/lib/events/archive.js'
import {appendEvent} from '../../src/lib/events/log.js'
import {checkpointPath, HASH_BYTES, parseCheckpoint, updateCounters} from '../../src/lib/status/checkpoint.js'
import {countDelegations, type DelegationCounters} from '../../src/lib/status/counters.js'

let dir: string
let files: {state: string; events: string}
let scratch: string
const start = new Date('2026-11-25T12:00:00.000Z')

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-checkpoint-'))
  files = {state: dir, events: path.join(dir, 'events.jsonl')}
  scratch = await mkdtemp(path.join(os.tmpdir(), 'ccl-checkpoint-all-'))
})
afterEach(async () => {
  await chmod(dir, 0o700).catch(() => undefined)
  await rm(dir, {recursive: true, force: true})
  await rm(scratch, {recursive: true, force: true})
})

/** The oracle: countDelegations over every segment there is, each ended by a newline, as one file. */
async function fullRead(now: Date): Promise<DelegationCounters> {
  const segments = await existingSegments(files)
  const parts: Buffer[] = []
  for (const [i, file] of segments.entries()) {
    const bytes = await readFile(file)
    parts.push(bytes)
    if (i < segments.length - 1 && bytes.length > 0 && bytes.at(-1) !== 0x0a) parts.push(Buffer.from('\n'))
  }

  const all = path.join(scratch, 'all.jsonl')
  await writeFile(all, Buffer.concat(parts))
  return countDelegations(all, now)
}

const LINE_EVENTS = ['delegation.submitted', 'delegation.completed', 'delegation.failed', 'delegation.timed_out', 'delegation.claimed', 'task.done', 'task.failed_over', 'session.created'] as const

function eventLine(name: (typeof LINE_EVENTS)[number], at: Date, i: number, odd: boolean): string {
  const fields: Record<string, unknown> = {ts: odd ? at.toISOString().replace('Z', '+00:00') : at.toISOString(), event: name, task: `t-${i}.md`}
  if (name !== 'delegation.submitted') fields.cost_usd = (i % 7) * 0.1
  if (name === 'task.failed_over') Object.assign(fields, {from: ['alpha', 'beta'][i % 2], to: ['beta', 'gamma', 'alpha'][i % 3], mode: i % 2 ? 'fresh' : 'resume'})
  return JSON.stringify(fields)
}

type Step =
  | {kind: 'append'; name: (typeof LINE_EVENTS)[number]; hours: number; odd: boolean; count: number}
  | {kind: 'torn'; name: (typeof LINE_EVENTS)[number]; hours: number; cut: number}
  | {kind: 'newline'}
  | {kind: 'time'; minutes: number}
  | {kind: 'count'}
  | {kind: 'rotate'}
  | {kind: 'link-only'}
  | {kind: 'truncate'; keep: number}
  | {kind: 'edit'; at: number}
  | {kind: 'checkpoint'; how: 'delete' | 'garbage' | 'version' | 'half'}

// Times around now, many near the 24 h edge, where a window that lost an event would show it.
const hoursArb = fc.oneof(fc.double({min: -50, max: 2, noNaN: true}), fc.double({min: -26, max: -23, noNaN: true}))

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {arbitrary: fc.record({kind: fc.constant('append' as const), name: fc.constantFrom(...LINE_EVENTS), hours: hoursArb, odd: fc.boolean(), count: fc.integer({min: 1, max: 4})}), weight: 6},
  {arbitrary: fc.record({kind: fc.constant('torn' as const), name: fc.constantFrom(...LINE_EVENTS), hours: fc.double({min: -30, max: 0, noNaN: true}), cut: fc.double({min: 0.1, max: 1, noNaN: true})}), weight: 1},
  {arbitrary: fc.constant({kind: 'newline' as const}), weight: 1},
  {arbitrary: fc.record({kind: fc.constant('time' as const), minutes: fc.oneof(fc.integer({min: -120, max: 30 * 60}), fc.integer({min: -5, max: 60}))}), weight: 3},
  {arbitrary: fc.constant({kind: 'count' as const}), weight: 4},
  {arbitrary: fc.constant({kind: 'rotate' as const}), weight: 2},
  {arbitrary: fc.constant({kind: 'link-only' as const}), weight: 1},
  {arbitrary: fc.record({kind: fc.constant('truncate' as const), keep: fc.double({min: 0, max: 1, noNaN: true})}), weight: 1},
  {arbitrary: fc.record({kind: fc.constant('edit' as const), at: fc.double({min: 0, max: 1, noNaN: true})}), weight: 1},
  {arbitrary: fc.record({kind: fc.constant('checkpoint' as const), how: fc.constantFrom('delete' as const, 'garbage' as const, 'version' as const, 'half' as const)}), weight: 1},
)

async function sizeOf(file: string): Promise<number | null> {
  return (await stat(file).catch(() => null))?.size ?? null
}

describe('the counters checkpoint', () => {
  it('always gives what a full read of every segment gives, whatever happens between runs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, {minLength: 1, maxLength: 25}), async (steps) => {
        await rm(dir, {recursive: true, force: true})
        dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-checkpoint-'))
        files = {state: dir, events: path.join(dir, 'events.jsonl')}
        let now = start
        let i = 0
        const check = async () => {
          const run = await updateCounters(files, now)
          expect(run.counters).toEqual(await fullRead(now))
          const saved = await stat(checkpointPath(files)).catch(() => null)
          if (saved) expect(saved.mode & 0o777).toBe(0o600)
        }

        for (const step of steps) {
          switch (step.kind) {
            case 'append': {
              for (let k = 0; k < step.count; k++) await appendFile(files.events, eventLine(step.name, new Date(now.getTime() + step.hours * 3_600_000), i++, step.odd) + '\n')
              break
            }

            case 'torn': {
              const text = eventLine(step.name, new Date(now.getTime() + step.hours * 3_600_000), i++, false)
              await appendFile(files.events, text.slice(0, Math.ceil(text.length * step.cut)))
              break
            }

            case 'newline': {
              await appendFile(files.events, '\n')
              break
            }

            case 'time': {
              now = new Date(now.getTime() + step.minutes * 60_000)
              break
            }

            case 'count': {
              await check()
              break
            }

            case 'rotate': {
              await rotateLog(files, now)
              break
            }

            case 'link-only': {
              // A rotation killed after its link(2), before the unlink: two names of one file.
              if ((await sizeOf(files.events)) !== null) await link(files.events, path.join(dir, `events-29990101T000000Z-${i++}.jsonl`)).catch(() => undefined)
              break
            }

            case 'truncate': {
              const size = await sizeOf(files.events)
              if (size !== null) await truncate(files.events, Math.floor(size * step.keep))
              break
            }

            case 'edit': {
              const size = await sizeOf(files.events)
              if (size) {
                const handle = await open(files.events, 'r+')
                await handle.write('#', Math.min(size - 1, Math.floor(size * step.at)))
                await handle.close()
              }

              break
            }

            case 'checkpoint': {
              const file = checkpointPath(files)
              const text = await readFile(file, 'utf8').catch(() => null)
              if (text === null) break
              if (step.how === 'delete') await unlink(file)
              else if (step.how === 'garbage') await writeFile(file, 'not json')
              else if (step.how === 'half') await writeFile(file, text.slice(0, text.length >> 1))
              else await writeFile(file, text.replace('"version":1', '"version":99'))
              break
            }
          }
        }

        await check()
      }),
      {numRuns: 300, seed: 16_2},
    )
  }, 240_000)

  it('reads only the tail: a prefix overwritten in place (hash region untouched) is not read again', async () => {
    const now = start
    const lines: string[] = []
    for (let i = 0; i < 3000; i++) lines.push(eventLine(LINE_EVENTS[i % 4]!, new Date(now.getTime() - (i % 40) * 3_600_000), i, false) + '\n')
    await writeFile(files.events, lines.join(''))
    const cold = await updateCounters(files, now)
    expect(cold.rebuilt).toBe('no usable checkpoint')
    expect(cold.wrote).toBe(true)
    const size = (await stat(files.events)).size
    expect(cold.bytesRead).toBe(size)
    const saved = parseCheckpoint(await readFile(checkpointPath(files), 'utf8'))!
    expect(saved.segment?.offset).toBe(size)

    // Garbage of the same length over all but the last HASH_BYTES before the offset, in the same file.
    const handle = await open(files.events, 'r+')
    await handle.write(Buffer.alloc(size - HASH_BYTES, 'x'), 0, size - HASH_BYTES, 0)
    await handle.close()
    const more = [eventLine('delegation.completed', now, 9001, false), eventLine('task.done', now, 9002, false)].map((l) => l + '\n').join('')
    await appendFile(files.events, more)

    const warm = await updateCounters(files, now)
    expect(warm.rebuilt).toBeNull()
    expect(warm.bytesRead).toBe(Buffer.byteLength(more))
    // Had the prefix been read again, the garbage would have counted nothing.
    expect(warm.counters.all_time.completed).toBe(cold.counters.all_time.completed + 1)
    expect(warm.counters.all_time.submitted).toBe(cold.counters.all_time.submitted)
    expect(warm.counters.local_done.all_time).toBe(cold.counters.local_done.all_time + 1)
    expect(parseCheckpoint(await readFile(checkpointPath(files), 'utf8'))!.segment?.offset).toBe(size + Buffer.byteLength(more))

    // Nothing new: nothing read, nothing written.
    const idle = await updateCounters(files, new Date(now.getTime() + 60_000))
    expect(idle).toMatchObject({rebuilt: null, bytesRead: 0, wrote: false})
  })

  it('a rotation in steps, stopped at each: the counts equal a full read of all segments', async () => {
    let now = start
    for (let i = 0; i < 20; i++) await appendEvent(files.events, i % 2 ? 'delegation.completed' : 'task.done', {task: `a-${i}.md`, cost_usd: 0.25}, new Date(now.getTime() - i * 3_600_000))
    await updateCounters(files, now)
    const archive = path.join(dir, 'events-20261125T120000Z.jsonl')
    // 1. linked, not yet unlinked: one file under two names.
    await link(files.events, archive)
    await appendEvent(files.events, 'delegation.submitted', {task: 'b.md'}, now)
    expect((await updateCounters(files, now)).counters).toEqual(await fullRead(now))
    // 2. unlinked, the counters not yet brought up to date; a writer starts the new log.
    await unlink(files.events)
    await appendEvent(files.events, 'delegation.failed', {task: 'c.md', cost_usd: 1}, now)
    const after = await updateCounters(files, now)
    expect(after.rebuilt).toBeNull()
    expect(after.counters).toEqual(await fullRead(now))
    expect(after.counters.all_time).toMatchObject({submitted: 1, completed: 10, failed: 1})
    // 3. a rotate that finds the half-done one: finishes it (no second archive).
    await link(files.events, path.join(dir, 'events-20261125T130000Z.jsonl'))
    expect(await rotateLog(files, now)).toEqual({rotated: true, archive: path.join(dir, 'events-20261125T130000Z.jsonl')})
    now = new Date(now.getTime() + 30 * 3_600_000)
    expect((await updateCounters(files, now)).counters).toEqual(await fullRead(now))
    // Deleting the archives keeps the all-time counts while the checkpoint is intact.
    const kept = (await updateCounters(files, now)).counters
    for (const file of await existingSegments(files)) if (file !== files.events) await unlink(file)
    expect((await updateCounters(files, now)).counters).toEqual(kept)
  })

  it('a clock set back well before the checkpoint rebuilds, so the window still has what it lost', async () => {
    const now = start
    // Just older than the checkpoint keeps (24 h + 10 min back from it), but in the window of a clock 30 min back.
    await appendEvent(files.events, 'delegation.completed', {task: 'edge.md', cost_usd: 1}, new Date(now.getTime() - 86_400_000 - 15 * 60_000))
    await updateCounters(files, now)
    const back = new Date(now.getTime() - 30 * 60_000)
    const run = await updateCounters(files, back)
    expect(run.rebuilt).toBe('the clock is before the checkpoint')
    expect(run.counters.last_24h.completed).toBe(1)
    expect(run.counters).toEqual(await fullRead(back))
    // A clock a few minutes back stays within the slack: the checkpoint is used, and still exact.
    await updateCounters(files, now)
    const little = await updateCounters(files, new Date(now.getTime() - 5 * 60_000))
    expect(little.rebuilt).toBeNull()
    expect(little.counters).toEqual(await fullRead(new Date(now.getTime() - 5 * 60_000)))
  })

  it('names archives after every existing one and never overwrites', async () => {
    const now = start
    await appendEvent(files.events, 'task.done', {task: 'a.md'}, now)
    expect(await rotateLog(files, now)).toEqual({rotated: true, archive: path.join(dir, 'events-20261125T120000Z.jsonl')})
    await appendEvent(files.events, 'task.done', {task: 'b.md'}, now)
    expect(await rotateLog(files, now)).toEqual({rotated: true, archive: path.join(dir, 'events-20261125T120000Z-1.jsonl')})
    await appendEvent(files.events, 'task.done', {task: 'c.md'}, now)
    // The clock went back: still after the newest.
    expect(await rotateLog(files, new Date(now.getTime() - 86_400_000))).toEqual({rotated: true, archive: path.join(dir, 'events-20261125T120000Z-2.jsonl')})
    // A rotation leaves an empty live log (0600): a second one has nothing to do.
    expect((await stat(files.events)).mode & 0o777).toBe(0o600)
    expect(await rotateLog(files, now)).toEqual({rotated: false, archive: null, reason: 'empty'})
    await unlink(files.events)
    expect(await rotateLog(files, now)).toEqual({rotated: false, archive: null, reason: 'missing'})
    expect((await existingSegments(files)).map((f) => path.basename(f))).toEqual(['events-20261125T120000Z.jsonl', 'events-20261125T120000Z-1.jsonl', 'events-20261125T120000Z-2.jsonl'])
    expect((await readFile(path.join(dir, 'events-20261125T120000Z-1.jsonl'), 'utf8'))).toContain('"b.md"')
  })

  it('a state folder that cannot be written still gives the right counts, from the log', async () => {
    const now = start
    for (let i = 0; i < 10; i++) await appendEvent(files.events, 'delegation.completed', {task: `a-${i}.md`, cost_usd: 0.5}, new Date(now.getTime() - i * 5 * 3_600_000))
    await updateCounters(files, now)
    await appendEvent(files.events, 'delegation.completed', {task: 'late.md', cost_usd: 0.5}, now)
    await chmod(files.events, 0o644)
    await chmod(checkpointPath(files), 0o644)
    await chmod(dir, 0o555)
    const asRoot = process.getuid?.() === 0
    // Root writes anywhere: read as nobody for this run, as an operator without write access would.
    if (asRoot) process.seteuid!(65_534)
    let run, later
    try {
      run = await updateCounters(files, now)
      later = await updateCounters(files, new Date(now.getTime() + 3_600_000))
    } finally {
      if (asRoot) process.seteuid!(0)
    }

    expect(later.counters).toEqual(await fullRead(new Date(now.getTime() + 3_600_000)))
    expect(later.rebuilt).toBeNull()

    expect(run.wrote).toBe(false)
    expect(run.counters).toEqual(await fullRead(now))
    expect(run.counters.all_time.completed).toBe(11)
  })
})
