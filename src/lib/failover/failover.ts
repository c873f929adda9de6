/*
 * Failover (SPEC 6): the task of an account that is limited or needs login continues on a free
 * account, in the same conversation. Run by `ccl reconcile` under its lock, every pass:
 *
 *   1. every failover journal a killed run left is carried on from the step it names (or undone);
 *   2. for each account A holding a task T while limited or needing login, and a free account B:
 *        started           journal + B's hand-off record (queue core)
 *        source-stopped    A's session killed: since Claude Code 2.1.234 a limited session carries
 *                          on by itself at its reset, and T is B's now
 *        moved             T moved active/A/ → active/B/ under its claim (queue core)
 *        source-restarted  A recreated with its plain command: idle, limited until its reset
 *        target-started    B recreated as `<command> --resume <A's session id>` in the same cwd
 *        pasting           once B is up (SessionStart source resume, same id), the continue prompt
 *      then the journal goes and `task.failed_over` is logged. No free account: T stays with A
 *      ("waiting for a free account") and the first account to become free takes it; A itself,
 *      once its limit is over, by the continue prompt in its own (still open) conversation.
 *   2b. No free account here, but in a fleet (SPEC §8) another host's account looks free (its host
 *      refreshed its claim on it lately, and its shared records say not limited, no task, no hand-off):
 *      T is released — a journal of kind `release`, A's session killed, T back to pending/ in its place
 *      through the queue core, A restarted plain — so any host's dispatch hands it out. Another host
 *      cannot be made to start a session here, and its accounts cannot be started from here: across
 *      hosts T starts afresh with the assign prompt (the event names the conversation it ran in);
 *      with failover.across_hosts: resume a hint names the conversation, dispatch leaves T for a minute,
 *      and a reconcile (of any host) with a free account that reaches the transcript adopts it: T
 *      pending/ → active/B/ (a journal of kind adopt), then B resumes as in 2 from source-restarted.
 *   3. When resuming is impossible (failover.resume false, no session id, different cwds, no
 *      transcript under the target's projects/, or the --resume fails), B starts afresh with the
 *      assign prompt, and the event says why.
 */
import {lstatSync, readdirSync, readFileSync, realpathSync} from 'node:fs'
import path from 'node:path'

import type {Account, Config} from '../config/schema.js'
import {errorMessage} from '../errors.js'
import {appendEvent} from '../events/log.js'
import {failpoint} from '../failpoints.js'
import {randomHex} from '../digest.js'
import {activeDir, type QueueLayout} from '../queue/layout.js'
import {
  abortFailover,
  beginAdopt,
  beginFailover,
  dropResumeHint,
  type Failover,
  finishFailover,
  finishRelease,
  handOffPath,
  moveForAdopt,
  moveForFailover,
  readFailovers,
  readResumeHints,
  resumeHintDir,
  releaseForFailover,
  settleHandOff,
  stepFailover,
} from '../queue/transitions.js'
import {currentHost} from '../queue/holder.js'
import {ownersDir} from '../fleet/owners.js'
import {readPause} from '../accounts/pause.js'
import {type AccountState, clearExpiredLimit, type Limited, hooksActive, limitedUntil, promptReceived, readAccountState, updateAccountState} from '../accounts/state.js'
import {rankByHeadroom} from '../accounts/usage.js'
import {renderPrompt, whyBusy} from '../assign/assign.js'
import {deliverPrompt, waitUntil} from '../assign/deliver.js'
import {scanPaneForTrustDialog} from '../claude/banners.js'
import {isSessionId, transcriptPath} from '../claude/projects.js'
import {readSessionRecord, writeSessionRecord} from '../sessions/record.js'
import type {Tmux} from '../tmux/tmux.js'

export interface FailoverContext {
  config: Config
  layout: QueueLayout
  tmux: Tmux
  now: () => Date
  sleep?: (ms: number) => Promise<void>
  progress?: (line: string) => void
}

export interface FailoverOutcome {
  task: string
  from: string
  /** The account taking it over; null while none is free. */
  to: string | null
  mode: 'resume' | 'fresh' | null
  /**
   * done: the target has the prompt; under-way: started, the next pass goes on (the target still
   * starting, a trust dialog); waiting: no free account; undone: it could not go on, the task is back
   * in pending/ (or still with the source).
   */
  result: 'done' | 'under-way' | 'waiting' | 'undone'
  detail: string
}

