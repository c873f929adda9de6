// `npm run test:faults` (issue 15 part 3): random SIGKILLs of every command that changes the queue, with
// sessions killed and a flaky platform; after each batch the plain timer runs settle the queue and the
// oracle (test/support/invariants.ts) checks it: no task lost, none in two places, none done twice, one job
// per claim on the fake, no stray file. The figures are printed at the end and must all be 0.
//
//   CCL_FAULT_TRIALS=1000   how many killed runs (default 300, what CI runs); `npm run test:faults -- --trials 1000`
//   CCL_FAULT_SEED=N        replay a run's choices (commands, kill points, delays; printed at the start)
//   CCL_FAULT_LANES=N       machines run side by side (default 3), each with its own tmux server and fake
import {readdir} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {events} from '../support/failover.js'
import {type Machine, kindOf, launch, prng, type Run, settle, startMachine, taskBody, tasksIn} from '../support/chaos.js'
import {addFigures, checkQueue, type CreatedTask, type Figures, fsckProblems, haveFsck, stemOf, zeroFigures} from '../support/invariants.js'

const TRIALS = Number(process.env.CCL_FAULT_TRIALS ?? 300)
const SEED = process.env.CCL_FAULT_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.CCL_FAULT_SEED)
const LANES = Number(process.env.CCL_FAULT_LANES ?? 3)
/** killed runs per batch, in waves of WAVE at once (each wave sees what the one before left) */
const PER_BATCH = 24
const WAVE = 8
/** tasks added per batch: local, remote, remote and failing */
const TASKS = {local: 6, remote: 5, failing: 2}
/** the issue's figure: 10 % 5xx, 5 % 429, 5 % resets, 10 % lost answers */
const FLAKY = {serverError: 0.1, tooMany: 0.05, reset: 0.05, lost: 0.1}

type Pick = (n: number) => number

/** The failpoints each command can reach (src/lib/failpoints.ts), to be killed at. */
const POINTS: Record<string, string[]> = {
  reconcile: [
    'reconcile.after-lock',
    'move.after-link',
    'failover.after-begin',
    'failover.after-stop',
    'failover.after-move',
    'failover.after-source-restart',
    'failover.after-target-start',
    'failover.after-paste',
  ],
  dispatch: ['assign.before-claim', 'assign.after-claim', 'assign.after-move', 'assign.after-paste', 'assign.after-enter', 'move.after-link', 'submit.before-claim', 'submit.after-claim', 'submit.after-post'],
  assign: ['assign.before-claim', 'assign.after-claim', 'assign.after-move', 'assign.after-paste', 'assign.after-enter', 'move.after-link'],
  submit: ['submit.before-claim', 'submit.after-claim', 'submit.after-post'],
  reap: ['reap.after-lock', 'submit.after-post', 'finish.prepared', 'finish.linked', 'finish.logged', 'finish.task-removed', 'finish.marker-removed'],
  retry: ['retry.prepared', 'retry.linked'],
  requeue: ['requeue.after-kill', 'requeue.after-move', 'move.after-link'],
  cancel: ['cancel.after-lock', 'finish.prepared', 'finish.linked', 'finish.logged', 'finish.task-removed', 'finish.marker-removed'],
}
POINTS['dispatch.sh'] = POINTS.dispatch!

const COMMANDS = ['reconcile', 'dispatch', 'dispatch.sh', 'assign', 'submit', 'reap', 'retry', 'requeue', 'cancel'] as const
type Command = (typeof COMMANDS)[number]

interface Lane {
  m: Machine
  created: CreatedTask[]
  retries: Map<string, number>
  figures: Figures
  /** killed runs by command, and by how (a failpoint's name, or "random") */
  byCommand: Map<string, number>
  byPoint: Map<string, number>
  sessionKills: number
  problems: string[]
}

