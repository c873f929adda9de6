import {spawn} from 'node:child_process'
import {mkdir, readdir, readFile, symlink, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {appendEvent, readEvents} from '../../src/lib/events/log.js'
import {currentHost} from '../../src/lib/queue/holder.js'
import {createExclusive, numberedName, removeIfExists, sweepTemps, writeFileAtomic} from '../../src/lib/queue/files.js'
import {ensureLayout, isTaskName, listTasks, markerPath, queueLayout, scanTasks} from '../../src/lib/queue/layout.js'
import {tryLock} from '../../src/lib/queue/lock.js'
import {REPO} from '../support/sandbox.js'

let dir: string
beforeEach(async () => {
  const {mkdtemp} = await import('node:fs/promises')
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-queue-'))
})
afterEach(async () => {
  const {rm} = await import('node:fs/promises')
  await rm(dir, {recursive: true, force: true})
})

describe('layout', () => {
  it('places every folder of SPEC §3', async () => {
    const layout = queueLayout({queue: '/q', state: '/q/.ccl', host: 'h1'})
    expect(layout).toMatchObject({pending: '/q/pending', active: '/q/active', done: '/q/done', failed: '/q/failed'})
    // Each host appends to its own log (SPEC §8); the top-level one is the legacy log, only read.
    expect(layout).toMatchObject({events: '/q/.ccl/hosts/h1/events.jsonl', host: 'h1', hosts: '/q/.ccl/hosts', legacyEvents: '/q/.ccl/events.jsonl'})
    expect(queueLayout({queue: '/q', state: '/q/.ccl'}).events).toBe(`/q/.ccl/hosts/${currentHost()}/events.jsonl`)
    expect(markerPath(layout, 'a.md')).toBe('/q/pending/a.md.delegated')
  })

  it('accepts only task names of SPEC §3', () => {
    expect(isTaskName('fix login.md')).toBe(true)
    for (const bad of ['.hidden.md', 'a.md.delegated', 'notes.txt', '.md', 'a/b.md', 'a\0.md']) expect(isTaskName(bad)).toBe(false)
  })

  it('lists tasks oldest first by mtime, then name, skipping markers and temp files', async () => {
    const layout = queueLayout({queue: dir, state: path.join(dir, '.ccl')})
    await ensureLayout(layout, ['alpha'])
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s))
    for (const [name, s] of [['c.md', 1], ['b.md', 2], ['a.md', 2]] as const) {
      await writeFile(path.join(layout.pending, name), name)
      await utimes(path.join(layout.pending, name), at(s), at(s))
    }

    await writeFile(path.join(layout.pending, 'c.md.delegated'), '{}')
    await writeFile(path.join(layout.pending, '.tmp-x.md'), '')
    await mkdir(path.join(layout.pending, 'dir.md'))
    await symlink('/etc/hostname', path.join(layout.pending, 'link.md'))
    expect((await listTasks(layout.pending)).map((t) => t.name)).toEqual(['c.md', 'a.md', 'b.md'])
    // a symlink and a folder with a task's name are reported, never followed
    expect((await scanTasks(layout.pending)).irregular.map((t) => `${t.name}: ${t.what}`).sort()).toEqual(['dir.md: a folder', 'link.md: a symbolic link'])
    expect(await listTasks(path.join(dir, 'missing'))).toEqual([])
  })
})

