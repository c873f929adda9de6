import path from 'node:path'

import type {Account, Config} from '../config/schema.js'
import {ExternalError, UserError, EXIT_CODES, errorMessage} from '../errors.js'
import {appendEvent} from '../events/log.js'
import {failpoint} from '../failpoints.js'
import {activeDir, ensureLayout, ensureStateDir, listTasks, type QueueLayout, queueLayout} from '../queue/layout.js'
import {describeLockHolder, tryLockOrHolder} from '../queue/lock.js'
import {failoverDir, handOffDir, requeueActive, settleHandOff, sweepFolder, TEMP_SAFE_AGE_MS} from '../queue/transitions.js'
import {sweepTemps} from '../queue/files.js'
import {claimAccount, ownedElsewhereMessage, ownersDir} from '../fleet/owners.js'
import {failoverDue, type FailoverOutcome, failoverNeeds, runFailovers} from '../failover/failover.js'
import {accountsDir, clearExpiredLimit, hooksActive, limitedUntil, readAccountState, updateAccountState} from '../accounts/state.js'
import {scanPane, scanPaneForTrustDialog} from '../claude/banners.js'
import {formatProblem, validateSymlinks} from '../symlinks/validate.js'
import type {DeadPane, SessionState, Tmux} from '../tmux/tmux.js'
import {describeCrash, type LastCrash, lastCrash} from './crash.js'
import {emptyRecord, readSessionRecord, type SessionRecord, writeSessionRecord} from './record.js'
import {startSession} from './start.js'

export type {Requeued as RequeuedTask} from '../queue/transitions.js'
import type {Requeued as RequeuedTask} from '../queue/transitions.js'

export interface AccountOutcome {
  account: string
  session: string
  /** What this pass found; null when it could not look (an error before the lookup). */
  found: SessionState | null
  /** A crash was recorded: ccl had created this session and it is dead or gone. */
  crashRecorded: boolean
  /** Crashes within `crash_window`, this one included. */
  crashesInWindow: number
  /** A dead pane (remain-on-exit) was killed before the session was recreated. */
  killedDead: boolean
  requeued: RequeuedTask[]
  created: boolean
  /** On hold after this pass (not recreated). */
  held: boolean
  /** Put on hold by this pass. */
  heldNow: boolean
  /** Why it died: the crash this pass recorded, or a held account's last one; null otherwise. */
  lastCrash: LastCrash | null
  /** What this pass learnt about a live session (a limit over, a banner read from its pane, its task done). */
  observed: string[]
  /** What could not be done, or null. */
  error: string | null
}

export interface AccountJob {
  account: string
  session: string
  /** Does (or under dry-run, plans) the account's work; never throws: a failure is `outcome.error`. */
  run(progress: (line: string) => void): Promise<AccountOutcome>
}

/** Runs the per-account jobs in order; the command supplies one that shows progress (listr2 or plain lines). */
export type AccountRunner = (jobs: AccountJob[]) => Promise<AccountOutcome[]>

export interface ReconcileOptions {
  config: Config
  tmux: Tmux
  /** The instant of this pass: crash times and the crash window are measured from it. */
  now: Date
  dryRun?: boolean
  /** Clear this account's hold and crash record before the pass. */
  release?: string
  /** When the machine booted: a session created before that died with the machine, which is not a crash. */
  bootTime?: Date
  runAccounts?: AccountRunner
  /** Lines saying what the failovers do, as they do it. */
  progress?: (line: string) => void
}

export interface ReconcileResult {
  dryRun: boolean
  /** Why the pass did nothing at all (another reconcile holds the lock), or null. */
  skipped: string | null
  symlinks: {valid: boolean; problems: string[]}
  released: string | null
  accounts: AccountOutcome[]
  /** Failovers this pass made, carried on, or could not make (no free account). */
  failovers: FailoverOutcome[]
  /** Things that are not wrong now but defeat a feature (accounts whose cwds differ: no resume between them). */
  warnings: string[]
  /** Nothing left that needs an operator: links valid, no account failed or held. */
  ok: boolean
}

