import {type ChildProcess, spawn} from 'node:child_process'
import {lstat, mkdir, mkdtemp, readFile, rm, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {LockLostError} from '../../src/lib/errors.js'
import {currentBootId, currentHolder, currentHost, type Holder, processStart} from '../../src/lib/queue/holder.js'
import {describeLockHolder, type Lock, lockHolder, type LockRecord, tryLock, tryLockOrHolder} from '../../src/lib/queue/lock.js'
import {newNonce} from '../../src/lib/queue/record.js'
import {REPO} from '../support/sandbox.js'

let dir: string
const children: ChildProcess[] = []
const locks: Lock[] = []
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-lock-'))
})
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
  for (const lock of locks.splice(0)) await lock.release()
  await rm(dir, {recursive: true, force: true})
})

const file = () => path.join(dir, 'reap.lock')
const take = async (staleMs?: number) => {
  const lock = await tryLock(dir, 'reap', staleMs === undefined ? {} : {staleMs})
  if (lock) locks.push(lock)
  return lock
}

/** A lock file as another ccl would leave it, held by `holder`. */
async function writeLock(holder: Holder): Promise<LockRecord> {
  const record: LockRecord = {holder, nonce: newNonce(), acquired_at: new Date(Date.now() - 1000).toISOString()}
  await writeFile(file(), JSON.stringify(record) + '\n')
  return record
}

async function age(target: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms)
  await utimes(target, then, then)
}

async function ours(lock: Lock | undefined): Promise<void> {
  expect(lock).toBeDefined()
  const record = JSON.parse(await readFile(file(), 'utf8')) as LockRecord
  expect(record.holder).toEqual(currentHolder())
  expect(Date.parse(record.acquired_at)).toBeGreaterThan(Date.now() - 60_000)
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
}

async function until(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  return condition()
}

describe('lock: a holder on this host that is gone is taken over at once', () => {
  it('its pid no longer runs', async () => {
    const child = spawn(process.execPath, ['-e', '0'], {stdio: 'ignore'})
    await exited(child)
    expect(child.pid).toBeTypeOf('number')
    await writeLock({host: currentHost(), pid: child.pid!, pid_start: 1, boot_id: currentBootId()})
    // Fresh (written a moment ago) and a minute from stale: only the dead pid lets it go.
    expect(await take(60_000)).toBeDefined()
    await ours(locks[0])
  })

  it('it ran before the last boot (another boot id)', async () => {
    await writeLock({...currentHolder(), boot_id: 'ffffffff-0000-0000-0000-000000000000'})
    await ours(await take(60_000))
  })

  it('its pid runs, but is another process (another start time)', async () => {
    await writeLock({...currentHolder(), pid_start: currentHolder().pid_start! - 1})
    await ours(await take(60_000))
  })
})

describe('lock: a holder that may be alive keeps it', () => {
  it('this process holds it: a second try is refused, and says who holds it', async () => {
    const first = await take()
    expect(first).toBeDefined()
    expect(await take()).toBeUndefined()
    const holder = lockHolder(dir, 'reap')
    expect(holder).toMatchObject({file: file(), kind: 'record', holder: currentHolder()})
    expect(describeLockHolder(holder)).toBe(`pid ${process.pid}, since ${holder!.acquired_at}`)
  })

  it('a sleeping process on this host holds it: refused however old the file is', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], {stdio: 'ignore'})
    children.push(child)
    const pid = child.pid!
    await writeLock({host: currentHost(), pid, pid_start: processStart(pid), boot_id: currentBootId()})
    await age(file(), 3_600_000)
    expect(await take(10_000)).toBeUndefined()
    expect(lockHolder(dir, 'reap')?.holder?.pid).toBe(pid)
  })

  it('another host holds it: refused until its mtime is older than staleMs, then taken', async () => {
    const other: Holder = {host: 'elsewhere.example', pid: 4242, pid_start: 99, boot_id: 'another-machine'}
    await writeLock(other)
    expect(await take(10_000)).toBeUndefined()
    expect(describeLockHolder(lockHolder(dir, 'reap'))).toMatch(/^pid 4242 on elsewhere\.example, since /)
    await age(file(), 8000)
    expect(await take(10_000)).toBeUndefined()
    await age(file(), 11_000)
    await ours(await take(10_000))
  })

  it('a refusal names the holder even when its file was still being written as it looked', async () => {
    const other: Holder = {host: 'elsewhere.example', pid: 4242, pid_start: 99, boot_id: 'another-machine'}
    await writeFile(file(), '')
    const written = new Promise<void>((resolve) => {
      setTimeout(() => void writeLock(other).then(() => resolve()), 30)
    })
    const attempt = await tryLockOrHolder(dir, 'reap')
    await written
    expect(attempt.lock).toBeUndefined()
    expect(attempt.holder).toMatchObject({kind: 'record', holder: other})
  })

  it('an unreadable (torn) file: refused while younger than 5 s, taken once older', async () => {
    await writeFile(file(), '{"holder": {"host"')
    expect(await take(10_000)).toBeUndefined()
    expect(lockHolder(dir, 'reap')?.kind).toBe('torn')
    await age(file(), 4000)
    expect(await take(10_000)).toBeUndefined()
    await age(file(), 6000)
    await ours(await take(10_000))
  })

  it('an older ccl\'s proper-lockfile directory: refused while fresh, removed and taken once stale', async () => {
    await mkdir(file())
    expect(await take(10_000)).toBeUndefined()
    expect(lockHolder(dir, 'reap')?.kind).toBe('legacy')
    await age(file(), 11_000)
    await ours(await take(10_000))
    expect((await lstat(file())).isFile()).toBe(true)
  })
})

