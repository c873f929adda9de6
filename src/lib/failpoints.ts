// TEST-ONLY crash and pause points. Inert unless $CCL_FAILPOINTS names a point; read once per process.
//
//   CCL_FAILPOINTS="assign.after-move=kill"            SIGKILL the process there (like kill -9 or a power cut)
//   CCL_FAILPOINTS="submit.after-claim=pause"          wait there: creates $CCL_FAILPOINT_DIR/<point>.reached
//                                                      and goes on once the test deletes that file
// Several points: comma-separated. Every point there is is listed below, with the state it leaves.
import {existsSync, writeFileSync} from 'node:fs'
import path from 'node:path'

export const FAILPOINTS = {
  'assign.before-claim': 'assign has read the task and picked an account, nothing claimed yet',
  'assign.after-claim': 'the task is claimed and the hand-off record written; the task is still in pending/',
  'assign.after-move': 'the task is in active/<account>/; no prompt sent yet',
  'assign.after-paste': 'the prompt is pasted; Enter not pressed yet',
  'assign.after-enter': 'Enter pressed; the hand-off record not yet marked delivered',
  'submit.before-claim': 'submit has checked the task, nothing claimed yet',
  'submit.after-claim': 'the marker exists in state submitting; nothing sent yet',
  'submit.after-post': 'the platform has the job; the marker still says submitting',
  'finish.prepared': 'the result (task + footer) is written to its journal file .ccl-result-<key>; nothing linked yet',
  'finish.linked': 'the result is linked under its name in done/ or failed/; the event not yet appended',
  'finish.logged': 'the outcome event is appended; the task is still in pending/',
  'finish.task-removed': 'the task is gone from pending/; its marker is still there',
  'finish.marker-removed': 'the marker is gone; only the journal file is left, for the temp sweep',
  'move.after-link': 'a moved task has two names (source and destination) until the source is unlinked',
  'failover.after-begin': 'the failover journal and the target hand-off record are written; nothing else changed',
  'failover.after-stop': "the source's session is killed; the task is still in active/<from>/",
  'failover.after-move': 'the task is in active/<to>/; the source has no session yet',
  'failover.after-source-restart': "the source runs a fresh session; the target's is not restarted yet",
  'failover.after-target-start': "the target's session is started (--resume or plain); no prompt yet",
  'failover.after-paste': 'the prompt is pasted and Enter pressed; the journal still stands',
  'failover.after-release': 'a release for another host: the task is back in pending/; the journal still says source-stopped, the source has no session',
  'failover.after-release-restart': 'a release: the source runs a fresh session; the journal still stands',
  'failover.after-adopt-begin': "an adoption of a released task: the journal and the target's hand-off record are written; the task is still in pending/",
  'failover.after-adopt-move': 'an adoption: the task is in active/<to>/, the hint gone; the journal still says started',
  'reconcile.after-lock': 'reconcile holds its lock and has looked at the sessions; nothing changed yet',
  'reap.after-lock': 'reap holds its lock; nothing polled yet',
  'retry.prepared': "retry wrote the task's new content to pending/.ccl-retry-<hash>; pending/NAME not linked yet, failed/NAME untouched",
  'retry.linked': 'the retried task is in pending/NAME; failed/NAME is still there (the next claimant of pending/NAME, or a sweep of pending/, removes it)',
  'requeue.after-kill': "requeue killed the account's session; the task is still in active/<account>/",
  'requeue.after-move': 'the task is back in pending/; the account has no session yet (reconcile creates it)',
  'cancel.after-lock': 'cancel holds the reap lock and has read the marker; nothing changed yet',
  'record.guard-made': "a breaker of a stale lock or claim has just made its guard (<record>.break); the record itself is untouched",
} as const

export type Failpoint = keyof typeof FAILPOINTS

type Action = 'kill' | 'pause'

let armed: Map<string, Action> | undefined

function parse(spec: string | undefined): Map<string, Action> {
  const points = new Map<string, Action>()
  for (const item of (spec ?? '').split(',')) {
    const [name, action = 'kill'] = item.trim().split('=')
    if (!name) continue
    if (!(name in FAILPOINTS)) throw new Error(`CCL_FAILPOINTS: unknown point "${name}" (have: ${Object.keys(FAILPOINTS).join(', ')})`)
    if (action !== 'kill' && action !== 'pause') throw new Error(`CCL_FAILPOINTS: ${name}: unknown action "${action}" (kill or pause)`)
    points.set(name, action)
  }

  return points
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** Reached a point: does nothing unless a test armed it. Synchronous, so no other work runs meanwhile. */
export function failpoint(point: Failpoint): void {
  armed ??= parse(process.env.CCL_FAILPOINTS)
  if (armed.size === 0) return
  const action = armed.get(point)
  if (action === 'kill') process.kill(process.pid, 'SIGKILL')
  if (action === 'pause') {
    const dir = process.env.CCL_FAILPOINT_DIR
    if (!dir) throw new Error(`CCL_FAILPOINTS: ${point}=pause needs CCL_FAILPOINT_DIR`)
    const flag = path.join(dir, `${point}.reached`)
    writeFileSync(flag, String(process.pid))
    while (existsSync(flag)) sleepSync(10)
  }
}

/** For tests in the same process: re-read $CCL_FAILPOINTS. */
export function rearmFailpoints(): void {
  armed = undefined
}
