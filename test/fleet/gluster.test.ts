// The filesystem promises ccl's queue relies on (src/lib/queue/files.ts, transitions.ts), raced through two
// mounts of one GlusterFS volume at once: two processes, two FUSE clients, two caches, as two hosts would.
// `npm run test:fleet` (scripts/gluster-up.sh makes the volume); docs/fleet.md.
import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {type FleetDir, fleetDir, type GlusterMounts, glusterMounts, Racer, type RaceAnswer} from '../support/gluster.js'

const COUNT = 300
const NAMES = Array.from({length: COUNT}, (_, i) => `task-${String(i).padStart(3, '0')}.md`)
/** Both racers start at the same instant, this far ahead, so that neither has finished before the other begins. */
const START_AHEAD_MS = 300

let mounts: GlusterMounts
let dir: FleetDir
let racerA: Racer
let racerB: Racer

beforeAll(async () => {
  mounts = await glusterMounts()
}, 240_000)

beforeEach(async () => {
  dir = await fleetDir(mounts)
  racerA = new Racer('a')
  racerB = new Racer('b')
  // Both processes up and through their first lookup on their mount before any race starts.
  await Promise.all([racerA.send({op: 'read', file: dir.a}), racerB.send({op: 'read', file: dir.b})])
})

afterEach(async () => {
  await Promise.all([racerA.close(), racerB.close()])
  await dir.cleanup()
})

async function raceBoth(commandA: Record<string, unknown>, commandB: Record<string, unknown>): Promise<[RaceAnswer, RaceAnswer]> {
  const at = Date.now() + START_AHEAD_MS
  return Promise.all([racerA.send({...commandA, at}), racerB.send({...commandB, at})])
}

/** Every name won exactly once, nothing lost, no error but the expected loss; both sides won some (a real race). */
function expectOneWinnerEach(what: string, a: RaceAnswer, b: RaceAnswer): void {
  expect(a.errors, `errors through mount A`).toEqual([])
  expect(b.errors, `errors through mount B`).toEqual([])
  const both = a.won!.filter((name) => b.won!.includes(name))
  expect(both, 'names won through both mounts').toEqual([])
  expect([...a.won!, ...b.won!].sort(), 'every name won once').toEqual(NAMES)
  console.log(`${what}: ${COUNT} names, A won ${a.won!.length} in ${a.ms} ms, B won ${b.won!.length} in ${b.ms} ms`)
  // If one side had finished before the other began, this test would pass on any filesystem.
  expect(a.won!.length, 'A won some: the race was contended').toBeGreaterThan(0)
  expect(b.won!.length, 'B won some: the race was contended').toBeGreaterThan(0)
}

async function listed(folder: string): Promise<string[]> {
  return (await readdir(folder)).sort()
}

async function makePending(): Promise<void> {
  await mkdir(path.join(dir.a, 'pending'))
  await Promise.all(NAMES.map((name) => writeFile(path.join(dir.a, 'pending', name), `# ${name}\n`)))
}

async function expectContents(folder: string, names: string[], content: (name: string) => string): Promise<void> {
  const seen = await Promise.all(names.map((name) => readFile(path.join(folder, name), 'utf8')))
  expect(seen).toEqual(names.map((name) => content(name)))
}

