// Why a session died, as its dead pane (kept by remain-on-exit) tells it: pure functions over what
// tmux returned, shared by reconcile (which records it) and status (which shows it).
import os from 'node:os'

import {printable} from '../render/names.js'
import type {DeadPane} from '../tmux/tmux.js'

/** `last_crash` of the crash record, and the crash fields of the `session.crashed` event. */
export interface LastCrash {
  /** When reconcile found it dead or gone (the crash's time in `crashes`). */
  at: string
  /** `dead`: its pane was there to read; `absent`: the session was gone (killed, the tmux server gone): nothing to read. */
  state: 'dead' | 'absent'
  /** The command's exit status; null when killed by a signal, gone, or tmux had not read it. */
  exit_status: number | null
  /** The signal that killed it, where tmux reports one (3.3 and later); null otherwise. */
  signal: number | null
  /** The pane's last non-empty lines, oldest first, trimmed, control characters escaped; tmux's own "Pane is dead" line left out. */
  last_lines: string[]
}

/** How many lines of a dead pane are kept, and how much of one. */
export const LAST_LINES = 10
const MAX_LINE = 300

// What tmux writes under a dead pane itself (3.3a: "Pane is dead (status 127, Wed Dec  2 07:12:08 2026)";
// later versions through remain-on-exit-format, the same words by default): not the command's.
const TMUX_DEAD_LINE = /^Pane is dead\b/

/** The last `max` non-empty lines of a pane's text, trimmed and printable, without tmux's "Pane is dead" line. */
export function lastLines(text: string, max: number = LAST_LINES): string[] {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
  if (lines.length > 0 && TMUX_DEAD_LINE.test(lines.at(-1)!)) lines.pop()
  return lines.slice(-max).map((line) => {
    const shown = printable(line)
    return shown.length > MAX_LINE ? `${shown.slice(0, MAX_LINE)}…` : shown
  })
}

/** The crash as recorded: from the dead pane when there was one to read, else what little is known. */
export function lastCrash(at: Date, state: 'dead' | 'absent', pane: DeadPane | null): LastCrash {
  return {
    at: at.toISOString(),
    state,
    exit_status: pane?.exitStatus ?? null,
    signal: pane?.signal ?? null,
    last_lines: pane ? lastLines(pane.text) : [],
  }
}

const SIGNAL_NAMES = new Map(Object.entries(os.constants.signals).map(([name, number]) => [number, name]))

/** `exit 127: "sh: 1: claude-x: not found"`, `killed by SIGTERM: "…"`, `session gone, no pane to read`. */
export function describeCrash(crash: LastCrash): string {
  let how: string
  if (crash.exit_status !== null) how = `exit ${crash.exit_status}`
  else if (crash.signal !== null) how = `killed by ${SIGNAL_NAMES.get(crash.signal) ?? `signal ${crash.signal}`}`
  else if (crash.state === 'absent') how = 'session gone, no pane to read'
  else how = 'pane dead, tmux gave no exit status'
  const last = crash.last_lines.at(-1)
  return last === undefined ? how : `${how}: "${last}"`
}
