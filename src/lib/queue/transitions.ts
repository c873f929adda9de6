/*
 * The one owner of task state. Every move of a task, and every claim on one, is made here:
 *   claim for an account (assign)      pending/T        → active/<account>/T   under T's claim and the account's hand-off record
 *   claim for delegation (submit)      pending/T        + pending/T.delegated  under T's claim
 *   requeue (reconcile, undo, recover) active/<a>/T     → pending/T[.n]        under the claim of active/<a>/T
 *   finish (reap)                      pending/T+marker → done|failed/T[.n]    under T's claim, journaled in .ccl-result-<key>
 *   fail over (reconcile)              active/<a>/T     → active/<b>/T         under T's claim, journaled in <state>/failover/<a>.json
 *   release (reconcile, fleet)         active/<a>/T     → pending/T[.n]        under T's claim, journaled in <state>/failover/<a>.json (kind release)
 *   adopt (reconcile, fleet)           pending/T        → active/<b>/T         under T's claim, journaled in <state>/failover/<a>.json (kind adopt, by b's host)
 *   retry (operator)                   failed/T         → pending/T            under pending/T's claim, journaled in pending/.ccl-retry-<hash>
 *   requeue (operator)                 active/<a>/T     → pending/T[.n]        under the claim of active/<a>/T, refused while a hand-off or failover stands
 *   cancel (operator)                  pending/T+marker → failed/T[.n]         the finish above, under the `reap` lock
 *   set aside (fsck --repair)          pending/T.delegated → <queue>/lost+found/ under T's claim, only while T is gone and no result is prepared
 *   drop a twin (fsck --repair)        pending/T removed                       under T's claim, only while an identical T is in active/, done/ or failed/
 *
 * The claim protocol, the same for every claimant: a claim on the task at <dir>/<name> is the file
 * <dir>/.ccl-claim-<sha256(name)>, created exclusively, naming its holder (host, pid, process start
 * time, boot id). Whoever creates it wins; the loser touches nothing. A claim is held for the few
 * milliseconds of a check and a move; one whose holder is provably gone (same host) is broken at once,
 * one from another host after CLAIM_STALE_MS. What a claimant checks (a marker, the file's type and
 * age) it checks under its claim, so nobody can change it between the check and the move.
 *
 * Moves never replace a file: link(2) to the first free name (EEXIST → the next, `T.2.md` …), then
 * unlink the source. A run killed between the two leaves one file under two names; the next claimant
 * of the source finds the claim's `to` folder, sees the same inode there, and completes the move.
 */
import {lstatSync, readdirSync} from 'node:fs'
import {link, mkdir, unlink, utimes} from 'node:fs/promises'
import path from 'node:path'

import {appendEvent} from '../events/log.js'
import {sha256Hex} from '../digest.js'
import {failpoint} from '../failpoints.js'
import {trace} from '../trace.js'
import {describeKind, readRegularFile as readRegular, readRegularWithMode} from '../regular-file.js'
import {describeHolder, liveness} from './holder.js'
import {createExclusive, exists, NAME_MAX, numberedName, removeIfExists, sweepTemps, writeFileAtomic} from './files.js'
import {activeDir, makeStateDir, MARKER_SUFFIX, STATE_FILE_MODE, MAX_DELEGATED_NAME_BYTES, type QueueLayout, unsafeNameReason} from './layout.js'
import {fromQueuePath, toQueuePath} from './shared-path.js'
import {createRecord, isBreakable, type ReadRecord, readRecord, type RecordBase, refreshedWithin, releaseOwn, removeIfUnchanged, removeStaleGuard, stamp} from './record.js'

const debug = trace('ccl:queue')

/** A temp file older than this was left by a killed writer (writers take milliseconds). */
export const TEMP_SAFE_AGE_MS = 10 * 60_000

/** A claim from another host is broken after this long; claims are held for milliseconds. */
export const CLAIM_STALE_MS = 60_000
/**
 * A hand-off killed after Enter is not undone for this long unless the session's hooks said it got the
 * prompt (then it is completed): a hook arrives in well under a second, on a loaded machine in a few.
 */
export const ENTERED_GRACE_MS = 15_000
/** A hand-off not delivered after this long is undone even if its holder seems alive (a reused pid on another host). */
export const HANDOFF_STALE_MS = 10 * 60_000

const CLAIM_PREFIX = '.ccl-claim-'
const RESULT_PREFIX = '.ccl-result-'
const RETRY_PREFIX = '.ccl-retry-'
/** The purpose of a retry's claim on pending/T: whoever breaks one finishes or undoes that retry first. */
const RETRY_PURPOSE = 'retry from failed/'

function sha256(text: string | Buffer): string {
  return sha256Hex(text)
}

// ─── claims ───────────────────────────────────────────────────────────────────────────────────────

interface ClaimRecord extends RecordBase {
  task: string
  purpose: string
  at: string
  /** For a move: the folder the task is going to (relative to the queue), to complete a move a crash cut in two. */
  to: string | null
}

export interface Claim {
  dir: string
  name: string
  file: string
  release(): Promise<void>
}

export function claimPath(dir: string, name: string): string {
  return path.join(dir, CLAIM_PREFIX + sha256(name).slice(0, 32))
}

export type ClaimOutcome = {ok: true; claim: Claim} | {ok: false; holder: string}

/**
 * Claims the task `name` in `dir` for `purpose`. Exactly one of any number of concurrent claimants
 * gets it. A claim left by a holder that is gone is broken (and a move it left half-done completed).
 */
export async function claimTask(layout: QueueLayout, dir: string, name: string, purpose: string, to?: string): Promise<ClaimOutcome> {
  const file = claimPath(dir, name)
  const record: ClaimRecord = {...stamp(), task: name, purpose, at: new Date().toISOString(), to: to === undefined ? null : toQueuePath(layout, to)}
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await createRecord(file, record)) {
      debug('claim %s/%s for %s', path.relative(layout.root, dir), name, purpose)
      const text = JSON.stringify(record) + '\n'
      return {ok: true, claim: {dir, name, file, release: () => releaseOwn(file, text)}}
    }

    const found = readRecord<ClaimRecord>(file)
    if (found.kind === 'none') continue
    if (!isBreakable(found, CLAIM_STALE_MS, Date.now())) {
      const by = found.kind === 'record' ? `${describeHolder(found.record.holder)} (${found.record.purpose})` : 'another process'
      debug('claim %s/%s for %s: held by %s', path.relative(layout.root, dir), name, purpose, by)
      return {ok: false, holder: by}
    }

    if (found.kind === 'record' && found.record.purpose === RETRY_PURPOSE && dir === layout.pending) await recoverRetry(layout, found.record.task)
    if (!(await removeIfUnchanged(file, found.text))) continue
    debug('claim %s/%s: broke a stale claim (%s)', path.relative(layout.root, dir), name, found.kind === 'record' ? describeHolder(found.record.holder) : 'torn')
    // Relative to the queue (hosts mount it at different paths); an older ccl's absolute path still counts.
    const movedTo = found.kind === 'record' && typeof found.record.to === 'string' ? fromQueuePath(layout, found.record.to) : null
    if (movedTo !== null) await completeHalfMove(layout, dir, name, movedTo)
  }

  return {ok: false, holder: 'another process (its claim changed while this one looked)'}
}

/** A crash between link and unlink left the task under two names: the source goes, the destination stays. */
async function completeHalfMove(layout: QueueLayout, dir: string, name: string, to: string): Promise<void> {
  const source = path.join(dir, name)
  let info
  try {
    info = lstatSync(source)
  } catch {
    return
  }

  if (info.nlink < 2) return
  const twin = findByInode(to, info.ino, info.dev)
  if (twin === undefined) return
  await unlink(source)
  debug('completed a move cut by a crash: %s → %s', path.relative(layout.root, source), path.relative(layout.root, path.join(to, twin)))
}

/** The names in a folder; none when it cannot be read (missing, or gone meanwhile). */
export function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

function findByInode(dir: string, ino: number, dev: number): string | undefined {
  for (const name of namesIn(dir)) {
    try {
      const info = lstatSync(path.join(dir, name))
      if (info.ino === ino && info.dev === dev) return name
    } catch {
      // gone meanwhile
    }
  }

  return undefined
}

/** Where a task that is not in pending/ went (`active/alpha/`, `done/`…), if it is anywhere in the queue. */
export function whereIs(layout: QueueLayout, name: string): string | null {
  for (const dir of [...namesIn(layout.active).map((a) => activeDir(layout, a)), layout.done, layout.failed]) {
    if (safeLstat(path.join(dir, name))) return path.relative(layout.root, dir) + '/'
  }

  return null
}