const sequential: AccountRunner = async (jobs) => {
  const outcomes: AccountOutcome[] = []
  for (const job of jobs) outcomes.push(await job.run(() => {}))
  return outcomes
}

/**
 * One pass of the lifecycle manager (SPEC §4 `ccl reconcile`). Validates the symlinks first and
 * refuses the whole pass when they are invalid; then for each account: alive → nothing; dead or
 * gone → count a crash if ccl created it, requeue its active task, recreate it, or hold it when it
 * crashed more than `crash_limit` times within `crash_window`.
 * Runs under the `reconcile` lock, so two overlapping passes never create the same session twice.
 */
export async function reconcile(options: ReconcileOptions): Promise<ReconcileResult> {
  const {config, tmux, now} = options
  const dryRun = Boolean(options.dryRun)
  const layout = queueLayout(config)
  const release = options.release ?? null
  if (release !== null && !config.accounts.some((a) => a.name === release)) {
    throw new UserError(`--release ${release}: no such account in ${config.file}`, EXIT_CODES.taskFile, {
      hint: `accounts: ${config.accounts.map((a) => a.name).join(', ')}`,
    })
  }

  const result: ReconcileResult = {dryRun, skipped: null, symlinks: {valid: true, problems: []}, released: null, accounts: [], failovers: [], warnings: cwdWarnings(config), ok: true}

  const report = await validateSymlinks(config)
  result.symlinks = {valid: report.valid, problems: report.problems.map((p) => formatProblem(p))}
  if (!report.valid) {
    if (!dryRun) await ensureStateDir(layout)
    if (!dryRun) await appendEvent(layout.events, 'symlinks.invalid', {problems: result.symlinks.problems}, now)
    result.ok = false
    return result
  }

  const jobsFor = (states: Map<string, SessionState>, inFailover: ReadonlySet<string> = new Set(), screens: ReadonlyMap<string, string> | null = null) =>
    config.accounts.map((account) => ({
      account: account.name,
      session: account.session,
      run: (progress: (line: string) => void) =>
        reconcileAccount({
          ...options,
          layout,
          account,
          dryRun,
          released: release === account.name,
          found: states.get(account.session) ?? 'absent',
          inFailover: inFailover.has(account.name),
          screen: screens?.get(account.session) ?? null,
          progress,
        }),
    }))

  // The pass the timer pays for every 15 s: every session alive, no failover to make, nothing to
  // write, so no lock and no mkdir; the lookup is read-only and an alive account's job only reads its record.
  // One tmux call: the listing and every screen (read for a limit banner when an account has no hooks).
  if (!dryRun && release === null) {
    const {states, screens} = await tmux.statesAndScreens(config.accounts.map((a) => a.session))
    if (config.accounts.every((account) => states.get(account.session) === 'alive') && !failoverDue(config, layout, now)) {
      await sweepState(layout, config.accounts.map((a) => a.name), now)
      result.accounts = await (options.runAccounts ?? sequential)(jobsFor(states, new Set(), screens))
      result.ok = result.accounts.every((a) => a.error === null && !a.held)
      return result
    }
  }

  if (!dryRun) await ensureLayout(layout, config.accounts.map((a) => a.name))
  // Dry-run changes nothing, so it needs no lock; a real pass that finds the lock taken leaves it to the holder.
  // A killed holder on this host is taken over at once; another host's once not refreshed for 10 s.
  const attempt = dryRun ? undefined : await tryLockOrHolder(layout.locks, 'reconcile', {staleMs: 10_000})
  const lock = attempt?.lock
  if (attempt && !lock) {
    result.skipped = `another reconcile is running (${describeLockHolder(attempt.holder)})`
    return result
  }

  try {
    // One tmux call for every account's state, under the lock; it also fails once, clearly, when tmux is missing.
    let states = await tmux.sessionStates()
    if (lock) failpoint('reconcile.after-lock')
    if (!dryRun) await sweepState(layout, config.accounts.map((a) => a.name), now)

    if (release !== null) {
      if (!dryRun) {
        await writeSessionRecord(layout, release, emptyRecord())
        await appendEvent(layout.events, 'session.released', {account: release}, now)
      }

      result.released = release
    }

    // Failovers first (a journal a killed pass left, then new ones): they restart sessions, so the
    // sessions are looked at again after; accounts a failover still holds are left to it.
    let inFailover = new Set<string>()
    if (dryRun) {
      result.failovers = failoverNeeds(config, layout, now).map((need) => ({
        task: need.task,
        from: need.from.name,
        to: null,
        mode: null,
        result: 'waiting' as const,
        detail: `would fail over (${need.from.name} ${need.why})`,
      }))
    } else {
      const ran = await runFailovers({config, layout, tmux, now: () => new Date(), progress: options.progress})
      result.failovers = ran.outcomes
      inFailover = ran.busy
      if (ran.outcomes.some((o) => o.result !== 'waiting')) states = await tmux.sessionStates()
    }

    result.accounts = await (options.runAccounts ?? sequential)(jobsFor(states, inFailover))
  } finally {
    await lock?.release()
  }

  result.ok = result.accounts.every((a) => a.error === null && !a.held)
  return result
}

