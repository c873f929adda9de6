import {chmod, mkdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {type LoopSandbox, makeLoopSandbox, mtimeMs, waitFor} from '../support/loop.js'
import {allLogText} from '../support/events.js'

let loop: LoopSandbox | undefined

afterEach(async () => {
  await loop?.cleanup()
  loop = undefined
})

async function started(options: Parameters<typeof makeLoopSandbox>[0] = {}): Promise<LoopSandbox> {
  loop = await makeLoopSandbox(options)
  const reconciled = await loop.ccl(['reconcile'])
  expect(reconciled.code, reconciled.stderr).toBe(0)
  await loop.ready()
  return loop
}

async function events(l: LoopSandbox): Promise<{event: string; task?: string; account?: string; reason?: string}[]> {
  const text = allLogText(path.join(l.sandbox.queue, '.ccl'))
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line))
}

describe('ccl assign', {timeout: 120_000}, () => {
  it('claims the task into active/<account>/, pastes the prompt and presses Enter: the session does the task', async () => {
    const l = await started()
    const file = await l.addTask('fix-login.md', 'Fix the login.\n', 3600)
    const result = await l.ccl(['assign', file])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout).toBe('fix-login.md -> alpha (ccl-alpha)\n')

    const active = path.join(l.sandbox.queue, 'active', 'alpha', 'fix-login.md')

    // The stand-in got one prompt, as a bracketed paste, naming the absolute paths, and did the task.
    expect(await waitFor(async () => (await l.where()).done?.includes('fix-login.md') ?? false)).toBe(true)
    const [entry, ...more] = await l.received()
    expect(more).toEqual([])
    expect(entry!.pasted).toBe(true)
    expect(entry!.prompt).toBe(
      `Read the task in ${active} and do it. When it is finished, move that file into ${path.join(l.sandbox.queue, 'done')}/.`,
    )
    expect(entry!.standIn).toBe('alpha')
    expect(await l.where()).toEqual({done: ['fix-login.md']})
    expect(await readFile(path.join(l.sandbox.queue, 'done', 'fix-login.md'), 'utf8')).toBe('Fix the login.\n')
    expect((await events(l)).filter((e) => e.event === 'task.assigned')).toEqual([
      expect.objectContaining({task: 'fix-login.md', account: 'alpha', session: 'ccl-alpha'}),
    ])
    // The buffer was deleted by the paste (-d): nothing is left in tmux.
    expect(await l.server.tmux('list-buffers')).toBe('')
  })

  it('sets the claimed file mtime to now, so its age in active/ counts from the hand-off', async () => {
    const l = await started({workMs: 5000})
    const file = await l.addTask('old.md', 'x\n', 7200)
    const result = await l.ccl(['assign', 'old.md', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const json = JSON.parse(result.stdout)
    expect(json).toMatchObject({schemaVersion: 1, outcome: 'assigned', task: 'old.md', account: 'alpha', session: 'ccl-alpha'})
    expect(json.path).toBe(path.join(l.sandbox.queue, 'active', 'alpha', 'old.md'))
    expect(Date.now() - (await mtimeMs(json.path))).toBeLessThan(60_000)
    await expect(mtimeMs(file)).rejects.toThrow(/ENOENT/)
  })

  it('delivers a long multi-line prompt as one paste and one submission', async () => {
    const long = 'Work carefully.\n'.repeat(300) + 'The task is {task}; when done move it to {done}/.'
    const l = await started({config: {assign: {enter_delay: '100ms', ready_after: '0s', prompt: long}}})
    await l.addTask('long.md')
    const result = await l.ccl(['assign', 'long.md'])
    expect(result.code, result.stderr).toBe(0)
    expect(await waitFor(async () => (await l.where()).done !== undefined)).toBe(true)
    const received = await l.received()
    expect(received).toHaveLength(1)
    expect(received[0]!.pasted).toBe(true)
    // tmux turns the pasted line feeds into carriage returns; inside a bracketed paste they are text, not Enter.
    const expected = long
      .replace('{task}', path.join(l.sandbox.queue, 'active', 'alpha', 'long.md'))
      .replace('{done}', path.join(l.sandbox.queue, 'done'))
    expect(received[0]!.prompt?.replaceAll('\r', '\n')).toBe(expected)
  })

  it('uses the next free account, then refuses with exit 4 when none is free; the task stays in pending/', async () => {
    const l = await started({workMs: 600_000})
    await l.addTask('a.md', 'a\n', 30)
    await l.addTask('b.md', 'b\n', 20)
    await l.addTask('c.md', 'c\n', 10)
    expect((await l.ccl(['assign', 'a.md'])).stdout).toBe('a.md -> alpha (ccl-alpha)\n')
    expect((await l.ccl(['assign', 'b.md'])).stdout).toBe('b.md -> beta (ccl-beta)\n')
    const refused = await l.ccl(['assign', 'c.md'])
    expect(refused.code).toBe(4)
    expect(refused.stdout).toBe('')
    expect(refused.stderr).toBe('ccl: c.md: no free account (alpha: working on a.md; beta: working on b.md)\n')
    expect(await l.where()).toEqual({pending: ['c.md'], 'active/alpha': ['a.md'], 'active/beta': ['b.md']})
  })

  it('--account tries only that account; an unknown name is a usage error', async () => {
    const l = await started({workMs: 600_000})
    await l.addTask('a.md')
    await l.addTask('b.md')
    expect((await l.ccl(['assign', 'a.md', '--account', 'beta'])).stdout).toBe('a.md -> beta (ccl-beta)\n')
    const busy = await l.ccl(['assign', 'b.md', '--account', 'beta'])
    expect(busy.code).toBe(4)
    expect(busy.stderr).toContain('b.md: no free account (beta: working on a.md)')
    const unknown = await l.ccl(['assign', 'b.md', '--account', 'gamma'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain(`--account gamma: no such account in ${l.sandbox.configFile} (have: alpha, beta)`)
    expect(await l.where()).toEqual({pending: ['b.md'], 'active/beta': ['a.md']})
  })

  it('skips accounts that are held or whose session is not running', async () => {
    const l = await started({accounts: ['alpha', 'beta', 'gamma'], workMs: 600_000})
    await mkdir(path.join(l.sandbox.queue, '.ccl', 'sessions'), {recursive: true})
    await writeFile(
      path.join(l.sandbox.queue, '.ccl', 'sessions', 'alpha.json'),
      JSON.stringify({crashes: [], failed_at: null, created_at: null, held: true}),
    )
    await l.server.tmux('kill-session', '-t', '=ccl-beta')
    await l.addTask('t.md')
    expect((await l.ccl(['assign', 't.md'])).stdout).toBe('t.md -> gamma (ccl-gamma)\n')
    await l.addTask('u.md')
    const refused = await l.ccl(['assign', 'u.md'])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain('alpha: on hold (crash limit); release with: ccl reconcile --release alpha')
    expect(refused.stderr).toContain('beta: session ccl-beta is not running')
    expect(refused.stderr).toContain('gamma: working on t.md')
  })

  it('waits assign.ready_after after reconcile created a session: Claude Code is still starting', async () => {
    loop = await makeLoopSandbox({config: {assign: {enter_delay: '100ms', ready_after: '1h'}}})
    const l = loop
    expect((await l.ccl(['reconcile'])).code).toBe(0)
    await l.ready()
    await l.addTask('t.md')
    const early = await l.ccl(['assign', 't.md'])
    expect(early.code).toBe(4)
    expect(early.stderr).toMatch(/alpha: session ccl-alpha started \d+(?:ms|s) ago, still starting \(assign\.ready_after 1h\)/)
    expect(await l.where()).toEqual({pending: ['t.md']})
    expect(await l.received()).toEqual([])

    // Sessions ccl did not create (no created_at), or created long enough ago, are ready.
    await l.sandbox.writeConfig({...l.sandbox.config, assign: {enter_delay: '100ms', ready_after: '1s'}})
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect((await l.ccl(['assign', 't.md'])).code).toBe(0)
  })

  it('refuses a delegated task (exit 4) and leaves it and its marker alone', async () => {
    const l = await started()
    await l.addTask('remote.md')
    const marker = path.join(l.sandbox.queue, 'pending', 'remote.md.delegated')
    await writeFile(marker, '{"version":1}\n')
    const refused = await l.ccl(['assign', 'remote.md'])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toBe('ccl: remote.md: delegated (it has a .delegated marker); ccl reap finishes it\n')
    expect(await l.where()).toEqual({pending: ['remote.md']})
  })

  it('a missing task is exit 2; one already taken is exit 4 naming where it went; one outside pending/ is exit 2', async () => {
    const l = await started({workMs: 600_000})
    const missing = await l.ccl(['assign', 'nope.md'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toBe(`ccl: ${path.join(l.sandbox.queue, 'pending', 'nope.md')}: no such task in pending/\n`)

    await l.addTask('t.md')
    expect((await l.ccl(['assign', 't.md'])).code).toBe(0)
    const again = await l.ccl(['assign', 't.md', '--json'])
    expect(again.code).toBe(4)
    expect(again.stderr).toContain('t.md: taken by another process first (now in active/alpha/)')
    expect(JSON.parse(again.stdout)).toMatchObject({schemaVersion: 1, error: {code: 'refused'}})

    const outside = path.join(l.sandbox.dir, 'elsewhere.md')
    await writeFile(outside, 'x\n')
    const foreign = await l.ccl(['assign', outside])
    expect(foreign.code).toBe(2)
    expect(foreign.stderr).toContain(`${outside}: not in the queue's pending/ folder`)
    expect(await readFile(outside, 'utf8')).toBe('x\n')
  })

  it('puts the task back in pending/ with its old mtime when the paste fails (exit 1)', async () => {
    const l = await started()
    const file = await l.addTask('t.md', 't\n', 900)
    const before = await mtimeMs(file)
    // A tmux on PATH that fails paste-buffer the way a vanished pane does; everything else is the real one.
    const bin = path.join(l.sandbox.dir, 'bin')
    await mkdir(bin)
    const real = (await import('node:child_process')).execFileSync('sh', ['-c', 'command -v tmux']).toString().trim()
    await writeFile(
      path.join(bin, 'tmux'),
      `#!/bin/sh\nfor a in "$@"; do [ "$a" = paste-buffer ] && { echo "can't find pane: ccl-alpha" >&2; exit 1; }; done\nexec '${real}' "$@"\n`,
    )
    await chmod(path.join(bin, 'tmux'), 0o755)
    const result = await l.ccl(['assign', 't.md'], {env: {PATH: `${bin}:${process.env.PATH}`}})
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('t.md: could not deliver the prompt to ccl-alpha:')
    expect(result.stderr).toContain("can't find pane")
    expect(result.stderr).toContain('the task is back in pending/')
    expect(await l.where()).toEqual({pending: ['t.md']})
    expect(Math.abs((await mtimeMs(file)) - before)).toBeLessThan(1)
    expect((await events(l)).map((e) => e.event)).toContain('task.requeued')
    // The account is free again.
    expect((await l.ccl(['assign', 't.md'])).code).toBe(0)
  })

  it('hands 5 tasks raced by 5 processes to 2 accounts: one each, the rest refused, nothing lost', async () => {
    const l = await started({workMs: 600_000})
    const names = ['t1.md', 't2.md', 't3.md', 't4.md', 't5.md']
    for (const name of names) await l.addTask(name)
    const results = await Promise.all(names.map((name) => l.ccl(['assign', name])))
    expect(results.map((r) => r.code).sort()).toEqual([0, 0, 4, 4, 4])
    const where = await l.where()
    expect(where['active/alpha']).toHaveLength(1)
    expect(where['active/beta']).toHaveLength(1)
    expect([...where.pending!, ...where['active/alpha']!, ...where['active/beta']!].sort()).toEqual(names)
  })

  it('hands one task raced by 3 processes to exactly one account', async () => {
    const l = await started({workMs: 600_000})
    await l.addTask('t.md')
    const results = await Promise.all([1, 2, 3].map(() => l.ccl(['assign', 't.md'])))
    expect(results.map((r) => r.code).sort()).toEqual([0, 4, 4])
    const where = await l.where()
    expect(Object.values(where).flat()).toEqual(['t.md'])
    expect(await waitFor(async () => (await l.received()).length === 1)).toBe(true)
  })

  for (const point of ['assign.after-claim', 'move.after-link', 'assign.after-move', 'assign.after-paste'] as const) {
    it(`a hand-off killed at ${point} is undone by the next run: the task is back in pending/ in its place`, async () => {
      const l = await started({workMs: 600_000})
      const file = await l.addTask('first.md', 'first\n', 600)
      const before = await mtimeMs(file)
      const killed = await l.ccl(['assign', 'first.md', '--account', 'alpha'], {env: {CCL_FAILPOINTS: point}})
      expect(killed.code).not.toBe(0)
      const left = await l.where()
      // Killed between link and unlink, the one file has two names (the same inode) until the next run.
      expect(Object.values(left).flat()).toEqual(point === 'move.after-link' ? ['first.md', 'first.md'] : ['first.md'])

      await l.addTask('second.md')
      const next = await l.ccl(['assign', 'second.md', '--account', 'alpha'])
      expect(next.code, next.stderr).toBe(0)
      expect(await l.where()).toEqual({pending: ['first.md'], 'active/alpha': ['second.md']})
      expect(Math.abs((await mtimeMs(file)) - before)).toBeLessThan(1)
      const requeued = (await events(l)).filter((e) => e.event === 'task.requeued')
      expect(requeued).toEqual(point === 'assign.after-claim' || point === 'move.after-link' ? [] : [expect.objectContaining({task: 'first.md', reason: 'hand-off interrupted'})])
    })
  }

  // The prompts as ccl renders them: one line (default); three lines of about 780 characters, shown
  // unfolded over many rows of the 80-column pane; over 800 characters, shown folded.
  const prompts = {
    'the default prompt': undefined,
    'a three-line prompt of about 700 characters': `${'Read it all. '.repeat(20)}\nThe task: {task}.\n${'Then move it. '.repeat(22)}into {done}/.`,
    'a prompt over 800 characters': `${'Work carefully. '.repeat(60)}The task is {task}; when done move it to {done}/.`,
  }
  for (const [label, prompt] of Object.entries(prompts)) {
    it(`a hand-off killed between the paste and Enter leaves ${label} in the input box; the next one clears the box first, so only its prompt is submitted`, async () => {
      const l = await started({workMs: 600_000, ...(prompt ? {config: {assign: {enter_delay: '100ms', ready_after: '0s', prompt}}} : {})})
      await l.addTask('first.md', 'first\n', 600)
      const killed = await l.ccl(['assign', 'first.md', '--account', 'alpha'], {env: {CCL_FAILPOINTS: 'assign.after-paste'}})
      expect(killed.code).not.toBe(0)
      expect(await l.received()).toEqual([])

      await l.addTask('second.md')
      const next = await l.ccl(['assign', 'second.md', '--account', 'alpha'])
      expect(next.code, next.stderr).toBe(0)
      expect(await waitFor(async () => (await l.received()).length > 0)).toBe(true)
      const active = path.join(l.sandbox.queue, 'active', 'alpha', 'second.md')
      const done = path.join(l.sandbox.queue, 'done')
      const expected = (prompt ?? 'Read the task in {task} and do it. When it is finished, move that file into {done}/.').replace('{task}', active).replace('{done}', done)
      // One submission, the second prompt alone: nothing of first.md's before it.
      const received = await l.received()
      expect(received.map((e) => e.prompt?.replaceAll('\r', '\n'))).toEqual([expected])
      expect(received[0]!.pasted).toBe(true)
    })
  }
})
