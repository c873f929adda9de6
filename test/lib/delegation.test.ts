import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import type {DelegationState} from '../../src/lib/config/load.js'
import {parseConfig} from '../../src/lib/config/load.js'
import {contentHash, idempotencyKey, type Marker, readMarker, scanMarkers, serializeMarker} from '../../src/lib/delegation/marker.js'
import {AlreadyDelegatedError, resubmit, submitTask} from '../../src/lib/delegation/submit.js'
import {waitForJob} from '../../src/lib/delegation/wait.js'
import {ApiError, RefusedError, TaskFileError, TimeoutError, UserError} from '../../src/lib/errors.js'
import {readEvents} from '../../src/lib/events/log.js'
import {ensureLayout, markerPath, type QueueLayout, queueLayout} from '../../src/lib/queue/layout.js'
import {createClient, type SecutoolsClient} from '../../src/lib/secutools/client.js'
import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'

const REMOTE_TASK = '---\nallow_delegation: true\ncomplexity_hint: high\n---\nSummarise the nightly logs.\n'
const LOCAL_TASK = 'Fix the login page.\n'

let fake: FakeSecutools
let dir: string
let layout: QueueLayout
let delegation: Extract<DelegationState, {on: true}>
let client: SecutoolsClient

beforeAll(async () => {
  fake = await startFakeSecutools({apiKey: 'sk-lib-test-secret'})
})
afterAll(async () => {
  await fake.close()
})
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-delegation-'))
  layout = queueLayout({queue: dir, state: path.join(dir, '.ccl')})
  await ensureLayout(layout)
  const config = parseConfig(
    `queue: ${dir}\nshared: {root: ${dir}/shared}\naccounts: [{name: alpha, home: ${dir}/h}]\ndelegation: {base_url: "${fake.url}", retries: 2}\n`,
    path.join(dir, 'ccl.yaml'),
  )
  delegation = {on: true, apiKey: fake.apiKey, settings: config.delegation!}
  client = await createClient({baseUrl: fake.url, apiKey: fake.apiKey, timeoutMs: 2000, retries: 2, backoffBaseMs: 2})
  fake.clearFaults()
  fake.requests.length = 0
})
afterEach(async () => {
  await rm(dir, {recursive: true, force: true})
})

async function task(name: string, text: string): Promise<string> {
  const file = path.join(layout.pending, name)
  await writeFile(file, text)
  return file
}

async function markerOf(name: string): Promise<Marker> {
  return readMarker(markerPath(layout, name))
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (error_: unknown) => error_,
  )
  expect(error).toBeInstanceOf(Error)
  return error as Error
}

const posts = () => fake.requests.filter((r) => r.method === 'POST')

