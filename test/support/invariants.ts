// The oracle of the fault lane (test/fault): what must hold of a queue once the plain timer runs have
// settled it, however many of the runs before were SIGKILLed. Read from the disk, the stand-in's event log
// and the fake platform's jobs; nothing of ccl's own code is asked.
import {existsSync, readFileSync} from 'node:fs'
import {readdir} from 'node:fs/promises'
import path from 'node:path'

import type {FakeJob} from './fake-secutools.js'
import type {LoopSandbox, StandInEntry} from './loop.js'
import {REPO} from './sandbox.js'
import {allLogText} from './events.js'

/** What a task of a trial is: done by a session, done by a remote job, or failed by its remote job. */
export type TaskKind = 'local' | 'remote' | 'failing'

export interface CreatedTask {
  /** The name it was created under in pending/ (a requeue may give it NAME.2.md later). */
  name: string
  kind: TaskKind
}

/** The counts the lane prints at the end; every one but trials must be 0. */
export interface Figures {
  trials: number
  /** created and now in no folder at all */
  lost: number
  /** in more than one place (two folders, or one folder under two names) */
  inTwoPlaces: number
  /** still in pending/ or active/ after the plain runs (not lost, but not finished either) */
  unfinished: number
  /** done by the stand-ins more than once (the stand-in's log has two `done` for it) */
  runTwice: number
  /** remote tasks with more jobs on the fake than claims could make (1 + the retries run on them), or a local task with a job */
  extraJobs: number
  /** the most jobs any one remote task has on the fake */
  maxJobsPerRemoteTask: number
  /** temp, claim, result and retry files and markers left in the queue's folders */
  strayFiles: number
  /** what `ccl fsck` reported (0 while the command does not exist) */
  fsckProblems: number
}

export function zeroFigures(): Figures {
  return {trials: 0, lost: 0, inTwoPlaces: 0, unfinished: 0, runTwice: 0, extraJobs: 0, maxJobsPerRemoteTask: 0, strayFiles: 0, fsckProblems: 0}
}

export function addFigures(into: Figures, from: Figures): void {
  for (const key of Object.keys(into) as (keyof Figures)[]) {
    into[key] = key === 'maxJobsPerRemoteTask' ? Math.max(into[key], from[key]) : into[key] + from[key]
  }
}

/** The task a file or a log entry is about: its created name, with a requeue's `.N` before `.md` taken off. */
export function stemOf(name: string): string {
  return path.basename(name).replace(/(\.\d+)?\.md$/, '')
}

const STRAY = /^\.ccl-(tmp|claim|result|retry)-|\.delegated$/

export interface QueueCheck {
  figures: Figures
  /** One line per problem found, naming the task and where it is. */
  problems: string[]
}

/**
 * Checks a settled queue against every task created so far. `retries` counts the `ccl retry` runs
 * started on each task (killed or not): each may give a remote task one more claim, so one more job.
 */