/** The argv of one run of `command` against what the queue holds now; undefined when it has nothing to act on. */
async function argv(lane: Lane, command: Command, pick: Pick): Promise<string[] | undefined> {
  const {m} = lane
  const one = (names: string[]) => names[pick(names.length)]
  switch (command) {
    case 'reconcile':
    case 'dispatch':
    case 'reap':
    case 'dispatch.sh': {
      return [command]
    }

    case 'assign': {
      const name = one((await tasksIn(m, 'pending')).filter((n) => kindOf(n) === 'local'))
      return name ? ['assign', name] : ['dispatch']
    }

    case 'submit': {
      const name = one((await tasksIn(m, 'pending')).filter((n) => kindOf(n) !== 'local'))
      return name ? ['delegate', 'submit', name] : ['reap']
    }

    case 'retry': {
      const name = one(await tasksIn(m, 'failed'))
      if (!name) return ['reap']
      lane.retries.set(stemOf(name), (lane.retries.get(stemOf(name)) ?? 0) + 1)
      return ['retry', name]
    }

    case 'requeue': {
      // a task in some active/ to take back: one handed out just before (unkilled) if none is
      let busy = (await Promise.all(m.accounts.map((a) => tasksIn(m, `active/${a}`)))).flat()
      const local = one((await tasksIn(m, 'pending')).filter((n) => kindOf(n) === 'local'))
      if (busy.length === 0 && local) {
        await launch(m, ['assign', local])
        busy = (await Promise.all(m.accounts.map((a) => tasksIn(m, `active/${a}`)))).flat()
      }

      const name = one(busy)
      return name ? ['requeue', name] : ['reconcile']
    }

    case 'cancel': {
      // a delegated task to cancel: one submitted just before (unkilled) if none is
      const delegated = async () =>
        (await readdir(path.join(m.l.sandbox.queue, 'pending')).catch(() => [] as string[])).filter((n) => n.endsWith('.md.delegated')).map((n) => n.replace(/\.delegated$/, ''))
      let markers = await delegated()
      const remote = one((await tasksIn(m, 'pending')).filter((n) => kindOf(n) !== 'local' && !markers.includes(n)))
      if (markers.length === 0 && remote) {
        await launch(m, ['delegate', 'submit', remote])
        markers = await delegated()
      }

      const name = one(markers)
      return name ? ['cancel', name] : ['reap']
    }
  }
}

/** One killed run: a random command, killed at a random failpoint it can reach or after a random 0–400 ms. */
async function trial(lane: Lane, pick: Pick, random: () => number): Promise<Run | undefined> {
  const command = COMMANDS[pick(COMMANDS.length)]!
  const args = await argv(lane, command, pick)
  if (!args) return undefined
  const name = args[0] === 'delegate' ? 'submit' : args[0]!
  const points = POINTS[name] ?? []
  const atPoint = random() < 0.5 && points.length > 0
  const point = atPoint ? points[pick(points.length)]! : 'random'
  lane.figures.trials += 1
  lane.byCommand.set(name, (lane.byCommand.get(name) ?? 0) + 1)
  lane.byPoint.set(point, (lane.byPoint.get(point) ?? 0) + 1)
  // a run armed at a point it never reaches (a dispatch.sh walking the whole queue) is killed after 3 s anyway
  return atPoint
    ? launch(lane.m, args, {env: {CCL_FAILPOINTS: `${point}=kill`}, killAfterMs: 3000})
    : launch(lane.m, args, {killAfterMs: Math.floor(random() * 400)})
}

/** Sometimes a session dies under its task (its tmux session killed), at a random instant of the wave. */
async function maybeKillSession(lane: Lane, pick: Pick, random: () => number): Promise<void> {
  if (random() >= 0.3) return
  const account = lane.m.accounts[pick(lane.m.accounts.length)]!
  await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 400)))
  lane.sessionKills += 1
  await lane.m.l.server.tmux('kill-session', '-t', `=ccl-${account}:`).catch(() => {})
}

async function batch(lane: Lane, number: number, trials: number, random: () => number): Promise<void> {
  const pick: Pick = (n) => Math.floor(random() * n)
  let i = 0
  for (const [kind, count] of Object.entries(TASKS) as [keyof typeof TASKS, number][]) {
    for (let k = 0; k < count; k++, i++) {
      const name = `b${number}-${String(i).padStart(2, '0')}-${kind === 'local' ? 'l' : kind === 'remote' ? 'r' : 'f'}.md`
      await lane.m.l.addTask(name, taskBody(name, kind, i), 100 - i)
      lane.created.push({name, kind})
    }
  }

  for (let left = trials; left > 0; left -= WAVE) {
    const size = Math.min(WAVE, left)
    const runs: Promise<unknown>[] = [maybeKillSession(lane, pick, random)]
    for (let k = 0; k < size; k++) runs.push(trial(lane, pick, random))
    const w0 = Date.now()
    const done = (await Promise.all(runs)).filter((r): r is Run => r !== undefined && typeof r === 'object')
    for (const r of done) if (r.stderr.includes('[chaos:')) lane.problems.push(`batch ${number}: a run hung: ${r.stderr.slice(-2000)}`)
    if (process.env.CCL_FAULT_VERBOSE) console.log(`batch ${number}: wave of ${size} in ${Date.now() - w0} ms`)
  }

  const t0 = Date.now()
  const settled = await settle(lane.m)
  if (process.env.CCL_FAULT_VERBOSE) console.log(`batch ${number}: settled in ${Date.now() - t0} ms`)
  const check = await checkQueue(lane.m.l, lane.m.accounts, lane.created, lane.m.fake.jobs.values(), lane.retries)
  // ccl fsck (issue 15 part 1) after every batch: counted once the build has it (haveFsck), must exit 0.
  const fsck = await fsckProblems(lane.m.l)
  check.figures.fsckProblems = fsck.count
  if (fsck.output) check.problems.push(fsck.output)
  if (!settled.ok) check.problems.push(`batch ${number}: not settled after the plain runs:\n${settled.log}`)
  // the figures of all batches so far: keep the worst per-task count, not a sum
  const {trials: _trials, ...rest} = check.figures
  lane.figures = {...lane.figures, ...rest, maxJobsPerRemoteTask: Math.max(lane.figures.maxJobsPerRemoteTask, rest.maxJobsPerRemoteTask)}
  lane.problems.push(...check.problems.map((p) => `batch ${number}: ${p}`))
}