describe('the marker', () => {
  it('keys a claim by sha256 of name, NUL, content, NUL, nonce (markers of earlier versions: name and content)', () => {
    expect(idempotencyKey('a.md', 'hello', 'n1')).toBe(createHash('sha256').update('a.md\0hello\0n1').digest('hex'))
    expect(idempotencyKey('a.md', 'hello', 'n2')).not.toBe(idempotencyKey('a.md', 'hello', 'n1'))
    const expected = createHash('sha256').update('a.md\0hello').digest('hex')
    expect(idempotencyKey('a.md', 'hello')).toBe(expected)
    expect(idempotencyKey('b.md', 'hello')).not.toBe(expected)
    expect(idempotencyKey('a.md', 'hello!')).not.toBe(expected)
    // The separator keeps name and content apart: "a.m"+"d…" is not "a.md"+"…".
    expect(idempotencyKey('a.m', 'd\0hello')).not.toBe(idempotencyKey('a.md', '\0hello'))
  })

  it('is claimed by exactly one of many concurrent submits, and leaves no temp or claim file', async () => {
    const file = await task('x.md', REMOTE_TASK)
    const results = await Promise.allSettled(Array.from({length: 20}, () => submitTask({layout, delegation, task: file, client})))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(RefusedError)
    expect(posts()).toHaveLength(1)
    expect((await readdir(layout.pending)).sort()).toEqual(['x.md', 'x.md.delegated'])
  })

  it('names the file and the field when a marker is broken', async () => {
    const file = markerPath(layout, 'b.md')
    await writeFile(file, '{"version": 1, "task": "b.md"')
    expect((await rejection(readMarker(file))).message).toBe(`${file}: delegation marker is not valid JSON`)
    const good = {version: 1, task: 'b.md', state: 'submitted', provider: 'gemini', idempotency_key: 'f'.repeat(64), claimed_at: 'x', submitted_at: 'y'}
    await writeFile(file, JSON.stringify({...good, job_id: '../../etc/passwd'}))
    const error = await rejection(readMarker(file))
    expect(error).toBeInstanceOf(TaskFileError)
    expect(error.message).toMatch(new RegExp(`^${file}: invalid delegation marker: job_id: expected a job id`))
    await writeFile(file, JSON.stringify({...good, job_id: null}))
    expect((await rejection(readMarker(file))).message).toContain('job_id: a submitted marker needs a job_id')
    await writeFile(file, JSON.stringify({...good, job_id: 'j-1', extra: 'ignored'}))
    expect((await readMarker(file)).job_id).toBe('j-1')
  })

  it('lists good markers and reports broken ones without throwing', async () => {
    await submitTask({layout, delegation, task: await task('good.md', REMOTE_TASK), client})
    await writeFile(markerPath(layout, 'bad.md'), 'not json')
    const other: Marker = {...(await markerOf('good.md')), task: 'other.md'}
    await writeFile(markerPath(layout, 'mismatch.md'), serializeMarker(other))
    const scan = await scanMarkers(layout)
    expect(scan.markers.map((m) => [m.task, m.marker.state])).toEqual([['good.md', 'submitted']])
    expect(scan.problems.map((p) => path.basename(p.path))).toEqual(['bad.md.delegated', 'mismatch.md.delegated'])
  })
})

