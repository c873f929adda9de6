// Imported only with import() (secutools/options.ts connect, doctor): got loads in the same loader pass
// as this module rather than in a second one after it (one round trip less on Node 20's async loader).
import got, {type Got, type RequestError, type RetryObject} from 'got'

import {ApiError} from '../errors.js'
import {trace} from '../trace.js'
import {cclVersion} from '../version.js'
import {type AnswerKind, answerIssues, checkJob, checkSubmitted, type Job, type Submitted} from './answers.js'
import {isJobId, JOB_ID_PATTERN} from './job-id.js'

const debug = trace('ccl:secutools')

export {FINAL_STATUSES, type Job, JOB_STATUSES, type JobStatus} from './answers.js'

export interface SubmitRequest {
  provider: string
  prompt: string
  complexity?: string
  metadata: {task: string; source: 'ccl'}
}

export interface SecutoolsClient {
  submitJob(request: SubmitRequest, idempotencyKey: string): Promise<Submitted>
  /** `signal` aborts a poll that outlives a deadline (`delegate result --wait --timeout`). */
  getJob(id: string, options?: {signal?: AbortSignal}): Promise<Job>
}

export interface RetryInfo {
  /** The attempt that failed, 1 for the first request. */
  attempt: number
  delayMs: number
  reason: string
}

export interface ClientOptions {
  baseUrl: string
  apiKey: string
  timeoutMs: number
  /** Retries after the first attempt (config `delegation.retries`). */
  retries: number
  userAgent?: string
  /** A `Retry-After` longer than this is waited for this long, then retried (default 60 s). */
  maxRetryAfterMs?: number
  /** Jitter source, [0, 1); tests pass a seeded one. */
  random?: () => number
  /** First backoff step (default 1 s); doubles each retry up to `maxBackoffMs`. */
  backoffBaseMs?: number
  maxBackoffMs?: number
  /** Named in the "key refused" message, e.g. SECUTOOLS_API_KEY. Never the key itself. */
  apiKeyEnv?: string
  /** Called before each retry wait, so a command can say what it is waiting for (stderr). */
  onRetry?: (info: RetryInfo) => void
}

export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000
export const DEFAULT_BACKOFF_BASE_MS = 1000
export const DEFAULT_MAX_BACKOFF_MS = 30_000

/** Statuses worth another try: timeouts, rate limits and every 5xx (SPEC §5). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500
}

/** Network failures worth another try, plus got's code for a body that is not JSON. */
export const RETRYABLE_ERROR_CODES: readonly string[] = [
  'ETIMEDOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'EADDRINUSE',
  'EPIPE',
  'ENOTFOUND',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ECONNABORTED',
  // Node 24 reports a refused connection this way when it races address families (autoSelectFamily).
  'ERR_SOCKET_CLOSED_BEFORE_CONNECTION',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_BODY_PARSE_FAILURE',
  'ERR_STREAM_PREMATURE_CLOSE',
  'HPE_INVALID_CONSTANT',
  'HPE_INVALID_CHUNK_SIZE',
]

/**
 * Exponential backoff with "equal jitter": attempt n waits between half and all of
 * base·2^(n-1), capped. Half is fixed so retries never bunch up at zero; half is random
 * so many ccl processes hit by one outage do not retry in step.
 */
export function backoffDelay(attempt: number, options: {baseMs: number; maxMs: number; random: () => number}): number {
  const step = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(step / 2 + options.random() * (step / 2))
}

/**
 * How long to wait before retrying, 0 for "do not retry". This replaces got's own rules:
 * got gives up at once when `Retry-After` exceeds its cap; here a long `Retry-After` is clamped
 * to the cap and retried, because a rate-limited platform is exactly what retries are for.
 * POST is retried like GET: every POST carries an Idempotency-Key, so a replay is harmless.
 */
export function retryDelay(
  retry: {attemptCount: number; limit: number; status?: number; code?: string; retryAfterMs?: number},
  options: {baseMs: number; maxMs: number; maxRetryAfterMs: number; random: () => number},
): number {
  if (retry.attemptCount > retry.limit) return 0
  const retryable = retry.status === undefined
    ? retry.code !== undefined && RETRYABLE_ERROR_CODES.includes(retry.code)
    : isRetryableStatus(retry.status)
  if (!retryable) return 0
  if (retry.retryAfterMs !== undefined && Number.isFinite(retry.retryAfterMs) && retry.retryAfterMs > 0) {
    return Math.max(1, Math.min(retry.retryAfterMs, options.maxRetryAfterMs))
  }

  return Math.max(1, backoffDelay(retry.attemptCount, options))
}