// ─── moves ────────────────────────────────────────────────────────────────────────────────────────

export interface Moved {
  path: string
  name: string
  renamed: boolean
}

/** A name in pending/ whose delegation marker is still there counts as taken: the task would look delegated. */
function markerStands(dir: string, name: string): boolean {
  if (Buffer.byteLength(name + MARKER_SUFFIX) > NAME_MAX) return false
  try {
    lstatSync(path.join(dir, name + MARKER_SUFFIX))
    return true
  } catch {
    return false
  }
}

/**
 * Moves a claimed task into `toDir` without ever replacing a file: link(2) to `name`, or to the next
 * free numbered name, then unlink the source. With `exact`, only `name` will do (EEXIST is thrown).
 */
async function moveClaimed(layout: QueueLayout, claim: Claim, toDir: string, options: {exact?: boolean; avoidMarkers?: boolean} = {}): Promise<Moved> {
  const source = path.join(claim.dir, claim.name)
  for (let n = 1; ; n++) {
    const candidate = numberedName(claim.name, n)
    if (options.avoidMarkers && markerStands(toDir, candidate)) continue
    const destination = path.join(toDir, candidate)
    try {
      await link(source, destination)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && !options.exact) continue
      throw error
    }

    failpoint('move.after-link')
    await unlink(source)
    debug('move %s → %s', path.relative(layout.root, source), path.relative(layout.root, destination))
    return {path: destination, name: candidate, renamed: candidate !== claim.name}
  }
}

