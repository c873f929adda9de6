import {readdir, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {idempotencyKey, type Marker, serializeMarker} from '../../src/lib/delegation/marker.js'
import type {FakeJob, FakeSecutools} from './fake-secutools.js'
import type {Sandbox} from './sandbox.js'
import {allEvents} from './events.js'

/** Sandbox config with delegation on, pointed at the fake. */
export async function delegationOn(sandbox: Sandbox, fake: FakeSecutools, extra: Record<string, unknown> = {}): Promise<NodeJS.ProcessEnv> {
  await sandbox.writeConfig({
    ...sandbox.config,
    delegation: {base_url: fake.url, providers: ['gpu', 'gemini', 'claude-api'], retries: 2, ...extra},
  })
  // Retries in milliseconds, not seconds (delegate's test knobs).
  return {SECUTOOLS_API_KEY: fake.apiKey, CCL_TEST_BACKOFF_BASE_MS: '1', CCL_TEST_MAX_RETRY_AFTER_MS: '5'}
}

export interface DelegatedTask {
  task: string
  jobId: string
  content: string
}

/**
 * A task as `delegate submit` leaves it: pending/NAME.md beside a `submitted` marker, and the job in
 * the fake in the given state. Written directly so tests of reap depend on reap alone.
 */
export async function delegatedTask(
  sandbox: Sandbox,
  fake: FakeSecutools,
  task: string,
  job: Partial<FakeJob> = {},
  marker: Partial<Marker> = {},
): Promise<DelegatedTask> {
  const content = `# ${task}\n\nDo the thing for ${task}.\n`
  const jobId = job.id ?? `j-${task.replace(/\.md$/, '')}`
  const submittedAt = marker.submitted_at ?? new Date(Date.now() - 60_000).toISOString()
  await writeFile(path.join(sandbox.queue, 'pending', task), content)
  const full: Marker = {
    version: 1,
    task,
    state: 'submitted',
    provider: 'gemini',
    idempotency_key: idempotencyKey(task, content),
    claimed_at: submittedAt,
    job_id: jobId,
    submitted_at: submittedAt,
    ...marker,
  }
  await writeFile(path.join(sandbox.queue, 'pending', `${task}.delegated`), serializeMarker(full))
  if (full.job_id !== null) {
    fake.jobs.set(jobId, {
      id: jobId,
      status: 'completed',
      provider: 'gemini',
      result: `result of ${task}`,
      error: null,
      cost_usd: 0.0042,
      created_at: submittedAt,
      finished_at: new Date().toISOString(),
      prompt: content,
      complexity: null,
      metadata: {task, source: 'ccl'},
      ...job,
    })
  }

  return {task, jobId, content}
}

async function names(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort()
  } catch {
    return []
  }
}

/** Every file in the queue, by folder: what "each task in exactly one place" is checked against. */
export async function queueState(sandbox: Sandbox): Promise<{pending: string[]; done: string[]; failed: string[]}> {
  return {
    pending: await names(path.join(sandbox.queue, 'pending')),
    done: await names(path.join(sandbox.queue, 'done')),
    failed: await names(path.join(sandbox.queue, 'failed')),
  }
}

export async function eventsOf(sandbox: Sandbox): Promise<Record<string, unknown>[]> {
  return allEvents(path.join(sandbox.queue, '.ccl'))
}
