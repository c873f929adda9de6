// The zod schemas of secutools' answers (SPEC §5): the reference of what a valid answer is, and what
// words why one is refused. The client checks answers by hand first (checkJob, checkSubmitted in
// answers.ts) and loads this only for an answer that fails; test/lib/answer-check.test.ts holds the
// two to one verdict.
import {z} from 'zod'

import {JOB_STATUSES} from './answers.js'
import {isJobId, JOB_ID_PATTERN} from './job-id.js'

const jobId = z.string().refine((value) => isJobId(value), {
  error: (issue) => `job id ${JSON.stringify(String(issue.input).slice(0, 80))} does not match ${JOB_ID_PATTERN}`,
})
// The four fields the API may leave null are also accepted when absent: same meaning, nothing to gain by refusing.
const nullableText = z.string().nullish().transform((value) => value ?? null)

/** GET /jobs/{id}. Unknown keys (prompt, metadata…) are dropped. */
export const jobSchema = z.object({
  id: jobId,
  status: z.enum(JOB_STATUSES),
  provider: z.string().min(1),
  result: nullableText,
  error: nullableText,
  cost_usd: z.number().finite().min(0).nullish().transform((value) => value ?? null),
  created_at: z.string().min(1),
  finished_at: nullableText,
})

/** POST /jobs. */
export const submittedSchema = z.object({id: jobId, status: z.string().min(1)})

export const ANSWER_SCHEMAS = {job: jobSchema, submitted: submittedSchema} as const
