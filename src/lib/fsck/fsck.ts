// `ccl fsck`: checks the invariants of the queue and the state (SPEC §3, docs/fsck.md), and with
// `repair` fixes what is safe: every move of a task through the queue core, under the task's claim.
import {closeSync, fstatSync, lstatSync, openSync, readSync, type Stats} from 'node:fs'
import {truncate} from 'node:fs/promises'
import path from 'node:path'

import {receivedBy} from '../assign/assign.js'
import type {Config} from '../config/schema.js'
import {readMarkerIfExists} from '../delegation/marker.js'
import {errorMessage, UserError} from '../errors.js'
import {eventLogsSync} from '../events/logs.js'
import {removeIfExists, TEMP_PREFIX} from '../queue/files.js'
import {ownersDir} from '../fleet/owners.js'
import {liveness, processStart} from '../queue/holder.js'
import {activeDir, isTaskName, MARKER_SUFFIX, type QueueLayout, queueLayout, scanTasks} from '../queue/layout.js'
import {describeLockHolder, type Lock, lockWithin} from '../queue/lock.js'
import {readRecord} from '../queue/record.js'
import {dropPendingTwin, failoverDir, handOffDir, type HandOffRecord, lostAndFound, namesIn, readFailovers, setAsideMarker, settleHandOff, TEMP_SAFE_AGE_MS} from '../queue/transitions.js'
import {readSessionRecord} from '../sessions/record.js'
import {describeOrphan, orphanOf} from './markers.js'

export const FSCK_KINDS = [
  'task-duplicate',
  'not-regular',
  'marker-orphaned',
  'marker-finished',
  'marker-malformed',
  'temp-stale',
  'handoff-stale',
  'failover-stale',
  'active-unknown-account',
  'active-several',
  'state-unparsable',
  'events-torn',
  'task-unreadable',
  'mode-writable',
  'state-readable',
] as const

export type FsckKind = (typeof FSCK_KINDS)[number]

/** Kinds that are worth a look but do not make the queue unsound (exit 0). */
const WARNING_KINDS: ReadonlySet<FsckKind> = new Set(['mode-writable', 'state-readable'])

export interface FsckProblem {
  kind: FsckKind
  severity: 'problem' | 'warning'
  path: string
  detail: string
  /** What to do: what `--repair` does for it, or what is left for a person. */
  repair: string
  /** Whether `--repair` fixes it. */
  repairable: boolean
}

export interface FsckRepair {
  kind: FsckKind
  path: string
  detail: string
}

export interface FsckReport {
  /** Problems and warnings still standing after the run (with `repair`, what it left for a person). */
  problems: FsckProblem[]
  repaired: FsckRepair[]
  /** No problem left (warnings allowed). */
  sound: boolean
}

export interface FsckOptions {
  repair: boolean
  now: Date
  /** Take the reap and reconcile locks (default: when repairing). How long to wait for them. */
  lockWaitMs?: number
}

/** A temp whose writer is provably gone (its pid not running here) is stale after this; any temp after TEMP_SAFE_AGE_MS. */
const TEMP_DEAD_WRITER_MS = 60_000
/** A torn last event line younger than this may be a writer mid-append: left alone. */
const EVENT_TAIL_SETTLE_MS = 5000

interface Finding extends FsckProblem {
  fix?: () => Promise<string | null>
}

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file)
  } catch {
    return null
  }
}

function find(kind: FsckKind, file: string, detail: string, repair: string, fix?: () => Promise<string | null>): Finding {
  return {kind, severity: WARNING_KINDS.has(kind) ? 'warning' : 'problem', path: file, detail, repair, repairable: fix !== undefined, ...(fix ? {fix} : {})}
}

function sameBytes(a: string, b: string): boolean {
  try {
    const x = lstatSync(a)
    const y = lstatSync(b)
    if (x.ino === y.ino && x.dev === y.dev) return true
    if (x.size !== y.size) return false
    return readBytes(a).equals(readBytes(b))
  } catch {
    return false
  }
}

