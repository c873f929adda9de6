import {spawn} from 'node:child_process'
import {mkdir, readFile, readdir, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {parseFooter} from '../../src/lib/delegation/footer.js'
import {tryLock} from '../../src/lib/queue/lock.js'
import {delegatedTask, delegationOn, eventsOf, queueState} from '../support/delegated.js'
import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'
import {waitFor} from '../support/loop.js'
import {BIN, makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'

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
const posts = () => fake.requests.filter((r) => r.method === 'POST').length

describe('ccl cancel', () => {
  it('a submitted task goes to failed/ with a cancelled footer, its marker gone; reap no longer looks at it and nothing reaches the platform', async () => {
    const {content} = await delegatedTask(sandbox, fake, 'slow.md', {status: 'running', finished_at: null, result: null})
    const jobs = fake.jobs.size
    const requests = fake.requests.length

    const run = await ccl(['cancel', 'slow.md', '--json'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({
      schemaVersion: 1,
      task: 'slow.md',
      job_id: 'j-slow',
      provider: 'gemini',
      marker_state: 'submitted',
      destination: 'failed/slow.md',
      status: 'cancelled',
      recovered: false,
      remote: 'the remote job j-slow (gemini) is left to the platform: ccl does not cancel it there',
    })
    expect(await queueState(sandbox)).toEqual({pending: [], done: [], failed: ['slow.md']})
    const failed = await text('failed', 'slow.md')
    expect(failed.startsWith(content)).toBe(true)
    expect(parseFooter(failed)).toMatchObject({status: 'cancelled', by: 'operator', job_id: 'j-slow', task: 'slow.md'})
    expect(failed).toContain('### Error\n\ncancelled by operator; the remote job j-slow is left to the platform\n')
    expect((await eventsOf(sandbox)).filter((e) => e.event === 'delegation.failed')).toEqual([
      expect.objectContaining({task: 'slow.md', status: 'cancelled', by: 'operator', job_id: 'j-slow', destination: 'failed/slow.md'}),
    ])

    const reaped = await ccl(['reap', '--json'])
    expect(reaped.code).toBe(0)
    expect(JSON.parse(reaped.stdout)).toMatchObject({polled: 0, jobs: []})
    expect(fake.jobs.size).toBe(jobs)
    expect(fake.requests.length).toBe(requests)
    expect(fake.jobs.get('j-slow')?.status).toBe('running') // left to the platform
    expect(await queueState(sandbox)).toEqual({pending: [], done: [], failed: ['slow.md']})

    // And it can be retried: the footer goes again.
    expect((await ccl(['retry', 'slow.md'])).code).toBe(0)
    expect(await text('pending', 'slow.md')).toBe(content)
  })

  it('a claim still submitting is cancelled too, saying no job id was recorded; reap does not resubmit it', async () => {
    await writeFile(file('pending', 'new.md'), '---\nallow_delegation: true\n---\nSummarise.\n')
    const killed = await ccl(['delegate', 'submit', 'new.md'], {CCL_FAILPOINTS: 'submit.after-claim'})
    expect(killed.code).not.toBe(0)
    expect(JSON.parse(await text('pending', 'new.md.delegated'))).toMatchObject({state: 'submitting', job_id: null})
    expect(posts()).toBe(0)

    const run = await ccl(['cancel', 'new.md'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe('pending/new.md -> failed/new.md (cancelled); no job id was recorded (the claim was still submitting): a job may have been created all the same, and is left to the platform\n')
    const failed = await text('failed', 'new.md')
    expect(parseFooter(failed)).toMatchObject({status: 'cancelled', job_id: ''})
    expect(failed).toContain('- job: (none: no job id was recorded)\n')
    expect(failed).toContain('a job may still have been created')

    expect((await ccl(['reap'])).code).toBe(0)
    expect(posts()).toBe(0)
    expect(fake.jobs.size).toBe(0)
    expect(await queueState(sandbox)).toEqual({pending: [], done: [], failed: ['new.md']})
  })

  it('refuses a task that is not delegated (exit 4) and says where one elsewhere is; a missing one is exit 2', async () => {
    await writeFile(file('pending', 'local.md'), 'local\n')
    const local = await ccl(['cancel', 'local.md'])
    expect(local.code).toBe(4)
    expect(local.stderr).toBe(`ccl: ${file('pending', 'local.md')}: not delegated (no marker local.md.delegated): nothing to cancel; it waits for dispatch like any local task\n`)
    expect(await text('pending', 'local.md')).toBe('local\n')

    await writeFile(file('done', 'over.md'), 'x\n')
    const done = await ccl(['cancel', 'over.md', '--json'])
    expect(done.code).toBe(4)
    expect(JSON.parse(done.stdout)).toMatchObject({error: {code: 'refused', message: 'over.md: not delegated: it is in done/; only a delegated task in pending/ can be cancelled'}})
    const missing = await ccl(['cancel', 'nothing.md'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('task file not found')
    expect(await queueState(sandbox)).toEqual({pending: ['local.md'], done: ['over.md'], failed: []})
  })

  it('waits for a running reap to let go of its lock (the same lock), then cancels', async () => {
    await delegatedTask(sandbox, fake, 'w.md', {status: 'running', finished_at: null})
    const lock = await tryLock(path.join(sandbox.queue, '.ccl', 'locks'), 'reap')
    expect(lock).toBeDefined()
    const running = ccl(['cancel', 'w.md'])
    await new Promise((resolve) => setTimeout(resolve, 700))
    expect(await queueState(sandbox)).toMatchObject({pending: ['w.md', 'w.md.delegated']}) // still waiting
    await lock!.release()
    const run = await running
    expect(run.code, run.stderr).toBe(0)
    expect(await queueState(sandbox)).toEqual({pending: [], done: [], failed: ['w.md']})
  })
})

describe('crash safety', () => {
  it('killed after preparing the result: the next reap completes the cancel, without polling the job', async () => {
    await delegatedTask(sandbox, fake, 'p.md', {status: 'completed'}) // the platform even finished it meanwhile
    const killed = await ccl(['cancel', 'p.md'], {CCL_FAILPOINTS: 'finish.prepared'})
    expect(killed.code).not.toBe(0)
    expect((await readdir(file('pending'))).some((n) => n.startsWith('.ccl-result-'))).toBe(true)
    const reaped = await ccl(['reap', '--json'])
    expect(reaped.code, reaped.stderr).toBe(0)
    expect(fake.requests.filter((r) => r.method === 'GET')).toHaveLength(0)
    expect(await queueState(sandbox)).toEqual({pending: [], done: [], failed: ['p.md']})
    expect(parseFooter(await text('failed', 'p.md'))).toMatchObject({status: 'cancelled', by: 'operator'})
    expect((await eventsOf(sandbox)).filter((e) => String(e.event).startsWith('delegation.'))).toEqual([expect.objectContaining({event: 'delegation.failed', status: 'cancelled', by: 'operator'})])
  })

  it('killed while it holds the reap lock, before any change: the next reap takes the lock at once and goes on as usual', async () => {
    await delegatedTask(sandbox, fake, 'u.md', {status: 'completed'})
    expect((await ccl(['cancel', 'u.md'], {CCL_FAILPOINTS: 'cancel.after-lock'})).code).not.toBe(0)
    expect(await queueState(sandbox)).toEqual({pending: ['u.md', 'u.md.delegated'], done: [], failed: []})
    const reaped = await ccl(['reap', '--json'])
    expect(JSON.parse(reaped.stdout)).toMatchObject({skipped: null, completed: 1})
    expect(await queueState(sandbox)).toEqual({pending: [], done: ['u.md'], failed: []})
  })

  for (const point of ['finish.linked', 'finish.logged', 'finish.task-removed']) {
    it(`killed at ${point}: the next cancel completes it: one copy in failed/, one footer, one event`, async () => {
      await delegatedTask(sandbox, fake, 'c.md', {status: 'running', finished_at: null})
      expect((await ccl(['cancel', 'c.md'], {CCL_FAILPOINTS: point})).code).not.toBe(0)
      const again = await ccl(['cancel', 'c.md', '--json'])
      expect(again.code, again.stderr).toBe(0)
      expect(JSON.parse(again.stdout)).toMatchObject({status: 'cancelled', recovered: true, destination: 'failed/c.md'})
      expect(await queueState(sandbox)).toEqual({pending: [], done: [], failed: ['c.md']})
      expect((await text('failed', 'c.md')).match(/^<!-- ccl:delegation /gm)).toHaveLength(1)
      expect((await eventsOf(sandbox)).filter((e) => e.event === 'delegation.failed')).toHaveLength(1)
    })
  }

  it('a submitting claim killed mid-cancel is completed by the next reap with one event, not resubmitted', async () => {
    await writeFile(file('pending', 's.md'), '---\nallow_delegation: true\n---\nSummarise.\n')
    expect((await ccl(['delegate', 'submit', 's.md'], {CCL_FAILPOINTS: 'submit.after-claim'})).code).not.toBe(0)
    expect((await ccl(['cancel', 's.md'], {CCL_FAILPOINTS: 'finish.logged'})).code).not.toBe(0)
    expect((await ccl(['reap'])).code).toBe(0)
    expect(posts()).toBe(0)
    expect(await queueState(sandbox)).toEqual({pending: [], done: [], failed: ['s.md']})
    expect((await eventsOf(sandbox)).filter((e) => e.event === 'delegation.failed')).toHaveLength(1)
  })
})

describe('against a submit in flight', () => {
  it('a submit that got its job id after the cancel does not write the marker back', async () => {
    await writeFile(file('pending', 'race.md'), '---\nallow_delegation: true\n---\nSummarise.\n')
    const dir = path.join(sandbox.dir, 'failpoints')
    await mkdir(dir, {recursive: true})
    const child = spawn(process.execPath, [BIN, 'delegate', 'submit', 'race.md', '--config', sandbox.configFile], {
      cwd: sandbox.dir,
      env: {...process.env, ...env, CCL_FAILPOINTS: 'submit.after-post=pause', CCL_FAILPOINT_DIR: dir},
      stdio: 'ignore',
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const flag = path.join(dir, 'submit.after-post.reached')
    expect(await waitFor(async () => stat(flag).then(() => true, () => false), 20_000)).toBe(true)
    expect(posts()).toBe(1) // the platform has the job; the marker still says submitting

    const run = await ccl(['cancel', 'race.md'])
    expect(run.code, run.stderr).toBe(0)
    await rm(flag)
    expect(await exited).toBe(0)
    expect(await queueState(sandbox)).toEqual({pending: [], done: [], failed: ['race.md']})
    expect((await ccl(['reap'])).code).toBe(0)
    expect(posts()).toBe(1)
  })
})
