// status's counters from counters.json plus the tail of the log: always what a full read of every
// segment gives, through appends, torn lines, time passing, rotations (also stopped half-way),
// truncation, edits and a damaged checkpoint; and only the tail is read.
import {appendFile, chmod, link, mkdir, mkdtemp, open, readdir, readFile, rm, stat, truncate, unlink, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {existingSegments, type LogFolder, rotateLog} from '../../src/lib/events/archive.js'
import {appendEvent} from '../../src/lib/events/log.js'
import {checkpointPath, type CounterFiles, HASH_BYTES, parseCheckpoint, updateCounters} from '../../src/lib/status/checkpoint.js'
import {countDelegations, type DelegationCounters} from '../../src/lib/status/counters.js'

let dir: string
/** A layout of one host, h1 (CounterFiles), and that host's log (LogFolder: its folder and live file). */
let files: CounterFiles & LogFolder & {events: string}
const HOST = 'h1'

/** The files of `host` in the state folder `state`: its layout as the counters see it, and its log. */
async function filesOf(state: string, host = HOST): Promise<typeof files> {
  const hostDir = path.join(state, 'hosts', host)
  await mkdir(hostDir, {recursive: true})
  const live = path.join(hostDir, 'events.jsonl')
  return {state, hosts: path.join(state, 'hosts'), host, legacyEvents: path.join(state, 'events.jsonl'), events: live, dir: hostDir, live}
}
let scratch: string
const start = new Date('2026-11-25T12:00:00.000Z')

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-checkpoint-'))
  files = await filesOf(dir)
  scratch = await mkdtemp(path.join(os.tmpdir(), 'ccl-checkpoint-all-'))
})
afterEach(async () => {
  await chmod(dir, 0o700).catch(() => undefined)
  await rm(dir, {recursive: true, force: true})
  await rm(scratch, {recursive: true, force: true})
})

/** The oracle: countDelegations over every segment of every log there is, each ended by a newline, as one file. */
async function fullRead(now: Date): Promise<DelegationCounters> {
  // Found by hand, not by eventLogs: the legacy log's folder, then every folder under hosts/.
  const folders = [dir, ...(await readdir(path.join(dir, 'hosts')).catch(() => [])).sort().map((host) => path.join(dir, 'hosts', host))]
  const segments: string[] = []
  for (const folder of folders) segments.push(...(await existingSegments({dir: folder, live: path.join(folder, 'events.jsonl')})))
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

/** Which log a step acts on: host h1's, host h2's (its folder made by its first append), or the legacy top-level one. */
type On = 'h1' | 'h2' | 'legacy'
const onArb = fc.constantFrom<On>('h1', 'h1', 'h2', 'legacy')

type Step =
  | {kind: 'append'; on: On; name: (typeof LINE_EVENTS)[number]; hours: number; odd: boolean; count: number}
  | {kind: 'torn'; on: On; name: (typeof LINE_EVENTS)[number]; hours: number; cut: number}
  | {kind: 'newline'; on: On}
  | {kind: 'time'; minutes: number}
  | {kind: 'count'}
  | {kind: 'rotate'; on: On}
  | {kind: 'link-only'; on: On}
  | {kind: 'truncate'; on: On; keep: number}
  | {kind: 'edit'; on: On; at: number}
  | {kind: 'checkpoint'; how: 'delete' | 'garbage' | 'version' | 'half'}

// Times around now, many near the 24 h edge, where a window that lost an event would show it.
const hoursArb = fc.oneof(fc.double({min: -50, max: 2, noNaN: true}), fc.double({min: -26, max: -23, noNaN: true}))

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {arbitrary: fc.record({kind: fc.constant('append' as const), on: onArb, name: fc.constantFrom(...LINE_EVENTS), hours: hoursArb, odd: fc.boolean(), count: fc.integer({min: 1, max: 4})}), weight: 6},
  {arbitrary: fc.record({kind: fc.constant('torn' as const), on: onArb, name: fc.constantFrom(...LINE_EVENTS), hours: fc.double({min: -30, max: 0, noNaN: true}), cut: fc.double({min: 0.1, max: 1, noNaN: true})}), weight: 1},
  {arbitrary: fc.record({kind: fc.constant('newline' as const), on: onArb}), weight: 1},
  {arbitrary: fc.record({kind: fc.constant('time' as const), minutes: fc.oneof(fc.integer({min: -120, max: 30 * 60}), fc.integer({min: -5, max: 60}))}), weight: 3},
  {arbitrary: fc.constant({kind: 'count' as const}), weight: 4},
  {arbitrary: fc.record({kind: fc.constant('rotate' as const), on: onArb}), weight: 2},
  {arbitrary: fc.record({kind: fc.constant('link-only' as const), on: onArb}), weight: 1},
  {arbitrary: fc.record({kind: fc.constant('truncate' as const), on: onArb, keep: fc.double({min: 0, max: 1, noNaN: true})}), weight: 1},
  {arbitrary: fc.record({kind: fc.constant('edit' as const), on: onArb, at: fc.double({min: 0, max: 1, noNaN: true})}), weight: 1},
  {arbitrary: fc.record({kind: fc.constant('checkpoint' as const), how: fc.constantFrom('delete' as const, 'garbage' as const, 'version' as const, 'half' as const)}), weight: 1},
)