describe('submitTask', () => {
  it('claims, submits the body as the prompt, and marks the marker submitted', async () => {
    const file = await task('logs.md', REMOTE_TASK)
    const now = () => new Date('2026-03-01T12:00:00.000Z')
    const result = await submitTask({layout, delegation, task: file, client, now})
    expect(result).toEqual({task: 'logs.md', jobId: expect.stringMatching(/^j-/), provider: 'claude-api', resubmitted: false})
    const marker = await markerOf('logs.md')
    expect(marker).toEqual({
      version: 1,
      task: 'logs.md',
      state: 'submitted',
      provider: 'claude-api',
      idempotency_key: expect.stringMatching(/^[0-9a-f]{64}$/),
      claimed_at: '2026-03-01T12:00:00.000Z',
      job_id: result.jobId,
      submitted_at: '2026-03-01T12:00:00.000Z',
      complexity: 'high',
      task_sha256: contentHash(REMOTE_TASK),
    })
    // A random nonce per claim: not the content-only key of earlier versions.
    expect(marker.idempotency_key).not.toBe(idempotencyKey('logs.md', REMOTE_TASK))
    expect(posts()).toHaveLength(1)
    expect(posts()[0]).toMatchObject({idempotencyKey: marker.idempotency_key, authOk: true})
    expect(posts()[0]?.body).toEqual({
      provider: 'claude-api',
      prompt: 'Summarise the nightly logs.\n',
      complexity: 'high',
      metadata: {task: 'logs.md', source: 'ccl'},
    })
    const events = await readEvents(layout.events)
    expect(events.map((e) => [e.event, e.task])).toEqual([
      ['delegation.claimed', 'logs.md'],
      ['delegation.submitted', 'logs.md'],
    ])
    expect(events[1]).toMatchObject({job_id: result.jobId, provider: 'claude-api', resubmitted: false})
    // The task itself stays in pending/, beside its marker (SPEC §3).
    expect(await readFile(file, 'utf8')).toBe(REMOTE_TASK)
  })

  it('accepts a bare name for a task in pending/', async () => {
    await task('bare.md', REMOTE_TASK)
    const result = await submitTask({layout, delegation, task: 'bare.md', client, cwd: dir})
    expect(result.task).toBe('bare.md')
  })

  it('refuses a task the router keeps local, without a marker or a request', async () => {
    await task('local.md', LOCAL_TASK)
    const error = await rejection(submitTask({layout, delegation, task: 'local.md', client, cwd: dir}))
    expect(error).toBeInstanceOf(RefusedError)
    expect(error.message).toBe('local.md: the router keeps it local (rule 8: no routing field sends the task elsewhere); not delegated')
    expect(await readdir(layout.pending)).toEqual(['local.md'])
    expect(fake.requests).toHaveLength(0)
  })

  it('delegates a local task with force, to the default provider or the one named', async () => {
    await task('local.md', LOCAL_TASK)
    expect((await submitTask({layout, delegation, task: 'local.md', client, cwd: dir, force: true})).provider).toBe('gemini')
    await task('local2.md', LOCAL_TASK + 'again\n')
    expect((await submitTask({layout, delegation, task: 'local2.md', client, cwd: dir, force: true, provider: 'gpu'})).provider).toBe('gpu')
    await task('local3.md', LOCAL_TASK + 'more\n')
    const error = await rejection(submitTask({layout, delegation, task: 'local3.md', client, cwd: dir, force: true, provider: 'openai'}))
    expect(error).toBeInstanceOf(UserError)
    expect(error.message).toBe('--provider openai: not in delegation.providers [gpu, gemini, claude-api]')
  })

  it('refuses a task outside pending/ and a missing one', async () => {
    await mkdir(path.join(dir, 'elsewhere'))
    await writeFile(path.join(dir, 'elsewhere', 'x.md'), REMOTE_TASK)
    const outside = await rejection(submitTask({layout, delegation, task: path.join(dir, 'elsewhere', 'x.md'), client}))
    expect(outside).toBeInstanceOf(TaskFileError)
    expect(outside.message).toContain("not in the queue's pending folder")
    const missing = await rejection(submitTask({layout, delegation, task: 'nope.md', client, cwd: dir}))
    expect(missing).toBeInstanceOf(TaskFileError)
    expect(missing.message).toMatch(/nope\.md: task file not found/)
    expect(fake.requests).toHaveLength(0)
  })

  it('refuses a task already delegated, carrying its job id, without a request', async () => {
    const first = await submitTask({layout, delegation, task: await task('twice.md', REMOTE_TASK), client})
    fake.requests.length = 0
    const error = await rejection(submitTask({layout, delegation, task: 'twice.md', client, cwd: dir}))
    expect(error).toBeInstanceOf(AlreadyDelegatedError)
    expect((error as AlreadyDelegatedError).marker.job_id).toBe(first.jobId)
    expect(error.message).toContain(`already delegated: job ${first.jobId}`)
    expect(fake.requests).toHaveLength(0)
  })

  it('keeps the claim "submitting" when retries run out, and resubmit finishes it with the same key', async () => {
    await task('flaky.md', REMOTE_TASK)
    fake.failNext(3, {status: 503})
    const error = await rejection(submitTask({layout, delegation, task: 'flaky.md', client, cwd: dir}))
    expect(error).toBeInstanceOf(ApiError)
    expect((error as ApiError).kind).toBe('unavailable')
    expect((error as ApiError).exitCode).toBe(5)
    expect((error as ApiError).hint).toContain('the claim is kept')
    expect(await markerOf('flaky.md')).toMatchObject({state: 'submitting', job_id: null})
    expect((await readEvents(layout.events)).map((e) => e.event)).toEqual(['delegation.claimed'])

    const jobs = fake.jobCount()
    const result = await resubmit({layout, task: 'flaky.md', client})
    expect(result).toMatchObject({task: 'flaky.md', provider: 'claude-api', resubmitted: true})
    expect(await markerOf('flaky.md')).toMatchObject({state: 'submitted', job_id: result.jobId})
    expect(fake.jobCount()).toBe(jobs + 1)
    expect(new Set(posts().map((r) => r.idempotencyKey))).toEqual(new Set([(await markerOf('flaky.md')).idempotency_key]))
    expect((await readEvents(layout.events)).at(-1)).toMatchObject({event: 'delegation.submitted', resubmitted: true, job_id: result.jobId})
  })

  it('gets the one job back on resubmit when the platform made it but the answer was lost', async () => {
    await task('lost.md', REMOTE_TASK)
    fake.resetNext(3, {after: true, method: 'POST'})
    await rejection(submitTask({layout, delegation, task: 'lost.md', client, cwd: dir}))
    expect(await markerOf('lost.md')).toMatchObject({state: 'submitting'})
    const made = [...fake.jobs.values()].filter((job) => job.metadata.task === 'lost.md')
    expect(made).toHaveLength(1)

    const result = await resubmit({layout, task: 'lost.md', client})
    expect(result.jobId).toBe(made[0]!.id)
    expect(posts().at(-1)?.answered).toBe(200) // a replay, not a new job
    expect([...fake.jobs.values()].filter((job) => job.metadata.task === 'lost.md')).toHaveLength(1)
  })

  it('resubmit leaves a submitted marker alone, and names a missing one', async () => {
    const first = await submitTask({layout, delegation, task: await task('done.md', REMOTE_TASK), client})
    fake.requests.length = 0
    expect(await resubmit({layout, task: 'done.md', client})).toEqual({...first, resubmitted: false})
    expect(fake.requests).toHaveLength(0)
    const error = await rejection(resubmit({layout, task: 'ghost.md', client}))
    expect(error).toBeInstanceOf(TaskFileError)
    expect(error.message).toBe(`${markerPath(layout, 'ghost.md')}: delegation marker not found`)
  })

  it('never loads got for a refused task', async () => {
    await task('local.md', LOCAL_TASK)
    let made = 0
    const lazy = async () => {
      made++
      return client
    }

    await rejection(submitTask({layout, delegation, task: 'local.md', client: lazy, cwd: dir}))
    expect(made).toBe(0)
  })
})