function readBytes(file: string): Buffer {
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    const buffer = Buffer.alloc(size)
    let at = 0
    while (at < size) {
      const n = readSync(fd, buffer, at, size - at, at)
      if (n === 0) break
      at += n
    }

    return buffer.subarray(0, at)
  } finally {
    closeSync(fd)
  }
}

/** The queue folders: where a task may be, and its place's name. */
function places(layout: QueueLayout): {dir: string; label: string; account?: string}[] {
  return [
    {dir: layout.pending, label: 'pending/'},
    ...namesIn(layout.active).map((account) => ({dir: activeDir(layout, account), label: `active/${account}/`, account})),
    {dir: layout.done, label: 'done/'},
    {dir: layout.failed, label: 'failed/'},
  ]
}

/** The accounts some host of the fleet has claimed (<state>/fleet/accounts/): an active/ folder of one is known, whichever host runs it. */
function fleetAccounts(layout: QueueLayout): string[] {
  return namesIn(ownersDir(layout))
    .filter((name) => name.endsWith('.json') && !name.startsWith('.'))
    .map((name) => name.slice(0, -'.json'.length))
}

async function checkTasks(layout: QueueLayout, ours: readonly string[], findings: Finding[]): Promise<void> {
  const accounts = [...ours, ...fleetAccounts(layout)]
  const where = new Map<string, {label: string; path: string}[]>()
  for (const place of places(layout)) {
    const info = lstatOrNull(place.dir)
    if (place.account !== undefined && info && !info.isDirectory()) continue
    const listing = await scanTasks(place.dir)
    for (const entry of listing.irregular) {
      findings.push(find('not-regular', entry.path, `${entry.what}, not a regular file: never read, moved or sent`, `move it out of the queue, or replace it by the file it stands for`))
    }

    for (const task of listing.tasks) {
      const list = where.get(task.name) ?? []
      list.push({label: place.label, path: task.path})
      where.set(task.name, list)
      const mode = lstatOrNull(task.path)?.mode ?? 0o644
      if ((mode & 0o400) === 0) findings.push(find('task-unreadable', task.path, `mode ${(mode & 0o777).toString(8)}: its owner cannot read it, so no session or job can`, `chmod u+r ${task.path}`))
      else if ((mode & 0o022) !== 0) findings.push(find('mode-writable', task.path, `mode ${(mode & 0o777).toString(8)}: writable by group or others, who can change the prompt`, `chmod go-w ${task.path}`))
    }

    if (place.account !== undefined) {
      if (!accounts.includes(place.account)) {
        const names = listing.tasks.map((t) => t.name)
        findings.push(
          find(
            'active-unknown-account',
            place.dir,
            `no account ${place.account} in the config${names.length > 0 ? `; it holds ${names.join(', ')}, which no session works on and no reconcile requeues` : ' (empty)'}`,
            names.length > 0 ? `move each task back to pending/ (mv ${place.dir}/NAME ${layout.pending}/) or restore the account in the config; then remove the folder` : `rmdir ${place.dir}`,
          ),
        )
      } else if (listing.tasks.length > 1) {
        findings.push(
          find('active-several', place.dir, `${listing.tasks.length} tasks (${listing.tasks.map((t) => t.name).join(', ')}); an account works on at most one`, `keep the one its session works on; ccl requeue each other one (or move it back to pending/ by hand)`),
        )
      }
    }
  }

  for (const [name, list] of where) {
    if (list.length < 2) continue
    // Same name, other bytes: another task dropped under a name in use (a recurring one), not one task in two places.
    const twins = list.filter((p) => p !== list[0] && sameBytes(list[0]!.path, p.path))
    if (twins.length === 0) continue
    const labels = [list[0]!, ...twins].map((p) => p.label)
    const pending = list[0]!.label === 'pending/' ? list[0]! : undefined
    const other = twins.find((t) => t.label !== 'pending/')
    const detail = `the same task (identical content) is in ${labels.join(' and ')}: it may run twice`
    const linked = pending ? (lstatOrNull(pending.path)?.nlink ?? 1) > 1 : false
    if (pending && other && !linked && twins.length === 1 && !lstatOrNull(path.join(layout.pending, name + MARKER_SUFFIX))) {
      findings.push(
        find('task-duplicate', pending.path, detail, `--repair removes the copy in pending/ (the task is in ${other.label} already)`, async () => {
          const outcome = await dropPendingTwin(layout, name, other.path)
          return outcome.kind === 'removed' ? `removed pending/${name}: the same task is in ${other.label}` : null
        }),
      )
    } else {
      findings.push(
        find(
          'task-duplicate',
          list[0]!.path,
          detail,
          linked ? 'a move cut by a crash (one file under two names): the next ccl reconcile or assign completes it' : `keep the copy in the place it belongs and remove the others (${list.map((p) => p.path).join(', ')})`,
        ),
      )
    }
  }
}