const lanes: Lane[] = []

afterAll(async () => {
  await Promise.all(lanes.map((lane) => lane.m.cleanup()))
})

describe(`random SIGKILLs over every command that changes the queue (seed ${SEED}, ${TRIALS} trials)`, () => {
  it('after the plain timer runs: no task lost, none in two places, none run twice, one job per claim, no stray file', {timeout: 30 * 60_000}, async () => {
    console.log(`fault lane: seed ${SEED} (CCL_FAULT_SEED=${SEED} to replay its choices), ${TRIALS} trials, ${LANES} lanes${haveFsck() ? ', ccl fsck after each batch' : ''}`)
    const started = Date.now()
    const machines = await Promise.all(
      Array.from({length: LANES}, () => startMachine({limited: 'gamma', flaky: {...FLAKY}})),
    )
    for (const m of machines) {
      lanes.push({m, created: [], retries: new Map(), figures: zeroFigures(), byCommand: new Map(), byPoint: new Map(), sessionKills: 0, problems: []})
    }

    await Promise.all(
      lanes.map(async (lane, index) => {
        const random = prng(SEED + index * 7919)
        lane.m.fake.flaky({...FLAKY, random: prng(SEED + index * 7919 + 1)})
        const share = Math.floor(TRIALS / LANES) + (index < TRIALS % LANES ? 1 : 0)
        let left = share
        for (let number = 1; left > 0; number++) {
          const size = Math.min(PER_BATCH, left)
          await batch(lane, number, size, random)
          left -= size
          // a batch that breaks an invariant ends the lane there: its state is the report
          if (lane.problems.length > 0) break
        }
      }),
    )

    const total = zeroFigures()
    for (const lane of lanes) addFigures(total, lane.figures)
    const byCommand = new Map<string, number>()
    const byPoint = new Map<string, number>()
    for (const lane of lanes) {
      for (const [k, v] of lane.byCommand) byCommand.set(k, (byCommand.get(k) ?? 0) + v)
      for (const [k, v] of lane.byPoint) byPoint.set(k, (byPoint.get(k) ?? 0) + v)
    }

    const tasks = lanes.reduce((n, lane) => n + lane.created.length, 0)
    const logged = await Promise.all(lanes.map((lane) => events(lane.m.l)))
    const count = (kind: string) => logged.reduce((n, log) => n + log.filter((e) => e.event === kind).length, 0)
    const requests = lanes.reduce((n, lane) => n + lane.m.fake.requests.length, 0)
    const faulty = lanes.reduce((n, lane) => n + lane.m.fake.requests.filter((r) => r.answered === 'reset' || (typeof r.answered === 'number' && r.answered >= 429)).length, 0)
    console.log(
      [
        `fault lane (seed ${SEED}): ${total.trials} trials over ${tasks} tasks, ${lanes.reduce((n, lane) => n + lane.sessionKills, 0)} sessions killed, ${faulty} of ${requests} platform requests faulted, ${Math.round((Date.now() - started) / 1000)} s`,
        `  what happened: ${count('task.failed_over')} failovers, ${count('task.requeued')} requeues, ${count('task.done')} local and ` +
          `${lanes.reduce((n, lane) => n + lane.m.fake.jobs.size, 0)} remote jobs done or failed`,
        `  by command: ${[...byCommand].sort().map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `  by kill: ${[...byPoint].sort().map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `  lost ${total.lost}, in two places ${total.inTwoPlaces}, unfinished ${total.unfinished}, run twice ${total.runTwice}, ` +
          `extra jobs ${total.extraJobs} (most jobs per remote task: ${total.maxJobsPerRemoteTask}), stray files ${total.strayFiles}, fsck problems ${total.fsckProblems}`,
      ].join('\n'),
    )
    const problems = lanes.flatMap((lane, index) => lane.problems.map((p) => `lane ${index}: ${p}`))
    expect(problems).toEqual([])
    expect(total.trials).toBeGreaterThanOrEqual(TRIALS)
    expect({lost: total.lost, inTwoPlaces: total.inTwoPlaces, unfinished: total.unfinished, runTwice: total.runTwice, extraJobs: total.extraJobs, strayFiles: total.strayFiles, fsckProblems: total.fsckProblems}).toEqual({
      lost: 0,
      inTwoPlaces: 0,
      unfinished: 0,
      runTwice: 0,
      extraJobs: 0,
      strayFiles: 0,
      fsckProblems: 0,
    })
  })
})
