import {randomBytes} from 'node:crypto'
import {realpath} from 'node:fs/promises'
import path from 'node:path'

import type {DelegationState} from '../config/load.js'
import {ApiError, EXIT_CODES, RefusedError, TaskFileError, UserError} from '../errors.js'
import {appendEvent} from '../events/log.js'
import {failpoint} from '../failpoints.js'
import {exists} from '../queue/files.js'
import {isTaskName, markerPath, type QueueLayout} from '../queue/layout.js'
import {claimForDelegation, rewriteMarker, whereIs} from '../queue/transitions.js'
import type {SecutoolsClient, SubmitRequest} from '../secutools/client.js'
import {decide} from '../tasks/decide.js'
import {SPILL_NOT_ASKED, type SpillContext} from '../tasks/spill.js'
import {loadYaml, readTask, type Task, taskFromBytes} from '../tasks/task.js'
import {contentHash, idempotencyKey, type Marker, readMarkerIfExists, serializeMarker} from './marker.js'

type DelegationOn = Extract<DelegationState, {on: true}>

/** The client, or a way to make one: a refused task never pays for loading got. */
export type ClientSource = SecutoolsClient | (() => Promise<SecutoolsClient>)

async function clientOf(source: ClientSource): Promise<SecutoolsClient> {
  return typeof source === 'function' ? source() : source
}

export interface SubmitOptions {
  layout: QueueLayout
  delegation: DelegationOn
  /** A path to the task, or the bare name of a task in pending/. */
  task: string
  client: ClientSource
  /** Delegate even a task the router keeps local. */
  force?: boolean
  /**
   * Whether the router's spill rule applies now (every account limited or needing login), so a task
   * it lets go remote is not refused. Without it the router decides by rules 1–8 alone.
   */
  spill?: SpillContext
  /** Use this provider instead of the router's choice (must be in `delegation.providers`). */
  provider?: string
  cwd?: string
  now?: () => Date
}

export interface SubmitResult {
  task: string
  jobId: string
  provider: string
  /** True when this run finished a claim an earlier run had left in state `submitting`. */
  resubmitted: boolean
}

/** The task is already delegated; carries the marker so the caller can print the existing job id. */
export class AlreadyDelegatedError extends RefusedError {
  readonly marker: Marker

  constructor(file: string, marker: Marker) {
    super(
      marker.job_id
        ? `${marker.task} is already delegated: job ${marker.job_id} (${marker.provider}), marker ${file}`
        : `${marker.task} is already being delegated (claimed ${marker.claimed_at}, no job id yet), marker ${file}`,
      marker.job_id ? {} : {hint: 'ccl reap finishes a claim left in state "submitting", with the same idempotency key'},
    )
    this.marker = marker
  }
}

/**
 * `ccl delegate submit` (SPEC §3.2, §4): claim the task with an O_EXCL-style marker in state
 * `submitting`, POST it with the marker's idempotency key, then rewrite the marker as `submitted`.
 * A crash after the claim leaves a `submitting` marker, which `resubmit` finishes with the same key,
 * so the platform answers with the same job and the task is never submitted twice.
 */
export async function submitTask(options: SubmitOptions): Promise<SubmitResult> {
  const now = options.now ?? (() => new Date())
  const file = await pendingTaskPath(options.layout, options.task, options.cwd ?? process.cwd())
  const name = path.basename(file)
  const marker = markerPath(options.layout, name)
  // The task is parsed under the claim, synchronously (taskFromBytes): its YAML parser must be there first.
  await loadYaml()

  // The queue core claims the task; the router's decision and the marker are made under that claim.
  const claimed = await claimForDelegation(options.layout, {
    name,
    build: (content): {marker: Marker; task: Task} => {
      const task = taskFromBytes(file, content)
      const provider = chooseProvider(task, options)
      return {
        task,
        marker: {
          version: 1,
          task: name,
          state: 'submitting',
          provider,
          idempotency_key: idempotencyKey(name, content, randomBytes(16).toString('hex')),
          claimed_at: now().toISOString(),
          job_id: null,
          submitted_at: null,
          complexity: task.fields.complexity_hint ?? null,
          task_sha256: contentHash(content),
        },
      }
    },
    serialize: ({marker}) => serializeMarker(marker),
  })
  switch (claimed.kind) {
    case 'claimed': {
      break
    }

    case 'delegated': {
      const existing = await readMarkerIfExists(marker)
      if (existing) throw new AlreadyDelegatedError(marker, existing)
      throw new RefusedError(`${name}: lost the race to delegate it (its marker came and went); try again`)
    }

    case 'gone': {
      throw new RefusedError(`${name}: left pending/ while it was being claimed (assigned or finished elsewhere); not delegated`)
    }

    case 'claimed-by-other': {
      throw new RefusedError(`${name}: claimed by ${claimed.by} right now; not delegated`)
    }

    case 'refused': {
      throw new RefusedError(`${name}: not delegated: ${claimed.why}`)
    }
  }

  const {marker: claim, task} = claimed.marker
  await appendEvent(options.layout.events, 'delegation.claimed', {task: name, provider: claim.provider, idempotency_key: claim.idempotency_key}, now())
  failpoint('submit.after-claim')
  return send(options.layout, marker, claim, task.body, await clientOf(options.client), now, false)
}