async function checkMarkers(layout: QueueLayout, findings: Finding[]): Promise<void> {
  for (const name of namesIn(layout.pending)) {
    if (!name.endsWith(MARKER_SUFFIX)) continue
    const file = path.join(layout.pending, name)
    const task = name.slice(0, -MARKER_SUFFIX.length)
    const info = lstatOrNull(file)
    if (!info) continue
    const leave = `look at it: if its job's result is still wanted, fix it by hand (SPEC §3.2); otherwise move it out of pending/ (mv ${file} ${lostAndFound(layout)}/)`
    if (!isTaskName(task)) {
      findings.push(find('marker-malformed', file, `"${task}" is not a task name`, leave))
      continue
    }

    if (!info.isFile()) {
      findings.push(find('marker-malformed', file, 'not a regular file (never read: a FIFO would block the reader)', leave))
      continue
    }

    let key: string | null = null
    try {
      const marker = await readMarkerIfExists(file)
      if (!marker) continue
      if (marker.task !== task) {
        findings.push(find('marker-malformed', file, `names task "${marker.task}", not ${task}`, leave))
        continue
      }

      key = marker.idempotency_key
    } catch (error) {
      // Unreadable: its job id is lost with it; but if its task is gone too, it only ever blocks.
      if (lstatOrNull(path.join(layout.pending, task)) !== null) {
        findings.push(find('marker-malformed', file, `${errorMessage(error)}; its task stays in pending/, never dispatched`, leave))
        continue
      }

      findings.push(
        find('marker-malformed', file, `${errorMessage(error)}; its task is gone`, `--repair moves it to ${lostAndFound(layout)}/ (kept, not deleted)`, async () => {
          const outcome = await setAsideMarker(layout, task, null)
          return outcome.kind === 'moved' ? `moved ${file} to ${outcome.to}` : null
        }),
      )
      continue
    }

    const orphan = orphanOf(layout, task, file, key)
    if (!orphan) continue
    const finished = orphan.where === 'done/' || orphan.where === 'failed/'
    findings.push(
      find(finished ? 'marker-finished' : 'marker-orphaned', file, describeOrphan(orphan).replace(/; run: .*$/, ''), `--repair moves it to ${lostAndFound(layout)}/ (kept, not deleted: it names the job)`, async () => {
        const outcome = await setAsideMarker(layout, task, key)
        return outcome.kind === 'moved' ? `moved ${file} to ${outcome.to}` : null
      }),
    )
  }
}

/** `.ccl-tmp-<pid>-<hex>`: the pid of its writer. */
function tempWriter(name: string): number | null {
  const match = /^\.ccl-tmp-(\d+)-/.exec(name)
  return match ? Number(match[1]) : null
}

function checkTemps(layout: QueueLayout, now: number, findings: Finding[]): void {
  const dirs = [
    ...places(layout).map((p) => p.dir),
    layout.state,
    layout.sessions,
    layout.locks,
    handOffDir(layout),
    failoverDir(layout),
    path.join(layout.state, 'accounts'),
    ownersDir(layout),
  ]
  for (const dir of dirs) {
    for (const name of namesIn(dir)) {
      if (!name.startsWith(TEMP_PREFIX)) continue
      const file = path.join(dir, name)
      const info = lstatOrNull(file)
      if (!info) continue
      const age = now - info.mtimeMs
      const pid = tempWriter(name)
      const gone = pid !== null && processStart(pid) === null
      if (!(age > TEMP_SAFE_AGE_MS || (gone && age > TEMP_DEAD_WRITER_MS))) continue
      findings.push(
        find('temp-stale', file, `a temporary file left by a killed writer (${pid === null ? 'pid unknown' : `pid ${pid}${gone ? ', not running' : ''}`}, ${Math.round(age / 1000)} s old)`, '--repair removes it', async () =>
          (await removeIfExists(file)) ? `removed ${file}` : null,
        ),
      )
    }
  }
}

