import {type DelegationState, delegationState} from '../config/read.js'
import type {Config} from '../config/schema.js'
import {CclError, errorMessage, RefusedError, TaskFileError} from '../errors.js'
import {assignTask, recoverHandOffs} from '../assign/assign.js'
import {type ClientSource, submitTask} from '../delegation/submit.js'
import {exists} from '../queue/files.js'
import {ensureStateDir, MARKER_SUFFIX, queueLayout, requireQueueRoot, scanTasks, unsafeNameReason} from '../queue/layout.js'
import {readResumeHints, type Requeued, sweepFolder, TEMP_SAFE_AGE_MS} from '../queue/transitions.js'
import type {SecutoolsClient} from '../secutools/client.js'
import {decide, LOCAL_TARGET} from '../tasks/decide.js'
import {spillContext} from '../tasks/spill.js'
import {readTask} from '../tasks/task.js'
import type {Tmux} from '../tmux/tmux.js'

export type DispatchOutcome =
  /** handed to an account's session */
  | 'assigned'
  /** submitted to secutools */
  | 'submitted'
  /** local, but no account is free: waits in pending/ for the next pass */
  | 'waiting'
  /** someone else took it meanwhile (another dispatcher, a person), or it was delegated meanwhile */
  | 'skipped'
  /** could not be dispatched; it stays in pending/ (a remote one keeps its claim for `ccl reap`) */
  | 'failed'
  /** never dispatched as it is (a name a paste cannot carry, a symlink): stays in pending/ for an operator; status lists it */
  | 'held'

export interface DispatchEntry {
  task: string
  /** `claude-code` or a provider; null when the task could not be read. */
  target: string | null
  reason: string | null
  outcome: DispatchOutcome
  account?: string
  jobId?: string
  /** Why it waits, was skipped or failed. */
  detail?: string
  exitCode?: number
  warnings: string[]
}

export interface DispatchResult {
  entries: DispatchEntry[]
  counts: Record<DispatchOutcome, number>
  /** Tasks with a marker, left for `ccl reap`. */
  delegated: number
  /** Hand-offs of earlier runs that died half-way and were undone before this pass. */
  recovered: Requeued[]
  /** Tasks modified less than `dispatch.settle` ago: left for the next pass (they may still be being written). */
  settling: number
  /** Stopped early because `--max` tasks were handed off. */
  limited: boolean
  ok: boolean
}

export interface DispatchOptions {
  config: Config
  env: NodeJS.ProcessEnv
  tmux: Tmux
  /** The secutools client, made only when a task is really submitted. */
  connect: (delegation: Extract<DelegationState, {on: true}>) => Promise<SecutoolsClient>
  /** Hand off at most this many tasks (assigned + submitted). */
  max?: number
  now?: () => Date
  sleep?: (ms: number) => Promise<void>
  /** Called once per task decided, for progress lines. */
  onEntry?: (entry: DispatchEntry) => void
}

/**
 * `ccl dispatch`: one pass over pending/, oldest first. A task with a marker is already remote and is
 * skipped. Each task is routed (SPEC §4.1); remote ones are submitted (`delegate submit`), local ones
 * are assigned while an account is free (`assign`). Nothing here claims anything itself: each hand-off
 * is the claim of `submitTask` or `assignTask`, so passes may overlap without duplicating a task.
 */
