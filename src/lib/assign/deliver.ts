import {formatDuration} from '../config/duration.js'
import type {Account, Config} from '../config/schema.js'
import type {QueueLayout} from '../queue/layout.js'
import {promptReceived, readAccountState} from '../accounts/state.js'
import {inputBoxText} from '../claude/banners.js'
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
  /** Just before the first Enter (assign journals it: markEntered). */
  beforeEnter?: () => Promise<void>
  afterEnter?: () => void
}

/**
 * Keys that empty Claude Code's input box without leaving the session or opening a menu, sent before
 * every paste: what a killed hand-off pasted without its Enter would otherwise be submitted with the
 * next prompt. Measured on Claude Code 2.1.328 (docs/real-claude-code.md): Ctrl-U deletes back to the
 * start of the cursor's row on screen (a row holds the pane's width less 4 characters; at a row's start
 * it deletes the line break), a folded paste ("[Pasted text #1 +N lines]", any paste over 800
 * characters or 3 lines) goes with one press, and on an empty box it does nothing. The longest paste
 * that is not folded (800 characters, 3 lines) needs ceil(800 / (width − 4)) + 4 presses: 11 at 120
 * columns, 15 at 80; 40 cover a pane of 27 columns or more. Esc Esc (the rewind menu on an empty box),
 * Ctrl-C (twice exits) and Ctrl-L (does not clear) are not used.
 */
export const CLEAR_INPUT_KEYS: readonly string[] = Array.from({length: 40}, () => 'C-u')

/** How long one round of CLEAR_INPUT_KEYS may take to show on screen before a second round is sent. */
export const CLEAR_SETTLE_MS = 1000

/**
 * Empties the session's input box before a paste. When the screen shows Claude Code's box holding
 * text (what a killed hand-off pasted without its Enter), the paste waits until the box is drawn
 * empty: a paste that reaches the CLI before it has taken the Ctrl-U presses in was measured to be
 * appended to the old text (in CI: both prompts in one request). Keys the box did not take within
 * CLEAR_SETTLE_MS are sent once more. An empty box, or a screen with no box ccl recognises (the
 * stand-in, a menu), costs one capture and no wait.
 */
export async function clearInputBox(tmux: Tmux, session: string, sleep: (ms: number) => Promise<void>): Promise<void> {
  const screen = () => tmux.capturePane(session).catch(() => '')
  const before = inputBoxText(await screen())
  for (let round = 1; ; round++) {
    await tmux.sendKeys(session, [...CLEAR_INPUT_KEYS])
    if (before === null || before === '') return
    let changed = false
    const empty = await waitUntilAsync(
      async () => {
        const now = inputBoxText(await screen())
        changed ||= now !== before
        return now === '' || now === null
      },
      CLEAR_SETTLE_MS,
      sleep,
    )
    // A box that changed but is not empty holds a placeholder or what the keys could not reach: go on.
    if (empty || changed || round === 2) return
  }
}

/**
 * Types a prompt into a session the only way ccl does: the input box cleared (CLEAR_INPUT_KEYS), then
 * the prompt through a uniquely named tmux buffer (bracketed paste), then Enter after
 * `assign.enter_delay`, never the text through send-keys. With hooks working, waits for the session's UserPromptSubmit and presses Enter again when it was lost.
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

  // Whatever an interrupted delivery left unsent in the input box goes first, so only this prompt is submitted.
  await clearInputBox(tmux, account.session, sleep)
  await tmux.loadBuffer(d.buffer, d.prompt)
  await tmux.pasteBuffer(d.buffer, account.session)
  d.afterPaste?.()
  await sleep(config.assign.enter_delay)
  await d.beforeEnter?.()
  await tmux.sendKeys(account.session, ['Enter'])
  d.afterEnter?.()
  if (!d.confirm) return null
  const wanted = {prompt: d.prompt, taskPath: d.taskPath}
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

/** waitUntil for a check that has to ask tmux. */
async function waitUntilAsync(check: () => Promise<boolean>, timeoutMs: number, sleep: (ms: number) => Promise<void>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() >= deadline) return false
    await sleep(50)
  }
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

