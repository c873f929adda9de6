import {execFile} from 'node:child_process'
import {readdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {readMarker} from '../../src/lib/delegation/marker.js'
import {resubmit} from '../../src/lib/delegation/submit.js'
import {readEvents} from '../../src/lib/events/log.js'
import {markerPath, queueLayout} from '../../src/lib/queue/layout.js'
import {createClient} from '../../src/lib/secutools/client.js'
import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'
import {loadedPackages} from '../support/loaded-packages.js'
import {BIN, makeSandbox, type RunResult, runCcl, type Sandbox} from '../support/sandbox.js'

const KEY = 'sk-live-0123456789abcdef-do-not-print'
const REMOTE_TASK = '---\nallow_delegation: true\n---\nSummarise the nightly logs.\n'
const LOCAL_TASK = 'Fix the login page.\n'

let fake: FakeSecutools
let sandbox: Sandbox
/** Every output of every run in this file, searched for the key at the end. */
const outputs: string[] = []

beforeAll(async () => {
  fake = await startFakeSecutools({apiKey: KEY})
})
afterAll(async () => {
  await fake.close()
})
beforeEach(async () => {
  fake.clearFaults()
  fake.autoComplete(undefined)
  fake.requests.length = 0
  sandbox = await makeSandbox({config: {delegation: {base_url: fake.url, retries: 2, timeout: '2s'}}})
})
afterEach(async () => {
  // Markers and events may hold anything a run wrote: they are searched for the key too.
  const layout = queueLayout({queue: sandbox.queue, state: path.join(sandbox.queue, '.ccl')})
  for (const name of await readdir(layout.pending)) outputs.push(await readFile(path.join(layout.pending, name), 'utf8'))
  outputs.push(await readFile(layout.events, 'utf8').catch(() => ''))
  await sandbox.cleanup()
})

function layout() {
  return queueLayout({queue: sandbox.queue, state: path.join(sandbox.queue, '.ccl')})
}

async function ccl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const result = await runCcl([...args, '--config', sandbox.configFile], {
    cwd: sandbox.dir,
    env: {SECUTOOLS_API_KEY: KEY, CCL_TEST_BACKOFF_BASE_MS: '1', ...env},
  })
  outputs.push(result.stdout, result.stderr)
  return result
}

let written = 0
/** A task whose content is new to the fake: the same name and text would replay an earlier test's job. */
async function task(name: string, text = REMOTE_TASK): Promise<string> {
  const file = path.join(sandbox.queue, 'pending', name)
  await writeFile(file, `${text}\nTest task ${++written}.\n`)
  return file
}

const posts = () => fake.requests.filter((r) => r.method === 'POST')
/** Jobs made for a task of this test (the fake outlives the sandbox of each test). */
const jobsFor = (name: string) =>
  [...fake.jobs.values()].filter((job) => job.metadata.task === name && job.prompt.endsWith(`Test task ${written}.\n`))