/** The one HTTP client of ccl: got, imported only when a command talks to secutools. */
export async function createClient(options: ClientOptions): Promise<SecutoolsClient> {
  const random = options.random ?? Math.random
  const delays = {
    baseMs: options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS,
    maxMs: options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
    maxRetryAfterMs: options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS,
    random,
  }
  const redact = (text: string): string => (options.apiKey ? text.split(options.apiKey).join('***') : text)

  const http: Got = got.extend({
    prefixUrl: options.baseUrl.replace(/\/+$/, '') + '/',
    headers: {
      authorization: `Bearer ${options.apiKey}`,
      accept: 'application/json',
      'user-agent': options.userAgent ?? `ccl/${cclVersion()}`,
    },
    timeout: {request: options.timeoutMs},
    responseType: 'json',
    followRedirect: false,
    retry: {
      limit: options.retries,
      methods: ['GET', 'POST'],
      maxRetryAfter: delays.maxRetryAfterMs,
      calculateDelay({attemptCount, error, retryAfter}: RetryObject): number {
        const delay = retryDelay(
          {
            attemptCount,
            limit: options.retries,
            // Only an HTTP error is judged by its status. A body cut or stalled after the headers, or a 2xx
            // whose body is not JSON, carries a response too, but failed like a network error: judged by its code.
            status: httpStatusOf(error),
            // A body that broke off after the headers is a reset, whatever code the stream gave it.
            code: error.name === 'ReadError' && !RETRYABLE_ERROR_CODES.includes(error.code) ? 'ECONNRESET' : error.code,
            retryAfterMs: retryAfter,
          },
          delays,
        )
        if (delay > 0) {
          const attempts = (error.options.context as {attempts?: {retried: number}}).attempts
          if (attempts) attempts.retried = attemptCount
          const reason = describeFailure(error)
          debug('attempt %d failed (%s); retrying in %d ms', attemptCount, reason, delay)
          options.onRetry?.({attempt: attemptCount, delayMs: delay, reason})
        }

        return delay
      },
    },
  })

  async function call<T>(
    what: string,
    answer: {kind: AnswerKind; check: (data: unknown) => T | undefined},
    accepted: readonly number[],
    request: (context: {attempts: {retried: number}}) => Promise<{body: unknown; statusCode: number}>,
  ): Promise<T> {
    // Counted here, not read from got's error: some network errors reach us without their request.
    const attempts = {retried: 0}
    let response
    try {
      response = await request({attempts})
    } catch (error) {
      throw toApiError(error, what, attempts.retried + 1, options, redact)
    }

    // Only these statuses are an answer: got passes any 2xx, and with redirects off any 3xx, as success.
    if (!accepted.includes(response.statusCode)) throw unacceptedStatus(what, response.statusCode, accepted)
    const checked = answer.check(response.body)
    if (checked === undefined) {
      const issues = await answerIssues(answer.kind, response.body)
      throw new ApiError('malformed', redact(`secutools answered ${what} with an unexpected shape (HTTP ${response.statusCode}): ${issues}`), {
        status: response.statusCode,
      })
    }

    return checked
  }

  return {
    async submitJob(request, idempotencyKey) {
      return call('POST /jobs', {kind: 'submitted', check: checkSubmitted}, [200, 201], (context) =>
        http.post('jobs', {json: request, headers: {'idempotency-key': idempotencyKey}, context}),
      )
    },

    async getJob(id, {signal} = {}) {
      if (!isJobId(id)) throw new ApiError('bad_request', `not a job id: ${JSON.stringify(id.slice(0, 80))} (expected ${JOB_ID_PATTERN})`)
      const job = await call(`GET /jobs/${id}`, {kind: 'job', check: checkJob}, [200], (context) => http.get(`jobs/${id}`, signal ? {signal, context} : {context}))
      if (job.id !== id) {
        throw new ApiError('malformed', `secutools answered GET /jobs/${id} with another job (${job.id})`)
      }

      return job
    },
  }
}

/** The status that decides about an error: only got's HTTPError (a complete answer with a non-2xx status) has one. */
function httpStatusOf(error: Partial<RequestError> & Error): number | undefined {
  return error.name === 'HTTPError' ? error.response?.statusCode : undefined
}

/** A status outside `accepted` in an answer got took for a success (another 2xx, any 3xx): never an answer. */
function unacceptedStatus(what: string, status: number, accepted: readonly number[]): ApiError {
  const expected = accepted.join(' or ')
  if (status >= 300 && status < 400) {
    return new ApiError('malformed', `secutools answered ${what} with a redirect (HTTP ${status}), not followed (expected HTTP ${expected})`, {
      status,
      hint: 'is delegation.base_url right? it should be the API itself, ending in /api/v1',
    })
  }

  return new ApiError('malformed', `secutools answered ${what} with HTTP ${status}, not an answer (expected HTTP ${expected})`, {status})
}