/** lstat of a task: its mtime, or why it is not a task that may be moved or read. */
function inspect(file: string): {kind: 'file'; mtimeMs: number; size: number; nlink: number; ino: number; dev: number} | {kind: 'gone'} | {kind: 'not-regular'; what: string} {
  let info
  try {
    info = lstatSync(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {kind: 'gone'}
    throw error
  }

  if (info.isFile()) return {kind: 'file', mtimeMs: info.mtimeMs, size: info.size, nlink: info.nlink, ino: info.ino, dev: info.dev}
  return {kind: 'not-regular', what: describeKind(info)}
}

/** Reads a task's bytes without following a link (O_NOFOLLOW); a FIFO never blocks (O_NONBLOCK), it is ENOTREG. */
function readRegularFile(file: string): Buffer {
  return readRegular(file, {noFollow: true})
}

/** A task's bytes, or undefined when it is gone or no longer a regular file (a link, a FIFO…). */
function readIfRegular(file: string): Buffer | undefined {
  try {
    return readRegularFile(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTREG') return undefined
    throw error
  }
}

// ─── hand-off: pending/ → active/<account>/ ─────────────────────────────────────────────────────

/**
 * `<state>/handoff/<account>.json`: the account's claim (created exclusively, so two assigns never
 * pick one account) and the journal of the task it was given. It stays while the task is in
 * active/<account>/, so every way back to pending/ restores the task's place in line.
 */
export interface HandOffRecord extends RecordBase {
  version: 2
  account: string
  task: string
  /** moving: claimed, maybe moved; delivering: in active/, the prompt on its way; delivered: Enter was pressed. */
  state: 'moving' | 'delivering' | 'delivered'
  started_at: string
  /** The task's mtime in pending/ before the hand-off: restored on the way back. */
  pending_mtime_ms: number
  delivered_at: string | null
  /**
   * When Enter was about to be pressed (written only when the session's hooks confirm deliveries): a
   * hand-off killed after it may have reached the session, whose UserPromptSubmit is then on its way.
   */
  entered_at?: string | null
  /** Set when the task came by a failover from that account: while its journal stands, the failover owns the record. */
  failover_from?: string
}

export interface HandOff {
  record: HandOffRecord
  /** The record as written, so it is only ever removed or replaced by the one who read it. */
  text: string
  file: string
  /** The task's path in active/<account>/. */
  path: string
}

export function handOffDir(layout: QueueLayout): string {
  return path.join(layout.state, 'handoff')
}

export function handOffPath(layout: QueueLayout, account: string): string {
  return path.join(handOffDir(layout), `${account}.json`)
}

export type TakeOutcome =
  | {kind: 'taken'; handOff: HandOff}
  /** The account already has a hand-off or a task. */
  | {kind: 'account-busy'; why: string}
  /** Not in pending/ (any more). */
  | {kind: 'gone'}
  | {kind: 'delegated'}
  /** Another process holds the task's claim right now. */
  | {kind: 'claimed'; by: string}
  /** Never to be handed out as it is: the reason says why (a name a paste cannot carry, a symlink…). */
  | {kind: 'refused'; why: string}

export interface TakeOptions {
  name: string
  account: string
  now: Date
}

/** Why a pending task cannot be claimed as it is, in the words every claimant of pending/ uses. */
type PendingRefusal = {kind: 'gone'} | {kind: 'delegated'} | {kind: 'claimed'; by: string} | {kind: 'refused'; why: string}

/**
 * Claims pending/<name> and checks, under the claim, what every claimant of pending/ must: the task
 * is still there, is a regular file, and has no delegation marker. On a refusal nothing is held.
 */
async function claimPending(layout: QueueLayout, name: string, purpose: string, to?: string): Promise<PendingRefusal | {kind: 'ok'; claim: Claim; mtimeMs: number}> {
  const unsafe = unsafeNameReason(name)
  if (unsafe) return {kind: 'refused', why: unsafe}
  const source = path.join(layout.pending, name)
  const claimed = await claimTask(layout, layout.pending, name, purpose, to)
  if (!claimed.ok) return inspect(source).kind === 'gone' ? {kind: 'gone'} : {kind: 'claimed', by: claimed.holder}
  const found = inspect(source)
  const refusal: PendingRefusal | undefined =
    found.kind === 'gone'
      ? {kind: 'gone'}
      : found.kind === 'not-regular'
        ? {kind: 'refused', why: `${found.what}, not a regular file: never read, moved or sent`}
        : markerStands(layout.pending, name)
          ? {kind: 'delegated'}
          : undefined
  if (refusal || found.kind !== 'file') {
    await claimed.claim.release()
    return refusal ?? {kind: 'gone'}
  }

  // A second name: a move that a crash cut between link and unlink whose other half has moved on
  // since (a requeue cut while the session still worked, then finished: the same inode in done/).
  const twin = found.nlink > 1 ? twinInQueue(layout, found.ino, found.dev) : undefined
  if (twin !== undefined) {
    try {
      if (twin.startsWith('active/')) return {kind: 'claimed', by: `a move cut by a crash: the same file is ${twin}; the next ccl reconcile settles it`}
      await unlink(source)
      debug('pending/%s: dropped, the same file is %s (a move cut by a crash)', name, twin)
      return {kind: 'gone'}
    } finally {
      await claimed.claim.release()
    }
  }

  return {kind: 'ok', claim: claimed.claim, mtimeMs: found.mtimeMs}
}

/** Where else in the queue (done/, failed/, active/<a>/) the file with this inode has a name, if anywhere. */
function twinInQueue(layout: QueueLayout, ino: number, dev: number): string | undefined {
  for (const dir of [layout.done, layout.failed, ...namesIn(layout.active).map((a) => activeDir(layout, a))]) {
    const name = findByInode(dir, ino, dev)
    if (name !== undefined) return path.join(path.relative(layout.root, dir), name)
  }

  return undefined
}

/**
 * Claims pending/<name> for an account and moves it into active/<account>/ under the same name
 * (the prompt names that path). The task's mtime is set to now: age in active/ counts from here.
 */
export async function takeForAccount(layout: QueueLayout, options: TakeOptions): Promise<TakeOutcome> {
  const {name, account, now} = options
  const activeFolder = activeDir(layout, account)
  failpoint('assign.before-claim')
  const claimed = await claimPending(layout, name, `hand-off to ${account}`, activeFolder)
  if (claimed.kind !== 'ok') return claimed
  const {claim} = claimed
  try {
    const record: HandOffRecord = {
      ...stamp(),
      version: 2,
      account,
      task: name,
      state: 'moving',
      started_at: now.toISOString(),
      pending_mtime_ms: claimed.mtimeMs,
      delivered_at: null,
    }
    const file = handOffPath(layout, account)
    await makeStateDir(handOffDir(layout))
    if (!(await createRecord(file, record, {durable: true}))) return {kind: 'account-busy', why: 'a hand-off to it is in progress'}
    const text = JSON.stringify(record) + '\n'
    failpoint('assign.after-claim')
    let moved: Moved
    try {
      moved = await moveClaimed(layout, claim, activeFolder, {exact: true})
    } catch (error) {
      await removeIfUnchanged(file, text)
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return {kind: 'account-busy', why: `active/${account}/ already holds a ${name}`}
      throw error
    }

    await utimes(moved.path, now, now)
    const delivering: HandOffRecord = {...record, state: 'delivering'}
    const handOff = await rewriteHandOff({record, text, file, path: moved.path}, delivering)
    failpoint('assign.after-move')
    return {kind: 'taken', handOff}
  } finally {
    await claim.release()
  }
}

async function rewriteHandOff(handOff: HandOff, next: HandOffRecord): Promise<HandOff> {
  const text = JSON.stringify(next) + '\n'
  await writeFileAtomic(handOff.file, text, {mode: STATE_FILE_MODE})
  return {...handOff, record: next, text}
}

/** Enter is about to be pressed: from here a killed hand-off waits ENTERED_GRACE_MS for the session's hook before it is undone. */
export async function markEntered(handOff: HandOff, now: Date): Promise<HandOff> {
  return rewriteHandOff(handOff, {...handOff.record, entered_at: now.toISOString()})
}

/** The prompt was delivered: the record stays, as the journal of where the task came from. */
export async function markDelivered(handOff: HandOff, now: Date): Promise<HandOff> {
  return rewriteHandOff(handOff, {...handOff.record, state: 'delivered', delivered_at: now.toISOString()})
}

export interface Requeued {
  account: string
  /** The name it had in active/<account>/. */
  task: string
  /** The name it has in pending/ now (differs when that name was taken). */
  as: string
  renamed: boolean
  /** The mtime it was given back (its place in line), when the hand-off record knew it. */
  restored: boolean
}

/**
 * Moves a task from active/<account>/ back to pending/ under its claim, under a free name, with the
 * mtime it had in pending/ before the hand-off when the account's hand-off record knows it; the
 * record goes. Null when someone else moved the task first.
 */
async function requeueOne(layout: QueueLayout, account: string, name: string, reason: string, now: Date): Promise<Requeued | null> {
  const folder = activeDir(layout, account)
  const claimed = await claimTask(layout, folder, name, `requeue: ${reason}`, layout.pending)
  if (!claimed.ok) return null
  try {
    if (inspect(path.join(folder, name)).kind !== 'file') return null
    return await requeueClaimed(layout, claimed.claim, account, reason, now)
  } finally {
    await claimed.claim.release()
  }
}

/** The move of requeueOne, under a claim its caller holds on active/<account>/<name>. */
async function requeueClaimed(layout: QueueLayout, claim: Claim, account: string, reason: string, now: Date): Promise<Requeued> {
  const {name} = claim
  const handOff = readHandOff(layout, account)
  const known = handOff.kind === 'record' && handOff.record.task === name ? handOff : undefined
  const moved = await moveClaimed(layout, claim, layout.pending, {avoidMarkers: true})
  if (known) {
    const at = known.record.pending_mtime_ms / 1000
    await utimes(moved.path, at, at)
    await removeIfUnchanged(handOffPath(layout, account), known.text)
  }

  await appendEvent(layout.events, 'task.requeued', {task: name, account, as: moved.name, renamed: moved.renamed, reason, from: `active/${account}`}, now)
  return {account, task: name, as: moved.name, renamed: moved.renamed, restored: known !== undefined}
}

/**
 * What keeps an operator from taking a task back from an account now: a hand-off to it under way
 * (a killed one is undone here first, as every settler does), or a failover journal naming it.
 */
export async function requeueBlocker(layout: QueueLayout, account: string, now: Date): Promise<string | null> {
  if (failoverInvolving(layout, account)) return `a failover journal in ${failoverDir(layout)} names ${account}: the next ccl reconcile carries it on (or undoes it)`
  const {state} = await settleHandOff(layout, account, now)
  if (state.kind === 'in-progress') return `a hand-off of ${state.task} to ${account} is under way (${state.by})`
  return null
}

export type OperatorRequeue = {kind: 'requeued'; requeued: Requeued} | {kind: 'blocked'; why: string} | {kind: 'claimed'; by: string} | {kind: 'gone'; where: string | null}

/**
 * `ccl requeue`: active/<account>/<name> back to pending/ with its place in line (as every requeue),
 * reason `operator`. The blockers are checked again under the task's claim, so a failover or a
 * hand-off that began since the caller looked is not cut in two.
 */
export async function requeueByOperator(layout: QueueLayout, options: {account: string; name: string; now: Date}): Promise<OperatorRequeue> {
  const {account, name, now} = options
  const folder = activeDir(layout, account)
  const claimed = await claimTask(layout, folder, name, 'requeue: operator', layout.pending)
  if (!claimed.ok) return {kind: 'claimed', by: claimed.holder}
  try {
    if (inspect(path.join(folder, name)).kind !== 'file') return {kind: 'gone', where: whereIs(layout, name)}
    // Read-only under the claim (an interrupted hand-off is undone by requeueBlocker, before it).
    const handOff = readHandOff(layout, account)
    const why = failoverInvolving(layout, account)
      ? `a failover journal in ${failoverDir(layout)} names ${account}`
      : handOff.kind === 'torn' || (handOff.kind === 'record' && handOff.record.state !== 'delivered')
        ? `a hand-off to ${account} is under way`
        : null
    if (why) return {kind: 'blocked', why}
    return {kind: 'requeued', requeued: await requeueClaimed(layout, claimed.claim, account, 'operator', now)}
  } finally {
    await claimed.claim.release()
  }
}

/** A hand-off that did not deliver goes back: the task to pending/ (its place kept), the account free. */
export async function undoHandOff(layout: QueueLayout, handOff: HandOff, reason: string, now: Date): Promise<Requeued | null> {
  const requeued = await requeueOne(layout, handOff.record.account, handOff.record.task, reason, now)
  await removeIfUnchanged(handOff.file, handOff.text)
  return requeued
}

function readHandOff(layout: QueueLayout, account: string): ReadRecord<HandOffRecord> {
  const found = readRecord<HandOffRecord>(handOffPath(layout, account))
  if (found.kind === 'record' && (typeof found.record.task !== 'string' || typeof found.record.pending_mtime_ms !== 'number')) {
    return {kind: 'torn', mtimeMs: found.mtimeMs, text: found.text}
  }

  return found
}

/** Task files directly in a folder (names only: no stat), for the "is the account working" checks. */
function taskNames(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => name.endsWith('.md') && !name.startsWith('.'))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
}

export type HandOffState =
  | {kind: 'none'}
  /** Under way by a live process. */
  | {kind: 'in-progress'; task: string; by: string}
  /** Delivered, and the task is still in active/<account>/. */
  | {kind: 'delivered'; task: string}

/**
 * Where an account's hand-off stands, repairing what a finished or killed one left: a delivered task
 * that left active/ (done) frees the account; a hand-off whose process died before delivering is undone.
 */
export interface SettleOptions {
  /**
   * Whether the session received the prompt of this hand-off (its UserPromptSubmit was recorded):
   * then an interrupted hand-off is completed, not undone, since the session is already at work.
   */
  received?: (record: HandOffRecord, taskPath: string) => boolean
}

export async function settleHandOff(layout: QueueLayout, account: string, now: Date, options: SettleOptions = {}): Promise<{state: HandOffState; recovered: Requeued | null}> {
  const file = handOffPath(layout, account)
  const found = readHandOff(layout, account)
  if (found.kind === 'none') return {state: {kind: 'none'}, recovered: null}
  const inActive = (task: string) => inspect(path.join(activeDir(layout, account), task)).kind !== 'gone'

  if (found.kind === 'torn') {
    // Created, then torn by a crash before it was whole (durable records are linked whole, so only a foreign write).
    if (refreshedWithin(found.mtimeMs, 5000, now.getTime())) return {state: {kind: 'in-progress', task: '?', by: 'another process'}, recovered: null}
    await removeIfUnchanged(file, found.text)
    debug('hand-off %s: removed an unreadable record', account)
    return {state: {kind: 'none'}, recovered: null}
  }

  const {record} = found
  if (record.failover_from !== undefined && record.state !== 'delivered') {
    const journal = readFailover(layout, record.failover_from)
    if (journal.kind !== 'none' && (journal.kind === 'torn' || journal.record.to === account)) {
      return {state: {kind: 'in-progress', task: record.task, by: `a failover from ${record.failover_from}`}, recovered: null}
    }
  }

  if (record.state === 'delivered') {
    if (inActive(record.task)) return {state: {kind: 'delivered', task: record.task}, recovered: null}
    // Only the one settler that removes the record says so: task.done is logged once.
    if (await removeIfUnchanged(file, found.text)) {
      const where = whereIs(layout, record.task)
      debug('hand-off %s: %s left active/ (now in %s), the account is free', account, record.task, where ?? 'neither done/ nor failed/')
      if (where === 'done/') {
        const from = Date.parse(record.delivered_at ?? record.started_at)
        await appendEvent(layout.events, 'task.done', {task: record.task, account, duration_ms: Math.max(0, now.getTime() - from), by: 'session'}, now)
      }
    }

    return {state: {kind: 'none'}, recovered: null}
  }

  const age = now.getTime() - Date.parse(record.started_at)
  const state = liveness(record.holder)
  if (state === 'alive' && !(age > HANDOFF_STALE_MS)) return {state: {kind: 'in-progress', task: record.task, by: describeHolder(record.holder)}, recovered: null}
  if (state === 'unknown' && !(age > HANDOFF_STALE_MS)) return {state: {kind: 'in-progress', task: record.task, by: describeHolder(record.holder)}, recovered: null}

  const pendingCopy = path.join(layout.pending, record.task)
  const activeCopy = path.join(activeDir(layout, account), record.task)
  // Interrupted after the paste, but the session got the prompt: finish the hand-off instead.
  if (record.state === 'delivering' && inActive(record.task) && options.received?.(record, activeCopy)) {
    await rewriteHandOff({record, text: found.text, file, path: activeCopy}, {...record, state: 'delivered', delivered_at: now.toISOString()})
    debug('hand-off %s: interrupted, but the session received %s: completed', account, record.task)
    return {state: {kind: 'delivered', task: record.task}, recovered: null}
  }

  // Killed after Enter: the session may be at work already, its UserPromptSubmit not yet recorded (a
  // hook takes a moment, longer on a loaded machine). Taking the task back now would have two sessions
  // on it, so the undo waits until no hook can still be on its way.
  const enteredAt = record.entered_at ? Date.parse(record.entered_at) : Number.NaN
  if (record.state === 'delivering' && inActive(record.task) && now.getTime() - enteredAt < ENTERED_GRACE_MS) {
    return {state: {kind: 'in-progress', task: record.task, by: 'its session, which got Enter (waiting for its UserPromptSubmit)'}, recovered: null}
  }

  // Interrupted: undo. A move cut between link and unlink has the task in both places: the pending one stays.
  let recovered: Requeued | null = null
  const a = safeLstat(activeCopy)
  const p = safeLstat(pendingCopy)
  if (a && p && a.ino === p.ino && a.dev === p.dev) {
    await unlink(activeCopy)
    debug('hand-off %s: undid a move cut by a crash (%s stays in pending/)', account, record.task)
  } else if (a) {
    recovered = await requeueOne(layout, account, record.task, 'hand-off interrupted', now)
  }

  await removeIfUnchanged(file, found.text)
  return {state: {kind: 'none'}, recovered}
}

function safeLstat(file: string) {
  try {
    return lstatSync(file)
  } catch {
    return undefined
  }
}

/** Settles every account's hand-off (see settleHandOff); returns the tasks it put back. */
export async function recoverHandOffs(layout: QueueLayout, accounts: readonly string[], now: Date, options: SettleOptions = {}): Promise<Requeued[]> {
  const recovered: Requeued[] = []
  for (const account of accounts) {
    const {recovered: one} = await settleHandOff(layout, account, now, options)
    if (one) recovered.push(one)
  }

  return recovered
}

/**
 * Every task in active/<account>/ back to pending/ (a dead session's work), each under its claim and
 * with its place in line. A hand-off still under way by a live process is left to that process.
 */
export async function requeueActive(layout: QueueLayout, account: string, options: {reason: string; now: Date; dryRun?: boolean}): Promise<Requeued[]> {
  const folder = activeDir(layout, account)
  const names = taskNames(folder).sort()
  if (names.length === 0) return []
  const handOff = readHandOff(layout, account)
  if (handOff.kind === 'record' && handOff.record.state !== 'delivered' && liveness(handOff.record.holder) === 'alive') return []
  if (failoverInvolving(layout, account)) return [] // the failover's journal says what happens to it
  const requeued: Requeued[] = []
  for (const name of names) {
    if (inspect(path.join(folder, name)).kind !== 'file') continue
    if (options.dryRun) {
      requeued.push({account, task: name, as: name, renamed: false, restored: handOff.kind === 'record' && handOff.record.task === name})
      continue
    }

    const one = await requeueOne(layout, account, name, options.reason, options.now)
    if (one) requeued.push(one)
  }

  return requeued
}

// ─── failover: active/<from>/T → active/<to>/T ──────────────────────────────────────────────────

/**
 * `<state>/failover/<from>.json`: the journal of one failover of the task held by account `from`
 * (created exclusively: one failover per source at a time). Each step is recorded before the next
 * begins, so the next reconcile after a kill at any point carries on from the step it names, or
 * undoes the failover when it cannot go on. While it stands, the target's hand-off record
 * (`failover_from`) and the source's task belong to it: no settle, undo or requeue touches them.
 */
export interface FailoverRecord extends RecordBase {
  version: 1
  from: string
  /** The account that takes the task over; equal to `from` for a resume in place after its own reset. */
  to: string
  task: string
  /** The conversation to resume: the source session's id; null when the task starts afresh. */
  session_id: string | null
  /** The cwd the conversation ran in (its transcript is under projects/<encoded cwd>/). */
  cwd: string | null
  mode: 'resume' | 'fresh'
  /** Why the task starts afresh rather than resuming, or null. */
  why: string | null
  step: FailoverStep
  started_at: string
  /** When the target's session was started for this failover. */
  target_started_at: string | null
  /** When the prompt was pasted (step `pasting`): its UserPromptSubmit is looked for from then. */
  pasted_at: string | null
  pending_mtime_ms: number
  /**
   * `release` (a fleet, SPEC §8): no account of this host is free but another host's is; the task goes
   * back to pending/ in its place for any host's dispatch, instead of to an account of this config
   * (`to` equals `from`). Steps: started → source-stopped → moved (back in pending/) → journal removed.
   */
  kind?: 'release' | 'adopt'
  /** For a release: the account of another host that looked free when it began (informative). */
  released_for?: string
}

/**
 *   started           journal and target hand-off record written; nothing else changed
 *   source-stopped    the source's session is killed (a limited session would carry on by itself at its reset)
 *   moved             the task is in active/<to>/
 *   source-restarted  the source runs a fresh session (its plain command): idle until its reset
 *   target-started    the target's session is started (`--resume <id>` or plain); waiting for it to be up
 *   pasting           the prompt is being delivered
 */
export type FailoverStep = 'started' | 'source-stopped' | 'moved' | 'source-restarted' | 'target-started' | 'pasting'

export interface Failover {
  record: FailoverRecord
  text: string
  file: string
}

export function failoverDir(layout: QueueLayout): string {
  return path.join(layout.state, 'failover')
}

export function failoverPath(layout: QueueLayout, from: string): string {
  return path.join(failoverDir(layout), `${from}.json`)
}

function readFailover(layout: QueueLayout, from: string): ReadRecord<FailoverRecord> {
  return readRecord<FailoverRecord>(failoverPath(layout, from))
}

/** Every failover journal there is (whole ones; a torn one is reported by name so nobody acts on its accounts). */
export function readFailovers(layout: QueueLayout): {journals: Failover[]; torn: string[]} {
  const journals: Failover[] = []
  const torn: string[] = []
  for (const name of namesIn(failoverDir(layout))) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue
    const file = path.join(failoverDir(layout), name)
    const found = readRecord<FailoverRecord>(file)
    if (found.kind === 'record' && typeof found.record.task === 'string' && typeof found.record.to === 'string' && typeof found.record.step === 'string') {
      journals.push({record: found.record, text: found.text, file})
    } else if (found.kind !== 'none') {
      torn.push(file)
    }
  }

  return {journals, torn}
}

