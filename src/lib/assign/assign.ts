import {randomBytes} from 'node:crypto'
import {mkdir, readFile, rename, stat, utimes} from 'node:fs/promises'
import path from 'node:path'

import {formatDuration} from '../config/duration.js'
import type {Account, Config} from '../config/schema.js'
import {ExternalError, TaskFileError, UserError, EXIT_CODES, errorMessage} from '../errors.js'
import {appendEvent} from '../events/log.js'
import {createExclusive, exists, moveTask, removeIfExists} from '../queue/files.js'
import {activeDir, ensureLayout, isTaskName, listTasks, markerPath, type QueueLayout, queueLayout} from '../queue/layout.js'
import {readSessionRecord} from '../sessions/record.js'
import type {Tmux} from '../tmux/tmux.js'

/**
 * A hand-off in progress, one file per account: `<state>/handoff/<account>.json`, created with O_EXCL.
 * It is the account's claim (two assigns never pick the same account) and the journal that lets the
 * next run undo a hand-off whose process died between the claim and the Enter key.
 */
export interface HandOff {
  version: 1
  account: string
  task: string
  pid: number
  started_at: string
  /** The task's mtime in pending/, restored when it goes back so it keeps its place in the queue. */
  pending_mtime_ms: number
}

/** A hand-off file older than this is stale even if its pid is alive again (a reused pid). */
export const HANDOFF_STALE_MS = 10 * 60_000

export type AssignResult =
  | {outcome: 'assigned'; task: string; account: string; session: string; path: string; buffer: string}
  /** No account could take it; `accounts` says why for each (or for the one named). */
  | {outcome: 'no-free-account'; task: string; accounts: Record<string, string>}
  /** Another process took the task first; `where` says where it is now, when known. */
  | {outcome: 'lost-race'; task: string; where: string | null}
  /** The task has a delegation marker: it is remote, not ours to hand to a session. */
  | {outcome: 'delegated'; task: string}

export interface AssignOptions {
  config: Config
  tmux: Tmux
  /** A path to a task in pending/, or its bare name. */
  task: string
  /** Hand it to this account or to none. */
  account?: string
  cwd?: string
  now?: () => Date
  sleep?: (ms: number) => Promise<void>
  /** Test-only: stop the process dead at a named step, to prove the next run repairs it. */
  crashAt?: string
}

export function handOffDir(layout: QueueLayout): string {
  return path.join(layout.state, 'handoff')
}

function handOffPath(layout: QueueLayout, account: string): string {
  return path.join(handOffDir(layout), `${account}.json`)
}

/** The prompt the session gets: `{task}` and `{done}` replaced by absolute paths. */
export function renderPrompt(template: string, task: string, done: string): string {
  // Functions, not strings: a `$&` or `$'` in a file name is text, not a replacement pattern.
  return template.replaceAll('{task}', () => task).replaceAll('{done}', () => done)
}

