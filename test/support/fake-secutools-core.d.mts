// Types of fake-secutools-core.mjs (kept in JavaScript so it also runs standalone).
import type {Job, JobStatus} from '../../src/lib/secutools/answers.js'

export type FakeJobStatus = JobStatus

/** A job as the fake keeps it: the answer ccl reads (SPEC §5), and what was submitted. */
export interface FakeJob extends Job {
  /** What was submitted; not part of the GET answer. */
  prompt: string
  complexity: string | null
  metadata: {task?: string; source?: string; [key: string]: unknown}
}

export interface FakeRequest {
  method: string
  path: string
  /** The Authorization header was exactly `Bearer <apiKey>`. */
  authOk: boolean
  idempotencyKey: string | null
  userAgent: string | null
  accept: string | null
  /** Parsed JSON body of a POST. */
  body: unknown
  /** The status answered, 'reset' when the connection was cut, or e.g. '201, cut' for a body cut after its headers. */
  answered: number | string | undefined
  at: number
}

export interface AutoCompleteRule {
  /** Finish a job on the GET that brings its poll count to this number. */
  afterPolls?: number
  /** Finish a job on the first GET this long after it was created. */
  afterMs?: number
  /** The final status: one for all, or chosen per job. */
  status?: 'completed' | 'failed' | 'cancelled' | ((job: FakeJob) => 'completed' | 'failed' | 'cancelled')
  result?: string | ((job: FakeJob) => string)
  error?: string
  cost_usd?: number | null
}

export interface FakeOptions {
  apiKey?: string
  latencyMs?: number
  host?: string
  port?: number
  idPrefix?: string
  /** Providers accepted by POST; any when absent. */
  providers?: string[]
  autoComplete?: AutoCompleteRule
  now?: () => Date
}

type Method = 'GET' | 'POST'

/**
 * Rate-based faults: each request not taken by a counted fault (failNext, resetNext, …) draws once, and
 * gets at most one of these, each with its probability (0–1; their sum at most 1).
 */
export interface Flakiness {
  /** answered 500–503 */
  serverError?: number
  /** answered 429 with Retry-After: 0 */
  tooMany?: number
  /** the connection cut before any work */
  reset?: number
  /** the work done (a POST creates its job) but the connection cut before the answer: a lost answer */
  lost?: number
  /** the draws (default Math.random): a seeded generator makes a run repeatable */
  random?: () => number
}

export interface FakeSecutools {
  /** Base URL including /api/v1, as `delegation.base_url` wants it. */
  url: string
  origin: string
  apiKey: string
  requests: FakeRequest[]
  jobs: Map<string, FakeJob>
  setJob(id: string, patch: Partial<FakeJob>): Omit<FakeJob, 'prompt' | 'metadata' | 'complexity'>
  complete(id: string, outcome?: {result?: string; cost_usd?: number | null}): Omit<FakeJob, 'prompt' | 'metadata' | 'complexity'>
  fail(id: string, error?: string): Omit<FakeJob, 'prompt' | 'metadata' | 'complexity'>
  autoComplete(rule: AutoCompleteRule | undefined): void
  setLatency(ms: number): void
  /** The next `times` requests (of `method`, if given) answer `status`, optionally with Retry-After. */
  failNext(times: number, options?: {status?: number; retryAfter?: string | number; body?: unknown; method?: Method}): void
  /** The next `times` requests answer this status and body verbatim (a string is sent as is). */
  answerNext(times: number, options: {status?: number; body: unknown; method?: Method}): void
  /** The next `times` requests get their connection cut: before any work, or (`after`) once the work is done. */
  resetNext(times: number, options?: {after?: boolean; method?: Method}): void
  /** The next `times` answers are cut in half: invalid JSON with a correct Content-Length. */
  truncateNext(times: number, options?: {method?: Method}): void
  /**
   * The next `times` requests are handled (a POST makes its job), then answered with the status line,
   * the headers and half the body, and the connection is cut.
   */
  cutBodyNext(times: number, options?: {method?: Method}): void
  /** Like cutBodyNext, but the connection stays open and nothing more is sent (the client's timeout ends it). */
  stallBodyNext(times: number, options?: {method?: Method}): void
  /** The next `times` requests answer a redirect (302 by default) to `location`, with a job-shaped JSON body. */
  redirectNext(times: number, options?: {status?: number; location?: string; method?: Method}): void
  /** The next `times` requests wait `ms` before being handled. */
  hangNext(times: number, ms: number, options?: {method?: Method}): void
  /** The next jobs created get these ids instead of j-N. */
  hostileIds(...ids: string[]): void
  /** From now on every request draws its fault from these rates; undefined turns it off. */
  flaky(rates: Flakiness | undefined): void
  /** Removes every counted fault, hostile id and flaky() rate. */
  clearFaults(): void
  jobCount(): number
  close(): Promise<void>
}

export function startFakeSecutools(options?: FakeOptions): Promise<FakeSecutools>
