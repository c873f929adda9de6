import {stat} from 'node:fs/promises'
import path from 'node:path'

import {CONTROL_BUT_TAB_NEWLINE} from '../control-chars.js'
import type {Account, Config} from '../config/schema.js'
import {CclError, ExternalError, TaskFileError, UserError, EXIT_CODES, errorMessage} from '../errors.js'
import {appendEvent} from '../events/log.js'
import {failpoint} from '../failpoints.js'
import {exists} from '../queue/files.js'
import {randomHex} from '../digest.js'
import {activeDir, ensureLayout, isTaskName, listTasks, type QueueLayout, queueLayout} from '../queue/layout.js'
import {type HandOff, type HandOffRecord, markDelivered, markEntered, whereIs, recoverHandOffs as recoverAll, type Requeued, settleHandOff, takeForAccount, undoHandOff} from '../queue/transitions.js'
import {clearExpiredLimit, hooksActive, promptReceived, readAccountState, type Usage} from '../accounts/state.js'
import {describeHeadroom, type Ranked, rankByHeadroom} from '../accounts/usage.js'
import {scanPaneForTrustDialog} from '../claude/banners.js'
import {readPause} from '../accounts/pause.js'
import {type BusyFacts, busyReason} from '../accounts/availability.js'
import {deliverPrompt} from './deliver.js'
import {readSessionRecord} from '../sessions/record.js'
import type {Tmux} from '../tmux/tmux.js'

export type AssignResult =
  | {outcome: 'assigned'; task: string; account: string; session: string; path: string; buffer: string}
  /** No account could take it; `accounts` says why for each (or for the one named). */
  | {outcome: 'no-free-account'; task: string; accounts: Record<string, string>}
  /** Another process took the task first; `where` says where it is now, when known. */
  | {outcome: 'lost-race'; task: string; where: string | null}
  /** The task has a delegation marker: it is remote, not ours to hand to a session. */
  | {outcome: 'delegated'; task: string}
  /** The task can never be handed out as it is (a name a paste cannot carry, a symlink): it stays for an operator. */
  | {outcome: 'refused'; task: string; why: string}

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
}

// C0/C1 controls other than tab and newline: ESC would let text end the bracketed paste early.
const PASTE_BREAKERS = new RegExp(CONTROL_BUT_TAB_NEWLINE.source, 'g')

/**
 * The prompt the session gets: `{task}` and `{done}` replaced by absolute paths. Nothing in it can
 * end the bracketed paste: every control character but tab and newline is removed (a task name
 * holding one is never handed out at all; this guards the template and the queue path too).
 */