interface AccountContext extends ReconcileOptions {
  layout: QueueLayout
  account: Account
  dryRun: boolean
  /** Released in this pass: under dry-run the record on disk still shows the hold. */
  released: boolean
  /** The session's state when this pass looked. */
  found: SessionState
  /** A failover still under way holds this account: its session and task are left to it. */
  inFailover: boolean
  /** Its screen, captured with the listing (statesAndScreens); null: capture it when needed. */
  screen: string | null
  progress: (line: string) => void
}

async function reconcileAccount(ctx: AccountContext): Promise<AccountOutcome> {
  const {account, layout, tmux, now, dryRun} = ctx
  const progress = (line: string) => ctx.progress(dryRun ? `(dry run, not done) ${line}` : line)
  const limit = ctx.config.watchdog.crash_limit
  const windowMs = ctx.config.watchdog.crash_window
  const outcome: AccountOutcome = {
    account: account.name,
    session: account.session,
    found: null,
    crashRecorded: false,
    crashesInWindow: 0,
    killedDead: false,
    requeued: [],
    created: false,
    held: false,
    heldNow: false,
    lastCrash: null,
    observed: [],
    error: null,
  }
  const event = (name: Parameters<typeof appendEvent>[1], fields: Record<string, unknown> = {}) =>
    dryRun ? Promise.resolve() : appendEvent(layout.events, name, {account: account.name, session: account.session, ...fields}, now)

  try {
    // Account names are unique in the fleet (SPEC §8): one another host runs is not started here.
    const elsewhere = await claimAccount(layout, account.name, now, {dryRun})
    if (elsewhere) {
      outcome.error = ownedElsewhereMessage(account.name, elsewhere, now)
      return outcome
    }

    const stored = ctx.released ? emptyRecord() : await readSessionRecord(layout, account.name)
    const since = now.getTime() - windowMs
    const recent = stored.crashes.filter((ts) => Date.parse(ts) > since)
    outcome.crashesInWindow = recent.length
    outcome.found = ctx.found

    if (ctx.inFailover && outcome.found !== 'alive') {
      outcome.observed = ['a failover is under way: left to it']
      return outcome
    }

    if (outcome.found === 'alive') {
      outcome.held = stored.held
      if (stored.held) outcome.lastCrash = stored.last_crash ?? null
      if (!dryRun) outcome.observed = await observeAlive(ctx, stored.created_at, progress)
      return outcome
    }

    progress(`session ${account.session} ${outcome.found}`)
    let record: SessionRecord = {...stored, crashes: recent}
    const diedWithMachine = ctx.bootTime !== undefined && stored.created_at !== null && Date.parse(stored.created_at) < ctx.bootTime.getTime()
    if (stored.created_at !== null && !stored.held && !diedWithMachine) {
      outcome.crashRecorded = true
      outcome.crashesInWindow = recent.length + 1
      const heldNow = outcome.crashesInWindow > limit
      // Read before the dead pane is killed: its last lines and exit status are all that says why.
      const crash = lastCrash(now, ctx.found === 'dead' ? 'dead' : 'absent', ctx.found === 'dead' ? await readDeadPane(tmux, account.session) : null)
      outcome.lastCrash = crash
      record = {crashes: [...recent, now.toISOString()], failed_at: now.toISOString(), created_at: null, held: heldNow, last_crash: crash}
      outcome.heldNow = heldNow
      if (!dryRun) await writeSessionRecord(layout, account.name, record)
      await event('session.crashed', {
        state: outcome.found,
        crashes_in_window: outcome.crashesInWindow,
        crash_window_ms: windowMs,
        exit_status: crash.exit_status,
        signal: crash.signal,
        last_lines: crash.last_lines,
      })
      progress(`crash recorded (${outcome.crashesInWindow} within the crash window, limit ${limit}): ${describeCrash(crash)}`)
      if (heldNow) {
        await event('session.held', {crashes_in_window: outcome.crashesInWindow, crash_limit: limit, last_crash: describeCrash(crash)})
        progress(`held: over the crash limit; release with: ccl reconcile --release ${account.name}`)
      }
    } else if (stored.created_at !== null && diedWithMachine) {
      // Gone because the machine restarted since ccl created it: nothing crashed.
      record = {...record, created_at: null}
      if (!dryRun) await writeSessionRecord(layout, account.name, record)
      progress('created before the last boot: not counted as a crash')
    }

    outcome.held = record.held
    if (record.held) outcome.lastCrash ??= record.last_crash ?? null
    // A held account keeps its dead pane for the operator to read; any other dead pane goes, or tmux
    // would refuse the name and assign could paste into a corpse.
    let killFailed: unknown
    if (outcome.found === 'dead' && !record.held) {
      try {
        if (!dryRun) await tmux.killSession(account.session)
        outcome.killedDead = true
      } catch (error) {
        killFailed = error // the task still goes back to pending/ below; the session is not recreated
      }
    }

    // The queue core appends task.requeued for each, with the place in line kept from the hand-off record.
    outcome.requeued = await requeueActive(layout, account.name, {reason: `session ${outcome.found}`, now, dryRun})
    for (const task of outcome.requeued) {
      progress(
        task.renamed
          ? `requeued ${task.task} as pending/${task.as}: pending/ already held a ${task.task}; both kept`
          : `requeued ${task.task} to pending/`,
      )
    }

    if (killFailed !== undefined) throw killFailed
    if (record.held) return outcome

    if (!dryRun) await startSession({layout, tmux, account, record, now, after: outcome.found})
    outcome.created = true
    progress(`created session ${account.session}`)
  } catch (error) {
    outcome.error = errorMessage(error)
    progress(`failed: ${outcome.error}`)
  }

  return outcome
}

