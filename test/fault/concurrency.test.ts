// Exactly once under concurrency (issue 15 part 4): two `ccl dispatch`, two contrib/dispatch.sh, two
// `ccl reap` and two `ccl reconcile` started at once, over and over, in three rounds of 20 new local and
// remote tasks each; nothing killed, the platform answering well. Every task ends in done/ once, every
// remote task has one job on the fake, every local task was received by one session once and done once.
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {kindOf, launch, type Machine, type Run, settled, startMachine, taskBody} from '../support/chaos.js'
import {stemOf, type TaskKind} from '../support/invariants.js'
import {waitFor} from '../support/loop.js'

let machine: Machine | undefined

afterEach(async () => {
  await machine?.cleanup()
  machine = undefined
})

const ROUNDS = 3
const PER_ROUND = {local: 10, remote: 10}
const AT_ONCE = [['dispatch'], ['dispatch'], ['dispatch.sh'], ['dispatch.sh'], ['reap'], ['reap'], ['reconcile'], ['reconcile']]

describe('dispatchers, reaps and reconciles at once', {timeout: 600_000}, () => {
  it('three rounds over 60 local and remote tasks: each done once, one job per remote task, each local task received once', async () => {
    const m = await startMachine({accounts: ['alpha', 'beta', 'gamma'], workMs: 50})
    machine = m
    const names: string[] = []
    const surprises: string[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      let n = 0
      for (const [kind, count] of Object.entries(PER_ROUND) as [TaskKind, number][]) {
        for (let k = 0; k < count; k++, n++) {
          const name = `c${round}-${String(n).padStart(2, '0')}-${kind === 'local' ? 'l' : 'r'}.md`
          await m.l.addTask(name, taskBody(name, kind, n), 100 - n)
          names.push(name)
        }
      }

      // all eight at once, again and again, until the round's tasks are all done
      let waves = 0
      while (!(await settled(m))) {
        expect(++waves, `round ${round} not done after ${waves - 1} waves`).toBeLessThanOrEqual(40)
        const runs: Run[] = await Promise.all(AT_ONCE.map((command) => launch(m, command)))
        for (const [i, run] of runs.entries()) {
          // 0, or 1 for a pass that found a task taken by another meanwhile; never a crash or a hang
          if (run.code !== 0 && run.code !== 1) surprises.push(`${AT_ONCE[i]!.join(' ')} exit ${run.code}: ${run.stderr.trim()}`)
        }

        await waitFor(() => settled(m), 300, 50)
      }
    }

    expect(surprises).toEqual([])
    const where = await m.l.where()
    expect(where).toEqual({done: [...names].sort()})

    const perTask = (stems: string[]) => Object.fromEntries(names.map((name) => [name, stems.filter((s) => s === stemOf(name)).length]))
    const jobs = [...m.fake.jobs.values()].map((job) => stemOf(String(job.metadata.task)))
    const remote = names.filter((name) => kindOf(name) === 'remote')
    const local = names.filter((name) => kindOf(name) === 'local')
    expect(perTask(jobs)).toEqual(Object.fromEntries(names.map((name) => [name, kindOf(name) === 'remote' ? 1 : 0])))
    expect(remote).toHaveLength(ROUNDS * PER_ROUND.remote)

    const log = await m.l.standInEvents()
    const receivedStems = log.filter((e) => e.event === 'received' && e.task).map((e) => stemOf(e.task!))
    const done = log.filter((e) => e.event === 'done' && e.task).map((e) => stemOf(e.task!))
    expect(Object.fromEntries(local.map((name) => [name, receivedStems.filter((s) => s === stemOf(name)).length]))).toEqual(
      Object.fromEntries(local.map((name) => [name, 1])),
    )
    expect(Object.fromEntries(local.map((name) => [name, done.filter((s) => s === stemOf(name)).length]))).toEqual(
      Object.fromEntries(local.map((name) => [name, 1])),
    )
    // and no prompt carried two tasks (a merged hand-off) or none
    expect(log.filter((e) => e.event === 'received').every((e) => e.task && names.includes(path.basename(e.task)))).toBe(true)
  })
})
