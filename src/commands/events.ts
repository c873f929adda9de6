import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {UsageError} from '../lib/errors.js'
import {rotateLog} from '../lib/events/archive.js'
import type {CclEvent} from '../lib/events/log.js'
import {eventLogs, hostLog} from '../lib/events/logs.js'
import {type EventQuery, type FleetFollowItem, followEvents, parseSince, queryEvents, taskName} from '../lib/events/query.js'
import {type QueueLayout, queueLayout} from '../lib/queue/layout.js'
import {renderEvent} from '../lib/render/events.js'
import {updateCounters} from '../lib/status/checkpoint.js'
import {printable} from '../lib/render/names.js'

export default class Events extends BaseCommand<typeof Events> {
  static override summary = 'The event log of every host: what ccl did, when, to which task and account; --follow watches it.'
  static override description = `One line per event, oldest first: time (UTC), event, task, account, then the fields that matter for it (provider, job and cost of a delegation; reason of a requeue; from→to of a failover; …). Names are printed with control characters escaped. Torn or foreign lines in the log are skipped.
Filters combine: --task NAME (its events, also a requeue that renamed it), --account NAME (its events, and failovers from or to it), --host NAME (the events of that host's log), --since a duration back from now (30m, 2h, 1d) or an ISO date (2026-12-01, 2026-12-01T08:00Z). -n N keeps the last N matching events.
--follow prints the matching events, then each new one as it is appended, like tail -F: it waits for a log that does not exist yet, and after a rotation (the log renamed away and a new one created) or a truncation it reads the new content from its start. Ctrl-C or SIGTERM stops it, exit 0.
--json prints one document {schemaVersion, events: [...]}; with --follow, one JSON object per event and line (JSON lines), as in the log.
Each host appends only to its own log, <state>/hosts/<host>/events.jsonl; every host's log and the legacy <state>/events.jsonl (written by ccl before per-host logs, never again) are read and merged by time (a tie keeps file order); --json gives each event of a host's log its host; the human lines end with host=NAME once more than one host has a log. --follow follows every host's live log, and a host's that appears later.
Without --follow the archives of each log (events-YYYYMMDDTHHMMSSZ.jsonl beside it, made by --rotate) are read too, oldest first, then the live log.
--rotate renames this host's live log (only this host's: others may be appending to theirs) to a new archive in its folder (UTC time of the rotation in its name; a suffix -1, -2… if taken; never overwrites), prints the archive's path and brings status's counters (counters.json) up to date; writers start a new log with their next event. A missing or empty log is not rotated: a note on stderr, nothing on stdout, exit 0. --rotate takes no other flag but --json and --config.
Exit codes: 0 ok (also: no event yet, nothing to rotate), 2 bad flag (also --rotate with a filter or --follow) (e.g. a --since that is neither a duration nor a date), 3 config error.`

  static override examples = [
    {description: 'What happened in the last hour', command: '<%= config.bin %> <%= command.id %> --since 1h'},
    {description: 'Everything about one task', command: '<%= config.bin %> <%= command.id %> --task fix-login.md'},
    {description: 'Watch an account, starting from its last 20 events', command: '<%= config.bin %> <%= command.id %> --account beta --follow -n 20'},
    {description: 'Failovers since a date, for a script', command: '<%= config.bin %> <%= command.id %> --since 2026-12-01 --json | jq \'.events[] | select(.event == "task.failed_over")\''},
    {description: 'Archive the log (e.g. weekly, from a timer)', command: '<%= config.bin %> <%= command.id %> --rotate'},
    {description: 'Feed another tool one JSON object a line', command: '<%= config.bin %> <%= command.id %> --follow --json -n 0'},
  ]

  static override flags = {
    follow: Flags.boolean({char: 'f', description: 'after the matching events, print each new one as it is appended, until Ctrl-C'}),
    task: Flags.string({description: 'only the events of this task (its file name; a path is cut to it)', helpValue: 'NAME'}),
    account: Flags.string({description: 'only the events of this account, and failovers from or to it', helpValue: 'NAME'}),
    host: Flags.string({description: "only the events of this host's log (a fleet's hosts each write their own)", helpValue: 'NAME'}),
    since: Flags.string({description: 'only events since then: a duration back from now (30m, 2h, 1d) or an ISO date (2026-12-01, 2026-12-01T08:00Z)', helpValue: 'D|DATE'}),
    lines: Flags.integer({char: 'n', description: 'of the events already logged, only the last N that match (0 with --follow: only new ones)', min: 0, helpValue: 'N'}),
    rotate: Flags.boolean({description: "rename this host's log to an archive events-YYYYMMDDTHHMMSSZ.jsonl in its folder and print its path"}),
  }