export interface ResubmitOptions {
  layout: QueueLayout
  /** The task's name in pending/ (its marker is pending/NAME.delegated). */
  task: string
  client: ClientSource
  now?: () => Date
}

/**
 * Finishes a claim left in state `submitting` (a crash, or retries that ran out): POSTs again with the
 * marker's idempotency key and provider, so the platform answers with the job it may already have made,
 * then marks the marker `submitted`. Used by `ccl reap`. A marker already `submitted` is returned as is.
 * Throws ApiError when the platform still fails (the marker stays `submitting` for the next try) and
 * TaskFileError when the marker or the task is gone or broken.
 */
export async function resubmit(options: ResubmitOptions): Promise<SubmitResult> {
  const now = options.now ?? (() => new Date())
  const marker = markerPath(options.layout, options.task)
  const claim = await readMarkerIfExists(marker)
  if (!claim) throw new TaskFileError(`${marker}: delegation marker not found`)
  if (claim.state === 'submitted' && claim.job_id) {
    return {task: claim.task, jobId: claim.job_id, provider: claim.provider, resubmitted: false}
  }

  const task = await readTask(path.join(options.layout.pending, options.task), {noFollow: true})
  return send(options.layout, marker, claim, task.body, await clientOf(options.client), now, true)
}

async function send(
  layout: QueueLayout,
  marker: string,
  claim: Marker,
  prompt: string,
  client: SecutoolsClient,
  now: () => Date,
  resubmitted: boolean,
): Promise<SubmitResult> {
  const request: SubmitRequest = {
    provider: claim.provider,
    prompt,
    ...(claim.complexity ? {complexity: claim.complexity} : {}),
    metadata: {task: claim.task, source: 'ccl'},
  }
  let answer
  try {
    answer = await client.submitJob(request, claim.idempotency_key)
  } catch (error) {
    // The marker stays `submitting`: the claim is kept, and reap retries with the same key.
    if (error instanceof ApiError) {
      await recordSubmitError(layout, marker, claim, error, now)
      throw new ApiError(error.kind, `${claim.task}: ${error.message}`, {
        ...(error.status === undefined ? {} : {status: error.status}),
        cause: error,
        hint: `${error.hint ? error.hint + '; ' : ''}the claim is kept (${path.basename(marker)} stays "submitting"): ccl reap resubmits it with the same idempotency key`,
      })
    }

    throw error
  }

  failpoint('submit.after-post')

  const {last_error: _failedBefore, ...accepted} = claim
  const submitted: Marker = {...accepted, state: 'submitted', job_id: answer.id, submitted_at: now().toISOString()}
  // Rewrite only the claim we made, under the task's claim: a marker removed or replaced meanwhile (the
  // task finished or was cancelled) is not recreated. Left "submitting" when the claim stays busy:
  // reap resubmits with the same key and gets this job.
  await rewriteMarker(layout, claim.task, async () => {
    const current = await readMarkerIfExists(marker)
    return current?.idempotency_key === claim.idempotency_key && current.state === 'submitting' ? serializeMarker(submitted) : undefined
  })
  await appendEvent(layout.events, 'delegation.submitted', {task: claim.task, provider: claim.provider, job_id: answer.id, resubmitted}, now())
  return {task: claim.task, jobId: answer.id, provider: claim.provider, resubmitted}
}