/** Whether a failover journal names this account as its source or its target. */
export function failoverInvolving(layout: QueueLayout, account: string): boolean {
  if (readFailover(layout, account).kind !== 'none') return true
  return readFailovers(layout).journals.some((j) => j.record.to === account)
}

export type BeginFailover =
  | {kind: 'begun'; failover: Failover}
  /** A failover of this source is already under way. */
  | {kind: 'busy'; why: string}
  /** The target has a hand-off or a task now. */
  | {kind: 'target-busy'; why: string}
  /** The task is not (any more) a regular file in active/<from>/. */
  | {kind: 'gone'}

/**
 * Starts a failover: the journal, then (to another account) the target's hand-off record, which
 * keeps the target from being given anything else and carries the task's place in line.
 */

/**
 * Reserves account `to` for a failover's move (a hand-off record in state moving, created
 * exclusively) unless a hand-off to it is under way or its active/ holds a task; when it cannot, the
 * record it made and the failover's own journal (`journal`, just created) are removed again and the
 * reason is returned.
 */
async function reserveTarget(layout: QueueLayout, to: string, target: HandOffRecord, journal: {file: string; text: string}): Promise<string | undefined> {
  await makeStateDir(handOffDir(layout))
  const busy = !(await createRecord(handOffPath(layout, to), target, {durable: true}))
    ? 'a hand-off to it is in progress'
    : taskNames(activeDir(layout, to)).length > 0
      ? `active/${to}/ holds a task`
      : undefined
  if (busy) {
    if (busy !== 'a hand-off to it is in progress') await removeIfUnchanged(handOffPath(layout, to), JSON.stringify(target) + '\n')
    await removeIfUnchanged(journal.file, journal.text)
  }

  return busy
}

