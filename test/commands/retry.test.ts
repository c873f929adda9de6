import {chmod, readFile, readdir, stat, utimes, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {appendFooter, stripFooters} from '../../src/lib/delegation/footer.js'
import {delegatedTask, delegationOn, eventsOf, queueState} from '../support/delegated.js'
import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'
import {makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
let fake: FakeSecutools
let env: NodeJS.ProcessEnv

beforeEach(async () => {
  sandbox = await makeSandbox()
  fake = await startFakeSecutools()
  env = await delegationOn(sandbox, fake)
})
afterEach(async () => {
  await fake.close()
  await sandbox.cleanup()
})

const ccl = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCcl([...args, '--config', sandbox.configFile], {env: {...env, ...extra}, cwd: sandbox.dir})
const file = (...parts: string[]) => path.join(sandbox.queue, ...parts)
const text = (...parts: string[]) => readFile(file(...parts), 'utf8')

/** A delegated task whose job failed, reaped into failed/ with its footer. */
async function failedTask(name: string, error = 'GPU out of memory') {
  const task = await delegatedTask(sandbox, fake, name, {status: 'failed', error, result: null})
  const reaped = await ccl(['reap'])
  expect(reaped.code, reaped.stderr).toBe(0)
  expect(await text('failed', name)).toContain('<!-- ccl:delegation ')
  return task
}

describe('ccl retry NAME', () => {
  it('puts a reaped task back in pending/ without its footer, keeping the operator edit and the mode; the resubmitted prompt holds no footer', async () => {
    const {content} = await failedTask('fix.md')
    // The operator fixes the task in failed/, above the footer, and narrows its mode.
    const failed = await text('failed', 'fix.md')
    const edited = failed.replace('Do the thing', 'Do the thing (use the small model)')
    await writeFile(file('failed', 'fix.md'), edited)
    await chmod(file('failed', 'fix.md'), 0o600)
    const before = Date.now()

    const run = await ccl(['retry', 'fix.md', '--json'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({schemaVersion: 1, retried: [{task: 'fix.md', from: 'failed/fix.md', to: 'pending/fix.md', footers_removed: 1}], refused: []})
    expect(await queueState(sandbox)).toEqual({pending: ['fix.md'], done: [], failed: []})
    const back = await text('pending', 'fix.md')
    expect(back).toBe(content.replace('Do the thing', 'Do the thing (use the small model)'))
    const info = await stat(file('pending', 'fix.md'))
    expect(info.mode & 0o777).toBe(0o600)
    expect(info.mtimeMs).toBeGreaterThanOrEqual(before - 1000) // the end of the line
    expect((await eventsOf(sandbox)).filter((e) => e.event === 'task.retried')).toEqual([
      expect.objectContaining({task: 'fix.md', from: 'failed/', footers_removed: 1}),
    ])

    const submitted = await ccl(['delegate', 'submit', 'fix.md', '--force'])
    expect(submitted.code, submitted.stderr).toBe(0)
    const jobs = [...fake.jobs.values()].filter((j) => j.metadata.task === 'fix.md')
    expect(jobs).toHaveLength(2) // the failed one and the new one
    const prompt = jobs.at(-1)!.prompt
    expect(prompt).toContain('use the small model')
    expect(prompt).not.toContain('ccl:delegation')
    expect(prompt).not.toContain('Delegation result')
  })

  it('removes every footer of a task that failed twice', async () => {
    const {content} = await failedTask('twice.md', 'first')
    // Moved back by hand with its footer, delegated and failed again: two footers.
    const once = await text('failed', 'twice.md')
    const {rm} = await import('node:fs/promises')
    await rm(file('failed', 'twice.md'))
    await delegatedTask(sandbox, fake, 'twice.md', {id: 'j-2', status: 'failed', error: 'second', result: null})
    await writeFile(file('pending', 'twice.md'), once)
    const marker = JSON.parse(await text('pending', 'twice.md.delegated'))
    const {idempotencyKey} = await import('../../src/lib/delegation/marker.js')
    await writeFile(file('pending', 'twice.md.delegated'), JSON.stringify({...marker, idempotency_key: idempotencyKey('twice.md', once)}))
    expect((await ccl(['reap'])).code).toBe(0)
    const twice = await text('failed', 'twice.md')
    expect(twice.match(/^<!-- ccl:delegation /gm)).toHaveLength(2)

    const run = await ccl(['retry', 'twice.md'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe('failed/twice.md -> pending/twice.md (2 footers removed)\n')
    expect(await text('pending', 'twice.md')).toBe(content)
  })

  it('keeps a task without a footer byte for byte, and text that only looks like a footer', () => {
    const own = '# notes\n\n<!-- ccl:delegation {"status":"failed"} -->\nnot followed by the heading\n'
    expect(stripFooters(own)).toEqual({text: own, removed: 0})
    expect(stripFooters('no newline at the end')).toEqual({text: 'no newline at the end', removed: 0})
  })

  it('cuts at the blank line ccl put before its footer, whatever the task ended with', () => {
    const data = {status: 'failed' as const, provider: 'gemini', job_id: 'j-1', cost_usd: null, submitted_at: null, finished_at: null, task: 't.md', reaped_at: '2026-01-01T00:00:00.000Z'}
    for (const content of ['', 'one line', 'crlf\r\n', 'two\n\n', '---\na: 1\n---\nbody\n']) {
      const once = appendFooter(content, data, {error: 'boom\n<!-- ccl:delegation {"job_id":"x"} -->\n## Delegation result\n'})
      expect(stripFooters(once)).toEqual({text: content === 'one line' ? 'one line\n' : content, removed: 1})
    }
  })

  it('refuses a name already in pending/ (exit 4) and one in done/; nothing changes', async () => {
    await failedTask('dup.md')
    const failed = await text('failed', 'dup.md')
    await writeFile(file('pending', 'dup.md'), 'a new task of the same name\n')
    const run = await ccl(['retry', 'dup.md'])
    expect(run.code).toBe(4)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe(`ccl: ${file('failed', 'dup.md')}: not retried: pending/ already holds a task named dup.md; nothing changed\n`)
    expect(await text('failed', 'dup.md')).toBe(failed)
    expect(await text('pending', 'dup.md')).toBe('a new task of the same name\n')

    const {rename} = await import('node:fs/promises')
    await rename(file('pending', 'dup.md'), file('done', 'dup.md'))
    const again = await ccl(['retry', 'dup.md', '--json'])
    expect(again.code).toBe(4)
    expect(JSON.parse(again.stdout)).toMatchObject({schemaVersion: 1, error: {code: 'refused', exitCode: 4}})
    expect(again.stderr).toContain('done/ already holds a task named dup.md')
    expect(await queueState(sandbox)).toEqual({pending: [], done: ['dup.md'], failed: ['dup.md']})
    expect((await eventsOf(sandbox)).some((e) => e.event === 'task.retried')).toBe(false)
  })

  it('says where a task not in failed/ is, exit 2', async () => {
    await writeFile(file('done', 'old.md'), 'done\n')
    const run = await ccl(['retry', 'old.md'])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`ccl: ${file('failed', 'old.md')}: not in failed/ (it is in done/); only a failed task can be retried\n`)
    const none = await ccl(['retry', 'none.md'])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('not in failed/ nor anywhere else in the queue')
    const usage = await ccl(['retry'])
    expect(usage.code).toBe(2)
  })
})

describe('ccl retry --all', () => {
  it('retries every failed task, reports the one whose name is taken, exit 4', async () => {
    await failedTask('a.md')
    await failedTask('b.md')
    await writeFile(file('failed', 'c.md'), '# c\n\nfailed without a footer\n')
    await writeFile(file('pending', 'b.md'), 'taken\n')
    const run = await ccl(['retry', '--all', '--json'])
    expect(run.code).toBe(4)
    const out = JSON.parse(run.stdout)
    expect(out.retried.map((r: {task: string}) => r.task).sort()).toEqual(['a.md', 'c.md'])
    expect(out.refused).toEqual([{task: 'b.md', exit_code: 4, message: expect.stringContaining('pending/ already holds a task named b.md')}])
    expect(await queueState(sandbox)).toEqual({pending: ['a.md', 'b.md', 'c.md'], done: [], failed: ['b.md']})
    expect(await text('pending', 'c.md')).toBe('# c\n\nfailed without a footer\n')
    expect(await text('pending', 'a.md')).not.toContain('ccl:delegation')
    const empty = await ccl(['retry', '--all'])
    expect(empty.code).toBe(4) // b.md is still refused
  })
})

describe('crash safety', () => {
  it('killed after writing its journal: the task stays in failed/; the next retry does it once', async () => {
    const {content} = await failedTask('k.md')
    const killed = await ccl(['retry', 'k.md'], {CCL_FAILPOINTS: 'retry.prepared=kill'})
    expect(killed.code).not.toBe(0)
    expect((await queueState(sandbox)).failed).toEqual(['k.md'])
    expect((await readdir(file('pending'))).filter((n) => n.endsWith('.md'))).toEqual([])
    const again = await ccl(['retry', 'k.md'])
    expect(again.code, again.stderr).toBe(0)
    expect(await queueState(sandbox)).toEqual({pending: ['k.md'], done: [], failed: []})
    expect(await text('pending', 'k.md')).toBe(content)
    expect((await readdir(file('pending'))).filter((n) => n.startsWith('.ccl-'))).toEqual([])
  })

  it('killed after linking into pending/: the next dispatch pass (a sweep of pending/) removes failed/NAME, leaving one copy', async () => {
    const {content} = await failedTask('l.md')
    const killed = await ccl(['retry', 'l.md'], {CCL_FAILPOINTS: 'retry.linked=kill'})
    expect(killed.code).not.toBe(0)
    expect(await queueState(sandbox)).toMatchObject({failed: ['l.md']})
    expect((await readdir(file('pending'))).filter((n) => n.endsWith('.md'))).toEqual(['l.md'])
    // Aged past dispatch.settle; no account is up, so dispatch only sweeps and routes.
    const old = new Date(Date.now() - 60_000)
    await utimes(file('pending', 'l.md'), old, old)
    await ccl(['dispatch'])
    expect(await queueState(sandbox)).toMatchObject({failed: []})
    expect(await text('pending', 'l.md')).toBe(content)
    expect((await readdir(file('pending'))).filter((n) => n.startsWith('.ccl-'))).toEqual([])
    expect((await eventsOf(sandbox)).filter((e) => e.event === 'task.retried')).toEqual([expect.objectContaining({task: 'l.md', recovered: true})])
  })

  it('killed after linking: a claimant of pending/NAME (delegate submit) breaks the dead claim, finishes the retry first, then submits', async () => {
    const {content} = await failedTask('n.md')
    expect((await ccl(['retry', 'n.md'], {CCL_FAILPOINTS: 'retry.linked=kill'})).code).not.toBe(0)
    const submitted = await ccl(['delegate', 'submit', 'n.md', '--force'])
    expect(submitted.code, submitted.stderr).toBe(0)
    expect(await queueState(sandbox)).toEqual({pending: ['n.md', 'n.md.delegated'], done: [], failed: []})
    expect([...fake.jobs.values()].at(-1)!.prompt).toBe(content)
  })

  it('killed after linking: the next retry of that name finishes it and says it is in pending/ now', async () => {
    await failedTask('m.md')
    expect((await ccl(['retry', 'm.md'], {CCL_FAILPOINTS: 'retry.linked=kill'})).code).not.toBe(0)
    const again = await ccl(['retry', 'm.md'])
    expect(again.code).toBe(2)
    expect(again.stderr).toContain('not in failed/ (it is in pending/)')
    expect(await queueState(sandbox)).toEqual({pending: ['m.md'], done: [], failed: []})
  })
})