function checkJournals(layout: QueueLayout, now: Date, findings: Finding[]): void {
  for (const name of namesIn(handOffDir(layout))) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue
    const file = path.join(handOffDir(layout), name)
    const account = name.slice(0, -'.json'.length)
    if (lstatOrNull(file)?.isFile() === false) {
      findings.push(find('state-unparsable', file, 'not a regular file (never opened: a FIFO would block the reader)', `remove it (rm ${file})`))
      continue
    }

    const found = readRecord<HandOffRecord>(file)
    if (found.kind === 'none') continue
    const settle = async () => {
      // As assign settles it: a session whose hooks recorded the prompt is at work, so the hand-off is completed, not undone.
      const {state, recovered} = await settleHandOff(layout, account, now, {received: receivedBy(layout)})
      if (state.kind === 'in-progress') return null
      if (recovered) return `undid the hand-off to ${account}: ${recovered.task} back in pending/ as ${recovered.as}`
      return state.kind === 'delivered' ? `completed the hand-off of ${state.task} to ${account}: its session had received the prompt` : `settled the hand-off journal ${file}`
    }

    if (found.kind === 'torn' || typeof found.record.task !== 'string') {
      if (now.getTime() - found.mtimeMs > 5000) findings.push(find('state-unparsable', file, 'a hand-off journal that does not parse', '--repair removes it (as the next assign or reconcile would)', settle))
      continue
    }

    if (found.record.state === 'delivered') continue
    if (liveness(found.record.holder) !== 'dead') continue
    findings.push(
      find('handoff-stale', file, `the hand-off of ${found.record.task} to ${account} (${found.record.state}) was cut: its process is gone`, '--repair settles it as reconcile would: the task back to pending/ in its place, the account free', settle),
    )
  }

  const {journals, torn} = readFailovers(layout)
  for (const file of torn) findings.push(find('state-unparsable', file, 'a failover journal that does not parse: reconcile leaves its accounts alone', `look at it; remove it once neither account's task depends on it (rm ${file}), then run ccl reconcile`))
  for (const journal of journals) {
    if (liveness(journal.record.holder) !== 'dead') continue
    findings.push(
      find('failover-stale', journal.file, `the failover of ${journal.record.task} from ${journal.record.from} to ${journal.record.to} stopped at step ${journal.record.step}: its process is gone`, 'run ccl reconcile: it carries the failover on from that step or undoes it (fsck does not, it would need the sessions)'),
    )
  }
}

async function checkStateFiles(layout: QueueLayout, findings: Finding[]): Promise<void> {
  for (const name of namesIn(layout.sessions)) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue
    if (lstatOrNull(path.join(layout.sessions, name))?.isFile() === false) {
      findings.push(find('state-unparsable', path.join(layout.sessions, name), 'not a regular file (never opened: a FIFO would block the reader)', `remove it (rm ${path.join(layout.sessions, name)})`))
      continue
    }

    try {
      await readSessionRecord(layout, name.slice(0, -'.json'.length))
    } catch (error) {
      findings.push(find('state-unparsable', path.join(layout.sessions, name), errorMessage(error), `fix it, or clear it with: ccl reconcile --release ${name.slice(0, -'.json'.length)}`))
    }
  }

  // Every log (the legacy one, each host's) and each host's folder: any host's log may be forged.
  const logs = eventLogsSync(layout).flatMap((log) => (log.host === null ? [log.live] : [log.dir, log.live]))
  for (const file of [layout.state, layout.sessions, layout.hosts, ...logs, handOffDir(layout), failoverDir(layout)]) {
    const info = lstatOrNull(file)
    if (!info) continue
    const mode = info.mode & 0o777
    if ((mode & 0o022) !== 0) findings.push(find('mode-writable', file, `mode ${mode.toString(8)}: writable by group or others, who could forge state`, `chmod go-w ${file}`))
    else if ((mode & 0o004) !== 0) findings.push(find('state-readable', file, `mode ${mode.toString(8)}: readable by everyone on the machine (task names, errors)`, `chmod ${info.isDirectory() ? '700' : '600'} ${file}`))
  }
}

