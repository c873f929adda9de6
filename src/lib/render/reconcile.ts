import {formatDuration} from '../config/duration.js'
import type {FailoverOutcome} from '../failover/failover.js'
import {describeCrash} from '../sessions/crash.js'
import type {AccountOutcome, ReconcileResult} from '../sessions/reconcile.js'
import {printable} from './names.js'

export interface RenderOptions {
  crashLimit: number
  crashWindowMs: number
  /** Say "nothing to do" when nothing happened; off for cron, whose mail is sent for any output. */
  sayNothing: boolean
}

/** One line for an account where something happened or is wrong; undefined for a healthy, untouched one. */
export function describeOutcome(outcome: AccountOutcome, dryRun: boolean, options: RenderOptions): string | undefined {
  const who = `${outcome.account} (${outcome.session})`
  if (outcome.error !== null) return `${who}: FAILED: ${outcome.error}`
  const crashes = `${outcome.crashesInWindow} crash${outcome.crashesInWindow === 1 ? '' : 'es'} within ${formatDuration(options.crashWindowMs)}`
  const release = `release with: ccl reconcile --release ${outcome.account}`
  // A held account's line says why it crashed last: the one thing to fix before the release.
  const lastCrash = outcome.lastCrash && !outcome.crashRecorded ? `; last crash: ${describeCrash(outcome.lastCrash)}` : ''
  if (outcome.found === 'alive') {
    return outcome.held ? `${who}: alive but HELD (${crashes}${lastCrash}); assign skips it; ${release}` : undefined
  }

  const would = dryRun ? 'would ' : ''
  const steps: string[] = []
  if (outcome.crashRecorded) steps.push(`${would}record a crash (${crashes}, limit ${options.crashLimit})`)
  if (outcome.killedDead) steps.push(`${would}kill the dead pane`)
  for (const task of outcome.requeued) {
    steps.push(
      task.renamed
        ? `${would}requeue ${task.task} as pending/${task.as} (pending/ already has a ${task.task}; both kept)`
        : `${would}requeue ${task.task} to pending/`,
    )
  }

  if (outcome.held) {
    steps.push(
      outcome.heldNow
        ? `${dryRun ? 'would put it' : 'put'} on HOLD: not recreated; ${release}`
        : `HELD (${crashes}${lastCrash}): not recreated; ${release}`,
    )
  } else if (outcome.created) {
    steps.push(`${dryRun ? 'would create' : 'created'} the session`)
  }

  // Why it died, when its dead pane was there to tell (a session gone says nothing).
  const why = outcome.lastCrash?.state === 'dead' ? ` (${describeCrash(outcome.lastCrash)})` : ''
  const found = outcome.crashRecorded ? `crashed${why}` : outcome.found ?? 'unknown'
  return `${who}: ${found}: ${steps.join('; ')}`
}

/**
 * One line per failover; a task waiting for a free account only on a terminal (it is a state, and
 * cron would mail it at every run: `ccl status` names it).
 */
export function describeFailover(failover: FailoverOutcome, showWaiting: boolean): string | undefined {
  const route = failover.to === null ? failover.from : failover.to === failover.from ? `${failover.from} (in place)` : `${failover.from} → ${failover.to}`
  switch (failover.result) {
    case 'done': {
      return `failover: ${printable(failover.task)}: ${route}: ${failover.detail}`
    }

    case 'under-way': {
      return `failover: ${printable(failover.task)}: ${route}: under way: ${failover.detail}`
    }

    case 'undone': {
      return `failover: ${printable(failover.task)}: ${route}: ${failover.detail}`
    }

    case 'waiting': {
      return showWaiting ? `failover: ${printable(failover.task)}: ${failover.detail}` : undefined
    }
  }
}

export function renderReconcile(result: ReconcileResult, options: RenderOptions): string {
  const lines: string[] = []
  if (result.dryRun) lines.push('dry run: nothing is changed')
  if (result.skipped) return [...lines, `reconcile skipped: ${result.skipped}`].join('\n')
  if (!result.symlinks.valid) {
    lines.push(...result.symlinks.problems)
    lines.push(`refused: symlinks INVALID (${result.symlinks.problems.length} problem${result.symlinks.problems.length === 1 ? '' : 's'}); no session created, no task moved. See: ccl validate-symlinks`)
    return lines.join('\n')
  }

  const said = lines.length
  for (const failover of result.failovers) {
    const line = describeFailover(failover, options.sayNothing)
    if (line) lines.push(line)
  }

  if (result.released) lines.push(`${result.dryRun ? 'would release' : 'released'} ${result.released}: hold and crash record cleared`)
  for (const outcome of result.accounts) {
    const line = describeOutcome(outcome, result.dryRun, options)
    if (line) lines.push(line)
  }

  if (lines.length === said && options.sayNothing) lines.push(`nothing to do: all ${result.accounts.length} sessions alive`)
  return lines.join('\n')
}