/** Longest error text kept in a marker: the first part says what failed; a server's long body is not worth more. */
const MAX_MARKER_ERROR = 500

/**
 * Writes the failed submit into the claim's marker (`last_error`), so `ccl status` can say why a
 * claim is stuck in `submitting`. Only our claim, still `submitting`, is rewritten (as for the
 * `submitted` rewrite below); a marker that cannot be written leaves the API error to be reported.
 * The message never holds the key: the client keeps it out of every error.
 */
async function recordSubmitError(layout: QueueLayout, marker: string, claim: Marker, error: ApiError, now: () => Date): Promise<void> {
  // A malformed answer's values (a hostile job id) never enter the marker, even as text: that it was malformed is what counts.
  const text = error.kind === 'malformed' ? `secutools answered with something malformed${error.status === undefined ? '' : ` (HTTP ${error.status})`}` : error.message
  const message = text.length > MAX_MARKER_ERROR ? text.slice(0, MAX_MARKER_ERROR - 1) + '…' : text
  try {
    await rewriteMarker(layout, claim.task, async () => {
      let current: Marker | undefined
      try {
        current = await readMarkerIfExists(marker)
      } catch (readError) {
        if (readError instanceof TaskFileError) return undefined // broken meanwhile: reap reports the marker itself
        throw readError
      }

      if (current?.idempotency_key !== claim.idempotency_key || current.state !== 'submitting') return undefined
      return serializeMarker({...current, last_error: {at: now().toISOString(), message}})
    })
  } catch (writeError) {
    if (typeof (writeError as NodeJS.ErrnoException).code !== 'string') throw writeError
  }
}

/** The provider a task goes to: --provider, else the router's target; a local task needs --force. */
function chooseProvider(task: Task, options: SubmitOptions): string {
  const {settings} = options.delegation
  if (options.provider !== undefined && !settings.providers.includes(options.provider)) {
    throw new UserError(`--provider ${options.provider}: not in delegation.providers [${settings.providers.join(', ')}]`, EXIT_CODES.taskFile)
  }

  const decision = decide(task, options.delegation, options.spill ?? SPILL_NOT_ASKED)
  if (!decision.remote && !options.force) {
    // A bad frontmatter field makes the router fail safe (rule 3): say which field, not just the rule.
    const why = decision.warnings.length > 0 ? `${decision.warnings.join('; ')}; ` : ''
    throw new RefusedError(`${task.name}: the router keeps it local (${decision.reason}); not delegated`, {
      hint: `${why}pass --force to delegate it anyway`,
    })
  }

  if (options.provider !== undefined) return options.provider
  if (decision.remote) return decision.target
  const hint = task.fields.complexity_hint
  return hint ? settings.complexity_map[hint] : settings.default_provider
}

/**
 * The task's path, which must be a file directly in pending/: a delegated task waits there beside its
 * marker (SPEC §3). A bare name that is not a file in the current folder means pending/NAME.
 */
async function pendingTaskPath(layout: QueueLayout, task: string, cwd: string): Promise<string> {
  let file = path.resolve(cwd, task)
  if (!task.includes('/') && !(await exists(file))) file = path.join(layout.pending, task)
  const name = path.basename(file)
  if (!isTaskName(name)) {
    throw new TaskFileError(`${task}: not a task file name (must end in .md, without a leading dot)`)
  }

  let dir: string
  let pending: string
  try {
    ;[dir, pending] = await Promise.all([realpath(path.dirname(file)), realpath(layout.pending)])
  } catch {
    throw new TaskFileError(`${task}: task file not found`)
  }

  if (dir !== pending) {
    throw new TaskFileError(`${task}: not in the queue's pending folder ${layout.pending}; only pending tasks can be delegated`)
  }

  if (!(await exists(file))) {
    // Taken by another process first (assigned, finished): a lost race, not a missing file.
    const where = whereIs(layout, name)
    if (where) throw new RefusedError(`${name}: taken by another process first (now in ${where}); not delegated`)
    throw new TaskFileError(`${task}: task file not found in ${layout.pending}`)
  }

  return path.join(layout.pending, name)
}