export async function beginFailover(
  layout: QueueLayout,
  options: {from: string; to: string; task: string; session_id: string | null; cwd: string | null; mode: 'resume' | 'fresh'; why: string | null; now: Date; releasedFor?: string},
): Promise<BeginFailover> {
  const {from, to, task, now} = options
  const source = path.join(activeDir(layout, from), task)
  const found = inspect(source)
  if (found.kind !== 'file') return {kind: 'gone'}
  const handOff = readHandOff(layout, from)
  const pendingMtime = handOff.kind === 'record' && handOff.record.task === task ? handOff.record.pending_mtime_ms : found.mtimeMs
  const record: FailoverRecord = {
    ...stamp(),
    version: 1,
    from,
    to,
    task,
    session_id: options.session_id,
    cwd: options.cwd,
    mode: options.mode,
    why: options.why,
    step: 'started',
    started_at: now.toISOString(),
    target_started_at: null,
    pasted_at: null,
    pending_mtime_ms: pendingMtime,
    ...(options.releasedFor === undefined ? {} : {kind: 'release' as const, released_for: options.releasedFor}),
  }
  const file = failoverPath(layout, from)
  await makeStateDir(failoverDir(layout))
  if (!(await createRecord(file, record, {durable: true}))) return {kind: 'busy', why: `a failover of ${from}'s task is under way`}
  const text = JSON.stringify(record) + '\n'
  if (to !== from) {
    const target: HandOffRecord = {
      ...stamp(),
      version: 2,
      account: to,
      task,
      state: 'moving',
      started_at: now.toISOString(),
      pending_mtime_ms: pendingMtime,
      delivered_at: null,
      failover_from: from,
    }
    const busy = await reserveTarget(layout, to, target, {file, text})
    if (busy) return {kind: 'target-busy', why: busy}
  }

  debug('failover %s → %s of %s: begun (%s)', from, to, task, options.mode)
  return {kind: 'begun', failover: {record, text, file}}
}

/** Records the next step (atomically); the journal handle for the step after. */
export async function stepFailover(failover: Failover, patch: Partial<FailoverRecord>): Promise<Failover> {
  const next = {...failover.record, ...patch}
  const text = JSON.stringify(next) + '\n'
  await writeFileAtomic(failover.file, text, {mode: STATE_FILE_MODE})
  return {...failover, record: next, text}
}

export type FailoverMove = {kind: 'moved'; path: string} | {kind: 'claimed'; by: string} | {kind: 'gone'; where: string | null}

/**
 * Moves the task of a failover from active/<from>/ to active/<to>/ under its claim, under the same
 * name (the prompt names that path); its mtime is set to now (its age there counts from here). The
 * source's hand-off record goes: the target's carries the place in line. Repeatable: a move done
 * (or cut between link and unlink) by a killed run is found and completed.
 */
export async function moveForFailover(layout: QueueLayout, failover: Failover, now: Date): Promise<FailoverMove> {
  const {from, to, task} = failover.record
  const target = path.join(activeDir(layout, to), task)
  if (from === to) return inspect(target).kind === 'file' ? {kind: 'moved', path: target} : {kind: 'gone', where: whereIs(layout, task)}
  const folder = activeDir(layout, from)
  await mkdir(activeDir(layout, to), {recursive: true})
  const claimed = await claimTask(layout, folder, task, `failover to ${to}`, activeDir(layout, to))
  if (!claimed.ok) return {kind: 'claimed', by: claimed.holder}
  try {
    const source = path.join(folder, task)
    if (inspect(source).kind === 'file') {
      const there = safeLstat(target)
      const here = safeLstat(source)
      if (there && here && there.ino === here.ino && there.dev === here.dev) {
        await unlink(source) // a move cut between link and unlink
      } else {
        await moveClaimed(layout, claimed.claim, activeDir(layout, to), {exact: true})
      }

      await utimes(target, now, now)
    } else if (inspect(target).kind !== 'file') {
      return {kind: 'gone', where: whereIs(layout, task)}
    }

    const handOff = readHandOff(layout, from)
    if (handOff.kind === 'record' && handOff.record.task === task) await removeIfUnchanged(handOffPath(layout, from), handOff.text)
    return {kind: 'moved', path: target}
  } finally {
    await claimed.claim.release()
  }
}

export type FailoverRelease = {kind: 'released'; requeued: Requeued | null} | {kind: 'claimed'; by: string}

/**
 * `<state>/failover/released/<T>.json`: a released task's conversation, for a host that can resume it
 * (failover.across_hosts: resume). Dispatch leaves pending/T alone until `resume_until`; a reconcile with
 * a free account that reaches the transcript adopts it meanwhile. No host-local path: the transcript is
 * named by its folder under projects/ (the encoded cwd) and the session id.
 */
export interface ResumeHint {
  version: 1
  task: string
  from: string
  host: string
  session_id: string
  cwd: string | null
  transcript_dir: string | null
  released_at: string
  resume_until: string
}

export function resumeHintDir(layout: QueueLayout): string {
  return path.join(failoverDir(layout), 'released')
}

export function resumeHintPath(layout: QueueLayout, task: string): string {
  return path.join(resumeHintDir(layout), `${task}.json`)
}

/** Every readable hint (a torn or foreign file is skipped: the task then starts afresh). */
export function readResumeHints(layout: QueueLayout): {hint: ResumeHint; file: string}[] {
  const hints: {hint: ResumeHint; file: string}[] = []
  for (const name of namesIn(resumeHintDir(layout))) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue
    const file = path.join(resumeHintDir(layout), name)
    try {
      const hint = JSON.parse(readRegular(file).toString('utf8')) as Partial<ResumeHint>
      if (hint.version === 1 && typeof hint.task === 'string' && typeof hint.session_id === 'string' && typeof hint.from === 'string' && typeof hint.resume_until === 'string') {
        hints.push({hint: hint as ResumeHint, file})
      }
    } catch {
      // unreadable: ignored
    }
  }

  return hints
}

/** The hint of a task that is no longer waiting in pending/ (or whose wait is over) goes. */
export async function dropResumeHint(file: string): Promise<void> {
  await removeIfExists(file)
}

export type BeginAdopt = {kind: 'begun'; failover: Failover} | {kind: 'busy'; why: string} | {kind: 'gone'}

/**
 * Starts the adoption of a released task by account `to` of this host: the journal (kind adopt, named
 * by the source account, step `started`) and `to`'s hand-off record (`failover_from`: the source), both
 * created exclusively. Nothing is moved yet: moveForAdopt does that under T's claim.
 */
export async function beginAdopt(layout: QueueLayout, options: {hint: ResumeHint; to: string; now: Date}): Promise<BeginAdopt> {
  const {hint, to, now} = options
  const found = inspect(path.join(layout.pending, hint.task))
  if (found.kind !== 'file' || markerStands(layout.pending, hint.task)) return {kind: 'gone'}
  const record: FailoverRecord = {
    ...stamp(),
    version: 1,
    from: hint.from,
    to,
    task: hint.task,
    session_id: hint.session_id,
    cwd: hint.cwd,
    mode: 'resume',
    why: null,
    step: 'started',
    started_at: now.toISOString(),
    target_started_at: null,
    pasted_at: null,
    pending_mtime_ms: found.mtimeMs,
    kind: 'adopt',
  }
  const file = failoverPath(layout, hint.from)
  await makeStateDir(failoverDir(layout))
  if (!(await createRecord(file, record, {durable: true}))) return {kind: 'busy', why: `a failover of ${hint.from}'s task is under way`}
  const text = JSON.stringify(record) + '\n'
  const target: HandOffRecord = {...stamp(), version: 2, account: to, task: hint.task, state: 'moving', started_at: now.toISOString(), pending_mtime_ms: found.mtimeMs, delivered_at: null, failover_from: hint.from}
  const busy = await reserveTarget(layout, to, target, {file, text})
  if (busy) return {kind: 'busy', why: busy}

  debug('adopt of %s (released by %s) for %s: begun', hint.task, hint.from, to)
  return {kind: 'begun', failover: {record, text, file}}
}