export async function dispatch(options: DispatchOptions): Promise<DispatchResult> {
  const {config, env, tmux} = options
  const now = options.now ?? (() => new Date())
  const layout = queueLayout(config)
  requireQueueRoot(config)
  // Hand-off records are written under the state folder: one that cannot be made is said once, up front (exit 3).
  await ensureStateDir(layout)
  const recovered = await recoverHandOffs(config, now())
  const delegation = delegationState(config, env)
  // Once per pass, like the markers: an account limited a moment later is caught by the next pass.
  const spill = await spillContext(config, delegation, now())

  let client: Promise<SecutoolsClient> | undefined
  const clientSource: ClientSource = () => {
    if (!delegation.on) throw new RefusedError('delegation is off')
    client ??= options.connect(delegation)
    return client
  }

  const entries: DispatchEntry[] = []
  let delegated = 0
  let handed = 0
  let accountsFree = true
  let limited = false
  const add = (entry: DispatchEntry) => {
    entries.push(entry)
    if (entry.outcome === 'assigned' || entry.outcome === 'submitted') handed++
    options.onEntry?.(entry)
  }

  // Markers from one listing: a marker that appears later is caught by the claim of submit or assign.
  const listing = await scanTasks(layout.pending)
  // Claims a killed assign or submit left (their holder gone), and old temp files: dispatch owns pending/.
  if (listing.names.some((n) => n.startsWith('.ccl-'))) await sweepFolder(layout.pending, {tempAgeMs: TEMP_SAFE_AGE_MS, now: now().getTime(), layout})
  const markers = new Set(listing.names.filter((n) => n.endsWith(MARKER_SUFFIX)))
  for (const entry of listing.irregular) {
    add({task: entry.name, target: null, reason: null, outcome: 'held', detail: `${entry.what}, not a regular file: never read, moved or sent`, warnings: []})
  }

  const settleBefore = now().getTime() - config.dispatch.settle
  let settling = 0
  // Tasks another host released for a host that can resume their conversation (failover.across_hosts:
  // resume): left to reconcile until the hint's time is up, then handed out afresh like any task.
  const resumeUntil = new Map(readResumeHints(layout).map(({hint}) => [hint.task, Date.parse(hint.resume_until)]))
  for (const pending of listing.tasks) {
    if (markers.has(pending.name + MARKER_SUFFIX)) {
      delegated++
      continue
    }

    const unsafe = unsafeNameReason(pending.name)
    if (unsafe) {
      add({task: pending.name, target: null, reason: null, outcome: 'held', detail: unsafe, warnings: []})
      continue
    }

    // Maybe still being written (a producer that did not write elsewhere and mv): next pass.
    if (pending.mtimeMs > settleBefore) {
      settling++
      continue
    }

    const until = resumeUntil.get(pending.name)
    if (until !== undefined && until > now().getTime()) {
      add({task: pending.name, target: LOCAL_TARGET, reason: null, outcome: 'waiting', detail: `released by another host, left until ${new Date(until).toISOString()} for a reconcile that can resume its conversation`, warnings: []})
      continue
    }

    // Delegation off and no account free: every task left is local and must wait; no need to read it.
    if (!delegation.on && !accountsFree) {
      add({task: pending.name, target: LOCAL_TARGET, reason: null, outcome: 'waiting', detail: 'no free account', warnings: []})
      continue
    }

    if (options.max !== undefined && handed >= options.max) {
      limited = true
      break
    }

    let task
    try {
      task = await readTask(pending.path, {noFollow: true})
    } catch (error) {
      // Gone since the listing: another dispatcher or a person took it.
      if (!(await exists(pending.path))) continue
      add({task: pending.name, target: null, reason: null, outcome: 'failed', detail: errorMessage(error), exitCode: exitOf(error), warnings: []})
      continue
    }

    const decision = decide(task, delegation, spill)
    const base = {task: pending.name, target: decision.target, reason: decision.reason, warnings: decision.warnings}

    if (decision.remote && delegation.on) {
      try {
        const submitted = await submitTask({layout, delegation, spill, task: pending.path, client: clientSource, now})
        add({...base, outcome: 'submitted', jobId: submitted.jobId})
      } catch (error) {
        // Refused, or gone from pending/: delegated or taken by someone else meanwhile. Anything else
        // failed (an API error keeps the claim for reap).
        const gone = error instanceof RefusedError || (error instanceof TaskFileError && !(await exists(pending.path)))
        add({...base, outcome: gone ? 'skipped' : 'failed', detail: errorMessage(error), exitCode: exitOf(error)})
      }

      continue
    }

    if (!accountsFree) {
      add({...base, outcome: 'waiting', detail: 'no free account'})
      continue
    }

    try {
      const result = await assignTask({config, tmux, task: pending.path, now, ...(options.sleep ? {sleep: options.sleep} : {})})
      switch (result.outcome) {
        case 'assigned': {
          add({...base, outcome: 'assigned', account: result.account})
          break
        }

        case 'no-free-account': {
          accountsFree = false
          const why = Object.entries(result.accounts).map(([account, reason]) => `${account}: ${reason}`).join('; ')
          add({...base, outcome: 'waiting', detail: `no free account (${why})`})
          break
        }

        case 'lost-race': {
          add({...base, outcome: 'skipped', detail: `taken by another process${result.where ? ` (now in ${result.where})` : ''}`})
          break
        }

        case 'delegated': {
          add({...base, outcome: 'skipped', detail: 'delegated meanwhile'})
          break
        }

        case 'refused': {
          add({...base, outcome: 'held', detail: result.why})
          break
        }
      }
    } catch (error) {
      add({...base, outcome: 'failed', detail: errorMessage(error), exitCode: exitOf(error)})
    }
  }

  const counts: Record<DispatchOutcome, number> = {assigned: 0, submitted: 0, waiting: 0, skipped: 0, failed: 0, held: 0}
  for (const entry of entries) counts[entry.outcome]++
  return {entries, counts, delegated, recovered, settling, limited, ok: counts.failed === 0}
}

function exitOf(error: unknown): number {
  return error instanceof CclError ? error.exitCode : 1
}