describe('ccl delegate submit', () => {
  it('prints the job id alone on stdout and leaves a submitted marker beside the task', async () => {
    const file = await task('logs.md')
    const result = await ccl(['delegate', 'submit', file])
    expect(result.code).toBe(0)
    const [job] = jobsFor('logs.md')
    expect(result.stdout).toBe(`${job!.id}\n`)
    expect(result.stderr).toBe(`logs.md: delegated to gemini as job ${job!.id}\n`)
    expect(await readMarker(markerPath(layout(), 'logs.md'))).toMatchObject({state: 'submitted', job_id: job!.id, provider: 'gemini'})
    expect((await readdir(path.join(sandbox.queue, 'pending'))).sort()).toEqual(['logs.md', 'logs.md.delegated'])
    expect((await readEvents(layout().events)).map((e) => e.event)).toEqual(['delegation.claimed', 'delegation.submitted'])
    expect(posts()[0]?.userAgent).toMatch(/^ccl\/\d+\.\d+\.\d+/)
  })

  it('answers --json with one document', async () => {
    await task('logs.md')
    const result = await ccl(['delegate', 'submit', 'logs.md', '--json'])
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({
      schemaVersion: 1,
      task: 'logs.md',
      jobId: jobsFor('logs.md')[0]!.id,
      provider: 'gemini',
      resubmitted: false,
      outcome: 'submitted',
      state: 'submitted',
    })
  })

  it('prints the existing job id and exits 4 for a task already delegated', async () => {
    await task('logs.md')
    const first = await ccl(['delegate', 'submit', 'logs.md'])
    const second = await ccl(['delegate', 'submit', 'logs.md'])
    expect(second.code).toBe(4)
    expect(second.stdout).toBe(first.stdout)
    expect(second.stderr).toMatch(/^ccl: logs\.md is already delegated: job j-\d+ \(gemini\), marker .*logs\.md\.delegated\n$/)
    expect(posts()).toHaveLength(1)
    const json = await ccl(['delegate', 'submit', 'logs.md', '--json'])
    expect(json.code).toBe(4)
    expect(JSON.parse(json.stdout)).toMatchObject({outcome: 'already-delegated', jobId: first.stdout.trim(), state: 'submitted'})
  })

  it('refuses a task the router keeps local (exit 4) unless --force', async () => {
    await task('local.md', LOCAL_TASK)
    const refused = await ccl(['delegate', 'submit', 'local.md'])
    expect(refused.code).toBe(4)
    expect(refused.stdout).toBe('')
    expect(refused.stderr).toBe(
      'ccl: local.md: the router keeps it local (rule 8: no routing field sends the task elsewhere); not delegated\n  hint: pass --force to delegate it anyway\n',
    )
    expect(await readdir(path.join(sandbox.queue, 'pending'))).toEqual(['local.md'])
    expect(fake.requests).toHaveLength(0)

    const forced = await ccl(['delegate', 'submit', 'local.md', '--force', '--provider', 'gpu'])
    expect(forced.code).toBe(0)
    expect(jobsFor('local.md')[0]?.provider).toBe('gpu')

    await task('typo.md', '---\nallow_delegation: yes please\n---\nSummarise.\n')
    const typo = await ccl(['delegate', 'submit', 'typo.md'])
    expect(typo.code).toBe(4)
    expect(typo.stderr).toContain('rule 3: allow_delegation=false')
    expect(typo.stderr).toMatch(/hint: typo\.md: allow_delegation: expected true or false, got .*; pass --force/)
  })

  it('does not load got for a task it refuses, and does for one it submits', async () => {
    await task('local.md', LOCAL_TASK)
    await task('remote.md')
    const hook = fileURLToPath(new URL('../support/record-imports.mjs', import.meta.url))
    const loaded = async (name: string) => {
      const log = path.join(sandbox.dir, `imports-${name}.log`)
      const result = await new Promise<{code: number | null}>((resolve) => {
        execFile(
          process.execPath,
          ['--import', hook, BIN, 'delegate', 'submit', name, '--config', sandbox.configFile],
          {cwd: sandbox.dir, env: {PATH: process.env.PATH, HOME: sandbox.dir, SECUTOOLS_API_KEY: KEY, CCL_IMPORT_LOG: log}},
          (error) => resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0}),
        )
      })
      const loaded = loadedPackages((await readFile(log, 'utf8')).split('\n'))
      // The recorder works: it saw the command's own dist file (zod is no proof: a config validated
      // once comes from its cache, and the client checks answers by hand).
      expect([...loaded].some((p) => p.startsWith('ccl:dist/'))).toBe(true)
      return {code: result.code, got: loaded.has('got')}
    }

    expect(await loaded('local.md')).toEqual({code: 4, got: false})
    expect(await loaded('remote.md')).toEqual({code: 0, got: true})
  })

  it('exits 3 saying why when delegation is off', async () => {
    await task('logs.md')
    const noKey = await ccl(['delegate', 'submit', 'logs.md'], {SECUTOOLS_API_KEY: ''})
    expect(noKey.code).toBe(3)
    expect(noKey.stderr).toBe('ccl: delegation is off: $SECUTOOLS_API_KEY is not set or empty\n')
    await sandbox.writeConfig({...sandbox.config, delegation: undefined})
    const noBlock = await ccl(['delegate', 'submit', 'logs.md', '--json'])
    expect(noBlock.code).toBe(3)
    expect(JSON.parse(noBlock.stdout).error).toMatchObject({code: 'delegation_off', exitCode: 3})
    expect(await readdir(path.join(sandbox.queue, 'pending'))).toEqual(['logs.md'])
    expect(fake.requests).toHaveLength(0)
  })

  it('exits 2 naming the file for a missing task or one outside pending/', async () => {
    const missing = await ccl(['delegate', 'submit', 'nope.md'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/^ccl: nope\.md: task file not found/)
    await writeFile(path.join(sandbox.dir, 'stray.md'), REMOTE_TASK)
    const outside = await ccl(['delegate', 'submit', path.join(sandbox.dir, 'stray.md')])
    expect(outside.code).toBe(2)
    expect(outside.stderr).toContain("stray.md: not in the queue's pending folder")
    expect(fake.requests).toHaveLength(0)
  })

  it('exits 5 after the retries and keeps the claim; the recovery submits exactly one job', async () => {
    await task('down.md')
    fake.failNext(3, {status: 503})
    const result = await ccl(['delegate', 'submit', 'down.md'])
    expect(result.code).toBe(5)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('ccl: down.md: secutools unavailable after 3 attempts: POST /jobs answered HTTP 503')
    expect(result.stderr).toContain('the claim is kept (down.md.delegated stays "submitting")')
    expect(result.stderr.match(/retrying in/g)).toHaveLength(2)
    expect(await readMarker(markerPath(layout(), 'down.md'))).toMatchObject({state: 'submitting', job_id: null})

    const again = await ccl(['delegate', 'submit', 'down.md'])
    expect(again.code).toBe(4)
    expect(again.stdout).toBe('')
    expect(again.stderr).toContain('already being delegated')

    const client = await createClient({baseUrl: fake.url, apiKey: KEY, timeoutMs: 2000, retries: 0})
    const recovered = await resubmit({layout: layout(), task: 'down.md', client})
    expect(jobsFor('down.md').map((j) => j.id)).toEqual([recovered.jobId])
  })

  it('retries an answer cut after its headers like a reset: one job; exits 5 when it persists, with the claim kept', async () => {
    await task('cut.md')
    fake.cutBodyNext(2, {method: 'POST'})
    const retried = await ccl(['delegate', 'submit', 'cut.md'])
    expect(retried.code).toBe(0)
    expect(retried.stderr.match(/the answer \(HTTP 20[01]\) was cut off \(connection reset\) after its headers; retrying in/g)).toHaveLength(2)
    expect(jobsFor('cut.md').map((j) => `${j.id}\n`)).toEqual([retried.stdout])

    await task('cut2.md')
    fake.cutBodyNext(3, {method: 'POST'})
    const failed = await ccl(['delegate', 'submit', 'cut2.md'])
    expect(failed.code).toBe(5)
    expect(failed.stdout).toBe('')
    expect(failed.stderr).toContain(
      'ccl: cut2.md: secutools failed after 3 attempts: POST /jobs: the answer (HTTP 200) was cut off (connection reset) after its headers',
    )
    expect(failed.stderr).not.toContain('bad request')
    expect(await readMarker(markerPath(layout(), 'cut2.md'))).toMatchObject({state: 'submitting', job_id: null})
    expect(jobsFor('cut2.md')).toHaveLength(1)
    const client = await createClient({baseUrl: fake.url, apiKey: KEY, timeoutMs: 2000, retries: 0})
    const recovered = await resubmit({layout: layout(), task: 'cut2.md', client})
    expect(jobsFor('cut2.md').map((j) => j.id)).toEqual([recovered.jobId])
  })

  it('retries an answer that stalls after its headers, within delegation.retries, then exits 5', async () => {
    await sandbox.writeConfig({...sandbox.config, delegation: {base_url: fake.url, retries: 1, timeout: '300ms'}})
    await task('stall.md')
    fake.stallBodyNext(2, {method: 'POST'})
    const result = await ccl(['delegate', 'submit', 'stall.md'])
    expect(result.code).toBe(5)
    expect(result.stderr).toContain('ccl: stall.md: secutools failed after 2 attempts: POST /jobs: the answer (HTTP 200) stalled after its headers')
    expect(posts().map((r) => r.answered)).toEqual(['201, stall', '200, stall'])
    expect(jobsFor('stall.md')).toHaveLength(1)
  })

  it('exits 5 for a redirect with a job-shaped body: not followed, not taken for a job, claim kept', async () => {
    await task('moved.md')
    fake.redirectNext(1, {method: 'POST'})
    const result = await ccl(['delegate', 'submit', 'moved.md'])
    expect(result.code).toBe(5)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('ccl: moved.md: secutools answered POST /jobs with a redirect (HTTP 302), not followed (expected HTTP 200 or 201)')
    expect(result.stderr).not.toContain('j-redirected')
    expect(await readMarker(markerPath(layout(), 'moved.md'))).toMatchObject({state: 'submitting', job_id: null})
    expect(fake.requests.map((r) => [r.method, r.path])).toEqual([['POST', '/api/v1/jobs']])
    expect(jobsFor('moved.md')).toEqual([])
  })

  it('gives the same task dropped again after it finished a new job; resubmits of one claim keep its key', async () => {
    const text = `${REMOTE_TASK}\nRecurring task ${Date.now()}.\n`
    const file = path.join(sandbox.queue, 'pending', 'nightly.md')
    const mine = () => [...fake.jobs.values()].filter((job) => job.prompt.endsWith(text.split('---\n')[2]!))
    await writeFile(file, text)
    // The first POST is cut after the job was made: the retry of this claim sends the same key and gets that job.
    fake.resetNext(1, {after: true, method: 'POST'})
    const first = await ccl(['delegate', 'submit', 'nightly.md'])
    expect(first.code).toBe(0)
    const firstKey = (await readMarker(markerPath(layout(), 'nightly.md')))!.idempotency_key
    expect(posts().map((r) => r.idempotencyKey)).toEqual([firstKey, firstKey])
    expect(mine().map((j) => `${j.id}\n`)).toEqual([first.stdout])
    fake.complete(first.stdout.trim())
    const reaped = await ccl(['reap'])
    expect(reaped.code).toBe(0)
    expect(await readdir(path.join(sandbox.queue, 'done'))).toEqual(['nightly.md'])

    await writeFile(file, text)
    const second = await ccl(['delegate', 'submit', 'nightly.md'])
    expect(second.code).toBe(0)
    expect(second.stdout).not.toBe(first.stdout)
    const secondKey = (await readMarker(markerPath(layout(), 'nightly.md')))!.idempotency_key
    expect(secondKey).not.toBe(firstKey)
    expect(mine().map((j) => `${j.id}\n`)).toEqual([first.stdout, second.stdout])
  })

  it('exits 5 when the key is refused, says so, and prints the key nowhere', async () => {
    await task('logs.md')
    fake.failNext(1, {status: 403, body: {error: `key ${KEY} is suspended`}})
    const result = await ccl(['delegate', 'submit', 'logs.md', '--json'])
    expect(result.code).toBe(5)
    expect(JSON.parse(result.stdout).error).toMatchObject({code: 'api', exitCode: 5})
    expect(result.stderr).toContain('secutools refused the API key (HTTP 403)')
    expect(result.stderr).toContain('check the key in $SECUTOOLS_API_KEY (it is never printed)')
    expect(result.stdout + result.stderr).not.toContain(KEY)
    expect(posts()).toHaveLength(1)
  })

  it('exits 5 for a hostile job id and never writes it into the marker', async () => {
    await task('logs.md')
    fake.hostileIds('../../../etc/passwd')
    const result = await ccl(['delegate', 'submit', 'logs.md'])
    expect(result.code).toBe(5)
    expect(result.stderr).toContain('unexpected shape (HTTP 201): id: job id')
    const marker = await readFile(markerPath(layout(), 'logs.md'), 'utf8')
    expect(marker).not.toContain('passwd')
    expect(JSON.parse(marker)).toMatchObject({state: 'submitting', job_id: null})
  })

  describe('killed at the worst moments', () => {
    it('between the claim and the POST: no job yet, the claim stays, the recovery makes one job', async () => {
      await task('crash.md')
      const killed = await ccl(['delegate', 'submit', 'crash.md'], {CCL_FAILPOINTS: 'submit.after-claim'})
      expect(killed.code).not.toBe(0)
      expect(killed.stdout).toBe('')
      expect(fake.requests).toHaveLength(0)
      expect(await readMarker(markerPath(layout(), 'crash.md'))).toMatchObject({state: 'submitting'})
      expect((await readEvents(layout().events)).map((e) => e.event)).toEqual(['delegation.claimed'])

      expect((await ccl(['delegate', 'submit', 'crash.md'])).code).toBe(4) // no second claim, no second POST
      expect(fake.requests).toHaveLength(0)

      const client = await createClient({baseUrl: fake.url, apiKey: KEY, timeoutMs: 2000, retries: 0})
      const recovered = await resubmit({layout: layout(), task: 'crash.md', client})
      expect(jobsFor('crash.md').map((j) => j.id)).toEqual([recovered.jobId])
      expect(await readMarker(markerPath(layout(), 'crash.md'))).toMatchObject({state: 'submitted', job_id: recovered.jobId})
    })

    it('between the POST and the marker rewrite: the recovery gets the same job back', async () => {
      await task('crash.md')
      const killed = await ccl(['delegate', 'submit', 'crash.md'], {CCL_FAILPOINTS: 'submit.after-post'})
      expect(killed.code).not.toBe(0)
      expect(killed.stdout).toBe('')
      const made = jobsFor('crash.md')
      expect(made).toHaveLength(1)
      expect(await readMarker(markerPath(layout(), 'crash.md'))).toMatchObject({state: 'submitting', job_id: null})

      const client = await createClient({baseUrl: fake.url, apiKey: KEY, timeoutMs: 2000, retries: 0})
      const recovered = await resubmit({layout: layout(), task: 'crash.md', client})
      expect(recovered.jobId).toBe(made[0]!.id)
      expect(jobsFor('crash.md')).toHaveLength(1)
      expect(posts().map((r) => r.answered)).toEqual([201, 200])
      expect(await readMarker(markerPath(layout(), 'crash.md'))).toMatchObject({state: 'submitted', job_id: made[0]!.id})
    })
  })

  it('ten processes submitting one task at once: one job, one marker, the other nine exit 4', {timeout: 90_000}, async () => {
    await task('race.md')
    const results = await Promise.all(Array.from({length: 10}, () => ccl(['delegate', 'submit', 'race.md'])))
    const codes = results.map((r) => r.code).sort()
    expect(codes).toEqual([0, 4, 4, 4, 4, 4, 4, 4, 4, 4])
    const jobs = jobsFor('race.md')
    expect(jobs).toHaveLength(1)
    expect(posts()).toHaveLength(1)
    expect((await readdir(path.join(sandbox.queue, 'pending'))).sort()).toEqual(['race.md', 'race.md.delegated'])
    const winner = results.find((r) => r.code === 0)!
    expect(winner.stdout).toBe(`${jobs[0]!.id}\n`)
    // A loser prints the job id if the winner had it already, nothing otherwise; never another id.
    for (const loser of results.filter((r) => r.code === 4)) expect(['', `${jobs[0]!.id}\n`]).toContain(loser.stdout)
    const events = await readEvents(layout().events)
    expect(events.map((e) => e.event)).toEqual(['delegation.claimed', 'delegation.submitted'])
  })
})