/**
 * pending/T → active/<to>/T under T's claim (the same name: the prompt names it), its mtime set to now;
 * the hint goes. Repeatable: a task already in active/<to>/ is moved; one gone from both is `gone`.
 */
export async function moveForAdopt(layout: QueueLayout, failover: Failover, now: Date): Promise<FailoverMove> {
  const {to, task} = failover.record
  const target = path.join(activeDir(layout, to), task)
  await mkdir(activeDir(layout, to), {recursive: true})
  const claimed = await claimPending(layout, task, `adopt for ${to}`, activeDir(layout, to))
  if (claimed.kind === 'claimed') return {kind: 'claimed', by: claimed.by}
  if (claimed.kind === 'ok') {
    try {
      await moveClaimed(layout, claimed.claim, activeDir(layout, to), {exact: true})
      await utimes(target, now, now)
    } finally {
      await claimed.claim.release()
    }
  } else if (inspect(target).kind !== 'file') {
    return {kind: 'gone', where: whereIs(layout, task)}
  }

  await removeIfExists(resumeHintPath(layout, task))
  return {kind: 'moved', path: target}
}

/**
 * A release (kind `release`): active/<from>/T back to pending/ under its claim, in its place in line
 * (the hand-off record of `from` knows it; else the journal does), as every requeue; `task.requeued`
 * says why and names the conversation it ran in. Repeatable: a task no longer in active/<from>/ (a
 * killed run moved it; a move cut between link and unlink is completed by the claim) is released.
 */
export async function releaseForFailover(layout: QueueLayout, failover: Failover, reason: string, now: Date, hint?: {resumeUntil: Date; transcriptDir: string | null}): Promise<FailoverRelease> {
  const {from, task} = failover.record
  const folder = activeDir(layout, from)
  const claimed = await claimTask(layout, folder, task, `release: ${reason}`, layout.pending)
  if (!claimed.ok) return {kind: 'claimed', by: claimed.holder}
  try {
    if (inspect(path.join(folder, task)).kind !== 'file') return {kind: 'released', requeued: null}
    const handOff = readHandOff(layout, from)
    const known = handOff.kind === 'record' && handOff.record.task === task ? handOff : undefined
    const moved = await moveClaimed(layout, claimed.claim, layout.pending, {avoidMarkers: true})
    const at = (known?.record.pending_mtime_ms ?? failover.record.pending_mtime_ms) / 1000
    await utimes(moved.path, at, at)
    if (known) await removeIfUnchanged(handOffPath(layout, from), known.text)
    if (hint && failover.record.session_id !== null) {
      const record: ResumeHint = {
        version: 1,
        task: moved.name,
        from,
        host: failover.record.holder.host,
        session_id: failover.record.session_id,
        cwd: failover.record.cwd,
        transcript_dir: hint.transcriptDir,
        released_at: now.toISOString(),
        resume_until: hint.resumeUntil.toISOString(),
      }
      await makeStateDir(resumeHintDir(layout))
      await writeFileAtomic(resumeHintPath(layout, moved.name), JSON.stringify(record) + '\n', {mode: STATE_FILE_MODE})
    }

    await appendEvent(
      layout.events,
      'task.requeued',
      {task, account: from, as: moved.name, renamed: moved.renamed, reason, from: `active/${from}`, failover: 'release', session_id: failover.record.session_id},
      now,
    )
    return {kind: 'released', requeued: {account: from, task, as: moved.name, renamed: moved.renamed, restored: true}}
  } finally {
    await claimed.claim.release()
  }
}

/** A release is complete (the task in pending/, the source restarted): the journal goes. */
export async function finishRelease(failover: Failover): Promise<void> {
  await removeIfUnchanged(failover.file, failover.text)
  debug('release of %s from %s: done', failover.record.task, failover.record.from)
}

/** The failover is complete: the target's hand-off record says delivered (task.done follows from it), the journal goes. */
export async function finishFailover(layout: QueueLayout, failover: Failover, now: Date): Promise<void> {
  const {to, from, task} = failover.record
  if (to !== from) {
    const handOff = readHandOff(layout, to)
    if (handOff.kind === 'record' && handOff.record.task === task && handOff.record.failover_from === from) {
      await rewriteHandOff({record: handOff.record, text: handOff.text, file: handOffPath(layout, to), path: path.join(activeDir(layout, to), task)}, {
        ...handOff.record,
        state: 'delivered',
        delivered_at: now.toISOString(),
      })
    }
  }

  await removeIfUnchanged(failover.file, failover.text)
  debug('failover %s → %s of %s: done', from, to, task)
}

/**
 * A failover that cannot go on is undone: a task already moved to the target goes back to pending/
 * in its place (its conversation is in the shared projects/; the next hand-off starts afresh); one
 * still with the source stays there. The target's hand-off record and the journal go.
 */
export async function abortFailover(layout: QueueLayout, failover: Failover, reason: string, now: Date): Promise<Requeued | null> {
  const {from, to, task} = failover.record
  let requeued: Requeued | null = null
  if (to !== from) {
    const handOff = readHandOff(layout, to)
    const ours = handOff.kind === 'record' && handOff.record.task === task && handOff.record.failover_from === from
    if (inspect(path.join(activeDir(layout, to), task)).kind === 'file' && ours) {
      requeued = await requeueOne(layout, to, task, `failover from ${from} undone: ${reason}`, now)
    } else if (ours) {
      await removeIfUnchanged(handOffPath(layout, to), handOff.text)
    }
  }

  await removeIfUnchanged(failover.file, failover.text)
  debug('failover %s → %s of %s: undone (%s)', from, to, task, reason)
  return requeued
}

// ─── retry: failed/T → pending/T ────────────────────────────────────────────────────────────────

/** The journal of one retry of T: the new pending/T, written whole under this dot-name before it is linked. */
export function retryJournalPath(layout: QueueLayout, name: string): string {
  return path.join(layout.pending, RETRY_PREFIX + sha256(name).slice(0, 32))
}

export type RetryOutcome =
  | {kind: 'retried'; path: string; removed: number}
  /** Not in failed/: where it is, if anywhere. */
  | {kind: 'gone'; where: string | null}
  /** Its name is in use elsewhere in the queue (pending/, a marker, active/, done/): nothing changed. */
  | {kind: 'taken'; where: string}
  | {kind: 'claimed'; by: string}
  | {kind: 'refused'; why: string}

export interface RetryRequest {
  name: string
  /** The content it goes back with (the footers removed), from its content in failed/. */
  rewrite: (content: Buffer) => {content: string | Buffer; removed: number}
  now: Date
}

/*
 * Crash-safe, under the claim on pending/T (which keeps assign, submit and dispatch off the name):
 *   1. prepared  the new content is written to pending/.ccl-retry-<hash(T)> (temp, fsync, rename),
 *                with failed/T's mode and mtime now
 *   2. linked    that file is hard-linked to pending/T (never over a file)
 *   3. failed/T is unlinked, the event appended, the journal unlinked
 * A killed retry is judged from its journal (recoverRetry) by whoever breaks its claim (any claimant
 * of pending/T, a sweep of pending/ by dispatch or reap, the next retry): link count 1 → undone
 * (failed/T is untouched); 2 or more → linked, so failed/T goes.
 */
