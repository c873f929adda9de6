// The event logs of a state folder as a test reads them: every host's log (hosts/<host>/, archives
// first) and the legacy top-level one, found by the same eventLogs every reader of ccl uses.
import {readFileSync} from 'node:fs'
import path from 'node:path'

import {type CclEvent, parseEventLine} from '../../src/lib/events/log.js'
import {eventLogsSync} from '../../src/lib/events/logs.js'
import {currentHost} from '../../src/lib/queue/holder.js'

function layoutOf(state: string) {
  return {state, hosts: path.join(state, 'hosts'), host: currentHost(), legacyEvents: path.join(state, 'events.jsonl')}
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ''
    throw error
  }
}

/** The text of each log's live file, by log (legacy first, then hosts by name); missing files are empty. */
export function logTexts(state: string): string[] {
  return eventLogsSync(layoutOf(state)).map((log) => readOrEmpty(log.live))
}

/** Every log's live text, one after the other (each ending where its file ends). */
export function allLogText(state: string): string {
  return logTexts(state).join('')
}

/**
 * The events of every live log, merged by ts (stable: one log's order kept, legacy first on a tie),
 * as written: no `host` added (`ccl events --json` adds it). Torn and foreign lines skipped.
 */
export function allEvents(state: string): CclEvent[] {
  const logs = logTexts(state).map((text) => text.split('\n').flatMap((line) => parseEventLine(line) ?? []))
  const at = logs.map(() => 0)
  const merged: CclEvent[] = []
  // Of each log's next event the earliest; a log's own order is never changed (as mergeByTs in query.ts).
  for (;;) {
    let pick = -1
    for (const [n, events] of logs.entries()) {
      if (at[n]! >= events.length) continue
      if (pick === -1 || Date.parse(events[at[n]!]!.ts) < Date.parse(logs[pick]![at[pick]!]!.ts)) pick = n
    }

    if (pick === -1) return merged
    merged.push(logs[pick]![at[pick]!]!)
    at[pick]!++
  }
}