describe('ccl delegate get', () => {
  it('shows a job for people and as JSON', async () => {
    await task('logs.md')
    const id = (await ccl(['delegate', 'submit', 'logs.md'])).stdout.trim()
    fake.complete(id, {result: 'All quiet.', cost_usd: 0.0042})
    const human = await ccl(['delegate', 'get', id])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(new RegExp(`^job      ${id}\nstatus   completed\nprovider gemini\ncreated  \\S+\nfinished \\S+\ncost     \\$0.0042\nresult   10 characters`))
    const json = await ccl(['delegate', 'get', id, '--json'])
    expect(JSON.parse(json.stdout)).toMatchObject({schemaVersion: 1, job: {id, status: 'completed', result: 'All quiet.', cost_usd: 0.0042}})
  })

  it('refuses a malformed job id before any request (exit 2)', async () => {
    for (const id of ['../../admin', '..', 'a/b', 'x'.repeat(129)]) {
      const result = await ccl(['delegate', 'get', id])
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('not a job id')
    }

    expect(fake.requests).toHaveLength(0)
  })

  it('exits 5 for an unknown job and for an outage', async () => {
    const unknown = await ccl(['delegate', 'get', 'j-404'])
    expect(unknown.code).toBe(5)
    expect(unknown.stderr).toContain('secutools has no such job: j-404 (HTTP 404)')
    fake.failNext(3, {status: 500})
    const down = await ccl(['delegate', 'get', 'j-1'])
    expect(down.code).toBe(5)
    expect(down.stderr).toContain('secutools unavailable after 3 attempts')
  })

  it('exits 5 for an answer cut after its headers (after the retries) and for a redirect, saying which', async () => {
    await task('logs.md')
    const id = (await ccl(['delegate', 'submit', 'logs.md'])).stdout.trim()
    fake.cutBodyNext(1, {method: 'GET'})
    const once = await ccl(['delegate', 'get', id])
    expect(once.code).toBe(0)
    expect(once.stderr).toContain('the answer (HTTP 200) was cut off (connection reset) after its headers; retrying in')
    fake.cutBodyNext(3, {method: 'GET'})
    const cut = await ccl(['delegate', 'get', id])
    expect(cut.code).toBe(5)
    expect(cut.stderr).toContain(`secutools failed after 3 attempts: GET /jobs/${id}: the answer (HTTP 200) was cut off (connection reset) after its headers`)
    fake.redirectNext(1, {method: 'GET'})
    const moved = await ccl(['delegate', 'get', id])
    expect(moved.code).toBe(5)
    expect(moved.stderr).toContain(`secutools answered GET /jobs/${id} with a redirect (HTTP 302), not followed (expected HTTP 200)`)
    expect(fake.requests.filter((r) => r.method === 'GET')).toHaveLength(6)
  })

  it('exits 5 for a truncated answer', async () => {
    fake.truncateNext(3)
    const result = await ccl(['delegate', 'get', 'j-1'])
    expect(result.code).toBe(5)
    expect(result.stderr).toContain('invalid JSON after 3 attempts')
  })
})