export async function retryFailed(layout: QueueLayout, request: RetryRequest): Promise<RetryOutcome> {
  const {name, now} = request
  const source = path.join(layout.failed, name)
  const target = path.join(layout.pending, name)
  const claimed = await claimTask(layout, layout.pending, name, RETRY_PURPOSE)
  if (!claimed.ok) return {kind: 'claimed', by: claimed.holder}
  try {
    await recoverRetry(layout, name) // a journal here is a dead run's: its claim was just broken
    const found = inspect(source)
    if (found.kind === 'gone') return {kind: 'gone', where: whereIs(layout, name) ?? (inspect(target).kind === 'gone' ? null : 'pending/')}
    if (found.kind === 'not-regular') return {kind: 'refused', why: `${found.what}, not a regular file: never read or moved`}
    if (inspect(target).kind !== 'gone') return {kind: 'taken', where: 'pending/'}
    if (markerStands(layout.pending, name)) return {kind: 'taken', where: `pending/ (its marker ${name + MARKER_SUFFIX})`}
    const where = whereIs(layout, name)
    if (where !== 'failed/' && where !== null) return {kind: 'taken', where}

    const content = readRegularFile(source)
    const mode = lstatSync(source).mode & 0o7777
    const next = request.rewrite(content)
    const journal = retryJournalPath(layout, name)
    await writeFileAtomic(journal, next.content, {mode})
    await utimes(journal, now, now)
    failpoint('retry.prepared')
    try {
      await link(journal, target)
    } catch (error) {
      await removeIfExists(journal)
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return {kind: 'taken', where: 'pending/ (a task of that name arrived meanwhile)'}
      throw error
    }

    failpoint('retry.linked')
    await unlink(source)
    await appendEvent(layout.events, 'task.retried', {task: name, from: 'failed/', footers_removed: next.removed}, now)
    await removeIfExists(journal)
    debug('retry failed/%s → pending/%s (%d footer(s) removed)', name, name, next.removed)
    return {kind: 'retried', path: target, removed: next.removed}
  } finally {
    await claimed.claim.release()
  }
}

/** Finishes or undoes a retry a killed run left (see retryFailed); call it only under, or while breaking, pending/T's claim. */
async function recoverRetry(layout: QueueLayout, name: string): Promise<void> {
  const journal = retryJournalPath(layout, name)
  const info = safeLstat(journal)
  if (!info) return
  if (info.nlink >= 2) {
    // Linked into pending/ (the task may have moved on since, under the same inode): the retry happened.
    const source = path.join(layout.failed, name)
    const there = safeLstat(source)
    if (there && there.ino !== info.ino && (await removeIfExists(source))) {
      await appendEvent(layout.events, 'task.retried', {task: name, from: 'failed/', recovered: true}, new Date())
    }

    debug('retry of %s: completed what a killed run left', name)
  } else {
    debug('retry of %s: undid what a killed run left (failed/%s stays)', name, name)
  }

  await removeIfExists(journal)
}

// ─── delegation markers: rewritten under the task's claim ─────────────────────────────────────────

/**
 * Rewrites pending/<name>'s marker under the task's claim, so it is never written back after a
 * finish or a cancel removed it: `next` reads the current marker and returns the new text, or
 * undefined to leave it. Claims are held for milliseconds; one still held after a few tries is
 * reported (`busy`) and nothing is written.
 */
export async function rewriteMarker(layout: QueueLayout, name: string, next: () => Promise<string | undefined>): Promise<'written' | 'left' | 'busy'> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const claimed = await claimTask(layout, layout.pending, name, 'marker rewrite')
    if (!claimed.ok) {
      await new Promise((resolve) => setTimeout(resolve, 10 + attempt * 5))
      continue
    }

    try {
      const text = await next()
      if (text === undefined) return 'left'
      await writeFileAtomic(path.join(layout.pending, name + MARKER_SUFFIX), text)
      return 'written'
    } finally {
      await claimed.claim.release()
    }
  }

  return 'busy'
}

// ─── delegation: pending/T + pending/T.delegated ─────────────────────────────────────────────────

export type DelegationClaim<M> =
  | {kind: 'claimed'; marker: M; content: Buffer}
  | {kind: 'gone'}
  | {kind: 'delegated'}
  | {kind: 'claimed-by-other'; by: string}
  | {kind: 'refused'; why: string}

export {MAX_DELEGATED_NAME_BYTES} from './layout.js'

/**
 * Claims pending/<name> for delegation: under the task's claim, checks it is a regular file with no
 * marker, reads it, and creates the marker that `build` makes from its content (exclusive, fsynced).
 * From then on the marker says the task is remote; the claim itself is released at once.
 */
export async function claimForDelegation<M>(
  layout: QueueLayout,
  options: {name: string; build: (content: Buffer) => M; serialize: (marker: M) => string},
): Promise<DelegationClaim<M>> {
  const {name} = options
  if (Buffer.byteLength(name) > MAX_DELEGATED_NAME_BYTES) {
    return {kind: 'refused', why: `its name is ${Buffer.byteLength(name)} bytes; a delegated task's marker ${MARKER_SUFFIX} must fit in ${NAME_MAX}, so at most ${MAX_DELEGATED_NAME_BYTES}`}
  }

  failpoint('submit.before-claim')
  const claimed = await claimPending(layout, name, 'delegation')
  if (claimed.kind === 'claimed') return {kind: 'claimed-by-other', by: claimed.by}
  if (claimed.kind !== 'ok') return claimed
  try {
    const content = readRegularFile(path.join(layout.pending, name))
    const marker = options.build(content)
    if (!(await createExclusive(path.join(layout.pending, name + MARKER_SUFFIX), options.serialize(marker)))) return {kind: 'delegated'}
    debug('claim pending/%s: delegated', name)
    return {kind: 'claimed', marker, content}
  } finally {
    await claimed.claim.release()
  }
}

// ─── finish: pending/T + marker → done/ or failed/ ───────────────────────────────────────────────

export type FinishStep = 'prepared' | 'linked' | 'logged' | 'task-removed' | 'marker-removed'

/**
 * The journal file of one delegation's finish, in pending/ (which reap reads every pass, so a
 * leftover is always found), named by its idempotency key (random per claim, unforgeable by task
 * text) and the folder it is for. It is linked across to done/ or failed/ (one filesystem).
 */
// A reap asks for each claim's two journal names three times (the sweep's live set, the check before
// polling, the finish): hashed once per key.
const journalIds = new Map<string, string>()

export function resultJournalName(key: string, dir: 'done' | 'failed'): string {
  let id = journalIds.get(key)
  if (id === undefined) {
    id = sha256(key).slice(0, 32)
    journalIds.set(key, id)
  }

  return `${RESULT_PREFIX}${id}.${dir}`
}

/**
 * Whether a listing of pending/ (its `.ccl-` names) holds a prepared result of this claim: reap's
 * check before it polls, which saves two lstats per job. Only a hint: finishDelegated looks again
 * under the task's claim, so a journal made after the listing is still found.
 */
export function listsPreparedResult(names: ReadonlySet<string>, key: string): boolean {
  // A listing without `.ccl-` names (every run but one after a crash) needs no hash of the key.
  return names.size > 0 && (names.has(resultJournalName(key, 'done')) || names.has(resultJournalName(key, 'failed')))
}

/** The two files a finish of this claim may have journaled, done/ first. */
function journalFiles(layout: QueueLayout, key: string): {dir: 'done' | 'failed'; file: string}[] {
  return (['done', 'failed'] as const).map((dir) => ({dir, file: path.join(layout.pending, resultJournalName(key, dir))}))
}

/** Where an earlier, killed finish left this claim's prepared result, if it did. */
export function findPreparedResult(layout: QueueLayout, key: string): {dir: 'done' | 'failed'; file: string} | undefined {
  return journalFiles(layout, key).find((journal) => safeLstat(journal.file))
}

/**
 * findPreparedResult off the event loop: a reap runs eight finishes at once, and while their creates
 * and fsyncs hold pending/, a synchronous lookup there waits for them.
 */
async function findPreparedResultAsync(layout: QueueLayout, key: string): Promise<{dir: 'done' | 'failed'; file: string} | undefined> {
  for (const journal of journalFiles(layout, key)) if (await exists(journal.file)) return journal
  return undefined
}

export interface FinishTaskRequest {
  name: string
  /** The marker's idempotency key: names the journal file. */
  key: string
  /** Whether the file in pending/ is still the task that was delegated (not a new one of the same name). */
  isDelegatedContent: (content: Buffer) => boolean
  /** done/ or failed/, and the final text, from the task's content. */
  dir: 'done' | 'failed'
  render: (content: string) => string
  /** Appends the outcome event; `recovered` says an earlier run may have appended it already. */
  log: (destination: string, prepared: string, recovered: boolean) => Promise<void>
}

export type FinishTaskResult =
  | {kind: 'finished'; destination: string; dir: 'done' | 'failed'; recovered: boolean; text: string}
  | {kind: 'orphan'; message: string}
  | {kind: 'busy'; by: string}

/*
 * Crash-safe, each step repeatable, all under the task's claim:
 *   1. prepared      the final text (task + footer) is written to pending/.ccl-result-<key>.<dir> (temp, fsync, rename)
 *   2. linked        that file is hard-linked to the first free name in <dir> (never over a file)
 *   3. logged        the outcome event is appended (on recovery, only if events.jsonl lacks it)
 *   4. task-removed  pending/T goes, if it is still the delegated task
 *   5. marker-removed
 * then the journal name is unlinked. What a killed run did is read from the journal file: it exists
 * (step 1 done), its link count is 2 (step 2 done, its twin found by inode). Never from the content
 * of files in done/ or failed/, which tasks and servers can write.
 */