/** Why a resume is impossible that Claude Code itself says: its exit text for an unknown id. */
const NOT_FOUND = /No conversation found with session ID/
/** A target not up after this long is given up on (a resume: started afresh; afresh: undone). */
const TARGET_UP_WITHIN_MS = 5 * 60_000
/** How long one pass waits for the target session to come up before leaving it to the next. */
const WAIT_IN_PASS_MS = 20_000

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The tasks some account holds while it cannot work on them: each needs a failover. Cheap: a readdir and a small JSON read per account. */
export interface FailoverNeed {
  from: Account
  task: string
  /** `limited until …`, `needs login (…)`, or (in place) `limit over, its task not continued`. */
  why: string
  /** Its limit is over but the task it stopped was not continued: the continue prompt goes to its own session. */
  inPlace: boolean
  since: string | null
}

export function failoverNeeds(config: Config, layout: QueueLayout, now: Date): FailoverNeed[] {
  const needs: FailoverNeed[] = []
  for (const account of config.accounts) {
    const task = firstTask(activeDir(layout, account.name))
    if (task === undefined) continue
    let state: AccountState
    try {
      state = readAccountState(layout, account.name)
    } catch {
      continue // an unreadable record is reported by status; it proves nothing here
    }

    const why = unavailable(state, config, now)
    if (why) {
      needs.push({from: account, task, why, inPlace: false, since: state.needs_login?.since ?? state.limited?.since ?? null})
    } else {
      const stopped = stoppedByLimit(state, config, now)
      if (stopped) needs.push({from: account, task, why: `its limit is over (was until ${stopped.until}) and the task it stopped was not continued`, inPlace: true, since: stopped.since})
    }
  }

  return needs
}

function unavailable(state: AccountState, config: Config, now: Date): string | null {
  if (state.needs_login) return `needs login (${state.needs_login.error})`
  const until = limitedUntil(state, config.failover.margin)
  if (until !== null && until > now.getTime()) return `limited until ${new Date(until).toISOString()}`
  return null
}

/**
 * A limit that is over (or cleared this pass), whose stopped turn nobody continued: no prompt was
 * submitted since the limit began and the session is not working (Claude Code >= 2.1.234 continues
 * by itself at the reset, which submits one). Only with hooks: the pane cannot tell this.
 */
function stoppedByLimit(state: AccountState, config: Config, now: Date): Limited | null {
  const limit = state.limited ?? state.last_limited
  if (!limit || state.turn === 'working' || state.needs_login) return null
  const until = limitedUntil({...state, limited: limit}, config.failover.margin)
  if (until === null || until > now.getTime()) return null
  const since = Date.parse(limit.since)
  if (state.session_started_at === null || Date.parse(state.session_started_at) > since) return null // a new session since: not the stopped one
  return state.prompts.some((p) => Date.parse(p.at) >= since) ? null : limit
}

/** Sync: a handful of names, on the path of every reconcile pass. */
function firstTask(dir: string): string | undefined {
  return listNames(dir)
    .sort()
    .find((name) => name.endsWith('.md') && !name.startsWith('.') && isFile(path.join(dir, name)))
}

function realCwd(cwd: string): string {
  try {
    return realpathSync(cwd)
  } catch {
    return cwd
  }
}

