// The zod schema of a delegation marker (SPEC §3.2): the reference of what a valid marker is, and
// what words why one is refused. Readers check markers by hand first (checkMarker in marker.ts) and
// load this only for a marker that fails; test/lib/marker-check.test.ts holds the two to one verdict.
import {z} from 'zod'

import {isTaskName} from '../queue/layout.js'
import {isJobId, JOB_ID_PATTERN} from '../secutools/job-id.js'
import type {Marker} from './marker.js'

/** The delegation marker `pending/NAME.md.delegated` (SPEC §3.2). Unknown keys are ignored, for later versions. */
export const markerSchema = z
  .object({
    version: z.literal(1),
    task: z.string().refine((value) => isTaskName(value), {error: 'expected a task file name ending in .md'}),
    state: z.enum(['submitting', 'submitted']),
    provider: z.string().min(1),
    idempotency_key: z.string().regex(/^[0-9a-f]{64}$/, {error: 'expected a sha256 hex digest'}),
    claimed_at: z.string().min(1),
    job_id: z
      .string()
      .refine((value) => isJobId(value), {error: `expected a job id matching ${JOB_ID_PATTERN}`})
      .nullable(),
    submitted_at: z.string().nullable(),
    complexity: z.string().nullish(),
    /** sha256 of the task's content when it was claimed: tells the delegated task from a new one of the same name. */
    task_sha256: z.string().regex(/^[0-9a-f]{64}$/, {error: 'expected a sha256 hex digest'}).nullish(),
    /** While `submitting`: the last failed submit of this claim (when, and the error without the key); `ccl status` shows it. */
    last_error: z.object({at: z.string(), message: z.string()}).nullish(),
  })
  .refine((marker) => marker.state === 'submitting' || marker.job_id !== null, {
    error: 'a submitted marker needs a job_id',
    path: ['job_id'],
  })


// The hand-written Marker and the schema's output are one type (a compile error otherwise).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
export const markerTypesAgree: Same<z.infer<typeof markerSchema>, Marker> = true
