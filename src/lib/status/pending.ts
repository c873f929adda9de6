/*
 * Where the oldest pending tasks would go, and why each still waits, for `ccl status`: each task is
 * routed as dispatch routes it (decide, the spill rule included), and the local ones are given the
 * free accounts in the order assign tries them, each account's reason coming from the same pure
 * decision assign uses (accounts/availability.ts busyReason). Reads files only; changes nothing.
 */
import {formatDuration} from '../config/duration.js'
import type {DelegationState} from '../config/load.js'
import type {Config} from '../config/schema.js'
import {errorMessage, TaskFileError} from '../errors.js'
import {type TaskEntry, unsafeNameReason} from '../queue/layout.js'

/** How many pending tasks status details (the others are counted only). */
export const PENDING_DETAIL = 5

export interface PendingPlan {
  task: string
  /** Its mtime: how long it has waited in pending/. */
  since: string
  age_ms: number
  /** The router's target (`claude-code` or a provider); null when it was not routed (settling, unreadable). */
  target: string | null
  remote: boolean
  /** The routing rule, e.g. "rule 5: preferred_ai=gpu". */
  reason: string | null
  /** The account the next dispatch would hand it to; null when none is free or it goes remote. */
  account: string | null
  /** Why it is still in pending/, in words. */
  waits: string
}

export interface AccountCandidate {
  name: string
  /** Why it cannot take a task (busyReason), or null when it is free. */
  busy: string | null
}

/**
 * The plan for the first PENDING_DETAIL waiting tasks (oldest first, delegated ones already left
 * out). `accounts` are in the order assign tries them (headroom first when failover.headroom is on).
 */
export async function planPending(options: {
  config: Config
  waiting: readonly TaskEntry[]
  delegation: DelegationState
  accounts: readonly AccountCandidate[]
  now: Date
}): Promise<PendingPlan[]> {
  const {config, delegation, now} = options
  const candidates = options.waiting.filter((t) => !unsafeNameReason(t.name)).slice(0, PENDING_DETAIL)
  if (candidates.length === 0) return []
  const [{decide}, {readTask}, {spillContext}] = await Promise.all([import('../tasks/decide.js'), import('../tasks/task.js'), import('../tasks/spill.js')])
  const spill = await spillContext(config, delegation, now)
  const settleBefore = now.getTime() - config.dispatch.settle
  // Accounts handed a task earlier in this plan, as one dispatch pass would.
  const given = new Map<string, string>()
  const plans: PendingPlan[] = []
  for (const entry of candidates) {
    const age = Math.max(0, now.getTime() - entry.mtimeMs)
    const base = {task: entry.name, since: new Date(entry.mtimeMs).toISOString(), age_ms: age, target: null, remote: false, reason: null, account: null}
    if (entry.mtimeMs > settleBefore) {
      plans.push({...base, waits: `settling: modified ${formatDuration(age)} ago (dispatch.settle ${formatDuration(config.dispatch.settle)}); the next dispatch pass takes it`})
      continue
    }

    let decision
    try {
      decision = decide(await readTask(entry.path, {noFollow: true}), delegation, spill)
    } catch (error) {
      if (!(error instanceof TaskFileError)) throw error
      plans.push({...base, waits: `unreadable, dispatch fails it: ${errorMessage(error)}`})
      continue
    }

    const routed = {...base, target: decision.target, remote: decision.remote, reason: decision.reason}
    if (decision.remote) {
      plans.push({...routed, waits: `goes to ${decision.target}: the next ccl dispatch submits it`})
      continue
    }

    const free = options.accounts.find((a) => a.busy === null && !given.has(a.name))
    if (free) {
      given.set(free.name, entry.name)
      plans.push({...routed, account: free.name, waits: `${free.name} is free: the next ccl dispatch hands it over`})
      continue
    }

    const why = options.accounts.map((a) => `${a.name}: ${a.busy ?? `takes ${given.get(a.name)} first`}`).join('; ')
    plans.push({...routed, waits: `no free account (${why})`})
  }

  return plans
}