export function renderPrompt(template: string, task: string, done: string): string {
  // Functions, not strings: a `$&` or `$'` in a file name is text, not a replacement pattern.
  return template.replaceAll('{task}', () => task).replaceAll('{done}', () => done).replace(PASTE_BREAKERS, '')
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

/** Whether the account's session recorded (UserPromptSubmit) the prompt of this hand-off (assign, recoverHandOffs and fsck --repair settle by it). */
export function receivedBy(layout: QueueLayout) {
  return (record: HandOffRecord, taskPath: string): boolean => {
    try {
      return promptReceived(readAccountState(layout, record.account), {prompt: null, taskPath}, new Date(record.started_at))
    } catch {
      return false // an unreadable account record proves nothing: the hand-off is undone as before hooks
    }
  }
}

/** Why an account cannot take a task now, or null when it is free. A finished or killed hand-off is settled first. */
export async function whyBusy(config: Config, layout: QueueLayout, tmux: Tmux, account: Account, now: Date = new Date()): Promise<string | null> {
  // Each step reads one more fact and asks the pure decision again (accounts/availability.ts), so
  // nothing is settled or asked of tmux for an account already known to be busy.
  const record = await readSessionRecord(layout, account.name)
  const facts: BusyFacts = {held: record.held, createdAt: record.created_at, pause: readPause(layout, account.name)}
  // Still starting by its record: a command that ended at once (not installed, a bad flag) is dead, not
  // starting; its pane is kept (remain-on-exit), so tmux tells.
  const age = record.created_at ? now.getTime() - Date.parse(record.created_at) : Number.POSITIVE_INFINITY
  if (!record.held && age >= 0 && age < config.assign.ready_after) facts.session = await tmux.sessionState(account.session)
  const busy = () => busyReason(config, account, facts, now)
  if (busy()) return busy()

  // What its hooks said: a usage limit (until its reset plus the margin), a login problem.
  await clearExpiredLimit(layout, account.name, now, config.failover.margin)
  const state = readAccountState(layout, account.name)
  facts.state = state
  if (busy()) return busy()

  const {state: handOff} = await settleHandOff(layout, account.name, now, {received: receivedBy(layout)})
  facts.handOff = handOff.kind === 'in-progress' ? {task: handOff.task, by: handOff.by} : null
  facts.working = (await listTasks(activeDir(layout, account.name)))[0]?.name ?? null
  if (busy()) return busy()
  facts.session = await tmux.sessionState(account.session)
  if (busy()) return busy()
  // No hook has spoken for this session: a new account home may be showing the folder-trust dialog,
  // which would swallow the prompt (and Enter would answer "No, exit").
  facts.trustDialog = !hooksActive(state, record.created_at) && scanPaneForTrustDialog(await tmux.capturePane(account.session))
  return busy()
}

/**
 * Settles hand-offs whose process died between the claim and the Enter key: the task goes back to
 * pending/ with its old mtime (so it keeps its place) unless the session's hooks show it received
 * the prompt (then the hand-off is completed). Frees accounts whose task is done.
 */
export async function recoverHandOffs(config: Config, now: Date = new Date()): Promise<Requeued[]> {
  const layout = queueLayout(config)
  return recoverAll(layout, config.accounts.map((a) => a.name), now, {received: receivedBy(layout)})
}

/**
 * `ccl assign`: hands one pending task to a free account's Claude Code session.
 * Claim (queue core): the task's claim and the account's hand-off record, then pending/ → active/<account>/.
 * Delivery: the prompt through a uniquely named tmux buffer (bracketed paste), then Enter after
 * `enter_delay` — the text never goes through send-keys. A delivery that fails puts the task back.
 */
export async function assignTask(options: AssignOptions): Promise<AssignResult> {
  const {config, tmux} = options
  const now = options.now ?? (() => new Date())
  const sleep = options.sleep ?? defaultSleep
  const layout = queueLayout(config)
  await ensureLayout(layout, config.accounts.map((a) => a.name))
  const {name, file} = await locateTask(layout, options.task, options.cwd ?? process.cwd())

  let candidates = config.accounts
  if (options.account !== undefined) {
    const named = config.accounts.find((a) => a.name === options.account)
    if (!named) {
      throw new UserError(`--account ${options.account}: no such account in ${config.file} (have: ${config.accounts.map((a) => a.name).join(', ')})`, EXIT_CODES.taskFile)
    }

    candidates = [named]
  }

  // lstat: a symlink is there (and refused under the claim below), never followed.
  if (!(await exists(file))) {
    const where = whereIs(layout, name)
    if (where) return {outcome: 'lost-race', task: name, where}
    throw new TaskFileError(`${file}: no such task in pending/`)
  }

  const ranked = options.account === undefined && config.failover.headroom ? byHeadroom(layout, candidates, config.failover.watermark, now()) : undefined
  if (ranked) candidates = ranked.map((r) => r.item)
  const reasons: Record<string, string> = {}
  // The watermark only prefers: an account above it is tried last, and passed over only while
  // another account found free here (its claim lost to a racer) is below it.
  let freeBelow = false
  for (const [index, account] of candidates.entries()) {
    const rank = ranked?.[index]
    if (rank?.above && freeBelow) {
      reasons[account.name] = `above the watermark (${describeHeadroom(rank.headroom!)}; failover.watermark ${config.failover.watermark}%)`
      continue
    }

    let busy: string | null
    try {
      busy = await whyBusy(config, layout, tmux, account, now())
    } catch (error) {
      // One account whose state cannot be read (a broken record, tmux failing) does not block the others;
      // a bug is a bug, not "busy".
      if (!(error instanceof CclError)) throw error
      busy = error.message
    }

    if (busy) {
      reasons[account.name] = busy
      continue
    }

    if (!rank?.above) freeBelow = true

    const taken = await takeForAccount(layout, {name, account: account.name, now: now()})
    switch (taken.kind) {
      case 'taken': {
        return deliver(options, layout, account, taken.handOff, now, sleep)
      }

      case 'account-busy': {
        reasons[account.name] = taken.why
        continue
      }

      case 'gone': {
        return {outcome: 'lost-race', task: name, where: whereIs(layout, name)}
      }

      case 'claimed': {
        return {outcome: 'lost-race', task: name, where: `claimed by ${taken.by}`}
      }

      case 'delegated': {
        return {outcome: 'delegated', task: name}
      }

      case 'refused': {
        return {outcome: 'refused', task: name, why: taken.why}
      }
    }
  }

  return {outcome: 'no-free-account', task: name, accounts: reasons}
}

/** The candidates in headroom order (failover.headroom); an unreadable record counts as no usage recorded. */
function byHeadroom(layout: QueueLayout, accounts: readonly Account[], watermark: number, now: Date): Ranked<Account>[] {
  const usageOf = (account: Account): Usage | null => {
    try {
      return readAccountState(layout, account.name).usage
    } catch (error) {
      if (!(error instanceof CclError)) throw error
      return null // whyBusy reports the broken record for that account
    }
  }

  return rankByHeadroom(accounts, usageOf, {watermark, now})
}

async function deliver(
  options: AssignOptions,
  layout: QueueLayout,
  account: Account,
  taken: HandOff,
  now: () => Date,
  sleep: (ms: number) => Promise<void>,
): Promise<AssignResult> {
  let handOff = taken
  const {config, tmux} = options
  const name = handOff.record.task
  const target = handOff.path
  const buffer = `ccl-${account.name}-${process.pid}-${randomHex(4)}`
  const prompt = renderPrompt(config.assign.prompt, target, layout.done)
  const before = readAccountState(layout, account.name)
  const session = await readSessionRecord(layout, account.name)
  // With hooks working for this session, the session's UserPromptSubmit confirms the delivery.
  const confirm = hooksActive(before, session.created_at)
  let notReceived: string | null
  try {
    notReceived = await deliverPrompt({
      config,
      layout,
      tmux,
      account,
      prompt,
      taskPath: target,
      confirm,
      lastEvent: before.last_event,
      buffer,
      now,
      sleep,
      afterPaste: () => failpoint('assign.after-paste'),
      // With hooks, a kill after Enter is settled by the session's UserPromptSubmit, not undone at once.
      ...(confirm
        ? {
            beforeEnter: async () => {
              handOff = await markEntered(handOff, now())
            },
          }
        : {}),
      afterEnter: () => failpoint('assign.after-enter'),
    })
  } catch (error) {
    const moved = await undoHandOff(layout, handOff, `delivery failed: ${errorMessage(error)}`, now())
    throw new ExternalError(`${name}: could not deliver the prompt to ${account.session}: ${errorMessage(error)}; the task is back in pending/${moved?.renamed ? ` as ${moved.as}` : ''}`, {
      cause: error,
      hint: `check the session: tmux${config.tmux.socket ? ` -L ${config.tmux.socket}` : ''} attach -t ${account.session}`,
    })
  }

  if (notReceived !== null) {
    const moved = await undoHandOff(layout, handOff, `delivery not confirmed: ${notReceived}`, now())
    throw new ExternalError(`${name}: ${notReceived}; the task is back in pending/ in its place${moved?.renamed ? ` as ${moved.as}` : ''}`, {
      hint: `look at the session: tmux${config.tmux.socket ? ` -L ${config.tmux.socket}` : ''} attach -t ${account.session}`,
    })
  }

  await markDelivered(handOff, now())
  await appendEvent(layout.events, 'task.assigned', {task: name, account: account.name, session: account.session, confirmed: confirm}, now())
  return {outcome: 'assigned', task: name, account: account.name, session: account.session, path: target, buffer}
}