/** Each event log's last line (the legacy log's, every host's): a writer killed mid-line leaves it without its newline. */
function checkEvents(layout: QueueLayout, now: number, findings: Finding[]): void {
  for (const log of eventLogsSync(layout)) checkEventLog(log.live, now, findings)
}

/** One live log's last line; reads its tail only. */
function checkEventLog(file: string, now: number, findings: Finding[]): void {
  const info = lstatOrNull(file)
  if (!info?.isFile() || info.size === 0) return
  const tail = readTail(file, info.size)
  if (tail.at(-1) === 0x0a) return
  if (now - info.mtimeMs < EVENT_TAIL_SETTLE_MS) return
  const cut = tail.lastIndexOf(0x0a)
  const keep = cut < 0 ? info.size - tail.length : info.size - tail.length + cut + 1
  if (cut < 0 && info.size > tail.length) {
    findings.push(find('events-torn', file, `its last ${tail.length} bytes hold no line end`, 'look at the end of the file (tail -c 200); truncate it by hand to its last whole line'))
    return
  }

  findings.push(
    find('events-torn', file, `its last line (${info.size - keep} bytes) was cut by a killed writer: no newline`, `--repair truncates the file to its last whole line (${keep} bytes)`, async () => {
      const again = lstatOrNull(file)
      // Appended meanwhile: the torn line is not the last any more, and cutting would lose the new one.
      if (!again || again.size !== info.size || again.mtimeMs !== info.mtimeMs) return null
      await truncate(file, keep)
      return `truncated ${file} to ${keep} bytes (its torn last line removed)`
    }),
  )
}

function readTail(file: string, size: number): Buffer {
  const length = Math.min(size, 64 * 1024)
  const fd = openSync(file, 'r')
  try {
    const buffer = Buffer.alloc(length)
    const n = readSync(fd, buffer, 0, length, size - length)
    return buffer.subarray(0, n)
  } finally {
    closeSync(fd)
  }
}

/** Every check, read-only. */
export async function findProblems(layout: QueueLayout, accounts: readonly string[], now: Date): Promise<Finding[]> {
  const findings: Finding[] = []
  await checkTasks(layout, accounts, findings)
  await checkMarkers(layout, findings)
  checkTemps(layout, now.getTime(), findings)
  checkJournals(layout, now, findings)
  await checkStateFiles(layout, findings)
  checkEvents(layout, now.getTime(), findings)
  return findings
}

const strip = ({fix: _fix, ...problem}: Finding): FsckProblem => problem

/**
 * Checks, and with `repair` fixes what is safe, under the reap and reconcile locks (so no pass of
 * either runs meanwhile; assign and submit are kept off each task by its claim, which every repair takes).
 */
export async function runFsck(config: Config, options: FsckOptions): Promise<FsckReport> {
  const layout = queueLayout(config)
  const accounts = config.accounts.map((a) => a.name)
  const locks: Lock[] = []
  try {
    if (options.repair) {
      for (const name of ['reap', 'reconcile']) {
        const attempt = await lockWithin(layout.locks, name, {staleMs: 10_000, waitMs: options.lockWaitMs ?? 10_000})
        if (!attempt.lock) throw new UserError(`another ccl ${name} is running (${describeLockHolder(attempt.holder)}); fsck --repair waits for none: try again`)
        locks.push(attempt.lock)
      }
    }

    const findings = await findProblems(layout, accounts, options.now)
    const problems: FsckProblem[] = []
    const repaired: FsckRepair[] = []
    for (const finding of findings) {
      const done = options.repair && finding.fix ? await finding.fix() : null
      if (done) repaired.push({kind: finding.kind, path: finding.path, detail: done})
      else problems.push(strip(finding))
    }

    return {problems, repaired, sound: problems.every((p) => p.severity === 'warning')}
  } finally {
    for (const lock of locks.reverse()) await lock.release()
  }
}