function describeFailure(error: RequestError): string {
  if (error.code === 'ERR_BODY_PARSE_FAILURE') return 'answer is not valid JSON'
  if (httpStatusOf(error) !== undefined) return `HTTP ${error.response?.statusCode}`
  // The status line and headers came, the body did not: say so, not "HTTP 201" as if that were the answer.
  if (error.response) {
    const how = error.code === 'ETIMEDOUT' ? 'stalled' : `was cut off (${describeNetwork(error)})`
    return `the answer (HTTP ${error.response.statusCode}) ${how} after its headers`
  }

  return describeNetwork(error)
}

function describeNetwork(error: RequestError): string {
  switch (error.code) {
    case 'ETIMEDOUT': {
      return 'timed out'
    }

    case 'ECONNRESET': {
      return 'connection reset'
    }

    case 'ECONNREFUSED':
    case 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION': {
      return 'connection refused'
    }

    default: {
      return error.code ? `${error.code}` : error.message
    }
  }
}

/** Maps whatever got threw, after its retries, to one typed ApiError (exit 5). */
function toApiError(error: unknown, what: string, attempts: number, options: ClientOptions, redact: (text: string) => string): Error {
  const requestError = error as Partial<RequestError> & Error
  // An abort asked for by the caller is theirs to handle, not an API failure.
  if (requestError.name === 'AbortError' || requestError.name === 'CancelError') return requestError
  const after = attempts > 1 ? ` after ${attempts} attempts` : ''
  if (requestError.code === 'ERR_BODY_PARSE_FAILURE') {
    return new ApiError('malformed', `secutools answered ${what} with invalid JSON${after}`, {cause: safeCause(requestError, redact)})
  }

  const status = httpStatusOf(requestError)
  if (status !== undefined) {
    const detail = serverMessage(requestError.response?.body, redact)
    const cause = {cause: safeCause(requestError, redact), status}
    if (status === 401 || status === 403) {
      return new ApiError('unauthorized', `secutools refused the API key (HTTP ${status}) on ${what}`, {
        ...cause,
        hint: `check the key in $${options.apiKeyEnv ?? 'SECUTOOLS_API_KEY'} (it is never printed)`,
      })
    }

    if (status === 404) {
      return what.startsWith('GET /jobs/')
        ? new ApiError('not_found', `secutools has no such job: ${what.slice('GET /jobs/'.length)} (HTTP 404)${detail}`, cause)
        : new ApiError('not_found', `secutools answered ${what} with HTTP 404${detail}`, {...cause, hint: 'is delegation.base_url right? it should end in /api/v1'})
    }

    if (!isRetryableStatus(status)) {
      return new ApiError('bad_request', `secutools rejected ${what} as a bad request (HTTP ${status})${detail}`, cause)
    }

    return new ApiError('unavailable', `secutools unavailable${after}: ${what} answered HTTP ${status}${detail}`, {
      ...cause,
      hint: 'the platform is down or rate-limiting; try again later',
    })
  }

  const failure = describeFailure(requestError as RequestError)
  const verb = requestError.response ? 'failed' : 'unreachable'
  return new ApiError('unavailable', redact(`secutools ${verb}${after}: ${what}: ${failure}`), {
    cause: safeCause(requestError, redact),
    hint: `is ${options.baseUrl} reachable?`,
  })
}

/**
 * got's error carries the request options, Authorization header included: it must never become
 * a `cause` that a debug printer or a test reporter could serialise. Keep only code and message.
 */
function safeCause(error: Partial<RequestError> & Error, redact: (text: string) => string): Error {
  const cause = new Error(redact(error.message))
  cause.name = error.name
  if (error.code) Object.assign(cause, {code: error.code})
  return cause
}

/** The server's own explanation, if it gave one, shortened to one line. */
function serverMessage(body: unknown, redact: (text: string) => string): string {
  let text: string | undefined
  if (typeof body === 'string') text = body
  else if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>
    const candidate = record.error ?? record.message ?? record.detail
    text = typeof candidate === 'string' ? candidate : candidate === undefined ? undefined : JSON.stringify(candidate)
  }

  if (!text) return ''
  // Control characters (a hostile server's terminal escapes) become '?'.
  // eslint-disable-next-line no-control-regex
  const line = redact(text).replaceAll(/\s+/g, ' ').replaceAll(/[\u0000-\u001F\u007F-\u009F]/g, '?').trim().slice(0, 200)
  return line ? `: ${line}` : ''
}
