// Fuzzing of secutools answers (issue 15, part 5): random statuses, headers and bodies for POST /jobs and
// GET /jobs/:id, served by a real HTTP server on 127.0.0.1 to the real client, in process (no CLI per case).
// Whatever the server says, the client either returns a job the spec calls valid or throws its typed
// ApiError (exit 5); never a TypeError or anything else a command would report as an internal error.
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ApiError, EXIT_CODES} from '../../src/lib/errors.js'
import {createClient, JOB_STATUSES, type SecutoolsClient} from '../../src/lib/secutools/client.js'
import {isJobId} from '../../src/lib/secutools/job-id.js'

const KEY = 'sk-fuzz-0123456789abcdef-never-printed'
const SEED = 15_005
const RUNS = Number(process.env.FUZZ_RUNS ?? 1200)

interface Answer {
  status: number
  headers: Record<string, string>
  body: string
  /** Cut the connection after the headers and this much of the body. */
  cutAt?: number
}

let next: Answer = {status: 500, headers: {}, body: ''}
let server: http.Server
let client: SecutoolsClient

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const answer = next
      const body = Buffer.from(answer.body)
      try {
        res.writeHead(answer.status, {'content-length': String(body.length), ...answer.headers})
      } catch {
        // A header value node refuses to send: answer without the fuzzed headers.
        res.writeHead(answer.status, {'content-length': String(body.length)})
      }

      if (answer.cutAt === undefined) {
        res.end(body)
        return
      }

      res.write(body.subarray(0, answer.cutAt))
      setImmediate(() => req.socket.destroy())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  client = await createClient({
    baseUrl: `http://127.0.0.1:${port}/api/v1`,
    apiKey: KEY,
    // Short: a 204 or 304 announcing a body it may not carry waits for the timeout (a retried failure too).
    timeoutMs: 250,
    // One retry, so retried answers (5xx, 429, cuts) are exercised too; the retry gets the same answer.
    retries: 1,
    backoffBaseMs: 1,
    maxBackoffMs: 1,
    maxRetryAfterMs: 1,
    random: () => 0.5,
  })
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

const STATUSES = [200, 201, 202, 203, 204, 206, 299, 300, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 408, 409, 410, 422, 429, 500, 502, 503, 504, 599]

const text = fc.oneof(fc.string(), fc.constantFrom('', 'queued', 'j-1', '..', '.', 'a/b', KEY, '\u001B[2J', 'x'.repeat(200)))
const id = fc.oneof(fc.constantFrom('j-1', 'j-2', '..', '.', '', 'a/b', 'x'.repeat(129), 'A.b:c_d-9'), fc.string({maxLength: 10}), fc.integer())
const nullableText = fc.oneof(fc.constant(null), fc.constant(undefined), text, fc.integer(), fc.boolean())
/** Job-shaped objects with every field sometimes right, sometimes missing, sometimes the wrong type. */
const jobLike = fc.record(
  {
    id,
    status: fc.oneof(fc.constantFrom(...JOB_STATUSES), text, fc.constant(null)),
    provider: fc.oneof(fc.constantFrom('gemini', 'gpu'), text, fc.constant(null)),
    result: nullableText,
    error: fc.oneof(nullableText, fc.record({message: text})),
    cost_usd: fc.oneof(fc.constant(null), fc.double(), fc.integer({min: -5, max: 5}), text),
    created_at: fc.oneof(fc.constant('2026-03-01T12:00:00Z'), text),
    finished_at: nullableText,
    extra: fc.anything({maxDepth: 2, maxKeys: 3}),
  },
  {requiredKeys: []},
)
/** A job the spec calls valid (for GET j-1 or j-2), so that the accepting side of the rule is reached too. */
const goodJob = fc.record({
  id: fc.constantFrom('j-1', 'j-2'),
  status: fc.constantFrom(...JOB_STATUSES),
  provider: fc.constantFrom('gemini', 'gpu'),
  result: fc.option(fc.string()),
  error: fc.option(fc.string()),
  cost_usd: fc.option(fc.double({min: 0, max: 10, noNaN: true})),
  created_at: fc.constant('2026-03-01T12:00:00Z'),
  finished_at: fc.option(fc.constant('2026-03-01T12:01:00Z')),
})
const body = fc.oneof(
  {weight: 4, arbitrary: goodJob.map((value) => JSON.stringify(value))},
  {weight: 4, arbitrary: jobLike.map((value) => JSON.stringify(value))},
  {weight: 1, arbitrary: fc.jsonValue({maxDepth: 2}).map((value) => JSON.stringify(value))},
  {weight: 1, arbitrary: fc.string()},
  {weight: 1, arbitrary: fc.constantFrom('', 'null', '[]', '{', '{"id":', '"j-1"', '1e999', 'true', '{"id":"j-1","status":"queued"}')},
)
const headers = fc.record(
  {
    'content-type': fc.constantFrom('application/json', 'text/html', 'application/json; charset=latin1', ''),
    'retry-after': fc.oneof(fc.constantFrom('0', '1', '-1', 'soon', '99999999999', 'Wed, 21 Oct 2015 07:28:00 GMT'), fc.string({maxLength: 8})),
    location: fc.constantFrom('http://127.0.0.1:1/elsewhere', '/api/v1/jobs/j-1', '//evil.example/x'),
  },
  {requiredKeys: []},
)
const answer: fc.Arbitrary<Answer> = fc
  .record({status: fc.oneof({weight: 2, arbitrary: fc.constantFrom(200, 201)}, {weight: 3, arbitrary: fc.constantFrom(...STATUSES)}), headers, body, cut: fc.oneof({weight: 7, arbitrary: fc.constant(null)}, {weight: 1, arbitrary: fc.nat({max: 40})})})
  .map(({status, headers: h, body: b, cut}) => ({status, headers: h, body: b, ...(cut === null ? {} : {cutAt: Math.min(cut, Math.max(0, Buffer.byteLength(b) - 1))})}))

