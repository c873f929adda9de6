import {accountAvailability, busyReason} from '../accounts/availability.js'
import {type DelegationState, delegationState} from '../config/read.js'
import type {Config} from '../config/schema.js'
import {type MarkerEntry, scanMarkers} from '../delegation/marker.js'
import {errorMessage, ProgramNotFoundError} from '../errors.js'
import {listOwners, OWNER_STALE_MS, type OwnerEntry, ownerFresh, ownersDir} from '../fleet/owners.js'
import {currentHost} from '../queue/holder.js'
import {readRecord} from '../queue/record.js'
import {handOffPath, type HandOffRecord} from '../queue/transitions.js'
import {printable} from '../render/names.js'
import {describeOrphan, orphanedMarkers} from '../fsck/markers.js'
import {queueLayout, requireQueueRoot} from '../queue/layout.js'
import {activityOf, type AccountState, emptyAccountState, readAccountState, type Usage} from '../accounts/state.js'
import {headroomOf, rankByHeadroom, usedNow} from '../accounts/usage.js'
import {readSessionRecord, type SessionRecord} from '../sessions/record.js'
import {formatProblem, validateSymlinks} from '../symlinks/validate.js'
import {createTmux, type Tmux} from '../tmux/tmux.js'
import {countersOf} from './checkpoint.js'
import {scanFailed} from './failed.js'
import {type AccountCandidate, planPending} from './pending.js'
import {scanQueue} from './queue.js'
import {readPause} from '../accounts/pause.js'
import {type ActiveTaskStatus, attachCommand, attentionItems, type DelegatedJob, type DelegationStatus, type SessionState, type SessionStatus, type StatusReport, type UsageStatus, waitingNotes} from './report.js'
import {pendingWait, type WaitingForAccount, waitingTask} from './waiting.js'

export interface CollectOptions {
  now: Date
  /** How to ask tmux; default the configured server (`tmux.socket`). Only `sessionStates` is used. */
  tmux?: () => Promise<Pick<Tmux, 'sessionStates'>>
  env?: NodeJS.ProcessEnv
}

async function defaultTmux(config: Config, env: NodeJS.ProcessEnv): Promise<Pick<Tmux, 'sessionStates'>> {
  return createTmux({...(config.tmux.socket ? {socket: config.tmux.socket} : {}), env})
}

/** One tmux call for every session. No server running means every session is absent; tmux missing means unknown. */
async function sessionStates(config: Config, options: CollectOptions): Promise<{states: Map<string, SessionState>; error: string | null; missing: boolean}> {
  try {
    const tmux = await (options.tmux ?? (() => defaultTmux(config, options.env ?? process.env)))()
    return {states: await tmux.sessionStates(), error: null, missing: false}
  } catch (error) {
    return {states: new Map(), error: errorMessage(error), missing: error instanceof ProgramNotFoundError}
  }
}

function delegationStatus(config: Config, state: DelegationState): DelegationStatus {
  const settings = config.delegation
  return {
    on: state.on,
    configured: settings !== undefined,
    reason: state.on ? null : state.reason,
    api_key_env: settings?.api_key_env ?? null,
    base_url: settings?.base_url ?? null,
  }
}

function delegatedJob(entry: MarkerEntry, now: number, jobTimeoutMs: number | undefined): DelegatedJob {
  const since = entry.marker.submitted_at ?? entry.marker.claimed_at
  const age = Math.max(0, now - Date.parse(since))
  return {
    task: entry.task,
    provider: entry.marker.provider,
    job_id: entry.marker.job_id,
    state: entry.marker.state,
    since,
    age_ms: Number.isNaN(age) ? 0 : age,
    overdue: jobTimeoutMs !== undefined && entry.marker.state === 'submitted' && age > jobTimeoutMs,
    last_error: entry.marker.state === 'submitting' ? (entry.marker.last_error ?? null) : null,
  }
}

function usageStatus(usage: Usage, now: Date, watermark: number): UsageStatus {
  const window = (w: Usage['five_hour']) => (w ? {used_percentage: w.used_percentage, resets_at: w.resets_at, used_now: usedNow(w, now)} : null)
  const headroom = headroomOf(usage, now)
  return {five_hour: window(usage.five_hour), seven_day: window(usage.seven_day), at: usage.at, above_watermark: headroom !== null && headroom.used > watermark}
}

/**
 * Other hosts' accounts: each owner record naming another host, for an account this config does not
 * name (one it names is shown as this host's; reconcile says when another host holds it). A record of
 * this host for an account no longer in its config is nobody's now, and is left out.
 */
function otherHostsAccounts(config: Config, host: string, owners: OwnerEntry[], warnings: string[]): OwnerEntry[] {
  const mine = new Set(config.accounts.map((a) => a.name))
  return owners.filter((o) => {
    if (mine.has(o.account)) return false
    if (o.owner === null) {
      warnings.push(`${ownersDir({state: config.state})}/${o.account}.json: not an owner record (torn or foreign): account ${o.account} shown as no host's`)
      return false
    }

    return o.owner.host !== host
  })
}