/**
 * The dead pane, for the crash record. A tmux that fails to show it leaves the crash without its
 * reason; the kill that follows reports tmux's failure.
 */
async function readDeadPane(tmux: Tmux, session: string): Promise<DeadPane | null> {
  try {
    return await tmux.deadPane(session)
  } catch (error) {
    if (error instanceof ExternalError) return null
    throw error
  }
}

/**
 * What killed writers left in the folders reconcile owns: temp files of state records and hand-off
 * records (cheap: a few names each pass) and stale claims in active/<account>/ (every pass).
 * Temp files of the other state folders (the log's, locks', failover journals', account records')
 * too: every folder `ccl fsck` checks for them is swept by some timer, so none outlives the sweep age.
 */
async function sweepState(layout: QueueLayout, accounts: readonly string[], now: Date): Promise<void> {
  // Claims in active/<account>/ of killed claimants, also on the pass with every session alive (the
  // usual one: a claim left there had outlived every pass before); a claim of a cut move completes it.
  const dirs = [layout.sessions, handOffDir(layout), ...accounts.map((a) => activeDir(layout, a))]
  for (const dir of dirs) await sweepFolder(dir, {tempAgeMs: TEMP_SAFE_AGE_MS, now: now.getTime(), layout})
  for (const dir of [layout.state, layout.locks, failoverDir(layout), accountsDir(layout), ownersDir(layout)]) await sweepTemps(dir, TEMP_SAFE_AGE_MS, now.getTime())
}