describe('files', () => {
  it('writes atomically and leaves no temp file behind', async () => {
    const file = path.join(dir, 'x.json')
    await writeFileAtomic(file, 'one')
    await writeFileAtomic(file, 'two')
    expect(await readFile(file, 'utf8')).toBe('two')
    expect(await readdir(dir)).toEqual(['x.json'])
  })

  it('gives the written file the mode asked for, whatever the umask', async () => {
    const {stat} = await import('node:fs/promises')
    const file = path.join(dir, 'settings.json')
    await writeFileAtomic(file, '{}', {mode: 0o600})
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const old = process.umask(0o077)
    try {
      await writeFileAtomic(file, '{}', {mode: 0o664})
    } finally {
      process.umask(old)
    }

    expect((await stat(file)).mode & 0o777).toBe(0o664)
  })

  it('creates exclusively: the second claim loses', async () => {
    const file = path.join(dir, 'claim')
    expect(await createExclusive(file, 'first')).toBe(true)
    expect(await createExclusive(file, 'second')).toBe(false)
    expect(await readFile(file, 'utf8')).toBe('first')
  })

  it('of many concurrent claimers exactly one wins', async () => {
    const file = path.join(dir, 'claim')
    const results = await Promise.all(Array.from({length: 50}, (_, i) => createExclusive(file, String(i))))
    expect(results.filter(Boolean)).toHaveLength(1)
  })

  it('numbers a taken name, shortening a long stem so the number fits in 255 bytes, never inside a character', () => {
    expect(numberedName('fix.md', 1)).toBe('fix.md')
    expect(numberedName('fix.md', 2)).toBe('fix.2.md')
    const long = 'é'.repeat(125) + 'x.md' // 250 + 4 bytes
    const second = numberedName(long, 2)
    expect(Buffer.byteLength(second)).toBeLessThanOrEqual(255)
    expect(second.endsWith('.2.md')).toBe(true)
    expect(second).not.toContain('\uFFFD')
    expect(second.startsWith('é'.repeat(10))).toBe(true)
  })

  it('sweeps only its own temp files, and only once they are old', async () => {
    await writeFile(path.join(dir, '.ccl-tmp-1-old'), '')
    await writeFile(path.join(dir, '.ccl-tmp-2-young'), '')
    await writeFile(path.join(dir, 'task.md'), '')
    await writeFile(path.join(dir, '.editor-tmp'), '')
    const old = new Date(Date.now() - 3_600_000)
    await utimes(path.join(dir, '.ccl-tmp-1-old'), old, old)
    expect(await sweepTemps(dir, 600_000)).toBe(1)
    expect((await readdir(dir)).sort()).toEqual(['.ccl-tmp-2-young', '.editor-tmp', 'task.md'])
  })

  it('removes a file once; a second removal is not an error', async () => {
    await writeFile(path.join(dir, 'f'), '')
    expect(await removeIfExists(path.join(dir, 'f'))).toBe(true)
    expect(await removeIfExists(path.join(dir, 'f'))).toBe(false)
  })
})

describe('events', () => {
  it('appends one JSON line per event and reads them back', async () => {
    const file = path.join(dir, 'state', 'events.jsonl')
    const now = new Date('2026-11-25T10:00:00.000Z')
    await appendEvent(file, 'task.requeued', {task: 'a.md', account: 'alpha'}, now)
    await appendEvent(file, 'session.created', {account: 'alpha'}, now)
    expect(await readFile(file, 'utf8')).toBe(
      '{"ts":"2026-11-25T10:00:00.000Z","event":"task.requeued","task":"a.md","account":"alpha"}\n' +
        '{"ts":"2026-11-25T10:00:00.000Z","event":"session.created","account":"alpha"}\n',
    )
    expect((await readEvents(file)).map((e) => e.event)).toEqual(['task.requeued', 'session.created'])
  })

  it('keeps lines whole with concurrent writers in several processes', async () => {
    const file = path.join(dir, 'events.jsonl')
    const script = `
      const {appendEvent} = await import(${JSON.stringify(path.join(REPO, 'dist/lib/events/log.js'))});
      const pad = 'x'.repeat(2000);
      await Promise.all(Array.from({length: 200}, (_, i) => appendEvent(${JSON.stringify(file)}, 'task.requeued', {task: process.argv[1] + '-' + i + '.md', pad})));`
    const run = (tag: string) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, tag], {stdio: 'inherit'})
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))))
      })
    await Promise.all(['a', 'b', 'c', 'd'].map((tag) => run(tag)))
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean)
    expect(lines).toHaveLength(800)
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow()
  })

  it('skips a torn last line instead of failing', async () => {
    const file = path.join(dir, 'events.jsonl')
    await writeFile(file, '{"ts":"2026-01-01T00:00:00Z","event":"session.created"}\n{"ts":"2026-01-01T0')
    expect(await readEvents(file)).toHaveLength(1)
  })
})

describe('lock', () => {
  it('has one holder at a time and is free again after release', async () => {
    const first = await tryLock(dir, 'reap')
    expect(first).toBeDefined()
    expect(await tryLock(dir, 'reap')).toBeUndefined()
    expect(await tryLock(dir, 'other')).toBeDefined()
    await first!.release()
    const again = await tryLock(dir, 'reap')
    expect(again).toBeDefined()
    await again!.release()
  })

  it('is taken over at once when its holder was killed', async () => {
    const script = `
      const {tryLock} = await import(${JSON.stringify(path.join(REPO, 'dist/lib/queue/lock.js'))});
      const lock = await tryLock(${JSON.stringify(dir)}, 'reap', {staleMs: 60000});
      process.stdout.write(lock ? 'held\\n' : 'busy\\n');
      setInterval(() => {}, 1000);`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'pipe', 'inherit']})
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
    expect(await tryLock(dir, 'reap', {staleMs: 60_000})).toBeUndefined()
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    // Its file is as fresh as a live holder's (a minute from stale), but its pid is gone.
    const taken = await tryLock(dir, 'reap', {staleMs: 60_000})
    expect(taken).toBeDefined()
    await taken!.release()
  })
})