function crash(point: string, crashAt: string | undefined): void {
  if (crashAt === point) process.kill(process.pid, 'SIGKILL')
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Resolves TASK to a file in pending/: a bare name, or a path whose folder is pending/. */
async function locateTask(layout: QueueLayout, task: string, cwd: string): Promise<{name: string; file: string}> {
  const looksLikeName = !task.includes('/')
  const file = looksLikeName ? path.join(layout.pending, task) : path.resolve(cwd, task)
  const name = path.basename(file)
  if (!isTaskName(name)) throw new TaskFileError(`${task}: not a task file name (NAME.md, no leading dot)`)
  if (!looksLikeName && !(await sameFolder(path.dirname(file), layout.pending))) {
    throw new UserError(`${task}: not in the queue's pending/ folder (${layout.pending})`, EXIT_CODES.taskFile, {
      hint: `move it into ${layout.pending}/ first`,
    })
  }

  return {name, file: path.join(layout.pending, name)}
}

async function sameFolder(a: string, b: string): Promise<boolean> {
  if (path.resolve(a) === path.resolve(b)) return true
  try {
    const [sa, sb] = await Promise.all([stat(a), stat(b)])
    return sa.dev === sb.dev && sa.ino === sb.ino
  } catch {
    return false
  }
}

/** Where a task that is not in pending/ went, if it is anywhere in the queue. */
async function whereIs(layout: QueueLayout, config: Config, name: string): Promise<string | null> {
  const places = [...config.accounts.map((a) => activeDir(layout, a.name)), layout.done, layout.failed]
  for (const dir of places) {
    if (await exists(path.join(dir, name))) return path.relative(layout.root, dir) + '/'
  }

  return null
}

/** Why an account cannot take a task now, or null when it is free. */
export async function whyBusy(config: Config, layout: QueueLayout, tmux: Tmux, account: Account, now: Date = new Date()): Promise<string | null> {
  const record = await readSessionRecord(layout, account.name)
  if (record.held) return `on hold (crash limit); release with: ccl reconcile --release ${account.name}`
  const age = record.created_at ? now.getTime() - Date.parse(record.created_at) : Number.POSITIVE_INFINITY
  if (age >= 0 && age < config.assign.ready_after) {
    return `session ${account.session} started ${formatDuration(age)} ago, still starting (assign.ready_after ${formatDuration(config.assign.ready_after)})`
  }

  const working = await listTasks(activeDir(layout, account.name))
  if (working.length > 0) return `working on ${working[0]!.name}`
  if (await exists(handOffPath(layout, account.name))) return 'a hand-off to it is in progress'
  const state = await tmux.sessionState(account.session)
  if (state !== 'alive') return `session ${account.session} is ${state === 'dead' ? 'dead' : 'not running'}`
  return null
}

/**
 * Undoes hand-offs whose process died between the claim and the Enter key: the task goes back to
 * pending/ with its old mtime (so it keeps its place), and the account is free again.
 * A hand-off whose process is still running is left alone.
 */
export async function recoverHandOffs(config: Config, now: Date = new Date()): Promise<{account: string; task: string; requeued: boolean}[]> {
  const layout = queueLayout(config)
  const recovered: {account: string; task: string; requeued: boolean}[] = []
  for (const account of config.accounts) {
    const file = handOffPath(layout, account.name)
    let handOff: HandOff
    try {
      handOff = JSON.parse(await readFile(file, 'utf8')) as HandOff
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      // Torn by a crash while being written (it is created, then filled): nothing was moved yet.
      const age = now.getTime() - (await stat(file).then((s) => s.mtimeMs, () => now.getTime()))
      if (age > 5000) await removeIfExists(file)
      continue
    }

    if (!isStale(handOff, now)) continue
    const inActive = path.join(activeDir(layout, account.name), handOff.task)
    let requeued = false
    if (await exists(inActive)) {
      const moved = await moveTask(inActive, layout.pending, handOff.task)
      await utimes(moved.path, handOff.pending_mtime_ms / 1000, handOff.pending_mtime_ms / 1000)
      await appendEvent(layout.events, 'task.requeued', {task: handOff.task, account: account.name, reason: 'hand-off interrupted', as: moved.name}, now)
      requeued = true
    }

    await removeIfExists(file)
    recovered.push({account: account.name, task: handOff.task, requeued})
  }

  return recovered
}

function isStale(handOff: HandOff, now: Date): boolean {
  if (now.getTime() - Date.parse(handOff.started_at) > HANDOFF_STALE_MS) return true
  try {
    process.kill(handOff.pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

/**
 * `ccl assign`: hands one pending task to a free account's Claude Code session.
 * Claim: O_EXCL hand-off file for the account, then rename pending/ → active/<account>/ (mtime set to now).
 * Delivery: the prompt through a uniquely named tmux buffer (bracketed paste), then Enter after
 * `enter_delay` — the text never goes through send-keys. A delivery that fails puts the task back.
 */
export async function assignTask(options: AssignOptions): Promise<AssignResult> {
  const {config, tmux} = options
  const now = options.now ?? (() => new Date())
  const sleep = options.sleep ?? defaultSleep
  const layout = queueLayout(config)
  await ensureLayout(layout, config.accounts.map((a) => a.name))
  await mkdir(handOffDir(layout), {recursive: true})
  const {name, file} = await locateTask(layout, options.task, options.cwd ?? process.cwd())

  let candidates = config.accounts
  if (options.account !== undefined) {
    const named = config.accounts.find((a) => a.name === options.account)
    if (!named) {
      throw new UserError(`--account ${options.account}: no such account in ${config.file} (have: ${config.accounts.map((a) => a.name).join(', ')})`, EXIT_CODES.taskFile)
    }

    candidates = [named]
  }

  await recoverHandOffs(config, now())

  let pendingStat
  try {
    pendingStat = await stat(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new TaskFileError(`${file}: cannot read: ${errorMessage(error)}`)
    const where = await whereIs(layout, config, name)
    if (where) return {outcome: 'lost-race', task: name, where}
    throw new TaskFileError(`${file}: no such task in pending/`)
  }

  if (!pendingStat.isFile()) throw new TaskFileError(`${file}: not a regular file`)
  if (await exists(markerPath(layout, name))) return {outcome: 'delegated', task: name}

  const reasons: Record<string, string> = {}
  for (const account of candidates) {
    // One account whose state cannot be read (a broken record, tmux failing) does not block the others.
    const busy = await whyBusy(config, layout, tmux, account, now()).catch((error: unknown) => errorMessage(error))
    if (busy) {
      reasons[account.name] = busy
      continue
    }

    const claimFile = handOffPath(layout, account.name)
    const handOff: HandOff = {
      version: 1,
      account: account.name,
      task: name,
      pid: process.pid,
      started_at: now().toISOString(),
      pending_mtime_ms: pendingStat.mtimeMs,
    }
    if (!(await createExclusive(claimFile, JSON.stringify(handOff) + '\n'))) {
      reasons[account.name] = 'a hand-off to it is in progress'
      continue
    }

    try {
      return await handTo(options, layout, account, name, file, pendingStat.mtimeMs, now, sleep)
    } finally {
      await removeIfExists(claimFile)
    }
  }

  return {outcome: 'no-free-account', task: name, accounts: reasons}
}

async function handTo(
  options: AssignOptions,
  layout: QueueLayout,
  account: Account,
  name: string,
  file: string,
  pendingMtimeMs: number,
  now: () => Date,
  sleep: (ms: number) => Promise<void>,
): Promise<AssignResult> {
  const {config, tmux} = options
  // Under our claim the account can only have become busy through someone else's hand (a person, reconcile).
  const working = await listTasks(activeDir(layout, account.name))
  if (working.length > 0) return {outcome: 'no-free-account', task: name, accounts: {[account.name]: `working on ${working[0]!.name}`}}

  const target = path.join(activeDir(layout, account.name), name)
  crash('after-claim', options.crashAt)
  try {
    // Not moveTask: active/<account>/ is empty under our claim, and the name must stay the one the prompt names.
    await rename(file, target)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {outcome: 'lost-race', task: name, where: await whereIs(layout, config, name)}
    throw error
  }

  const at = now()
  await utimes(target, at, at) // age in active/ is measured from the hand-off

  const putBack = async (why: string) => {
    const moved = await moveTask(target, layout.pending, name)
    await utimes(moved.path, pendingMtimeMs / 1000, pendingMtimeMs / 1000)
    await appendEvent(layout.events, 'task.requeued', {task: name, account: account.name, reason: why, as: moved.name}, now())
    return moved
  }

  // `delegate submit` may have claimed it between our marker check and the rename: remote wins.
  if (await exists(markerPath(layout, name))) {
    await putBack('delegated meanwhile')
    return {outcome: 'delegated', task: name}
  }

  crash('after-move', options.crashAt)
  const buffer = `ccl-${account.name}-${process.pid}-${randomBytes(4).toString('hex')}`
  const prompt = renderPrompt(config.assign.prompt, target, layout.done)
  try {
    await tmux.loadBuffer(buffer, prompt)
    await tmux.pasteBuffer(buffer, account.session)
    crash('after-paste', options.crashAt)
    await sleep(config.assign.enter_delay)
    await tmux.sendKeys(account.session, ['Enter'])
  } catch (error) {
    const moved = await putBack(`delivery failed: ${errorMessage(error)}`)
    throw new ExternalError(`${name}: could not deliver the prompt to ${account.session}: ${errorMessage(error)}; the task is back in pending/${moved.renamed ? ` as ${moved.name}` : ''}`, {
      cause: error,
      hint: `check the session: tmux${config.tmux.socket ? ` -L ${config.tmux.socket}` : ''} attach -t ${account.session}`,
    })
  }

  await appendEvent(layout.events, 'task.assigned', {task: name, account: account.name, session: account.session}, now())
  return {outcome: 'assigned', task: name, account: account.name, session: account.session, path: target, buffer}
}