  async run(): Promise<{events: CclEvent[]} | {archive: string | null; rotated: boolean} | undefined> {
    if (this.flags.rotate) return this.rotate()
    const config = this.cclConfig()
    const layout = queueLayout(config)
    const query = this.query(new Date())

    if (this.flags.follow) {
      await this.follow(layout, query)
      return undefined
    }

    const logs = await eventLogs(layout)
    if (this.jsonEnabled()) {
      const events: CclEvent[] = []
      for await (const batch of queryEvents(logs, query)) events.push(...batch)
      return {events}
    }

    // The host of each line only where there is more than one (a fleet); one machine's lines stay as they were.
    const host = logs.filter((log) => log.host !== null).length > 1
    for await (const batch of queryEvents(logs, query)) process.stdout.write(batch.map((event) => renderEvent(event, {host})).join('\n') + '\n')
    return undefined
  }

  private async rotate(): Promise<{archive: string | null; rotated: boolean}> {
    const others = (['follow', 'task', 'account', 'host', 'since', 'lines'] as const).filter((name) => this.flags[name] !== undefined && this.flags[name] !== false)
    if (others.length > 0) {
      throw new UsageError(`--rotate takes no other flag: ${others.map((name) => `--${name}`).join(', ')} (rotate, then query in a second run)`)
    }

    const layout = queueLayout(this.cclConfig())
    const now = new Date()
    // Only this host's log: the others are their hosts' to rotate (they may be appending to them now).
    const outcome = await rotateLog(hostLog(layout), now)
    if (!outcome.rotated) {
      this.note(`ccl events: nothing to rotate: ${printable(layout.events)} is ${outcome.reason === 'missing' ? 'missing' : 'empty'}`)
      return {archive: null, rotated: false}
    }

    // The checkpoint now names the archive's file: finish it and start on the new log.
    await updateCounters(layout, now)
    if (!this.jsonEnabled()) process.stdout.write(printable(outcome.archive) + '\n')
    return {archive: outcome.archive, rotated: true}
  }

  private query(now: Date): EventQuery {
    const {account, host, lines, since, task} = this.flags
    let from: Date | undefined
    if (since !== undefined) {
      from = parseSince(since, now)
      if (from === undefined) {
        throw new UsageError(`--since ${printable(since)}: expected a duration back from now (30m, 2h, 1d) or an ISO date (2026-12-01, 2026-12-01T08:00Z)`, {hint: 'see: ccl events --help'})
      }
    }

    return {
      ...(task === undefined ? {} : {task: taskName(task)}),
      ...(account === undefined ? {} : {account}),
      ...(host === undefined ? {} : {host}),
      ...(from === undefined ? {} : {since: from}),
      ...(lines === undefined ? {} : {lines}),
    }
  }

  /** Until Ctrl-C or SIGTERM, which end it cleanly (exit 0), as for tail -f. */
  private async follow(layout: QueueLayout, query: EventQuery): Promise<void> {
    const controller = new AbortController()
    const stop = () => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    const json = this.jsonEnabled()
    let caughtUp = false
    // Hosts with a log: the lines show their host once there are two (a host that joins later turns it on).
    const hosts = new Set((await eventLogs(layout)).flatMap((log) => (log.host === null ? [] : [log.host])))
    try {
      for await (const item of followEvents(async () => eventLogs(layout), query, {signal: controller.signal})) {
        if (item.kind === 'events') {
          for (const event of item.events) if (typeof event.host === 'string') hosts.add(event.host)
          process.stdout.write(item.events.map((event) => (json ? JSON.stringify(event) : renderEvent(event, {host: hosts.size > 1}))).join('\n') + '\n')
        } else if (item.kind === 'caught-up') {
          caughtUp = true
        } else {
          this.note(`ccl events: ${describe(item.note, item.file, caughtUp)}`)
        }
      }
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  }
}

function describe(note: Extract<FleetFollowItem, {kind: 'note'}>['note'], file: string, caughtUp: boolean): string {
  const name = printable(file)
  switch (note) {
    case 'missing': {
      return caughtUp ? `${name} is gone; waiting for a new one` : `no event log yet at ${name}; waiting for it`
    }

    case 'created': {
      return `${name} appeared; following it`
    }

    case 'replaced': {
      return `${name} was replaced (rotated); following the new file from its start`
    }

    case 'truncated': {
      return `${name} was truncated; reading it again from its start`
    }
  }
}
