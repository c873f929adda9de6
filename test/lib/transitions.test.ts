import {spawn} from 'node:child_process'
import {link, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {currentBootId, currentHolder, type Holder, processStart} from '../../src/lib/queue/holder.js'
import {activeDir, ensureLayout, type QueueLayout, queueLayout} from '../../src/lib/queue/layout.js'
import {
  abortFailover,
  beginFailover,
  CLAIM_STALE_MS,
  failoverPath,
  finishFailover,
  moveForFailover,
  readFailovers,
  stepFailover,
  claimForDelegation,
  claimPath,
  claimTask,
  handOffPath,
  MAX_DELEGATED_NAME_BYTES,
  ENTERED_GRACE_MS,
  markDelivered,
  markEntered,
  recoverHandOffs,
  requeueActive,
  settleHandOff,
  sweepFolder,
  takeForAccount,
  undoHandOff,
} from '../../src/lib/queue/transitions.js'

let dir: string
let layout: QueueLayout
const now = () => new Date()

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-transitions-'))
  layout = queueLayout({queue: dir, state: path.join(dir, '.ccl')})
  await ensureLayout(layout, ['alpha', 'beta'])
})
afterEach(async () => rm(dir, {recursive: true, force: true}))

/** A pid that ran on this host and has exited: what a SIGKILLed claimant leaves behind. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], {stdio: 'ignore'})
  await new Promise((resolve) => child.once('exit', resolve))
  return child.pid!
}

async function writeClaim(folder: string, name: string, holder: Holder, extra: Record<string, unknown> = {}): Promise<string> {
  const file = claimPath(folder, name)
  await writeFile(file, JSON.stringify({holder, nonce: 'n-old', task: name, purpose: 'test', at: new Date().toISOString(), to: null, ...extra}) + '\n')
  return file
}

async function task(name: string, body = `do ${name}\n`, ageS = 0): Promise<string> {
  const file = path.join(layout.pending, name)
  await writeFile(file, body)
  if (ageS) {
    const at = new Date(Date.now() - ageS * 1000)
    await utimes(file, at, at)
  }

  return file
}

const visible = async (folder: string) => (await readdir(folder)).filter((n) => !n.startsWith('.')).sort()

describe('the per-task claim', () => {
  it('of 40 concurrent claimants exactly one wins; the others are told who holds it; release frees it', async () => {
    await task('t.md')
    const outcomes = await Promise.all(Array.from({length: 40}, () => claimTask(layout, layout.pending, 't.md', 'test')))
    const winners = outcomes.filter((o) => o.ok)
    expect(winners).toHaveLength(1)
    for (const o of outcomes) if (!o.ok) expect(o.holder).toBe(`pid ${process.pid} (test)`)
    await (winners[0] as Extract<(typeof outcomes)[number], {ok: true}>).claim.release()
    expect((await readdir(layout.pending)).sort()).toEqual(['t.md'])
    expect((await claimTask(layout, layout.pending, 't.md', 'again')).ok).toBe(true)
  })

  it('a claim whose holder died on this host is broken at once; one of a live holder is not', async () => {
    await task('t.md')
    const me = currentHolder()
    await writeClaim(layout.pending, 't.md', {...me, pid: await deadPid(), pid_start: 1})
    expect((await claimTask(layout, layout.pending, 't.md', 'test')).ok).toBe(true)

    await task('u.md')
    await writeClaim(layout.pending, 'u.md', me) // this very process: alive
    expect(await claimTask(layout, layout.pending, 'u.md', 'test')).toEqual({ok: false, holder: `pid ${process.pid} (test)`})
  })

  it('a pid that runs again with another start time, or a holder of another boot, counts as dead', async () => {
    await task('t.md')
    const me = currentHolder()
    await writeClaim(layout.pending, 't.md', {...me, pid_start: (processStart(process.pid) ?? 0) + 12345})
    expect((await claimTask(layout, layout.pending, 't.md', 'test')).ok).toBe(true)
    await task('u.md')
    await writeClaim(layout.pending, 'u.md', {...me, boot_id: currentBootId() === 'other-boot' ? 'x' : 'other-boot'})
    expect((await claimTask(layout, layout.pending, 'u.md', 'test')).ok).toBe(true)
  })

  it('a claim from another host is kept until it is stale by age (its pid means nothing here)', async () => {
    await task('t.md')
    const file = await writeClaim(layout.pending, 't.md', {host: 'elsewhere', pid: 1, pid_start: 1, boot_id: 'b'})
    expect(await claimTask(layout, layout.pending, 't.md', 'test')).toEqual({ok: false, holder: 'pid 1 on elsewhere (test)'})
    const old = new Date(Date.now() - CLAIM_STALE_MS - 1000)
    await utimes(file, old, old)
    expect((await claimTask(layout, layout.pending, 't.md', 'test')).ok).toBe(true)
  })

  it('completes a move a killed claimant left half done (one file, two names), keeping the destination', async () => {
    const source = await task('t.md', 'the task\n')
    const destination = path.join(activeDir(layout, 'alpha'), 't.md')
    await link(source, destination)
    await writeClaim(layout.pending, 't.md', {...currentHolder(), pid: await deadPid()}, {to: 'active/alpha'})
    const claimed = await claimTask(layout, layout.pending, 't.md', 'test')
    expect(claimed.ok).toBe(true)
    expect(await visible(layout.pending)).toEqual([])
    expect(await readFile(destination, 'utf8')).toBe('the task\n')
    expect((await lstat(destination)).nlink).toBe(1)
  })

  it("stores a move's destination relative to the queue (hosts mount it at different paths)", async () => {
    await task('t.md')
    const claimed = await claimTask(layout, layout.pending, 't.md', 'test', activeDir(layout, 'alpha'))
    expect(claimed.ok).toBe(true)
    expect(JSON.parse(await readFile(claimPath(layout.pending, 't.md'), 'utf8')).to).toBe(path.join('active', 'alpha'))
  })

  it("an older ccl's claim naming the destination by its absolute path still has its cut move completed", async () => {
    const source = await task('t.md', 'the task\n')
    const destination = path.join(activeDir(layout, 'alpha'), 't.md')
    await link(source, destination)
    await writeClaim(layout.pending, 't.md', {...currentHolder(), pid: await deadPid()}, {to: activeDir(layout, 'alpha')})
    expect((await claimTask(layout, layout.pending, 't.md', 'test')).ok).toBe(true)
    expect(await visible(layout.pending)).toEqual([])
    expect((await lstat(destination)).nlink).toBe(1)
  })

  it('a claim whose destination leaves the queue (../) completes nothing outside it', async () => {
    const source = await task('t.md', 'the task\n')
    const outside = await mkdtemp(path.join(os.tmpdir(), 'ccl-outside-'))
    try {
      await link(source, path.join(outside, 't.md'))
      await writeClaim(layout.pending, 't.md', {...currentHolder(), pid: await deadPid()}, {to: path.relative(layout.root, outside)})
      expect((await claimTask(layout, layout.pending, 't.md', 'test')).ok).toBe(true)
      expect(await visible(layout.pending)).toEqual(['t.md'])
    } finally {
      await rm(outside, {recursive: true, force: true})
    }
  })
})

describe('sweeping claims', () => {
  it('a dead claim of a move cut in two is swept and its move completed; one without a move is only removed', async () => {
    const folder = activeDir(layout, 'alpha')
    const source = path.join(folder, 't.md')
    await writeFile(source, 'the task\n')
    await link(source, path.join(layout.pending, 't.md'))
    await writeClaim(folder, 't.md', {...currentHolder(), pid: await deadPid()}, {to: 'pending'})
    await writeFile(path.join(folder, 'u.md'), 'other\n')
    await writeClaim(folder, 'u.md', {...currentHolder(), pid: await deadPid()})
    expect(await sweepFolder(folder, {tempAgeMs: 600_000, now: Date.now(), layout})).toBe(2)
    expect(await readdir(folder)).toEqual(['u.md'])
    expect((await lstat(path.join(layout.pending, 't.md'))).nlink).toBe(1)
    // An older ccl's claim with an absolute destination: its move is completed too.
    await writeFile(path.join(folder, 'w.md'), 'old\n')
    await link(path.join(folder, 'w.md'), path.join(layout.pending, 'w.md'))
    await writeClaim(folder, 'w.md', {...currentHolder(), pid: await deadPid()}, {to: layout.pending})
    expect(await sweepFolder(folder, {tempAgeMs: 600_000, now: Date.now(), layout})).toBe(1)
    expect(await readdir(folder)).toEqual(['u.md'])
    expect((await lstat(path.join(layout.pending, 'w.md'))).nlink).toBe(1)
    // Without the layout a claim of a move is left for its next claimant.
    await writeClaim(folder, 'u.md', {...currentHolder(), pid: await deadPid()}, {to: 'pending'})
    expect(await sweepFolder(folder, {tempAgeMs: 600_000, now: Date.now()})).toBe(0)
  })
})

describe('hand-off: pending/ → active/<account>/', () => {
  it('moves the task under its own name, sets its mtime to now, and keeps its pending mtime in the record', async () => {
    const file = await task('t.md', 'x\n', 3600)
    const before = (await stat(file)).mtimeMs
    const taken = await takeForAccount(layout, {name: 't.md', account: 'alpha', now: now()})
    expect(taken.kind).toBe('taken')
    if (taken.kind !== 'taken') return
    expect(await visible(layout.pending)).toEqual([])
    expect(await visible(activeDir(layout, 'alpha'))).toEqual(['t.md'])
    expect(Date.now() - (await stat(taken.handOff.path)).mtimeMs).toBeLessThan(5000)
    expect(JSON.parse(await readFile(handOffPath(layout, 'alpha'), 'utf8'))).toMatchObject({task: 't.md', state: 'delivering', pending_mtime_ms: before})
  })

  it('the account is busy while its hand-off is in progress, and free again once its delivered task left active/', async () => {
    await task('t.md')
    await task('u.md')
    const taken = await takeForAccount(layout, {name: 't.md', account: 'alpha', now: now()})
    if (taken.kind !== 'taken') throw new Error(taken.kind)
    expect(await takeForAccount(layout, {name: 'u.md', account: 'alpha', now: now()})).toEqual({kind: 'account-busy', why: 'a hand-off to it is in progress'})
    const delivered = await markDelivered(taken.handOff, now())
    expect((await settleHandOff(layout, 'alpha', now())).state).toEqual({kind: 'delivered', task: 't.md'})
    // the session moves its task to done/
    const {rename} = await import('node:fs/promises')
    await rename(delivered.path, path.join(layout.done, 't.md'))
    expect((await settleHandOff(layout, 'alpha', now())).state).toEqual({kind: 'none'})
    expect((await takeForAccount(layout, {name: 'u.md', account: 'alpha', now: now()})).kind).toBe('taken')
  })

  it('a failed delivery puts the task back with the mtime it had in pending/', async () => {
    const file = await task('t.md', 'x\n', 7200)
    const before = (await stat(file)).mtimeMs
    const taken = await takeForAccount(layout, {name: 't.md', account: 'alpha', now: now()})
    if (taken.kind !== 'taken') throw new Error(taken.kind)
    const back = await undoHandOff(layout, taken.handOff, 'delivery failed: test', now())
    expect(back).toMatchObject({task: 't.md', as: 't.md', restored: true})
    expect(Math.abs((await stat(file)).mtimeMs - before)).toBeLessThan(1)
    expect(await visible(activeDir(layout, 'alpha'))).toEqual([])
    await expect(stat(handOffPath(layout, 'alpha'))).rejects.toMatchObject({code: 'ENOENT'})
  })

  it('requeue of a dead session keeps the place in line (from the hand-off record), and frees the account', async () => {
    const file = await task('old.md', 'x\n', 7200)
    const before = (await stat(file)).mtimeMs
    await task('young.md', 'y\n', 60)
    const taken = await takeForAccount(layout, {name: 'old.md', account: 'alpha', now: now()})
    if (taken.kind !== 'taken') throw new Error(taken.kind)
    await markDelivered(taken.handOff, now())
    const requeued = await requeueActive(layout, 'alpha', {reason: 'session dead', now: now()})
    expect(requeued).toEqual([{account: 'alpha', task: 'old.md', as: 'old.md', renamed: false, restored: true}])
    expect(Math.abs((await stat(path.join(layout.pending, 'old.md'))).mtimeMs - before)).toBeLessThan(1)
    const {listTasks} = await import('../../src/lib/queue/layout.js')
    expect((await listTasks(layout.pending)).map((t) => t.name)).toEqual(['old.md', 'young.md'])
    expect((await settleHandOff(layout, 'alpha', now())).state).toEqual({kind: 'none'})
  })

  it('an interrupted hand-off (holder dead, not delivered) is undone by the next run', async () => {
    const file = await task('t.md', 'x\n', 600)
    const before = (await stat(file)).mtimeMs
    const taken = await takeForAccount(layout, {name: 't.md', account: 'alpha', now: now()})
    if (taken.kind !== 'taken') throw new Error(taken.kind)
    // rewrite the record as if a killed process had written it
    const record = {...taken.handOff.record, holder: {...taken.handOff.record.holder, pid: await deadPid()}}
    await writeFile(handOffPath(layout, 'alpha'), JSON.stringify(record) + '\n')
    const recovered = await recoverHandOffs(layout, ['alpha', 'beta'], now())
    expect(recovered).toEqual([expect.objectContaining({task: 't.md', as: 't.md', restored: true})])
    expect(Math.abs((await stat(file)).mtimeMs - before)).toBeLessThan(1)
  })

  it('killed after Enter: the hand-off waits for the session\'s hook (completed once it says so), and is undone only after the grace', async () => {
    await task('t.md', 'x\n', 600)
    await task('u.md', 'y\n', 600)
    for (const [name, account] of [['t.md', 'alpha'], ['u.md', 'beta']] as const) {
      const taken = await takeForAccount(layout, {name, account, now: now()})
      if (taken.kind !== 'taken') throw new Error(taken.kind)
      const entered = await markEntered(taken.handOff, now())
      expect(entered.record.entered_at).toEqual(expect.any(String))
      await writeFile(handOffPath(layout, account), JSON.stringify({...entered.record, holder: {...entered.record.holder, pid: await deadPid()}}) + '\n')
    }

    // No hook yet: both stay with their sessions.
    let received = false
    const options = {received: (record: {account: string}) => received && record.account === 'alpha'}
    expect(await recoverHandOffs(layout, ['alpha', 'beta'], now(), options)).toEqual([])
    const waiting = await settleHandOff(layout, 'beta', now(), options)
    expect(waiting.state).toMatchObject({kind: 'in-progress', task: 'u.md'})
    expect(await visible(layout.pending)).toEqual([])
    // alpha's hook arrives: its hand-off is completed.
    received = true
    expect((await settleHandOff(layout, 'alpha', now(), options)).state).toEqual({kind: 'delivered', task: 't.md'})
    // beta's never does: undone once the grace is over.
    const later = new Date(Date.now() + ENTERED_GRACE_MS + 1000)
    expect(await recoverHandOffs(layout, ['alpha', 'beta'], later, options)).toEqual([expect.objectContaining({task: 'u.md', restored: true})])
    expect(await visible(layout.pending)).toEqual(['u.md'])
    expect(await visible(activeDir(layout, 'alpha'))).toEqual(['t.md'])
  })

  it('a pending task that is a second name of a file in done/ (a requeue cut by a crash, then finished) is dropped, never handed out again', async () => {
    const done = path.join(layout.done, 't.md')
    await writeFile(done, 'the task\n')
    await link(done, path.join(layout.pending, 't.md'))
    expect((await takeForAccount(layout, {name: 't.md', account: 'alpha', now: now()})).kind).toBe('gone')
    expect(await visible(layout.pending)).toEqual([])
    expect(await visible(activeDir(layout, 'alpha'))).toEqual([])
    expect((await lstat(done)).nlink).toBe(1)
  })

  it('a pending task that is a second name of a file in active/ is left for reconcile, not handed to another account or delegated', async () => {
    const working = path.join(activeDir(layout, 'alpha'), 't.md')
    await writeFile(working, 'the task\n')
    await link(working, path.join(layout.pending, 't.md'))
    const taken = await takeForAccount(layout, {name: 't.md', account: 'beta', now: now()})
    expect(taken).toMatchObject({kind: 'claimed', by: expect.stringContaining('active/alpha/t.md')})
    const delegated = await claimForDelegation(layout, {name: 't.md', build: () => ({}), serialize: () => '{}\n'})
    expect(delegated.kind).toBe('claimed-by-other')
    expect(await visible(layout.pending)).toEqual(['t.md'])
    expect(await visible(activeDir(layout, 'beta'))).toEqual([])
    expect((await readdir(layout.pending)).filter((n) => n.startsWith('.ccl-claim-'))).toEqual([])
  })

  it('refuses a symlink in pending/ and never touches what it points at', async () => {
    const outside = path.join(dir, 'outside-secret.md')
    await writeFile(outside, 'secret\n')
    await symlink(outside, path.join(layout.pending, 'link.md'))
    const taken = await takeForAccount(layout, {name: 'link.md', account: 'alpha', now: now()})
    expect(taken).toEqual({kind: 'refused', why: 'a symbolic link, not a regular file: never read, moved or sent'})
    expect((await lstat(path.join(layout.pending, 'link.md'))).isSymbolicLink()).toBe(true)
    expect(await visible(activeDir(layout, 'alpha'))).toEqual([])
    const delegated = await claimForDelegation(layout, {name: 'link.md', build: () => ({}), serialize: () => '{}'})
    expect(delegated.kind).toBe('refused')
    expect(await readdir(layout.pending)).toEqual(['link.md'])
  })

  it('refuses a name with control characters, saying which', async () => {
    await task('a\u001B[201~\rb.md')
    const taken = await takeForAccount(layout, {name: 'a\u001B[201~\rb.md', account: 'alpha', now: now()})
    expect(taken).toEqual({kind: 'refused', why: 'its name holds control characters (ESC, CR), which a paste into a session or a line of output cannot carry; rename it'})
    expect(await visible(layout.pending)).toEqual(['a\u001B[201~\rb.md'])
  })
})

describe('names of 221 to 255 bytes', () => {
  it('a 255-byte task is handed out and requeued; a taken name gets a numbered name that still fits', async () => {
    const name = 'n'.repeat(252) + '.md'
    expect(Buffer.byteLength(name)).toBe(255)
    await task(name)
    const taken = await takeForAccount(layout, {name, account: 'alpha', now: now()})
    if (taken.kind !== 'taken') throw new Error(taken.kind)
    await markDelivered(taken.handOff, now())
    await task(name, 'a second task of the same name\n') // pending/ holds the name again
    // A hand-off still under way by a live process is left to it; a delivered one is requeued.
    const requeued = await requeueActive(layout, 'alpha', {reason: 'test', now: now()})
    expect(requeued).toHaveLength(1)
    expect(requeued[0]!.renamed).toBe(true)
    expect(Buffer.byteLength(requeued[0]!.as)).toBeLessThanOrEqual(255)
    expect(requeued[0]!.as.endsWith('.2.md')).toBe(true)
    expect((await visible(layout.pending)).length).toBe(2)
  })

  it('a name too long for its marker is refused for delegation once, with the reason, and nothing is written', async () => {
    const name = 'r'.repeat(MAX_DELEGATED_NAME_BYTES - 3 + 1) + '.md'
    await task(name)
    const claimed = await claimForDelegation(layout, {name, build: () => ({}), serialize: () => '{}'})
    expect(claimed).toEqual({kind: 'refused', why: `its name is 246 bytes; a delegated task's marker .delegated must fit in 255, so at most 245`})
    expect(await readdir(layout.pending)).toEqual([name])
    const fits = 'f'.repeat(MAX_DELEGATED_NAME_BYTES - 3) + '.md'
    await task(fits)
    expect((await claimForDelegation(layout, {name: fits, build: () => ({ok: true}), serialize: (m) => JSON.stringify(m)})).kind).toBe('claimed')
    expect((await readdir(layout.pending)).sort()).toEqual([fits, fits + '.delegated', name].sort())
  })
})

describe('claim for delegation', () => {
  it('exactly one of a hand-off and a delegation racing for one task wins; the loser touches nothing', async () => {
    for (let round = 0; round < 20; round++) {
      const name = `race-${round}.md`
      await task(name)
      const account = round % 2 === 0 ? 'alpha' : 'beta'
      const [taken, delegated] = await Promise.all([
        takeForAccount(layout, {name, account, now: now()}),
        claimForDelegation(layout, {name, build: () => ({task: name}), serialize: (m) => JSON.stringify(m)}),
      ])
      const wins = [taken.kind === 'taken', delegated.kind === 'claimed'].filter(Boolean)
      expect(wins, `${taken.kind} / ${delegated.kind}`).toHaveLength(1)
      if (taken.kind === 'taken') {
        expect(await visible(layout.pending)).not.toContain(name + '.delegated')
        await undoHandOff(layout, taken.handOff, 'test', now())
        const {unlink} = await import('node:fs/promises')
        await unlink(path.join(layout.pending, name))
      } else {
        expect(await visible(activeDir(layout, account))).toEqual([])
        const {unlink} = await import('node:fs/promises')
        await unlink(path.join(layout.pending, name))
        await unlink(path.join(layout.pending, name + '.delegated'))
      }
    }

    expect(await readdir(layout.pending)).toEqual([])
    await mkdir(layout.done, {recursive: true})
  })
})

describe('failover: active/<from>/ → active/<to>/', () => {
  async function delivered(name: string, account: string, ageS: number): Promise<number> {
    const file = await task(name, 'x\n', ageS)
    const before = (await stat(file)).mtimeMs
    const taken = await takeForAccount(layout, {name, account, now: now()})
    if (taken.kind !== 'taken') throw new Error(taken.kind)
    await markDelivered(taken.handOff, now())
    return before
  }

  const begin = (extra: Partial<Parameters<typeof beginFailover>[1]> = {}) =>
    beginFailover(layout, {from: 'alpha', to: 'beta', task: 't.md', session_id: 'id-1', cwd: dir, mode: 'resume', why: null, now: now(), ...extra})

  it('moves the task under its name, the target holds the place in line, and while the journal stands nobody else touches them', async () => {
    const before = await delivered('t.md', 'alpha', 7200)
    const begun = await begin()
    if (begun.kind !== 'begun') throw new Error(begun.kind)
    // one failover per source; the target is taken
    expect((await begin()).kind).toBe('busy')
    await task('u.md')
    expect(await takeForAccount(layout, {name: 'u.md', account: 'beta', now: now()})).toEqual({kind: 'account-busy', why: 'a hand-off to it is in progress'})

    const moved = await moveForFailover(layout, begun.failover, now())
    expect(moved).toEqual({kind: 'moved', path: path.join(activeDir(layout, 'beta'), 't.md')})
    expect(await visible(activeDir(layout, 'alpha'))).toEqual([])
    expect(await visible(activeDir(layout, 'beta'))).toEqual(['t.md'])
    await expect(stat(handOffPath(layout, 'alpha'))).rejects.toMatchObject({code: 'ENOENT'})
    // repeatable: a second run of the step finds it done
    expect(await moveForFailover(layout, begun.failover, now())).toEqual(moved)
    // a killed failover's records are its own: settle (its holder is this live process anyway), requeue leave them
    expect((await settleHandOff(layout, 'beta', now())).state).toEqual({kind: 'in-progress', task: 't.md', by: 'a failover from alpha'})
    expect(await requeueActive(layout, 'beta', {reason: 'session dead', now: now()})).toEqual([])
    expect(readFailovers(layout).journals.map((j) => j.record)).toEqual([expect.objectContaining({from: 'alpha', to: 'beta', step: 'started', pending_mtime_ms: before})])

    await finishFailover(layout, await stepFailover(begun.failover, {step: 'pasting'}), now())
    expect(readFailovers(layout).journals).toEqual([])
    expect((await settleHandOff(layout, 'beta', now())).state).toEqual({kind: 'delivered', task: 't.md'})
    // a later requeue of beta's dead session still restores the place in line
    const requeued = await requeueActive(layout, 'beta', {reason: 'session dead', now: now()})
    expect(requeued).toEqual([expect.objectContaining({task: 't.md', restored: true})])
    expect(Math.abs((await stat(path.join(layout.pending, 't.md'))).mtimeMs - before)).toBeLessThan(1)
  })

  it('a move cut between link and unlink (one file, two names) is completed', async () => {
    await delivered('t.md', 'alpha', 60)
    const begun = await begin()
    if (begun.kind !== 'begun') throw new Error(begun.kind)
    await link(path.join(activeDir(layout, 'alpha'), 't.md'), path.join(activeDir(layout, 'beta'), 't.md'))
    expect((await moveForFailover(layout, begun.failover, now())).kind).toBe('moved')
    expect(await visible(activeDir(layout, 'alpha'))).toEqual([])
    expect(await visible(activeDir(layout, 'beta'))).toEqual(['t.md'])
  })

  it('a target that has a task or a hand-off is refused, and nothing stays behind', async () => {
    await delivered('t.md', 'alpha', 60)
    await writeFile(path.join(activeDir(layout, 'beta'), 'other.md'), 'x\n')
    expect(await begin()).toEqual({kind: 'target-busy', why: 'active/beta/ holds a task'})
    await expect(stat(failoverPath(layout, 'alpha'))).rejects.toMatchObject({code: 'ENOENT'})
    await expect(stat(handOffPath(layout, 'beta'))).rejects.toMatchObject({code: 'ENOENT'})
    expect(await visible(activeDir(layout, 'alpha'))).toEqual(['t.md'])
  })

  it('undone after the move: the task goes back to pending/ with the mtime it had there; undone before: it stays with the source', async () => {
    const before = await delivered('t.md', 'alpha', 7200)
    const early = await begin()
    if (early.kind !== 'begun') throw new Error(early.kind)
    expect(await abortFailover(layout, early.failover, 'test', now())).toBeNull()
    expect(await visible(activeDir(layout, 'alpha'))).toEqual(['t.md'])
    await expect(stat(handOffPath(layout, 'beta'))).rejects.toMatchObject({code: 'ENOENT'})

    const late = await begin()
    if (late.kind !== 'begun') throw new Error(late.kind)
    await moveForFailover(layout, late.failover, now())
    expect(await abortFailover(layout, late.failover, 'test', now())).toMatchObject({task: 't.md', as: 't.md', restored: true})
    expect(Math.abs((await stat(path.join(layout.pending, 't.md'))).mtimeMs - before)).toBeLessThan(1)
    expect(readFailovers(layout).journals).toEqual([])
    await expect(stat(handOffPath(layout, 'beta'))).rejects.toMatchObject({code: 'ENOENT'})
  })

  it('a task that left the source meanwhile (done by it) is reported gone, not invented', async () => {
    await delivered('t.md', 'alpha', 60)
    const begun = await begin()
    if (begun.kind !== 'begun') throw new Error(begun.kind)
    const {rename} = await import('node:fs/promises')
    await rename(path.join(activeDir(layout, 'alpha'), 't.md'), path.join(layout.done, 't.md'))
    expect(await moveForFailover(layout, begun.failover, now())).toEqual({kind: 'gone', where: 'done/'})
  })
})