async function sizeOf(file: string): Promise<number | null> {
  return (await stat(file).catch(() => null))?.size ?? null
}

describe('the counters checkpoint', () => {
  it('always gives what a full read of every segment of every log gives (two hosts and the legacy log), whatever happens between runs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, {minLength: 1, maxLength: 25}), async (steps) => {
        await rm(dir, {recursive: true, force: true})
        dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-checkpoint-'))
        files = await filesOf(dir)
        let now = start
        let i = 0
        // A log of the step: h2's folder is made by its first append (a host that joins later).
        const logOf = async (on: On, make = false): Promise<LogFolder> => {
          if (on === 'legacy') return {dir, live: path.join(dir, 'events.jsonl')}
          const folder = path.join(dir, 'hosts', on)
          if (make) await mkdir(folder, {recursive: true})
          return {dir: folder, live: path.join(folder, 'events.jsonl')}
        }

        const check = async () => {
          const run = await updateCounters(files, now)
          expect(run.counters).toEqual(await fullRead(now))
          const saved = await stat(checkpointPath(files)).catch(() => null)
          if (saved) expect(saved.mode & 0o777).toBe(0o600)
        }

        for (const step of steps) {
          const target = 'on' in step ? await logOf(step.on, step.kind === 'append' || step.kind === 'torn' || step.kind === 'newline') : files
          switch (step.kind) {
            case 'append': {
              for (let k = 0; k < step.count; k++) await appendFile(target.live, eventLine(step.name, new Date(now.getTime() + step.hours * 3_600_000), i++, step.odd) + '\n')
              break
            }

            case 'torn': {
              const text = eventLine(step.name, new Date(now.getTime() + step.hours * 3_600_000), i++, false)
              await appendFile(target.live, text.slice(0, Math.ceil(text.length * step.cut)))
              break
            }

            case 'newline': {
              await appendFile(target.live, '\n')
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
              await rotateLog(target, now)
              break
            }

            case 'link-only': {
              // A rotation killed after its link(2), before the unlink: two names of one file.
              if ((await sizeOf(target.live)) !== null) await link(target.live, path.join(target.dir, `events-29990101T000000Z-${i++}.jsonl`)).catch(() => undefined)
              break
            }

            case 'truncate': {
              const size = await sizeOf(target.live)
              if (size !== null) await truncate(target.live, Math.floor(size * step.keep))
              break
            }

            case 'edit': {
              const size = await sizeOf(target.live)
              if (size) {
                const handle = await open(target.live, 'r+')
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
              else await writeFile(file, text.replace('"version":2', '"version":99'))
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
    expect(saved.logs['hosts/h1/events.jsonl']?.offset).toBe(size)

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
    expect(parseCheckpoint(await readFile(checkpointPath(files), 'utf8'))!.logs['hosts/h1/events.jsonl']?.offset).toBe(size + Buffer.byteLength(more))

    // Nothing new: nothing read, nothing written.
    const idle = await updateCounters(files, new Date(now.getTime() + 60_000))
    expect(idle).toMatchObject({rebuilt: null, bytesRead: 0, wrote: false})
  })

  it('a rotation in steps, stopped at each: the counts equal a full read of all segments', async () => {
    let now = start
    for (let i = 0; i < 20; i++) await appendEvent(files.events, i % 2 ? 'delegation.completed' : 'task.done', {task: `a-${i}.md`, cost_usd: 0.25}, new Date(now.getTime() - i * 3_600_000))
    await updateCounters(files, now)
    const archive = path.join(files.dir, 'events-20261125T120000Z.jsonl')
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
    await link(files.events, path.join(files.dir, 'events-20261125T130000Z.jsonl'))
    expect(await rotateLog(files, now)).toEqual({rotated: true, archive: path.join(files.dir, 'events-20261125T130000Z.jsonl')})
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
    expect(await rotateLog(files, now)).toEqual({rotated: true, archive: path.join(files.dir, 'events-20261125T120000Z.jsonl')})
    await appendEvent(files.events, 'task.done', {task: 'b.md'}, now)
    expect(await rotateLog(files, now)).toEqual({rotated: true, archive: path.join(files.dir, 'events-20261125T120000Z-1.jsonl')})
    await appendEvent(files.events, 'task.done', {task: 'c.md'}, now)
    // The clock went back: still after the newest.
    expect(await rotateLog(files, new Date(now.getTime() - 86_400_000))).toEqual({rotated: true, archive: path.join(files.dir, 'events-20261125T120000Z-2.jsonl')})
    // A rotation leaves an empty live log (0600): a second one has nothing to do.
    expect((await stat(files.events)).mode & 0o777).toBe(0o600)
    expect(await rotateLog(files, now)).toEqual({rotated: false, archive: null, reason: 'empty'})
    await unlink(files.events)
    expect(await rotateLog(files, now)).toEqual({rotated: false, archive: null, reason: 'missing'})
    expect((await existingSegments(files)).map((f) => path.basename(f))).toEqual(['events-20261125T120000Z.jsonl', 'events-20261125T120000Z-1.jsonl', 'events-20261125T120000Z-2.jsonl'])
    expect((await readFile(path.join(files.dir, 'events-20261125T120000Z-1.jsonl'), 'utf8'))).toContain('"b.md"')
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

  describe('several hosts on one state folder', () => {
    const append = async (log: string, n: number, at: Date, from = 0) => {
      for (let k = 0; k < n; k++) await appendEvent(log, k % 2 ? 'delegation.completed' : 'delegation.submitted', {task: `t-${from + k}.md`, cost_usd: 0.5}, at)
    }

    it("a host that writes its first event after the checkpoint is picked up, and only its log's bytes are read", async () => {
      const now = start
      await append(files.events, 6, now)
      expect((await updateCounters(files, now)).counters.all_time).toMatchObject({submitted: 3, completed: 3})
      const h2 = await filesOf(dir, 'h2')
      await append(h2.events, 4, now, 100)
      const run = await updateCounters(files, now)
      expect(run.rebuilt).toBeNull()
      expect(run.bytesRead).toBe((await stat(h2.events)).size)
      expect(run.counters.all_time).toMatchObject({submitted: 5, completed: 5})
      expect(run.counters).toEqual(await fullRead(now))
      // h2 runs status itself: the same counts (one checkpoint for the fleet).
      expect((await updateCounters(h2, now)).counters).toEqual(run.counters)
      expect(Object.keys(parseCheckpoint(await readFile(checkpointPath(files), 'utf8'))!.logs).sort()).toEqual(['hosts/h1/events.jsonl', 'hosts/h2/events.jsonl'])
    })

    it("one host's rotation leaves the others' marks: its new log is read from its start, nothing counted twice or lost", async () => {
      const now = start
      const h2 = await filesOf(dir, 'h2')
      await append(files.events, 4, now)
      await append(h2.events, 6, now, 100)
      await updateCounters(files, now)
      await append(h2.events, 2, now, 200)
      const rotated = await rotateLog(h2, now)
      expect(rotated).toEqual({rotated: true, archive: path.join(h2.dir, 'events-20261125T120000Z.jsonl')})
      await append(h2.events, 2, now, 300)
      await append(files.events, 2, now, 400)
      const run = await updateCounters(files, now)
      expect(run.rebuilt).toBeNull()
      expect(run.counters.all_time).toMatchObject({submitted: 8, completed: 8})
      expect(run.counters).toEqual(await fullRead(now))
      // The archive of h2 goes: the checkpoint has moved onto h2's new log, so the counts stay.
      await unlink(path.join(h2.dir, 'events-20261125T120000Z.jsonl'))
      const after = await updateCounters(files, now)
      expect(after.rebuilt).toBeNull()
      expect(after.counters.all_time).toEqual(run.counters.all_time)
    })

    it("a host's log that was truncated rebuilds all the counts from every log", async () => {
      const now = start
      const h2 = await filesOf(dir, 'h2')
      await append(files.events, 4, now)
      await append(h2.events, 4, now, 100)
      await updateCounters(files, now)
      await truncate(h2.events, 0)
      await append(h2.events, 1, now, 200)
      const run = await updateCounters(files, now)
      expect(run.rebuilt).toBe('the log is shorter than the checkpoint (hosts/h2/events.jsonl)')
      expect(run.counters.all_time).toMatchObject({submitted: 3, completed: 2})
      expect(run.counters).toEqual(await fullRead(now))
    })

    it('the legacy top-level log is counted with the hosts\' logs, and a checkpoint of version 1 (legacy log only) is carried on, not rebuilt', async () => {
      const now = start
      await append(files.legacyEvents, 4, now)
      const legacy = (await stat(files.legacyEvents)).size
      await updateCounters(files, now)
      // What a ccl before per-host logs left: the same counts, its one segment the legacy log, counted to its end.
      const {logs, ...rest} = parseCheckpoint(await readFile(checkpointPath(files), 'utf8'))!
      expect(logs['events.jsonl']?.offset).toBe(legacy)
      await writeFile(checkpointPath(files), JSON.stringify({...rest, version: 1, segment: logs['events.jsonl']}))
      await append(files.events, 2, now, 100)
      const run = await updateCounters(files, now)
      expect(run.rebuilt).toBeNull()
      expect(run.bytesRead).toBe((await stat(files.events)).size)
      expect(run.counters.all_time).toMatchObject({submitted: 3, completed: 3})
      expect(run.counters).toEqual(await fullRead(now))
    })

    it('the legacy log deleted after the upgrade: its counts stay (it is never written again), and a legacy file that appears later is counted as new', async () => {
      const now = start
      await append(files.legacyEvents, 4, now)
      await append(files.events, 2, now, 100)
      const before = (await updateCounters(files, now)).counters
      await unlink(files.legacyEvents)
      const run = await updateCounters(files, now)
      expect(run.rebuilt).toBeNull()
      expect(run.counters).toEqual(before)
      expect(Object.keys(parseCheckpoint(await readFile(checkpointPath(files), 'utf8'))!.logs)).toEqual(['hosts/h1/events.jsonl'])
      // An older ccl on another host, mid-upgrade, still writing it: a new file, read from its start.
      await append(files.legacyEvents, 2, now, 200)
      expect((await updateCounters(files, now)).counters.all_time).toMatchObject({submitted: before.all_time.submitted + 1, completed: before.all_time.completed + 1})
      // A host's log is not so: its file gone (not rotated) rebuilds from what is on disk.
      await unlink(files.events)
      expect((await updateCounters(files, now)).rebuilt).toBe('the file of the checkpoint is gone (hosts/h1/events.jsonl)')
    })

    it('two status runs at once, while two hosts append, never count an event twice: each checkpoint is whole, the last one wins', async () => {
      let now = start
      const h2 = await filesOf(dir, 'h2')
      for (let round = 0; round < 15; round++) {
        now = new Date(now.getTime() + 60_000)
        const at = now
        const [a, b] = await Promise.all([
          updateCounters(files, at),
          updateCounters(h2, at),
          append(files.events, 3, at, round * 10),
          append(h2.events, 3, at, 1000 + round * 10),
        ])
        // Each run saw some prefix of each log: never more than there is.
        const total = (await fullRead(at)).all_time.submitted
        expect(a.counters.all_time.submitted).toBeLessThanOrEqual(total)
        expect(b.counters.all_time.submitted).toBeLessThanOrEqual(total)
        // Whichever checkpoint won, the next run from it gives exactly a full read.
        const next = await updateCounters(round % 2 ? files : h2, at)
        expect(next.rebuilt).toBeNull()
        expect(next.counters).toEqual(await fullRead(at))
      }
    })
  })
})