describe('lock: a clock stepped back (an mtime in the future) is not fresh', () => {
  const ahead = async (target: string, ms: number) => age(target, -ms)

  it("another host's lock refreshed \"an hour from now\" is taken; one a second ahead (clock skew) is still fresh", async () => {
    const other: Holder = {host: 'elsewhere.example', pid: 4242, pid_start: 99, boot_id: 'another-machine'}
    await writeLock(other)
    await ahead(file(), 1000)
    expect(await take(10_000)).toBeUndefined()
    await ahead(file(), 3_600_000)
    await ours(await take(10_000))
  })

  it('an unreadable file and an older ccl\'s lock directory an hour ahead are taken too', async () => {
    await writeFile(file(), '{"holder": {"host"')
    await ahead(file(), 3_600_000)
    await ours(await take(10_000))
    await locks.pop()!.release()
    await mkdir(file())
    await ahead(file(), 3_600_000)
    await ours(await take(10_000))
  })

  it('a live holder on this host keeps its lock whatever its mtime says', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], {stdio: 'ignore'})
    children.push(child)
    const pid = child.pid!
    await writeLock({host: currentHost(), pid, pid_start: processStart(pid), boot_id: currentBootId()})
    await ahead(file(), 3_600_000)
    expect(await take(10_000)).toBeUndefined()
  })
})

describe('lock: release and loss', () => {
  it('release removes our file, and never a file someone else holds now', async () => {
    const mine = await tryLock(dir, 'reap')
    await mine!.release()
    await expect(lstat(file())).rejects.toMatchObject({code: 'ENOENT'})

    const stolen = await tryLock(dir, 'reap')
    await rm(file())
    const theirs = await writeLock({host: 'elsewhere.example', pid: 4242, pid_start: 99, boot_id: 'another-machine'})
    await stolen!.release()
    expect(JSON.parse(await readFile(file(), 'utf8'))).toEqual(theirs)
  })

  it('a lock another process took over is compromised after the next refresh: assertHeld throws LockLostError', async () => {
    const lock = await take(1000) // refreshed every second
    expect(lock).toBeDefined()
    // A live holder keeps refreshing the mtime.
    await age(file(), 30_000)
    expect(await until(() => Date.now() - Date.parse(lockHolder(dir, 'reap')!.refreshed_at) < 5000, 5000)).toBe(true)
    expect(lock!.compromised).toBe(false)
    lock!.assertHeld()

    // Another process takes it over (as one on another host would once this one looked stale).
    await rm(file())
    const script = `
      const {tryLock} = await import(${JSON.stringify(path.join(REPO, 'dist/lib/queue/lock.js'))});
      const lock = await tryLock(${JSON.stringify(dir)}, 'reap', {staleMs: 60000});
      process.stdout.write(lock ? 'held\\n' : 'busy\\n');
      setInterval(() => {}, 1000);`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'pipe', 'inherit']})
    children.push(child)
    const said = await new Promise<string>((resolve) => child.stdout.once('data', (data: Buffer) => resolve(String(data))))
    expect(said).toBe('held\n')

    expect(await until(() => lock!.compromised, 5000)).toBe(true)
    expect(() => lock!.assertHeld()).toThrow(LockLostError)
    expect(() => lock!.assertHeld()).toThrow(`lost the lock ${file()}: another process took it over, so this run stopped`)
    await lock!.release()
    expect(lockHolder(dir, 'reap')?.holder?.pid).toBe(child.pid)
  })

  it('a lock whose file vanished is compromised too', async () => {
    const lock = await take(1000)
    await rm(file())
    expect(await until(() => lock!.compromised, 5000)).toBe(true)
    expect(() => lock!.assertHeld()).toThrow(LockLostError)
  })
})