function listNames(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

function isFile(file: string): boolean {
  try {
    return lstatSync(file).isFile()
  } catch {
    return false
  }
}

/** Whether a reconcile pass has failover work: a journal left by a killed run, a released task to adopt, or a need. */
export function failoverDue(config: Config, layout: QueueLayout, now: Date): boolean {
  return (
    listNames(path.join(layout.state, 'failover')).some((n) => n.endsWith('.json')) ||
    listNames(resumeHintDir(layout)).some((n) => n.endsWith('.json')) ||
    failoverNeeds(config, layout, now).length > 0
  )
}

/** Why the task cannot resume its conversation on `to`, or null when it can. */
export function whyNotResume(config: Config, from: Account, to: Account, state: AccountState): string | null {
  const transcriptDir = state.transcript_path && path.basename(state.transcript_path) === `${state.session_id}.jsonl` ? path.basename(path.dirname(state.transcript_path)) : null
  return whyNotResumeOn(config, from.name, {session_id: state.session_id, cwd: state.cwd ?? from.cwd, transcriptDir}, to)
}

/** whyNotResume for a conversation known by its id, cwd and transcript folder (under projects/): a released task's hint too. */
export function whyNotResumeOn(config: Config, fromName: string, conversation: {session_id: string | null; cwd: string | null; transcriptDir: string | null}, to: Account): string | null {
  if (!config.failover.resume) return 'failover.resume is false'
  if (!isSessionId(conversation.session_id)) return `the session id of ${fromName}'s conversation is not known (no hook recorded it)`
  const cwd = conversation.cwd ?? to.cwd
  if (path.resolve(cwd) !== path.resolve(to.cwd)) return `the accounts' cwds differ (${fromName} ran in ${cwd}, ${to.name} runs in ${to.cwd})`
  // Where the target's Claude Code will look: under its own projects/ (shared), in the folder the
  // source's transcript is in (hooks said where), or the one Claude Code names for the cwd.
  const id = conversation.session_id
  const candidates = [transcriptPath(to.home, to.cwd, id), ...(realCwd(to.cwd) === to.cwd ? [] : [transcriptPath(to.home, realCwd(to.cwd), id)])]
  if (conversation.transcriptDir) candidates.unshift(path.join(to.home, 'projects', conversation.transcriptDir, `${id}.jsonl`))
  if (!candidates.some((file) => isFile(file))) return `the conversation's transcript is not at ${candidates.at(-1)} (is projects/ shared?)`
  return null
}

/**
 * One reconcile pass's failovers: journals first, then new ones. Returns what happened and the
 * accounts a failover still holds (reconcile leaves their sessions and tasks alone meanwhile).
 */
export async function runFailovers(ctx: FailoverContext): Promise<{outcomes: FailoverOutcome[]; busy: Set<string>}> {
  const {config, layout, now} = ctx
  const outcomes: FailoverOutcome[] = []
  const busy = new Set<string>()
  for (const account of config.accounts) await clearExpiredLimit(layout, account.name, now(), config.failover.margin)

  const {journals, torn} = readFailovers(layout)
  for (const file of torn) {
    const from = path.basename(file, '.json')
    busy.add(from)
    outcomes.push({task: '?', from, to: null, mode: null, result: 'under-way', detail: `${file} is not a failover journal ccl can read: move it away once you have checked active/${from}/`})
  }

  const ours = new Set(config.accounts.map((a) => a.name))
  for (const journal of journals) {
    // Another host's journal, about its own accounts: that host's reconcile carries it on.
    // An adoption is its target's host's (its source is another host's account).
    if (journal.record.kind === 'adopt' ? !ours.has(journal.record.to) : journal.record.holder?.host !== currentHost() && !ours.has(journal.record.from) && !ours.has(journal.record.to)) continue
    busy.add(journal.record.from).add(journal.record.to)
    const outcome = await safely(ctx, journal.record.task, journal.record.from, () => (journal.record.kind === 'release' ? advanceRelease(ctx, journal) : advance(ctx, journal)))
    outcomes.push(outcome)
    if (outcome.result !== 'under-way') {
      busy.delete(journal.record.from)
      busy.delete(journal.record.to)
    }
  }

  const taken = new Set(busy)
  // Accounts of other hosts a release of this pass counted on: one released task per free account.
  const promised = new Set<string>()
  for (const need of failoverNeeds(config, layout, now())) {
    if (taken.has(need.from.name)) continue
    // A hand-off to it still under way (assign is pasting) is not ours to take.
    const {state: handOff} = await settleHandOff(layout, need.from.name, now())
    if (handOff.kind === 'in-progress') continue
    taken.add(need.from.name)
    const state = readAccountState(layout, need.from.name)
    let target: Account | undefined
    if (need.inPlace) {
      target = need.from
    } else {
      // With failover.headroom, the free account with the most headroom first, as assign picks.
      const order = config.failover.headroom
        ? rankByHeadroom(config.accounts, (a) => safeState(layout, a.name)?.usage ?? null, {watermark: config.failover.watermark, now: now()}).map((r) => r.item)
        : config.accounts
      for (const candidate of order) {
        if (taken.has(candidate.name)) continue
        const why = await whyBusy(config, layout, ctx.tmux, candidate, now()).catch((error: unknown) => errorMessage(error))
        if (why === null) {
          target = candidate
          break
        }
      }
    }

    if (!target) {
      const elsewhere = need.inPlace ? null : freeElsewhere(config, layout, now(), promised)
      if (elsewhere) {
        promised.add(elsewhere.account)
        const begun = await beginFailover(layout, {
          from: need.from.name,
          to: need.from.name,
          task: need.task,
          session_id: isSessionId(state.session_id) ? state.session_id : null,
          cwd: state.cwd ?? need.from.cwd,
          mode: 'fresh',
          why: `${need.from.name} ${need.why}; no account of ${currentHost()} is free, ${elsewhere.label} is`,
          now: now(),
          releasedFor: elsewhere.label,
        })
        if (begun.kind === 'begun') {
          ctx.progress?.(`failover of ${need.task}: ${need.from.name} ${need.why}; no account here is free, ${elsewhere.label} is: back to pending/ for any host`)
          failpoint('failover.after-begin')
          const outcome = await safely(ctx, need.task, need.from.name, () => advanceRelease(ctx, begun.failover))
          outcomes.push(outcome)
          if (outcome.result === 'under-way') busy.add(need.from.name)
          continue
        }
      }

      outcomes.push({task: need.task, from: need.from.name, to: null, mode: null, result: 'waiting', detail: `waiting for a free account (${need.from.name} ${need.why})`})
      continue
    }

    taken.add(target.name)
    const why = need.inPlace ? (isSessionId(state.session_id) ? null : 'no session id') : whyNotResume(config, need.from, target, state)
    const begun = await beginFailover(layout, {
      from: need.from.name,
      to: target.name,
      task: need.task,
      session_id: isSessionId(state.session_id) ? state.session_id : null,
      cwd: state.cwd ?? need.from.cwd,
      mode: why === null ? 'resume' : 'fresh',
      why,
      now: now(),
    })
    if (begun.kind !== 'begun') {
      outcomes.push({task: need.task, from: need.from.name, to: target.name, mode: null, result: 'waiting', detail: begun.kind === 'gone' ? 'the task left meanwhile' : begun.why})
      continue
    }

    ctx.progress?.(`failover of ${need.task}: ${need.from.name} ${need.why}; ${need.inPlace ? 'continuing in its own session' : `to ${target.name}`} (${why === null ? 'resuming its conversation' : `afresh: ${why}`})`)
    failpoint('failover.after-begin')
    const outcome = await safely(ctx, need.task, need.from.name, () => advance(ctx, begun.failover))
    outcomes.push(outcome)
    if (outcome.result === 'under-way') busy.add(need.from.name).add(target.name)
  }

  for (const {hint, file} of readResumeHints(layout)) {
    if (!isFile(path.join(layout.pending, hint.task)) || Date.parse(hint.resume_until) <= now().getTime()) {
      await dropResumeHint(file) // handed out, or nobody could resume it in time: dispatch starts it afresh
      continue
    }

    let target: Account | undefined
    for (const candidate of config.accounts) {
      if (taken.has(candidate.name) || whyNotResumeOn(config, hint.from, {session_id: hint.session_id, cwd: hint.cwd, transcriptDir: hint.transcript_dir}, candidate) !== null) continue
      const why = await whyBusy(config, layout, ctx.tmux, candidate, now()).catch((error: unknown) => errorMessage(error))
      if (why === null) {
        target = candidate
        break
      }
    }

    if (!target) continue
    const begun = await beginAdopt(layout, {hint, to: target.name, now: now()})
    if (begun.kind !== 'begun') continue
    taken.add(target.name)
    ctx.progress?.(`failover of ${hint.task}: released by ${hint.from} on ${hint.host}; ${target.name} resumes its conversation ${hint.session_id}`)
    failpoint('failover.after-adopt-begin')
    const outcome = await safely(ctx, hint.task, hint.from, () => advance(ctx, begun.failover))
    outcomes.push(outcome)
    if (outcome.result === 'under-way') busy.add(target.name)
  }

  return {outcomes, busy}
}

/** With failover.across_hosts: resume, how long dispatch leaves a released task for a host that can resume it. */
export const RESUME_WAIT_MS = 60_000

/** A host's claim on an account refreshed within this long: that host's reconcile is running. */
const HOST_SEEN_WITHIN_MS = 2 * 60_000

/**
 * An account of another host of the fleet that looks free from the shared state (`label`: `gamma on
 * vm-b`), none of `skip`, or null: its host claimed it (<state>/fleet/accounts/) within HOST_SEEN_WITHIN_MS, its record says
 * neither limited nor needing login, it is not paused, and it has no task and no hand-off. Its tmux
 * session cannot be seen from here; that host's reconcile keeps it alive.
 */
export function freeElsewhere(config: Config, layout: QueueLayout, now: Date, skip: ReadonlySet<string> = new Set()): {account: string; label: string} | null {
  const ours = new Set(config.accounts.map((a) => a.name))
  const dir = ownersDir(layout)
  for (const file of listNames(dir).sort()) {
    if (!file.endsWith('.json') || file.startsWith('.')) continue
    const name = file.slice(0, -'.json'.length)
    if (ours.has(name) || skip.has(name)) continue
    let host: unknown
    try {
      const info = lstatSync(path.join(dir, file))
      if (!info.isFile() || now.getTime() - info.mtimeMs > HOST_SEEN_WITHIN_MS) continue
      host = (JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as {host?: unknown}).host
    } catch {
      continue
    }

    if (typeof host !== 'string' || host === currentHost()) continue
    const state = safeState(layout, name)
    if (!state || unavailable(state, config, now) !== null) continue
    if (readPause(layout, name) !== null || firstTask(activeDir(layout, name)) !== undefined || isFile(handOffPath(layout, name))) continue
    return {account: name, label: `${name} on ${host}`}
  }

  return null
}

/**
 * Carries a release on (see 2b above): A's session stopped (a limited session carries on by itself
 * at its reset), T back to pending/ in its place, A restarted plain; then the journal goes.
 */
async function advanceRelease(ctx: FailoverContext, start: Failover): Promise<FailoverOutcome> {
  const {config, layout, tmux, now} = ctx
  let f = start
  const from = accountNamed(config, f.record.from)
  const out = (result: FailoverOutcome['result'], detail: string): FailoverOutcome => ({task: f.record.task, from: from.name, to: null, mode: null, result, detail})
  for (;;) {
    switch (f.record.step) {
      case 'started': {
        await tmux.killSession(from.session)
        failpoint('failover.after-stop')
        f = await stepFailover(f, {step: 'source-stopped'})
        continue
      }

      case 'source-stopped': {
        const conversation = f.record.session_id ? ` (its conversation: ${f.record.session_id})` : ''
        const transcript = safeState(layout, from.name)?.transcript_path ?? null
        const hint =
          config.failover.across_hosts === 'resume' && config.failover.resume
            ? {resumeUntil: new Date(now().getTime() + RESUME_WAIT_MS), transcriptDir: transcript && f.record.session_id && path.basename(transcript) === `${f.record.session_id}.jsonl` ? path.basename(path.dirname(transcript)) : null}
            : undefined
        const released = await releaseForFailover(layout, f, `released for another host: ${f.record.why ?? ''}${conversation}`, now(), hint)
        if (released.kind === 'claimed') return out('under-way', `the task is claimed by ${released.by}; the next pass goes on`)
        failpoint('failover.after-release')
        f = await stepFailover(f, {step: 'moved'})
        continue
      }

      default: {
        await restartPlain(ctx, from, f.record.started_at)
        failpoint('failover.after-release-restart')
        await finishRelease(f)
        return out('done', `back in pending/ for any host of the fleet (${f.record.released_for ?? 'another host'} looked free); it starts afresh there`)
      }
    }
  }
}

async function safely(ctx: FailoverContext, task: string, from: string, run: () => Promise<FailoverOutcome>): Promise<FailoverOutcome> {
  try {
    return await run()
  } catch (error) {
    // The journal stays: the next pass goes on from the step it names.
    ctx.progress?.(`failover of ${task} from ${from}: ${errorMessage(error)}; the next pass carries on`)
    return {task, from, to: null, mode: null, result: 'under-way', detail: `failed this pass: ${errorMessage(error)}`}
  }
}

function safeState(layout: QueueLayout, account: string): AccountState | null {
  try {
    return readAccountState(layout, account)
  } catch {
    return null
  }
}

function accountNamed(config: Config, name: string): Account {
  const account = config.accounts.find((a) => a.name === name)
  if (!account) throw new Error(`the failover journal names ${name}, which is not in ${config.file}`)
  return account
}

/** Carries a failover on from the step its journal names, until it is done or must wait for a later pass. */
async function advance(ctx: FailoverContext, start: Failover): Promise<FailoverOutcome> {
  const {config, layout, tmux, now} = ctx
  const sleep = ctx.sleep ?? defaultSleep
  let f = start
  const adopt = f.record.kind === 'adopt'
  // An adoption's source is an account of another host: nothing is done to it here.
  const from = adopt ? null : accountNamed(config, f.record.from)
  const to = accountNamed(config, f.record.to)
  const inPlace = f.record.from === to.name
  const out = (result: FailoverOutcome['result'], detail: string): FailoverOutcome => ({task: f.record.task, from: f.record.from, to: to.name, mode: f.record.mode, result, detail})
  const source = (): Account => {
    if (!from) throw new Error(`the adoption journal ${f.file} is at step ${f.record.step}, which only a failover from this host's account has`)
    return from
  }

  for (;;) {
    switch (f.record.step) {
      case 'started': {
        if (adopt) {
          const moved = await moveForAdopt(layout, f, now())
          if (moved.kind === 'claimed') return out('under-way', `the task is claimed by ${moved.by}; the next pass goes on`)
          if (moved.kind === 'gone') {
            await abortFailover(layout, f, 'the task left pending/ meanwhile', now())
            return out('undone', `the task left pending/ meanwhile (now in ${moved.where ?? 'no queue folder'})`)
          }

          failpoint('failover.after-adopt-move')
          f = await stepFailover(f, {step: 'source-restarted'})
          continue
        }

        if (inPlace) {
          f = await stepFailover(f, {step: 'target-started', target_started_at: null})
          continue
        }

        await tmux.killSession(source().session)
        failpoint('failover.after-stop')
        f = await stepFailover(f, {step: 'source-stopped'})
        continue
      }

      case 'source-stopped': {
        const moved = await moveForFailover(layout, f, now())
        if (moved.kind === 'claimed') return out('under-way', `the task is claimed by ${moved.by}; the next pass goes on`)
        if (moved.kind === 'gone') {
          await restartPlain(ctx, source(), f.record.started_at)
          await abortFailover(layout, f, 'the task left active/ meanwhile', now())
          return out('undone', `the task left active/${f.record.from}/ meanwhile (now in ${moved.where ?? 'no queue folder'})`)
        }

        failpoint('failover.after-move')
        f = await stepFailover(f, {step: 'moved'})
        continue
      }

      case 'moved': {
        await restartPlain(ctx, source(), f.record.started_at)
        failpoint('failover.after-source-restart')
        f = await stepFailover(f, {step: 'source-restarted'})
        continue
      }

      case 'source-restarted': {
        const startedAt = now()
        const resume = f.record.mode === 'resume' && f.record.session_id !== null
        await tmux.killSession(to.session)
        await tmux.newSession({
          name: to.session,
          cwd: to.cwd,
          command: resume ? `${to.command} --resume ${f.record.session_id}` : to.command,
          env: {CLAUDE_CONFIG_DIR: to.home},
        })
        await recordCreated(layout, to, startedAt)
        await appendEvent(layout.events, 'session.created', {account: to.name, session: to.session, cwd: to.cwd, command: to.command, after: 'failover', resume: resume ? f.record.session_id : null}, startedAt)
        f = await stepFailover(f, {step: 'target-started', target_started_at: startedAt.toISOString()})
        failpoint('failover.after-target-start')
        continue
      }

      case 'target-started': {
        const up = await targetUp(ctx, f, to, sleep)
        if (up.kind === 'not-yet') return out('under-way', up.why)
        if (up.kind === 'failed') {
          if (f.record.mode === 'resume' && !inPlace) {
            ctx.progress?.(`failover of ${f.record.task}: ${to.name} could not resume (${up.why}); starting it afresh`)
            f = await stepFailover(f, {mode: 'fresh', why: up.why, step: 'source-restarted'})
            continue
          }

          return undo(ctx, f, from, up.why)
        }

        f = await stepFailover(f, {step: 'pasting', pasted_at: now().toISOString()})
        const notReceived = await deliver(ctx, f, to, sleep)
        if (notReceived !== null) return undo(ctx, f, from, notReceived)
        return finish(ctx, f)
      }

      case 'pasting': {
        // A run killed while it delivered: the prompt may be in, in the input box, or not sent.
        const state = readAccountState(layout, to.name)
        const prompt = promptOf(config, layout, f)
        const wanted = {prompt, taskPath: taskPath(layout, f)}
        const since = new Date(Date.parse(f.record.pasted_at ?? f.record.started_at))
        if (!confirmable(state, f) || promptReceived(state, wanted, since)) return finish(ctx, f)
        await tmux.sendKeys(to.session, ['Enter'])
        if (await waitUntil(() => promptReceived(readAccountState(layout, to.name), wanted, since), config.assign.confirm_within, sleep)) return finish(ctx, f)
        f = await stepFailover(f, {pasted_at: now().toISOString()})
        const notReceived = await deliver(ctx, f, to, sleep)
        if (notReceived !== null) return undo(ctx, f, from, notReceived)
        return finish(ctx, f)
      }
    }
  }
}

function taskPath(layout: QueueLayout, f: Failover): string {
  return path.join(activeDir(layout, f.record.to), f.record.task)
}

/** The continue prompt when the conversation goes on; the assign prompt when the task starts afresh. */
function promptOf(config: Config, layout: QueueLayout, f: Failover): string {
  const template = f.record.mode === 'resume' ? config.failover.prompt : config.assign.prompt
  return renderPrompt(template, taskPath(layout, f), layout.done)
}

/** Whether this session's hooks can confirm a prompt: a SessionStart since the target was started (in place: since its session was created). */
function confirmable(state: AccountState, f: Failover): boolean {
  if (f.record.target_started_at === null) return state.session_started_at !== null
  return state.session_start !== null && Date.parse(state.session_start.at) >= Date.parse(f.record.target_started_at) - 1000
}

async function deliver(ctx: FailoverContext, f: Failover, to: Account, sleep: (ms: number) => Promise<void>): Promise<string | null> {
  const {config, layout, tmux, now} = ctx
  const state = readAccountState(layout, to.name)
  const session = await readSessionRecord(layout, to.name)
  const confirm = f.record.target_started_at === null ? hooksActive(state, session.created_at) : confirmable(state, f)
  try {
    return await deliverPrompt({
      config,
      layout,
      tmux,
      account: to,
      prompt: promptOf(config, layout, f),
      taskPath: taskPath(layout, f),
      confirm,
      lastEvent: state.last_event,
      buffer: `ccl-${to.name}-${process.pid}-${randomHex(4)}`,
      now,
      sleep,
      afterEnter: () => failpoint('failover.after-paste'),
    })
  } catch (error) {
    return `could not deliver the prompt to ${to.session}: ${errorMessage(error)}`
  }
}

type Up = {kind: 'up'} | {kind: 'not-yet'; why: string} | {kind: 'failed'; why: string}

/**
 * Whether the target's session is up in the right conversation: its SessionStart since it was
 * started (a resume: source resume, the same session id); without hooks, alive after
 * `assign.ready_after`. It failed when the session is gone, printed Claude Code's "No conversation
 * found", ended, or came up in another conversation. Polls for at most WAIT_IN_PASS_MS.
 */
async function targetUp(ctx: FailoverContext, f: Failover, to: Account, sleep: (ms: number) => Promise<void>): Promise<Up> {
  const {config, layout, tmux, now} = ctx
  if (f.record.target_started_at === null) {
    // in place: its own session, which is running
    return (await tmux.sessionState(to.session)) === 'alive' ? {kind: 'up'} : {kind: 'failed', why: `${to.session} is not running`}
  }

  const startedAt = Date.parse(f.record.target_started_at)
  const resume = f.record.mode === 'resume'
  const deadline = Date.now() + WAIT_IN_PASS_MS
  for (;;) {
    const state = readAccountState(layout, to.name)
    const start = state.session_start && Date.parse(state.session_start.at) >= startedAt - 1000 ? state.session_start : null
    if (start) {
      if (!resume || start.session_id === f.record.session_id) return {kind: 'up'}
      return {kind: 'failed', why: `${to.name}'s session came up in another conversation (${start.session_id ?? 'no id'}, source ${start.source ?? '?'})`}
    }

    const end = state.session_end
    if (resume && end && Date.parse(end.at) >= startedAt - 1000 && end.session_id === f.record.session_id) {
      return {kind: 'failed', why: `${to.name}'s --resume session ended at once (${end.reason ?? 'no reason'})`}
    }

    const alive = await tmux.sessionState(to.session)
    const screen = alive === 'absent' ? '' : await tmux.capturePane(to.session, 50).catch(() => '')
    if (NOT_FOUND.test(screen)) return {kind: 'failed', why: `Claude Code under ${to.name} says: No conversation found with session ID ${f.record.session_id}`}
    if (alive !== 'alive') return {kind: 'failed', why: `${to.session} exited at start${resume ? ' (the --resume failed)' : ''}`}
    if (scanPaneForTrustDialog(screen)) {
      await noteTrustDialog(ctx, to)
      return {kind: 'not-yet', why: `${to.session} shows Claude Code's folder-trust dialog for ${to.cwd}: answer it (tmux attach -t ${to.session}), and the next pass goes on`}
    }

    const age = now().getTime() - startedAt
    const hooksNever = state.session_started_at === null
    if (hooksNever && age >= config.assign.ready_after) return {kind: 'up'}
    if (age > TARGET_UP_WITHIN_MS) return {kind: 'failed', why: `${to.session} not up after ${Math.round(age / 1000)} s (no SessionStart)`}
    if (Date.now() >= deadline) return {kind: 'not-yet', why: `${to.session} is starting (no SessionStart yet)`}
    await sleep(200)
  }
}

async function noteTrustDialog(ctx: FailoverContext, account: Account): Promise<void> {
  const {layout, now} = ctx
  const state = readAccountState(layout, account.name)
  if (state.waiting?.reason === 'folder-trust') return
  await updateAccountState(layout, account.name, (s) => ({...s, turn: 'waiting', waiting: {reason: 'folder-trust', message: 'Claude Code asks whether to trust the folder', since: now().toISOString()}}))
  await appendEvent(layout.events, 'session.waiting', {account: account.name, reason: 'folder-trust', source: 'pane'}, now())
}

async function finish(ctx: FailoverContext, f: Failover): Promise<FailoverOutcome> {
  const {layout, now} = ctx
  const {task, from, to, session_id, mode, why} = f.record
  await finishFailover(layout, f, now())
  await appendEvent(layout.events, 'task.failed_over', {task, from, to, session_id, mode, ...(why ? {why} : {}), started_at: f.record.started_at}, now())
  const detail = from === to ? `continued in ${to}'s own conversation` : mode === 'resume' ? `${to} resumed ${from}'s conversation ${session_id}` : `${to} started it afresh (${why})`
  return {task, from, to, mode, result: 'done', detail}
}

/** It cannot go on: the task back to pending/ in its place (or, not moved yet, left with the source), the source running. */
async function undo(ctx: FailoverContext, f: Failover, from: Account | null, reason: string): Promise<FailoverOutcome> {
  const {layout, now} = ctx
  if (from && f.record.to !== from.name) await restartPlain(ctx, from, f.record.started_at)
  const requeued = await abortFailover(layout, f, reason, now())
  const detail = `undone: ${reason}${requeued ? `; the task is back in pending/${requeued.renamed ? ` as ${requeued.as}` : ''}` : ''}`
  return {task: f.record.task, from: f.record.from, to: f.record.to, mode: f.record.mode, result: 'undone', detail}
}

/**
 * The source's session, fresh with its plain command, unless this failover already made it (a
 * killed run): a session created at or after the failover began is kept.
 */
async function restartPlain(ctx: FailoverContext, account: Account, since: string): Promise<void> {
  const {layout, tmux, now} = ctx
  const record = await readSessionRecord(layout, account.name)
  const state = await tmux.sessionState(account.session)
  if (state === 'alive' && record.created_at !== null && Date.parse(record.created_at) >= Date.parse(since)) return
  await tmux.killSession(account.session)
  const at = now()
  await tmux.newSession({name: account.session, cwd: account.cwd, command: account.command, env: {CLAUDE_CONFIG_DIR: account.home}})
  await recordCreated(layout, account, at)
  await appendEvent(layout.events, 'session.created', {account: account.name, session: account.session, cwd: account.cwd, command: account.command, after: 'failover'}, at)
}

/** A session ccl made on purpose: its record says when (not a crash; the crash history is kept). */
async function recordCreated(layout: QueueLayout, account: Account, at: Date): Promise<void> {
  const record = await readSessionRecord(layout, account.name)
  await writeSessionRecord(layout, account.name, {...record, created_at: at.toISOString()})
}