/**
 * A live session's account: a usage limit whose time has come is lifted (account.available); a
 * delivered task that reached done/ is logged (task.done); and where hooks do not work for this
 * session (not installed, an older Claude Code), the bottom of its pane is read for a usage-limit
 * banner or the folder-trust dialog while it holds a task.
 */
async function observeAlive(ctx: AccountContext, createdAt: string | null, progress: (line: string) => void): Promise<string[]> {
  const {account, layout, config, now, tmux} = ctx
  const notes: string[] = []
  const cleared = await clearExpiredLimit(layout, account.name, now, config.failover.margin)
  if (cleared) notes.push(`limit over (was until ${cleared.until}): available again`)
  await settleHandOff(layout, account.name, now)
  const task = (await listTasks(activeDir(layout, account.name)))[0]
  const state = readAccountState(layout, account.name)
  if (!hooksActive(state, createdAt)) {
    const screen = ctx.screen ?? (await tmux.capturePane(account.session))
    const reading = task ? scanPane(screen, {hitAt: now}) : null
    const until = limitedUntil(state, config.failover.margin)
    const trust = scanPaneForTrustDialog(screen)
    if (reading && (until === null || until <= now.getTime())) {
      const limited = {
        until: (reading.until ?? new Date(now.getTime() + config.failover.default_cooldown)).toISOString(),
        reason: reading.until ? ('usage-limit' as const) : ('default-cooldown' as const),
        limit: reading.limit,
        banner: reading.banner,
        since: now.toISOString(),
      }
      await updateAccountState(layout, account.name, (s) => ({...s, limited}))
      await appendEvent(layout.events, 'account.limited', {account: account.name, until: limited.until, reason: limited.reason, limit: limited.limit, banner: limited.banner, source: 'pane'}, now)
      notes.push(`usage limit read from the pane: limited until ${limited.until}`)
    } else if (state.waiting?.reason === 'folder-trust' && !trust) {
      await updateAccountState(layout, account.name, (s) => (s.waiting?.reason === 'folder-trust' ? {...s, turn: 'idle', waiting: null} : undefined))
    } else if (trust && state.waiting?.reason !== 'folder-trust') {
      // A new account home asks once per cwd; no hook runs until it is answered, so only the pane tells.
      await updateAccountState(layout, account.name, (s) => ({...s, turn: 'waiting', waiting: {reason: 'folder-trust', message: 'Claude Code asks whether to trust the folder', since: now.toISOString()}}))
      await appendEvent(layout.events, 'session.waiting', {account: account.name, reason: 'folder-trust', source: 'pane'}, now)
      notes.push(`waiting: Claude Code's folder-trust dialog is on screen (answer it: tmux attach -t ${account.session})`)
    }
  }

  for (const note of notes) progress(note)
  return notes
}

/**
 * Accounts take over each other's tasks; a conversation resumes only in the cwd it ran in. One
 * line naming the accounts by cwd when they are not all the same (and failover.resume is on).
 */
export function cwdWarnings(config: Config): string[] {
  if (!config.failover.resume || config.accounts.length < 2) return []
  const byCwd = new Map<string, string[]>()
  for (const account of config.accounts) {
    const cwd = path.resolve(account.cwd)
    byCwd.set(cwd, [...(byCwd.get(cwd) ?? []), account.name])
  }

  if (byCwd.size < 2) return []
  const groups = [...byCwd].map(([cwd, names]) => `${names.join(', ')} in ${cwd}`).join('; ')
  return [`accounts run in different cwds (${groups}): a task failing over between them starts afresh instead of resuming its conversation (failover.resume); give them one cwd (docs/failover.md)`]
}