export async function finishDelegated(layout: QueueLayout, request: FinishTaskRequest, onStep?: (step: FinishStep) => void): Promise<FinishTaskResult> {
  const step = (name: FinishStep) => {
    onStep?.(name)
    failpoint(`finish.${name}`)
  }

  const claimed = await claimTask(layout, layout.pending, request.name, 'finish')
  if (!claimed.ok) return {kind: 'busy', by: claimed.holder}
  try {
    const source = path.join(layout.pending, request.name)
    const markerFile = source + MARKER_SUFFIX
    let prepared = await findPreparedResultAsync(layout, request.key)
    const recovered = prepared !== undefined
    let text: string
    if (prepared) {
      text = readRegular(prepared.file, {noFollow: true}).toString('utf8')
    } else {
      let content: Buffer
      let mode: number
      try {
        // The result keeps the task's own mode (a 0600 task stays 0600 in done/ and failed/).
        ;({content, mode} = readRegularWithMode(source, {noFollow: true}))
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code !== 'ENOENT' && code !== 'ELOOP' && code !== 'ENOTREG') throw error
        return {
          kind: 'orphan',
          message: `${source} is gone (or not a regular file) but its marker ${path.basename(markerFile)} remains, and no result of this claim was prepared: an orphaned marker; run ccl fsck --repair (it moves the marker to ${lostAndFound(layout)}/)`,
        }
      }

      text = request.render(content.toString('utf8'))
      const journal = path.join(layout.pending, resultJournalName(request.key, request.dir))
      await writeFileAtomic(journal, text, {mode})
      prepared = {dir: request.dir, file: journal}
      step('prepared')
    }

    const folder = layout[prepared.dir]
    // Only a journal an earlier run left can have been linked already (one this run just wrote has not).
    const info = recovered ? lstatSync(prepared.file) : undefined
    let destination = info && info.nlink > 1 ? findByInode(folder, info.ino, info.dev) : undefined
    destination ??= await linkFree(prepared.file, folder, request.name)
    const destinationPath = path.join(folder, destination)
    step('linked')
    await request.log(destinationPath, text, recovered)
    step('logged')
    const current = readIfRegular(source)
    if (current && request.isDelegatedContent(current)) await unlink(source)
    step('task-removed')
    await removeIfExists(markerFile)
    step('marker-removed')
    await removeIfExists(prepared.file)
    debug('finish pending/%s → %s', request.name, path.relative(layout.root, destinationPath))
    return {kind: 'finished', destination: destinationPath, dir: prepared.dir, recovered, text}
  } finally {
    await claimed.claim.release()
  }
}

async function linkFree(file: string, dir: string, name: string): Promise<string> {
  for (let n = 1; ; n++) {
    const candidate = numberedName(name, n)
    try {
      await link(file, path.join(dir, candidate))
      return candidate
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  }
}

// ─── fsck repairs: under the task's claim, re-checked there ───────────────────────────────────

/** Where fsck --repair puts what it takes out of the queue but must not destroy (orphaned markers): in the queue root, one filesystem with pending/. */
export function lostAndFound(layout: QueueLayout): string {
  return path.join(layout.root, 'lost+found')
}

export type SetAside = {kind: 'moved'; to: string} | {kind: 'task-present'} | {kind: 'prepared'} | {kind: 'gone'} | {kind: 'claimed'; by: string}

/**
 * Moves pending/<name>.delegated, whose task is gone, into lost+found/ (never over a file). Under
 * the task's claim it checks again that no task of that name came back and that no finish of this
 * claim was prepared (reap completes those): only a marker nothing will ever finish is moved.
 */
export async function setAsideMarker(layout: QueueLayout, name: string, key: string | null): Promise<SetAside> {
  const claimed = await claimTask(layout, layout.pending, name, 'fsck: set aside an orphaned marker')
  if (!claimed.ok) return {kind: 'claimed', by: claimed.holder}
  try {
    if (inspect(path.join(layout.pending, name)).kind !== 'gone') return {kind: 'task-present'}
    if (key !== null && findPreparedResult(layout, key)) return {kind: 'prepared'}
    const marker = path.join(layout.pending, name + MARKER_SUFFIX)
    if (!safeLstat(marker)) return {kind: 'gone'}
    const folder = lostAndFound(layout)
    await mkdir(folder, {recursive: true, mode: 0o700})
    let to = ''
    for (let n = 1; !to; n++) {
      const candidate = n === 1 ? name + MARKER_SUFFIX : `${name}${MARKER_SUFFIX}.${n}`
      try {
        await link(marker, path.join(folder, candidate))
        to = candidate
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      }
    }

    await unlink(marker)
    debug('set aside pending/%s → %s', name + MARKER_SUFFIX, path.join(folder, to))
    return {kind: 'moved', to: path.join(folder, to)}
  } finally {
    await claimed.claim.release()
  }
}

export type DropTwin = {kind: 'removed'} | {kind: 'differs'} | {kind: 'delegated'} | {kind: 'gone'} | {kind: 'claimed'; by: string}

/**
 * Removes pending/<name> when `twin` (the same task in active/, done/ or failed/) holds the very same
 * bytes: the task was done or handed out, and this copy would run it a second time. A pending copy
 * with a marker, or that differs by a byte, is not touched. A twin sharing its inode is a move cut
 * by a crash, completed the same way the next claimant of pending/<name> would.
 */
export async function dropPendingTwin(layout: QueueLayout, name: string, twin: string): Promise<DropTwin> {
  const claimed = await claimTask(layout, layout.pending, name, 'fsck: drop a duplicate')
  if (!claimed.ok) return {kind: 'claimed', by: claimed.holder}
  try {
    const source = path.join(layout.pending, name)
    if (inspect(source).kind !== 'file' || inspect(twin).kind !== 'file') return {kind: 'gone'}
    if (markerStands(layout.pending, name)) return {kind: 'delegated'}
    if (!readRegularFile(source).equals(readRegularFile(twin))) return {kind: 'differs'}
    await unlink(source)
    debug('dropped pending/%s: the same task is in %s', name, path.relative(layout.root, twin))
    return {kind: 'removed'}
  } finally {
    await claimed.claim.release()
  }
}

// ─── housekeeping ───────────────────────────────────────────────────────────────────────────────

/**
 * What killed runs left in a folder: temp files once older than `tempAgeMs`, claims whose holder is
 * gone, and (with `liveJournals`) result journals of claims that no longer exist. Call it only from
 * the run that owns the folder (reap and dispatch: pending/; reconcile: active/, state folders).
 */
export async function sweepFolder(dir: string, options: {tempAgeMs: number; now: number; liveJournals?: ReadonlySet<string>; layout?: QueueLayout}): Promise<number> {
  // Nothing of ours in it (the usual case for an account's active/): no reads at all.
  const names = namesIn(dir)
  if (!names.some((name) => name.startsWith('.ccl-'))) return 0
  let removed = await sweepTemps(dir, options.tempAgeMs, options.now)
  for (const name of names) {
    const file = path.join(dir, name)
    if (options.liveJournals && name.startsWith(RESULT_PREFIX) && !options.liveJournals.has(name)) {
      const info = safeLstat(file)
      if (info && options.now - info.mtimeMs > options.tempAgeMs && (await removeIfExists(file))) removed++
      continue
    }

    if (!name.startsWith(CLAIM_PREFIX)) continue
    if (name.endsWith('.break')) {
      // a breaker killed while it held the guard
      if (await removeStaleGuard(file)) removed++
      continue
    }

    const found = readRecord<ClaimRecord>(file)
    if (!isBreakable(found, CLAIM_STALE_MS, options.now) || found.kind === 'none') continue
    if (found.kind === 'record' && found.record.purpose === RETRY_PURPOSE) {
      // A killed retry: finished or undone first; without the layout that cannot be done here, so it is left to the next claimant.
      if (!options.layout || dir !== options.layout.pending) continue
      await recoverRetry(options.layout, found.record.task)
    }

    // A claim of a move (`to`) may stand for a move a crash cut in two: completed first, as the claimant
    // that breaks it would; without the layout it is left to the next claimant.
    if (found.kind === 'record' && found.record.to) {
      if (!options.layout) continue
      if (!(await removeIfUnchanged(file, found.text))) continue
      removed++
      const movedTo = fromQueuePath(options.layout, found.record.to)
      if (movedTo !== null) await completeHalfMove(options.layout, dir, found.record.task, movedTo)
      continue
    }

    if (await removeIfUnchanged(file, found.text)) removed++
  }

  return removed
}