function parse(raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}

const isText = (value: unknown): boolean => typeof value === 'string'
const isNullableText = (value: unknown): boolean => value === undefined || value === null || typeof value === 'string'

/** SPEC §5, written out again by hand: the answer to POST /jobs that is a created (or replayed) job. */
function validSubmit(a: Answer): boolean {
  if (a.cutAt !== undefined || (a.status !== 200 && a.status !== 201)) return false
  const value = parse(a.body) as Record<string, unknown> | undefined
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false
  return typeof value.id === 'string' && isJobId(value.id) && typeof value.status === 'string' && value.status.length > 0
}

/** SPEC §5: the answer to GET /jobs/:id that is that job. */
function validJob(a: Answer, wanted: string): boolean {
  if (a.cutAt !== undefined || a.status !== 200) return false
  const value = parse(a.body) as Record<string, unknown> | undefined
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false
  const cost = value.cost_usd
  return (
    value.id === wanted &&
    (JOB_STATUSES as readonly unknown[]).includes(value.status) &&
    isText(value.provider) &&
    (value.provider as string).length > 0 &&
    isText(value.created_at) &&
    (value.created_at as string).length > 0 &&
    isNullableText(value.result) &&
    isNullableText(value.error) &&
    isNullableText(value.finished_at) &&
    (cost === undefined || cost === null || (typeof cost === 'number' && Number.isFinite(cost) && cost >= 0))
  )
}

/** The outcome of one call: the value, or the error, checked to be the client's own. */
async function outcome<T>(call: Promise<T>): Promise<{ok: true; value: T} | {ok: false; error: ApiError}> {
  try {
    return {ok: true, value: await call}
  } catch (error) {
    // Not an ApiError (a TypeError, got's own error) is what a command would print as an internal error.
    if (!(error instanceof ApiError)) throw new Error(`not the client's typed error: ${String(error)}`, {cause: error})
    expect(error.exitCode).toBe(EXIT_CODES.api)
    expect(error.message).not.toContain(KEY)
    expect(error.message).not.toContain('\n')
    return {ok: false, error}
  }
}

describe('fuzzed secutools answers', () => {
  it(`POST /jobs: a job only for 200/201 with a valid body, else the typed error (${RUNS} cases, seed ${SEED})`, async () => {
    let accepted = 0
    await fc.assert(
      fc.asyncProperty(answer, async (a) => {
        next = a
        const result = await outcome(client.submitJob({provider: 'gemini', prompt: 'p', metadata: {task: 'a.md', source: 'ccl'}}, 'fuzz-key'))
        expect(result.ok).toBe(validSubmit(a))
        if (result.ok) {
          accepted++
          expect(result.value.id).toBe((parse(a.body) as {id: string}).id)
        }
      }),
      {seed: SEED, numRuns: RUNS},
    )
    // The generator reaches both sides of the rule, not only errors.
    expect(accepted).toBeGreaterThan(20)
  }, 120_000)

  it(`GET /jobs/:id: a job only for 200 with a valid body of that id, else the typed error (${RUNS} cases, seed ${SEED})`, async () => {
    let accepted = 0
    await fc.assert(
      fc.asyncProperty(answer, fc.constantFrom('j-1', 'j-2'), async (a, wanted) => {
        next = a
        const result = await outcome(client.getJob(wanted))
        expect(result.ok).toBe(validJob(a, wanted))
        if (result.ok) {
          accepted++
          expect(result.value.id).toBe(wanted)
        }
      }),
      {seed: SEED + 1, numRuns: RUNS},
    )
    expect(accepted).toBeGreaterThan(5)
  }, 120_000)
})