/** Which host holds a task of active/<account>/: the host that runs the account, else the one whose assign handed it over. */
function activeHost(layout: ReturnType<typeof queueLayout>, account: string, sessions: readonly SessionStatus[]): string | null {
  const runner = sessions.find((s) => s.account === account)
  if (runner) return runner.host
  try {
    const found = readRecord<HandOffRecord>(handOffPath(layout, account))
    return found.kind === 'record' && typeof found.record.holder.host === 'string' ? found.record.holder.host : null
  } catch {
    return null
  }
}

/**
 * Everything `ccl status` shows, from files and one tmux call: it never calls the remote API,
 * and works with no tmux server running (sessions are then absent) or no tmux at all (unknown).
 */
export async function collectStatus(config: Config, options: CollectOptions): Promise<StatusReport> {
  const layout = queueLayout(config)
  requireQueueRoot(config)
  const now = options.now.getTime()
  const host = config.host ?? currentHost()
  const env = options.env ?? process.env
  // By status's own environment: the one cron or systemd give ccl may differ (docs/reap-status.md).
  const delegation = delegationState(config, env)
  // tmux first: its process runs while this one reads the queue (imported statically for that, so
  // the spawn is not left waiting behind the reads for a module to load).
  const asked = sessionStates(config, options)
  // The rest of the fleet (SPEC §8): every account another host's reconcile claimed in <state>/fleet/accounts/.
  const warnings: string[] = []
  const others = otherHostsAccounts(config, host, await listOwners(layout), warnings)
  const accounts = [...config.accounts.map((a) => a.name), ...others.map((o) => o.account)]
  const [tmux, queue, markers, counters, symlinks, records, failed] = await Promise.all([
    asked,
    scanQueue(layout, {accounts, staleAfterMs: config.watchdog.stale_after, settleMs: config.dispatch.settle, now: options.now}),
    scanMarkers(layout),
    countersOf(layout, options.now),
    validateSymlinks(config),
    Promise.all(
      accounts.map(async (account): Promise<{record: SessionRecord; error: string | null}> => {
        try {
          return {record: await readSessionRecord(layout, account), error: null}
        } catch (error) {
          return {record: {crashes: [], failed_at: null, created_at: null, held: false}, error: errorMessage(error)}
        }
      }),
    ),
    scanFailed(layout.failed, options.now),
  ])

  const windowStart = now - config.watchdog.crash_window
  const hookStates: AccountState[] = []
  const candidates: AccountCandidate[] = []
  const waitingForAccount: WaitingForAccount[] = []
  const rows = [
    ...config.accounts.map((account) => ({account, name: account.name, host, session: account.session as string | null, refreshedAt: null as Date | null})),
    ...others.map((o) => ({account: null, name: o.account, host: o.owner!.host, session: null, refreshedAt: o.refreshedAt})),
  ]
  const sessions: SessionStatus[] = rows.map((row, i) => {
    const {account, name} = row
    const {record} = records[i]!
    const working = queue.active.find((t) => t.account === name)
    // Another host's tmux server is not ours to ask: its owner record's age says whether that host still runs it.
    const state: SessionState = row.refreshedAt
      ? ownerFresh(row.refreshedAt, options.now)
        ? 'remote'
        : 'stale'
      : tmux.error
        ? 'unknown'
        : (tmux.states.get(row.session!) ?? 'absent')
    if (!record.held && (state === 'dead' || state === 'absent')) {
      warnings.push(`session ${row.session} of ${name} is ${state}; ccl reconcile recreates it`)
    }

    if (state === 'stale') {
      const ago = Math.max(0, Math.round((now - row.refreshedAt!.getTime()) / 60_000))
      warnings.push(
        printable(`account ${name} of host ${row.host}: its owner record was last refreshed ${ago} min ago (more than ${OWNER_STALE_MS / 60_000}): is ccl reconcile running on ${row.host}? another host whose config names ${name} may take it over`),
      )
    }

    let hooks: AccountState
    try {
      hooks = readAccountState(layout, name)
    } catch (error) {
      warnings.push(errorMessage(error))
      hooks = emptyAccountState(name)
    }

    const pause = readPause(layout, name)
    // Read-only: an expired limit shows as over here; reconcile or assign clears it and logs account.available.
    const view = activityOf({
      state: hooks,
      // What the shared state says of another host's account (its session cannot be asked here).
      alive: state === 'alive' || state === 'unknown' || state === 'remote' || state === 'stale',
      task: working?.task ?? null,
      now: options.now,
      marginMs: config.failover.margin,
      paused: pause !== null,
    })
    // Assign's own reason (no hand-off is settled and no pane read here: status changes nothing).
    const trustDialog = hooks.turn === 'waiting' && hooks.waiting?.reason === 'folder-trust'
    // Where the next tasks go is this host's to say: assign hands tasks to its own accounts only.
    if (account && state !== 'remote' && state !== 'stale') {
      hookStates.push(hooks)
      const facts = {held: record.held, createdAt: record.created_at, pause, state: hooks, working: working?.task ?? null, session: state, trustDialog}
      candidates.push({name, busy: busyReason(config, account, facts, options.now)})
    }

    const waits = waitingTask({account: name, task: working?.task ?? null, taskSince: working?.since ?? null, view, now: options.now})
    if (waits) waitingForAccount.push(waits)
    const moved = counters.failovers.by_account_24h[name]
    return {
      account: name,
      host: row.host,
      session: row.session,
      state,
      owner_refreshed_at: row.refreshedAt?.toISOString() ?? null,
      task: working?.task ?? null,
      since: working?.since ?? null,
      crashes: record.crashes.filter((at) => Date.parse(at) >= windowStart).length,
      held: record.held,
      activity: view.activity,
      limited_until: view.limited_until,
      waiting: view.activity === 'waiting' ? {why: view.why ?? 'unknown', since: view.since} : null,
      needs_login: view.activity === 'needs-login' ? {error: view.why ?? 'unknown', since: view.since} : null,
      limit: view.activity === 'limited' ? (hooks.limited?.limit ?? hooks.limited?.reason ?? null) : null,
      session_id: hooks.session_id,
      failovers_in_24h: moved?.in ?? 0,
      failovers_out_24h: moved?.out ?? 0,
      last_crash: record.last_crash ?? null,
      // Only when its status line reported one (failover.headroom): the report of a fleet without it stays as it was.
      ...(hooks.usage ? {usage: usageStatus(hooks.usage, options.now, config.failover.watermark)} : {}),
    }
  })

  // Every account limited or logged out (by the same reading as the router's spill rule): say how many pending tasks wait.
  const availability = accountAvailability(hookStates, {now: options.now, marginMs: config.failover.margin})
  const pendingWaiting =
    availability.none && queue.counts.pending > 0
      ? await pendingWait(layout, {config, delegation, accounts: availability.unavailable, next_free_at: availability.next_free_at})
      : null

  // The order assign tries the accounts in: headroom first when failover.headroom is on.
  const order = config.failover.headroom
    ? rankByHeadroom(candidates, (c) => hookStates.find((h) => h.account === c.name)?.usage ?? null, {watermark: config.failover.watermark, now: options.now}).map((r) => r.item)
    : candidates
  const next = await planPending({config, waiting: queue.waiting, delegation, accounts: order, now: options.now})
  const oldest = queue.waiting[0]

  const badMarkers = markers.problems.map((p) => p.message)
  // A marker whose task is gone is no active job: nothing will ever finish it (ccl fsck --repair sets it aside).
  const orphans = orphanedMarkers(layout, markers.markers, queue.pendingNames)
  const orphanPaths = new Set(orphans.map((o) => o.path))
  const active = queue.active.map((t): ActiveTaskStatus => ({...t, host: activeHost(layout, t.account, sessions)}))
  const stale = active.filter((t) => t.stale)
  const facts = {
    generated_at: options.now.toISOString(),
    host,
    warnings,
    sessions,
    tmux: {socket: config.tmux.socket ?? null, attach: attachCommand(config.tmux.socket ?? null, 'SESSION'), error: tmux.error, missing: tmux.missing},
    delegation: delegationStatus(config, delegation),
    queue: {
      ...queue.counts,
      delegated: Math.max(0, queue.counts.delegated - orphans.length),
      oldest_pending: oldest ? {task: oldest.name, since: new Date(oldest.mtimeMs).toISOString(), age_ms: Math.max(0, now - oldest.mtimeMs)} : null,
      next,
    },
    active,
    held: queue.held,
    stale,
    stale_after_ms: config.watchdog.stale_after,
    waiting_after_ms: config.watchdog.waiting_after,
    // Longest waiting first: that is the job an operator asks about.
    delegated: markers.markers.filter((m) => !orphanPaths.has(m.path)).map((m) => delegatedJob(m, now, config.delegation?.job_timeout)).sort((a, b) => b.age_ms - a.age_ms),
    counters,
    symlinks: {valid: symlinks.valid, checked: symlinks.checked, problems: symlinks.problems.map((p) => formatProblem(p))},
    badMarkers,
    orphanedMarkers: orphans.map((o) => ({task: o.task, message: describeOrphan(o)})),
    badRecords: records.flatMap(({error}) => (error ? [error] : [])),
    failed,
    waiting_for_account: waitingForAccount,
    pending_waiting: pendingWaiting,
  }
  const attention = attentionItems(facts)
  const problems = attention.map((item) => item.message)
  warnings.unshift(...waitingNotes({...facts, problems}))
  const {badMarkers: _markers, orphanedMarkers: _orphans, badRecords: _records, failed: _failed, ...rest} = facts
  return {...rest, attention, problems, needs_operator: attention.length > 0}
}
