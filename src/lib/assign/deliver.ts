import {formatDuration} from '../config/duration.js'
import type {Account, Config} from '../config/schema.js'
import type {QueueLayout} from '../queue/layout.js'
import {promptHash, promptReceived, readAccountState} from '../accounts/state.js'
import type {Tmux} from '../tmux/tmux.js'

export interface Delivery {
  config: Config
  layout: QueueLayout
  tmux: Tmux
  account: Account
  prompt: string
  /** The task's path the prompt names: a submitted prompt naming it counts as received. */
  taskPath: string
  /** Whether the session's hooks work, so that its UserPromptSubmit can confirm the delivery. */
  confirm: boolean
  /** The session's last hook event: after a StopFailure a menu may be open that would swallow the paste. */
  lastEvent: string | null
  buffer: string
  now: () => Date
  sleep: (ms: number) => Promise<void>
  /** Failpoints between the paste and Enter, and after Enter (assign's, or the failover's). */
  afterPaste?: () => void
  afterEnter?: () => void
}

/**
 * Types a prompt into a session the only way ccl does: through a uniquely named tmux buffer
 * (bracketed paste), then Enter after `assign.enter_delay`, never the text through send-keys. With
 * hooks working, waits for the session's UserPromptSubmit and presses Enter again when it was lost.
 * Returns null when delivered (or, without hooks, sent), otherwise why it was not confirmed.
 * Throws what tmux throws.
 */
export async function deliverPrompt(d: Delivery): Promise<string | null> {
  const {config, tmux, account, sleep} = d
  const pastedAt = d.now()
  // After a usage limit Claude Code may show its rate-limit menu, which would swallow the paste: Esc closes it.
  if (d.lastEvent === 'StopFailure') {
    await tmux.sendKeys(account.session, ['Escape'])
    await sleep(200)
  }

  await tmux.loadBuffer(d.buffer, d.prompt)
  await tmux.pasteBuffer(d.buffer, account.session)
  d.afterPaste?.()
  await sleep(config.assign.enter_delay)
  await tmux.sendKeys(account.session, ['Enter'])
  d.afterEnter?.()
  if (!d.confirm) return null
  const wanted = {sha256: promptHash(d.prompt), taskPath: d.taskPath}
  const received = () => promptReceived(readAccountState(d.layout, account.name), wanted, pastedAt)
  for (let enters = 1; !(await waitUntil(received, config.assign.confirm_within, sleep)); enters++) {
    // The Enter was lost (the most common complaint about tools of this kind): press it again, a few times.
    if (enters > config.assign.enter_retries) {
      return `the session did not confirm the prompt (no UserPromptSubmit within ${formatDuration(config.assign.confirm_within)} after ${enters} Enter key${enters === 1 ? '' : 's'})`
    }

    await tmux.sendKeys(account.session, ['Enter'])
  }

  return null
}

/** Polls `check` every 50 ms until it holds or `timeoutMs` passed. */
export async function waitUntil(check: () => boolean, timeoutMs: number, sleep: (ms: number) => Promise<void>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (check()) return true
    if (Date.now() >= deadline) return false
    await sleep(50)
  }
}

