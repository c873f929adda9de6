import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {ApiError} from '../../src/lib/errors.js'
import {
  backoffDelay,
  type ClientOptions,
  createClient,
  type RetryInfo,
  retryDelay,
  type SubmitRequest,
} from '../../src/lib/secutools/client.js'
import {isJobId} from '../../src/lib/secutools/job-id.js'
import {cclVersion} from '../../src/lib/version.js'
import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'

/** A small seeded generator, so jitter is the same on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const request: SubmitRequest = {provider: 'gemini', prompt: 'Summarise the logs.', complexity: 'low', metadata: {task: 'a.md', source: 'ccl'}}

describe('retry rules', () => {
  const delays = {baseMs: 100, maxMs: 1000, maxRetryAfterMs: 5000, random: () => 0.5}

  it('backs off exponentially with jitter between half and all of each step, capped', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, {...delays, random: () => 0}))).toEqual([50, 100, 200, 400, 500])
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, {...delays, random: () => 0.999_999}))).toEqual([100, 200, 400, 800, 1000])
    const random = seeded(42)
    const again = seeded(42)
    expect([1, 2, 3].map((a) => backoffDelay(a, {...delays, random}))).toEqual([1, 2, 3].map((a) => backoffDelay(a, {...delays, random: again})))
  })

  it('retries 408, 429 and 5xx and network failures, never other 4xx, and stops at the limit', () => {
    for (const status of [408, 429, 500, 502, 503, 504, 599]) expect(retryDelay({attemptCount: 1, limit: 2, status}, delays)).toBeGreaterThan(0)
    for (const status of [400, 401, 403, 404, 409, 422]) expect(retryDelay({attemptCount: 1, limit: 2, status}, delays)).toBe(0)
    for (const code of ['ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED', 'ERR_BODY_PARSE_FAILURE']) {
      expect(retryDelay({attemptCount: 1, limit: 2, code}, delays)).toBeGreaterThan(0)
    }

    expect(retryDelay({attemptCount: 1, limit: 2, code: 'ERR_SOMETHING_ELSE'}, delays)).toBe(0)
    expect(retryDelay({attemptCount: 3, limit: 2, status: 503}, delays)).toBe(0)
    expect(retryDelay({attemptCount: 1, limit: 0, status: 503}, delays)).toBe(0)
  })

  it('honours Retry-After, clamped to the cap instead of giving up', () => {
    expect(retryDelay({attemptCount: 1, limit: 2, status: 429, retryAfterMs: 2000}, delays)).toBe(2000)
    expect(retryDelay({attemptCount: 1, limit: 2, status: 503, retryAfterMs: 3_600_000}, delays)).toBe(5000)
    expect(retryDelay({attemptCount: 3, limit: 2, status: 429, retryAfterMs: 10}, delays)).toBe(0)
  })

  it('accepts only job ids that are safe in a URL path', () => {
    for (const id of ['j-1', 'A.b:c_d-9', 'x'.repeat(128), '...']) expect(isJobId(id)).toBe(true)
    for (const id of ['', '.', '..', '../etc', 'a/b', 'a b', 'x'.repeat(129), 'j?x=1', 'j#f', 'é']) expect(isJobId(id)).toBe(false)
  })
})

describe('secutools client against the fake', () => {
  let fake: FakeSecutools
  let retries: RetryInfo[]

  beforeAll(async () => {
    fake = await startFakeSecutools({apiKey: 'sk-client-test-secret'})
  })
  afterAll(async () => {
    await fake.close()
  })
  beforeEach(() => {
    fake.clearFaults()
    fake.autoComplete(undefined)
    fake.requests.length = 0
    retries = []
  })

  function client(overrides: Partial<ClientOptions> = {}) {
    return createClient({
      baseUrl: fake.url,
      apiKey: fake.apiKey,
      apiKeyEnv: 'SECUTOOLS_API_KEY',
      timeoutMs: 2000,
      retries: 2,
      backoffBaseMs: 5,
      maxRetryAfterMs: 50,
      random: seeded(7),
      onRetry: (info) => retries.push(info),
      ...overrides,
    })
  }

  async function apiError(promise: Promise<unknown>): Promise<ApiError> {
    const error = await promise.then(
      () => undefined,
      (error_: unknown) => error_,
    )
    expect(error).toBeInstanceOf(ApiError)
    return error as ApiError
  }

  it('sends the key, Accept, User-Agent and the Idempotency-Key, and reads the job id', async () => {
    const c = await client()
    const answer = await c.submitJob(request, 'key-headers')
    expect(answer).toEqual({id: expect.stringMatching(/^j-\d+$/), status: 'queued'})
    const [entry] = fake.requests
    expect(entry).toMatchObject({method: 'POST', path: '/api/v1/jobs', authOk: true, idempotencyKey: 'key-headers', accept: 'application/json'})
    expect(entry?.userAgent).toBe(`ccl/${cclVersion()}`)
    expect(entry?.body).toEqual(request)
  })

  it('gets the same job back when the same key is replayed', async () => {
    const c = await client()
    const before = fake.jobCount()
    const first = await c.submitJob(request, 'key-replay')
    const second = await c.submitJob(request, 'key-replay')
    expect(second.id).toBe(first.id)
    expect(fake.jobCount()).toBe(before + 1)
    expect(fake.requests.map((r) => r.answered)).toEqual([201, 200])
  })

  it('retries a 5xx (POST included) and succeeds with one job', async () => {
    const c = await client()
    const before = fake.jobCount()
    fake.failNext(2, {status: 503})
    const answer = await c.submitJob(request, 'key-5xx')
    expect(answer.status).toBe('queued')
    expect(fake.requests.map((r) => r.answered)).toEqual([503, 503, 201])
    expect(fake.jobCount()).toBe(before + 1)
    expect(retries.map((r) => r.reason)).toEqual(['HTTP 503', 'HTTP 503'])
  })

  it('gives up after the configured retries as "unavailable"', async () => {
    const c = await client({retries: 3})
    fake.failNext(10, {status: 500})
    const error = await apiError(c.submitJob(request, 'key-down'))
    expect(error.kind).toBe('unavailable')
    expect(error.exitCode).toBe(5)
    expect(error.message).toContain('after 4 attempts')
    expect(fake.requests).toHaveLength(4)
  })

  it('retries nothing when retries is 0', async () => {
    const c = await client({retries: 0})
    fake.failNext(1, {status: 502})
    const error = await apiError(c.submitJob(request, 'key-no-retry'))
    expect(error.kind).toBe('unavailable')
    expect(fake.requests).toHaveLength(1)
  })

  it('honours a short Retry-After in seconds', async () => {
    const c = await client({maxRetryAfterMs: 5000})
    fake.failNext(1, {status: 429, retryAfter: '0.2'})
    await c.submitJob(request, 'key-429')
    expect(retries).toEqual([{attempt: 1, delayMs: 200, reason: 'HTTP 429'}])
    const [first, second] = fake.requests
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(150)
  })

  it('clamps a long Retry-After (seconds or HTTP date) to the cap and still retries', async () => {
    const c = await client({maxRetryAfterMs: 40})
    fake.failNext(1, {status: 503, retryAfter: '3600'})
    fake.failNext(1, {status: 429, retryAfter: new Date(Date.now() + 3_600_000).toUTCString()})
    await c.submitJob(request, 'key-long-retry-after')
    expect(retries.map((r) => r.delayMs)).toEqual([40, 40])
    expect(fake.requests.map((r) => r.answered)).toEqual([503, 429, 201])
  })

  it('retries a connection reset; a reset after the job was made replays to the same job', async () => {
    const c = await client()
    const before = fake.jobCount()
    fake.resetNext(1)
    fake.resetNext(1, {after: true})
    const answer = await c.submitJob(request, 'key-reset')
    expect(fake.requests.map((r) => r.answered)).toEqual(['reset', 'reset', 200])
    expect(fake.jobCount()).toBe(before + 1)
    expect(fake.jobs.get(answer.id)?.metadata.task).toBe('a.md')
    expect(retries.map((r) => r.reason)).toEqual(['connection reset', 'connection reset'])
  })

  it('retries a body cut after the headers like a reset, and replays to the one job made', async () => {
    const c = await client()
    const before = fake.jobCount()
    fake.cutBodyNext(2, {method: 'POST'})
    const answer = await c.submitJob(request, 'key-cut-body')
    expect(fake.requests.map((r) => r.answered)).toEqual(['201, cut', '200, cut', 200])
    expect(fake.jobCount()).toBe(before + 1)
    expect(retries.map((r) => r.reason)).toEqual([
      'the answer (HTTP 201) was cut off (connection reset) after its headers',
      'the answer (HTTP 200) was cut off (connection reset) after its headers',
    ])
    fake.cutBodyNext(3, {method: 'GET'})
    const error = await apiError(c.getJob(answer.id))
    expect(error.kind).toBe('unavailable')
    expect(error.message).toBe(
      `secutools failed after 3 attempts: GET /jobs/${answer.id}: the answer (HTTP 200) was cut off (connection reset) after its headers`,
    )
    expect(error.message).not.toContain('bad request')
  })

  it('retries a body that stalls after the headers, and counts it against the retries', async () => {
    const c = await client({timeoutMs: 200, retries: 1})
    const before = fake.jobCount()
    fake.stallBodyNext(2, {method: 'POST'})
    const error = await apiError(c.submitJob(request, 'key-stall-body'))
    expect(error.kind).toBe('unavailable')
    expect(error.message).toBe('secutools failed after 2 attempts: POST /jobs: the answer (HTTP 200) stalled after its headers')
    expect(fake.requests.map((r) => r.answered)).toEqual(['201, stall', '200, stall'])
    expect(fake.jobCount()).toBe(before + 1)
  })

  it('never follows nor accepts a redirect, even one with a job-shaped body', async () => {
    const c = await client()
    fake.redirectNext(1, {method: 'POST'})
    const error = await apiError(c.submitJob(request, 'key-redirect'))
    expect(error.kind).toBe('malformed')
    expect(error.message).toBe('secutools answered POST /jobs with a redirect (HTTP 302), not followed (expected HTTP 200 or 201)')
    expect(fake.requests.map((r) => [r.method, r.answered])).toEqual([['POST', 302]])
    expect(retries).toEqual([])
    const {id} = await c.submitJob(request, 'key-redirect')
    fake.redirectNext(1, {status: 301, method: 'GET'})
    expect((await apiError(c.getJob(id))).message).toBe(
      `secutools answered GET /jobs/${id} with a redirect (HTTP 301), not followed (expected HTTP 200)`,
    )
  })

  it('takes only 200/201 for a created job and only 200 for a job, not another 2xx', async () => {
    const c = await client()
    fake.answerNext(1, {status: 202, body: {id: 'j-accepted', status: 'queued'}, method: 'POST'})
    expect((await apiError(c.submitJob(request, 'key-202'))).message).toBe(
      'secutools answered POST /jobs with HTTP 202, not an answer (expected HTTP 200 or 201)',
    )
    const {id} = await c.submitJob(request, 'key-202')
    const job = fake.setJob(id, {})
    fake.answerNext(1, {status: 201, body: job, method: 'GET'})
    expect((await apiError(c.getJob(id))).message).toBe(`secutools answered GET /jobs/${id} with HTTP 201, not an answer (expected HTTP 200)`)
    expect((await c.getJob(id)).id).toBe(id)
  })

  it('retries a request that times out', async () => {
    const c = await client({timeoutMs: 150})
    fake.hangNext(1, 600, {method: 'GET'})
    const {id} = await c.submitJob(request, 'key-timeout')
    const job = await c.getJob(id)
    expect(job.id).toBe(id)
    expect(retries.map((r) => r.reason)).toEqual(['timed out'])
  })

  it('retries truncated JSON, and reports it as malformed when it persists', async () => {
    const c = await client()
    fake.truncateNext(1)
    const {id} = await c.submitJob(request, 'key-truncated')
    expect(retries.map((r) => r.reason)).toEqual(['answer is not valid JSON'])
    fake.truncateNext(5)
    const error = await apiError(c.getJob(id))
    expect(error.kind).toBe('malformed')
    expect(error.message).toContain('invalid JSON after 3 attempts')
  })

  it('does not retry a bad request (400, 422)', async () => {
    const c = await client()
    for (const status of [400, 422]) {
      fake.requests.length = 0
      fake.failNext(1, {status, body: {error: 'prompt too long\u001B[2J'}})
      const error = await apiError(c.submitJob(request, `key-bad-${status}`))
      expect(error.kind).toBe('bad_request')
      expect(error.status).toBe(status)
      expect(error.message).toContain('prompt too long')
      expect(error.message).not.toContain('\u001B')
      expect(fake.requests).toHaveLength(1)
    }
  })

  it('says the key was refused (401, 403) without retrying and without printing it', async () => {
    const wrong = await client({apiKey: 'sk-wrong-key-value'})
    const error = await apiError(wrong.submitJob(request, 'key-401'))
    expect(error.kind).toBe('unauthorized')
    expect(error.message).toMatch(/refused the API key \(HTTP 401\)/)
    expect(error.hint).toContain('$SECUTOOLS_API_KEY')
    expect(`${error.message} ${error.hint}`).not.toContain('sk-wrong-key-value')
    expect(fake.requests).toHaveLength(1)
    expect(fake.requests[0]?.authOk).toBe(false)

    const c = await client()
    fake.failNext(1, {status: 403, body: {error: 'key sk-client-test-secret is suspended'}})
    const forbidden = await apiError(c.getJob('j-1'))
    expect(forbidden.kind).toBe('unauthorized')
    expect(forbidden.message).not.toContain('sk-client-test-secret')
  })

  it('reports an unknown job as not found', async () => {
    const c = await client()
    const error = await apiError(c.getJob('j-does-not-exist'))
    expect(error.kind).toBe('not_found')
    expect(error.message).toContain('j-does-not-exist')
    expect(fake.requests).toHaveLength(1)
  })

  it('rejects hostile job ids from the server as malformed', async () => {
    const c = await client()
    const hostile = ['../../etc/passwd', 'a/b', '', '..', 'x'.repeat(129), 'j-1?x=1', 'j 1']
    fake.hostileIds(...hostile)
    for (const [n, id] of hostile.entries()) {
      const error = await apiError(c.submitJob(request, `key-hostile-${n}`))
      expect(error.kind).toBe('malformed')
      expect(error.message).toMatch(/^secutools answered POST \/jobs with an unexpected shape \(HTTP 201\): id: job id/)
      expect(error.message).not.toContain(id.length > 20 ? id : '\u0000')
    }
  })

  it('refuses a hostile job id before sending anything', async () => {
    const c = await client()
    for (const id of ['../jobs', '..', 'a/b', 'x'.repeat(129)]) {
      const error = await apiError(c.getJob(id))
      expect(error.kind).toBe('bad_request')
    }

    expect(fake.requests).toHaveLength(0)
  })

  it('ignores unknown fields, accepts absent nullable ones, and rejects missing required ones', async () => {
    const c = await client()
    const {id} = await c.submitJob(request, 'key-shapes')
    const job = await c.getJob(id)
    expect(job).toMatchObject({id, status: 'queued', provider: 'gemini', result: null, error: null, cost_usd: null, finished_at: null})

    fake.answerNext(1, {body: {id, status: 'running', provider: 'gemini', created_at: '2026-01-01T00:00:00Z', queue_position: 3}})
    const lean = await c.getJob(id)
    expect(lean).toEqual({id, status: 'running', provider: 'gemini', result: null, error: null, cost_usd: null, created_at: '2026-01-01T00:00:00Z', finished_at: null})

    fake.answerNext(1, {body: {id, provider: 'gemini', created_at: 'x'}})
    expect((await apiError(c.getJob(id))).message).toMatch(/unexpected shape .*status/)

    fake.answerNext(1, {body: {id, status: 'exploded', provider: 'gemini', created_at: 'x'}})
    expect((await apiError(c.getJob(id))).kind).toBe('malformed')

    fake.answerNext(1, {body: {id: 'j-other', status: 'queued', provider: 'gemini', created_at: 'x'}})
    expect((await apiError(c.getJob(id))).message).toContain('another job (j-other)')

    fake.answerNext(1, {body: '[1,2]', method: 'POST'})
    expect((await apiError(c.submitJob(request, 'key-shapes-2'))).kind).toBe('malformed')
  })

  it('reads a finished job with its result and cost', async () => {
    const c = await client()
    const {id} = await c.submitJob(request, 'key-finished')
    fake.complete(id, {result: 'All good.', cost_usd: 0.01})
    expect(await c.getJob(id)).toMatchObject({id, status: 'completed', result: 'All good.', cost_usd: 0.01, finished_at: expect.any(String)})
  })

  it('stops a poll when the caller aborts, without calling it an API failure', async () => {
    const c = await client()
    const {id} = await c.submitJob(request, 'key-abort')
    fake.hangNext(1, 1000, {method: 'GET'})
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    const error = await c.getJob(id, {signal: controller.signal}).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(Error)
    expect(error).not.toBeInstanceOf(ApiError)
  })

  it('is unavailable when nothing listens', async () => {
    const c = await client({baseUrl: 'http://127.0.0.1:9/api/v1', retries: 1})
    const error = await apiError(c.getJob('j-1'))
    expect(error.kind).toBe('unavailable')
    expect(error.message).toBe('secutools unreachable after 2 attempts: GET /jobs/j-1: connection refused')
  })
})
