import path from 'node:path'

import {BugError} from '../errors.js'
import {appendEvent, type EventName} from '../events/log.js'
import {eventLogs} from '../events/logs.js'
import {readLogChunks} from '../events/stream.js'
import type {QueueLayout} from '../queue/layout.js'
import {type FinishStep, finishDelegated} from '../queue/transitions.js'
import {appendFooter, type FooterData, type FooterStatus, type FooterText, parseFooter} from './footer.js'
import {isDelegatedContent, type Marker} from './marker.js'

/*
 * Finishing a delegated job: the queue core's finishDelegated moves the task to done/ or failed/
 * with its footer, crash-safe and journaled (see transitions.ts); this file supplies the footer and
 * the outcome event. On the recovery path the event is appended only when no event log (ccl's own
 * journal: any host's, or the legacy one) has an outcome line for that job id yet.
 */

export type {FinishStep} from '../queue/transitions.js'

export const FINISH_STEPS: readonly FinishStep[] = ['prepared', 'linked', 'logged', 'task-removed', 'marker-removed']

const OUTCOME_EVENTS: Record<FooterStatus, EventName> = {
  completed: 'delegation.completed',
  failed: 'delegation.failed',
  cancelled: 'delegation.failed',
  timed_out: 'delegation.timed_out',
}

/**
 * Whether an event log already has an outcome line for this job (only read on the recovery path):
 * any host's live log or the legacy one, since the run that was killed may have been another host's.
 * A claim cancelled before it had a job id (`job_id` "") is told apart by where its task went.
 */
export async function outcomeLogged(layout: Parameters<typeof eventLogs>[0], jobId: string, destination?: string): Promise<boolean> {
  for (const log of await eventLogs(layout)) if (await outcomeIn(log.live, jobId, destination)) return true
  return false
}

async function outcomeIn(eventsFile: string, jobId: string, destination?: string): Promise<boolean> {
  // Streamed by whole lines: the log grows without bound, and a log too big to hold in one string
  // must not keep a killed reap from ever finishing (its task would stay in pending/ and done/).
  const needle = Buffer.from(`"job_id":${JSON.stringify(jobId)}`)
  for await (const chunk of readLogChunks(eventsFile)) {
    for (let at = chunk.indexOf(needle); at !== -1; at = chunk.indexOf(needle, at + needle.length)) {
      const start = chunk.lastIndexOf(0x0a, at) + 1
      const stop = chunk.indexOf(0x0a, at)
      const line = chunk.toString('utf8', start, stop === -1 ? undefined : stop)
      if (jobId === '' && (destination === undefined || !line.includes(`"destination":${JSON.stringify(destination)}`))) continue
      if (Object.values(OUTCOME_EVENTS).some((event) => line.includes(`"event":"${event}"`))) return true
    }
  }

  return false
}

function outcomeFields(footer: FooterData, destination: string, layout: QueueLayout) {
  const start = footer.submitted_at ? Date.parse(footer.submitted_at) : Number.NaN
  const end = Date.parse(footer.finished_at ?? footer.reaped_at)
  return {
    task: footer.task,
    job_id: footer.job_id,
    provider: footer.provider,
    status: footer.status,
    cost_usd: footer.cost_usd,
    duration_ms: Number.isNaN(start) || Number.isNaN(end) ? null : Math.max(0, end - start),
    destination: path.relative(layout.root, destination),
    ...(footer.by ? {by: footer.by} : {}),
  }
}

export interface FinishRequest {
  task: string
  marker: Marker
  /** What to write; absent when only completing a finish an earlier run journaled (its journal holds the text). */
  outcome?: {footer: FooterData; text: FooterText}
}

export type FinishResult =
  | {kind: 'finished'; destination: string; status: FooterStatus; recovered: boolean}
  /** The task left pending/ without reap and no result of this claim was prepared: the marker is left for an operator. */
  | {kind: 'orphan'; message: string}
  /** Another process holds the task's claim: left for the next reap. */
  | {kind: 'busy'; message: string}

export interface FinishOptions {
  now: Date
  /** Told after each step (tests). */
  onStep?: (step: FinishStep) => void
}

/** Moves a finished job's task to done/ or failed/ with its footer; safe to repeat after a crash at any step. */
export async function finishJob(layout: QueueLayout, request: FinishRequest, options: FinishOptions): Promise<FinishResult> {
  const {outcome} = request
  let logged: FooterData | undefined = outcome?.footer
  const result = await finishDelegated(
    layout,
    {
      name: request.task,
      key: request.marker.idempotency_key,
      isDelegatedContent: (content) => isDelegatedContent(request.marker, content),
      dir: outcome?.footer.status === 'completed' ? 'done' : 'failed',
      render(content) {
        if (!outcome) throw new BugError(`${request.task}: asked to complete a finish that no earlier run journaled`)
        return appendFooter(content, outcome.footer, outcome.text)
      },
      async log(destination, prepared, recovered) {
        // On recovery the prepared file (ccl's journal, written before any link; every server field in
        // it defused) says what was decided.
        const footer = recovered ? parseFooter(prepared) : outcome?.footer
        if (!footer) throw new BugError(`${destination}: the journaled result carries no footer`)
        logged = footer
        if (recovered && (await outcomeLogged(layout, footer.job_id, path.relative(layout.root, destination)))) return
        await appendEvent(layout.events, OUTCOME_EVENTS[footer.status], outcomeFields(footer, destination, layout), options.now)
      },
    },
    options.onStep,
  )
  if (result.kind === 'orphan') return result
  if (result.kind === 'busy') return {kind: 'busy', message: `${request.task}: claimed by ${result.by}; left for the next reap`}
  if (!logged) throw new BugError(`${request.task}: finished without an outcome`)
  return {kind: 'finished', destination: result.destination, status: logged.status, recovered: result.recovered}
}