describe('ccl delegate result', () => {
  async function submitted(): Promise<string> {
    await task('logs.md')
    return (await ccl(['delegate', 'submit', 'logs.md'])).stdout.trim()
  }

  it('prints the result text alone on stdout (exit 0)', async () => {
    const id = await submitted()
    fake.complete(id, {result: '# Findings\n\nAll quiet.\n', cost_usd: 0.01})
    const result = await ccl(['delegate', 'result', id])
    expect(result.code).toBe(0)
    expect(result.stdout).toBe('# Findings\n\nAll quiet.\n')
  })

  it('exits 1 with the error on stderr for a failed job', async () => {
    const id = await submitted()
    fake.fail(id, 'worker ran out of memory\u001B[2J')
    const result = await ccl(['delegate', 'result', id])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    // A terminal escape from the server is shown, defused, never obeyed.
    expect(result.stderr).toContain(`ccl: job ${id} failed: worker ran out of memory\\e[2J`)
    const json = await ccl(['delegate', 'result', id, '--json'])
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toMatchObject({job: {status: 'failed', error: 'worker ran out of memory\u001B[2J'}})
  })

  it('exits 124 at once for an unfinished job without --wait', async () => {
    const id = await submitted()
    const result = await ccl(['delegate', 'result', id])
    expect(result.code).toBe(124)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain(`job ${id} is queued, not finished`)
  })

  it('--wait polls until the job ends', async () => {
    const id = await submitted()
    fake.autoComplete({afterPolls: 3, result: 'Done at last.'})
    const result = await ccl(['delegate', 'result', id, '--wait', '--timeout', '20s'])
    expect(result.code).toBe(0)
    expect(result.stdout).toBe('Done at last.\n')
    expect(fake.requests.filter((r) => r.method === 'GET')).toHaveLength(3)
  })

  it('--wait --timeout exits 124 when the job does not end in time', async () => {
    const id = await submitted()
    const result = await ccl(['delegate', 'result', id, '--wait', '--timeout', '300ms'])
    expect(result.code).toBe(124)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(new RegExp(`ccl: job ${id} did not finish within 300ms`))
  })

  it('exits 5 when the API fails, and 2 for a bad --timeout', async () => {
    fake.failNext(3, {status: 502})
    expect((await ccl(['delegate', 'result', 'j-1'])).code).toBe(5)
    const bad = await ccl(['delegate', 'result', 'j-1', '--wait', '--timeout', 'soon'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--timeout soon: expected a duration')
  })
})

describe('ccl delegate --help', () => {
  it('explains the flow with examples', async () => {
    const topic = await ccl(['delegate', '--help'])
    expect(topic.code).toBe(0)
    expect(topic.stdout).toContain('delegate submit')
    expect(topic.stdout).toContain('reap')
    expect(topic.stdout).toContain('Examples:')
    const submit = await ccl(['delegate', 'submit', '--help'])
    expect(submit.stdout).toContain('EXAMPLES')
    expect(submit.stdout).toContain('Idempotency-Key')
  })
})

describe('the API key', () => {
  it('appears in no stdout, stderr, marker or event of any run above', () => {
    expect(outputs.length).toBeGreaterThan(50)
    expect(outputs.filter((text) => text.includes(KEY))).toEqual([])
    // Nor any long piece of it.
    expect(outputs.filter((text) => text.includes(KEY.slice(8, 24)))).toEqual([])
  })
})
