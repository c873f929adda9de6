// secutools' answers as ccl uses them, checked by hand: reap reads 1,000 of them in a run, and zod,
// which words why an answer is refused (answer-schema.ts), costs ~17 ms of every start to load
// (more on Node 20, which has no compile cache). test/lib/answer-check.test.ts holds the hand checks
// and the schemas to one verdict and one value.
import {isJobId} from './job-id.js'

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const
export type JobStatus = (typeof JOB_STATUSES)[number]
/** A job that will not change any more. */
export const FINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled']

/** A job as GET /jobs/{id} gives it (SPEC §5), with only the fields ccl reads. */
export interface Job {
  id: string
  status: JobStatus
  provider: string
  result: string | null
  error: string | null
  cost_usd: number | null
  created_at: string
  finished_at: string | null
}

/** What POST /jobs answers. */
export interface Submitted {
  id: string
  status: string
}

export type AnswerKind = 'job' | 'submitted'

const isString = (value: unknown): value is string => typeof value === 'string'
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
/** A text field the API may leave null or out: null either way; undefined when it is neither nor a string. */
const nullableText = (value: unknown): string | null | undefined => (value === null || value === undefined ? null : isString(value) ? value : undefined)
const STATUSES: ReadonlySet<unknown> = new Set(JOB_STATUSES)

/** The job when `data` is a valid answer (as jobSchema would return it: known keys only), else undefined. */
export function checkJob(data: unknown): Job | undefined {
  if (!isObject(data)) return undefined
  const {id, status, provider, created_at: createdAt, cost_usd: cost} = data
  if (!isString(id) || !isJobId(id) || !STATUSES.has(status) || !isString(provider) || provider.length === 0 || !isString(createdAt) || createdAt.length === 0) return undefined
  const result = nullableText(data.result)
  const error = nullableText(data.error)
  const finishedAt = nullableText(data.finished_at)
  if (result === undefined || error === undefined || finishedAt === undefined) return undefined
  if (!(cost === null || cost === undefined || (typeof cost === 'number' && Number.isFinite(cost) && cost >= 0))) return undefined
  return {id, status: status as JobStatus, provider, result, error, cost_usd: cost ?? null, created_at: createdAt, finished_at: finishedAt}
}

/** The answer to a submit when `data` is a valid one, else undefined. */
export function checkSubmitted(data: unknown): Submitted | undefined {
  if (!isObject(data)) return undefined
  const {id, status} = data
  if (!isString(id) || !isJobId(id) || !isString(status) || status.length === 0) return undefined
  return {id, status}
}

/**
 * Why an answer that failed its hand check is refused, one `path: message` per issue, in zod's words
 * (loaded only now).
 */
export async function answerIssues(kind: AnswerKind, data: unknown): Promise<string> {
  const {ANSWER_SCHEMAS} = await import('./answer-schema.js')
  const parsed = ANSWER_SCHEMAS[kind].safeParse(data)
  return parsed.success ? '(answer): refused by the hand check' : parsed.error.issues.map((issue) => `${issue.path.join('.') || '(answer)'}: ${issue.message}`).join('; ')
}