describe('GlusterFS, two mounts raced at once', () => {
  it('open(O_CREAT|O_EXCL) of the same 300 names from both mounts: each name has exactly one winner', async () => {
    const [a, b] = await raceBoth({op: 'excl', dir: dir.a, names: NAMES, label: 'a'}, {op: 'excl', dir: dir.b, names: NAMES, label: 'b'})
    expectOneWinnerEach('exclusive create', a, b)
    expect(await listed(dir.b)).toEqual(NAMES)
    // What each file holds is what its winner wrote, read through the mount that lost it.
    await expectContents(dir.b, a.won!, () => 'a')
    await expectContents(dir.a, b.won!, () => 'b')
  })

  it('rename(2) pending/X → active/<host>/X raced over 300 files: each file claimed once, none lost', async () => {
    await makePending()
    await mkdir(path.join(dir.a, 'active', 'a'), {recursive: true})
    await mkdir(path.join(dir.a, 'active', 'b'), {recursive: true})
    const [a, b] = await raceBoth(
      {op: 'rename', from: path.join(dir.a, 'pending'), to: path.join(dir.a, 'active', 'a'), names: NAMES},
      {op: 'rename', from: path.join(dir.b, 'pending'), to: path.join(dir.b, 'active', 'b'), names: NAMES},
    )
    expectOneWinnerEach('rename', a, b)
    for (const root of [dir.a, dir.b]) {
      expect(await listed(path.join(root, 'pending'))).toEqual([])
      expect(await listed(path.join(root, 'active', 'a'))).toEqual(a.won!.sort())
      expect(await listed(path.join(root, 'active', 'b'))).toEqual(b.won!.sort())
    }

    await expectContents(path.join(dir.b, 'active', 'a'), a.won!, (name) => `# ${name}\n`)
    await expectContents(path.join(dir.a, 'active', 'b'), b.won!, (name) => `# ${name}\n`)
  })

  it("ccl's move, link(2) pending/X → active/X then unlink, raced over 300 files: one winner each, one copy each", async () => {
    await makePending()
    await mkdir(path.join(dir.a, 'active'))
    const [a, b] = await raceBoth(
      {op: 'link', from: path.join(dir.a, 'pending'), to: path.join(dir.a, 'active'), names: NAMES},
      {op: 'link', from: path.join(dir.b, 'pending'), to: path.join(dir.b, 'active'), names: NAMES},
    )
    expectOneWinnerEach('link move', a, b)
    for (const root of [dir.a, dir.b]) {
      expect(await listed(path.join(root, 'pending'))).toEqual([])
      expect(await listed(path.join(root, 'active'))).toEqual(NAMES)
    }

    await expectContents(path.join(dir.b, 'active'), NAMES, (name) => `# ${name}\n`)
  })

  it("ccl's claim, own temp fsynced then link(2)ed to the claim name, raced over 300 names: the claim names its one winner", async () => {
    const [a, b] = await raceBoth({op: 'claim', dir: dir.a, names: NAMES, label: 'a'}, {op: 'claim', dir: dir.b, names: NAMES, label: 'b'})
    expectOneWinnerEach('link claim', a, b)
    // No temp left behind, and each claim, read through the other mount, names the racer that won it.
    expect(await listed(dir.a)).toEqual(NAMES)
    await expectContents(dir.b, a.won!, (name) => `a ${name}\n`)
    await expectContents(dir.a, b.won!, (name) => `b ${name}\n`)
  })

  it('a file written by temp + fsync + rename through A is read whole through B right after, new or replaced', async () => {
    const rounds = 100
    // Big enough to span several FUSE reads (max_read 128 KiB): a torn or stale read shows.
    const body = (round: number) => `round ${round}\n${String(round).repeat(64 * 1024)}\n`
    const stale: string[] = []
    const started = performance.now()
    for (let round = 1; round <= rounds; round++) {
      // B reads the file every round, so a client that caches what it read would have the old one.
      await racerA.send({op: 'write', file: path.join(dir.a, 'state.json'), data: body(round)})
      const replaced = await racerB.send({op: 'read', file: path.join(dir.b, 'state.json')})
      if (replaced.data !== body(round)) stale.push(`state.json round ${round}: ${replaced.error ?? replaced.data?.slice(0, 20)}`)
      // A name B looked up (and missed) just before A made it: a client that caches "not found" misses it.
      const missing = await racerB.send({op: 'read', file: path.join(dir.b, `new-${round}`)})
      if (missing.error !== 'ENOENT') stale.push(`new-${round} before it was written: ${missing.error ?? 'read'}`)
      await racerA.send({op: 'write', file: path.join(dir.a, `new-${round}`), data: body(round)})
      const created = await racerB.send({op: 'read', file: path.join(dir.b, `new-${round}`)})
      if (created.data !== body(round)) stale.push(`new-${round}: ${created.error ?? created.data?.slice(0, 20)}`)
    }

    console.log(`write through A, read through B: ${rounds} rounds (replace + new name) in ${Math.round(performance.now() - started)} ms`)
    expect(stale).toEqual([])
  })
})

describe('the mounts helper', () => {
  async function refusal(a: string, b: string): Promise<string> {
    const saved = [process.env.CCL_GLUSTER_A, process.env.CCL_GLUSTER_B]
    process.env.CCL_GLUSTER_A = a
    process.env.CCL_GLUSTER_B = b
    try {
      await glusterMounts()
    } catch (error) {
      return (error as Error).message
    } finally {
      // process.env turns undefined into the string "undefined": an unset variable is deleted instead.
      for (const [name, value] of [['CCL_GLUSTER_A', saved[0]], ['CCL_GLUSTER_B', saved[1]]] as const) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }

    throw new Error(`glusterMounts() accepted ${a} and ${b}`)
  }

  it('refuses a path that is not a glusterfs mount, and one mount given twice, naming the reason', async () => {
    const notMounted = path.join(dir.a, 'plain-folder')
    await mkdir(notMounted)
    expect(await refusal(notMounted, mounts.b)).toBe(`${notMounted} is not a mount point (/proc/mounts); run scripts/gluster-up.sh`)
    expect(await refusal('/proc', mounts.b)).toBe(`/proc is mounted proc from proc, not fuse.glusterfs`)
    expect(await refusal(mounts.a, mounts.a)).toBe(`CCL_GLUSTER_A and CCL_GLUSTER_B are the same path (${mounts.a}): two mounts are needed`)
  })
})