describe('waitForJob', () => {
  it('polls until the job ends', async () => {
    const {id} = await client.submitJob({provider: 'gemini', prompt: 'p', metadata: {task: 'w.md', source: 'ccl'}}, 'wait-key-1')
    fake.autoComplete({afterPolls: 3, result: 'finished'})
    const seen: string[] = []
    const job = await waitForJob(client, id, {timeoutMs: 5000, pollMs: 5, onPoll: (j) => seen.push(j.status)})
    fake.autoComplete(undefined)
    expect(job).toMatchObject({status: 'completed', result: 'finished'})
    expect(seen).toEqual(['running', 'running'])
  })

  it('gives up at the deadline with a TimeoutError, even when a poll hangs', async () => {
    const {id} = await client.submitJob({provider: 'gemini', prompt: 'p', metadata: {task: 'w.md', source: 'ccl'}}, 'wait-key-2')
    const started = Date.now()
    const error = await rejection(waitForJob(client, id, {timeoutMs: 200, pollMs: 20}))
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error.message).toMatch(new RegExp(`^job ${id} did not finish within 200ms \\(last seen (queued|running)\\)$`))

    fake.hangNext(1, 2000, {method: 'GET'})
    const hung = await rejection(waitForJob(client, id, {timeoutMs: 150, pollMs: 20}))
    expect(hung).toBeInstanceOf(TimeoutError)
    expect(Date.now() - started).toBeLessThan(1500)
  })
})