export async function checkQueue(
  l: LoopSandbox,
  accounts: string[],
  created: CreatedTask[],
  jobs: Iterable<FakeJob>,
  retries: Map<string, number>,
): Promise<QueueCheck> {
  const figures = zeroFigures()
  const problems: string[] = []
  const places = new Map<string, string[]>()
  const folders = ['pending', ...accounts.map((a) => `active/${a}`), 'done', 'failed']
  for (const folder of folders) {
    const names = await readdir(path.join(l.sandbox.queue, folder)).catch(() => [] as string[])
    for (const name of names) {
      if (STRAY.test(name)) {
        figures.strayFiles += 1
        problems.push(`stray file ${folder}/${name}`)
        continue
      }

      if (!name.endsWith('.md')) continue
      const stem = stemOf(name)
      places.set(stem, [...(places.get(stem) ?? []), `${folder}/${name}`])
    }
  }

  const log = await l.standInEvents()
  const doneCount = new Map<string, number>()
  for (const e of log) {
    if (e.event === 'done' && e.task) doneCount.set(stemOf(e.task), (doneCount.get(stemOf(e.task)) ?? 0) + 1)
  }

  const jobsOf = new Map<string, number>()
  for (const job of jobs) {
    const task = job.metadata.task
    if (typeof task === 'string') jobsOf.set(stemOf(task), (jobsOf.get(stemOf(task)) ?? 0) + 1)
  }

  for (const task of created) {
    const stem = stemOf(task.name)
    const at = places.get(stem) ?? []
    if (at.length === 0) {
      figures.lost += 1
      problems.push(`lost: ${task.name} is in no folder`)
    } else if (at.length > 1) {
      figures.inTwoPlaces += 1
      problems.push(`in ${at.length} places: ${task.name}: ${at.join(', ')}${historyOf(l, stem)}`)
    } else if (!at[0]!.startsWith('done/') && !at[0]!.startsWith('failed/')) {
      figures.unfinished += 1
      problems.push(`unfinished: ${task.name} is still in ${at[0]}`)
    }

    const done = doneCount.get(stem) ?? 0
    if (done > 1) {
      figures.runTwice += 1
      problems.push(`run twice: ${task.name} done ${done} times by the stand-ins (${whoDid(log, stem)})${historyOf(l, stem)}`)
    }

    const n = jobsOf.get(stem) ?? 0
    if (task.kind === 'local') {
      if (n > 0) {
        figures.extraJobs += 1
        problems.push(`a local task with jobs: ${task.name} has ${n} on the fake`)
      }

      continue
    }

    figures.maxJobsPerRemoteTask = Math.max(figures.maxJobsPerRemoteTask, n)
    const allowed = 1 + (retries.get(stem) ?? 0)
    if (n > allowed) {
      figures.extraJobs += 1
      problems.push(`${n} jobs for ${task.name} on the fake (at most ${allowed}: one per claim)`)
    }

    if (n === 0 && at.some((p) => p.startsWith('done/'))) {
      figures.extraJobs += 1
      problems.push(`${task.name} is in done/ with no job on the fake`)
    }
  }

  return {figures, problems}
}

function whoDid(log: StandInEntry[], stem: string): string {
  return log
    .filter((e) => e.event === 'done' && e.task && stemOf(e.task) === stem)
    .map((e) => `${e.standIn} at ${e.ts}`)
    .join('; ')
}

/** What ccl's event log says happened to a task, for a problem's report: where to start looking. */
function historyOf(l: LoopSandbox, stem: string): string {
  let text = ''
  try {
    text = allLogText(path.join(l.sandbox.queue, '.ccl'))
  } catch {
    return ''
  }

  const lines = text.split('\n').filter((line) => line.includes(`"${stem}`))
  return lines.length > 0 ? `\n    ccl's events of it:\n      ${lines.join('\n      ')}` : ''
}

/** Whether this build has a `ccl fsck` (issue 15 part 1, written on another branch). */
export function haveFsck(): boolean {
  const manifest = path.join(REPO, 'oclif.manifest.json')
  if (!existsSync(manifest)) return false
  const commands = (JSON.parse(readFileSync(manifest, 'utf8')) as {commands?: Record<string, unknown>}).commands ?? {}
  return 'fsck' in commands
}

/**
 * `ccl fsck` on a settled queue: it must exit 0. The problems it names (one a line of its output) are
 * counted; 0 while this build has no fsck.
 */
export async function fsckProblems(l: LoopSandbox): Promise<{count: number; output: string}> {
  if (!haveFsck()) return {count: 0, output: ''}
  const result = await l.ccl(['fsck'])
  if (result.code === 0) return {count: 0, output: ''}
  const lines = result.stdout.split('\n').filter((line) => line.trim() !== '')
  return {count: Math.max(1, lines.length), output: `ccl fsck exit ${result.code}:\n${result.stdout}${result.stderr}`}
}
