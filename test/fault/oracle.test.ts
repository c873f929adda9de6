// The fault lane's oracle (test/support/invariants.ts) sees each thing it counts: a queue broken by hand in
// each way a killed run could break it is reported, figure by figure, naming the task.
import {appendFile, mkdir, rename, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import type {FakeJob} from '../support/fake-secutools.js'
import {checkQueue, type CreatedTask} from '../support/invariants.js'
import {type LoopSandbox, makeLoopSandbox} from '../support/loop.js'

let l: LoopSandbox | undefined

afterEach(async () => {
  await l?.cleanup()
  l = undefined
})

const job = (task: string, n: number): FakeJob => ({
  id: `j-${task}-${n}`,
  status: 'completed',
  provider: 'gemini',
  result: 'r',
  error: null,
  cost_usd: 0,
  created_at: '',
  finished_at: null,
  prompt: '',
  complexity: null,
  metadata: {task, source: 'ccl'},
})

describe('the fault lane oracle', () => {
  it('counts lost, two places, unfinished, run twice, extra jobs and stray files, and passes a sound queue', async () => {
    l = await makeLoopSandbox()
    const q = l.sandbox.queue
    const created: CreatedTask[] = [
      {name: 'ok-l.md', kind: 'local'},
      {name: 'ok-r.md', kind: 'remote'},
      {name: 'renamed-l.md', kind: 'local'},
    ]
    await writeFile(path.join(q, 'done', 'ok-l.md'), 'x')
    await writeFile(path.join(q, 'done', 'ok-r.md'), 'x')
    await writeFile(path.join(q, 'done', 'renamed-l.2.md'), 'x')
    await appendFile(l.standInLog, `${JSON.stringify({event: 'done', standIn: 'alpha', task: path.join(q, 'active', 'alpha', 'ok-l.md')})}\n`)
    const sound = await checkQueue(l, ['alpha', 'beta'], created, [job('ok-r.md', 1)], new Map())
    expect(sound.problems).toEqual([])
    expect(sound.figures).toMatchObject({lost: 0, inTwoPlaces: 0, unfinished: 0, runTwice: 0, extraJobs: 0, strayFiles: 0, maxJobsPerRemoteTask: 1})

    created.push({name: 'gone-l.md', kind: 'local'}, {name: 'twice-r.md', kind: 'remote'}, {name: 'stuck-l.md', kind: 'local'})
    await writeFile(path.join(q, 'done', 'twice-r.md'), 'x')
    await writeFile(path.join(q, 'pending', 'twice-r.md'), 'x')
    await mkdir(path.join(q, 'active', 'beta'), {recursive: true})
    await writeFile(path.join(q, 'active', 'beta', 'stuck-l.md'), 'x')
    await writeFile(path.join(q, 'pending', '.ccl-tmp-123'), 'x')
    await writeFile(path.join(q, 'pending', 'ok-r.md.delegated'), '{}')
    await appendFile(l.standInLog, `${JSON.stringify({event: 'done', standIn: 'beta', task: path.join(q, 'active', 'beta', 'ok-l.md')})}\n`)
    const broken = await checkQueue(l, ['alpha', 'beta'], created, [job('ok-r.md', 1), job('ok-r.md', 2), job('twice-r.md', 1), job('stuck-l.md', 1)], new Map())
    expect(broken.figures).toMatchObject({lost: 1, inTwoPlaces: 1, unfinished: 1, runTwice: 1, extraJobs: 2, strayFiles: 2, maxJobsPerRemoteTask: 2})
    expect(broken.problems).toEqual(
      expect.arrayContaining([
        'lost: gone-l.md is in no folder',
        'in 2 places: twice-r.md: pending/twice-r.md, done/twice-r.md',
        'unfinished: stuck-l.md is still in active/beta/stuck-l.md',
        '2 jobs for ok-r.md on the fake (at most 1: one per claim)',
        'a local task with jobs: stuck-l.md has 1 on the fake',
        'stray file pending/.ccl-tmp-123',
        'stray file pending/ok-r.md.delegated',
      ]),
    )
    expect(broken.problems.some((p) => p.startsWith('run twice: ok-l.md done 2 times'))).toBe(true)

    // a retry allows one more claim, so one more job
    await rm(path.join(q, 'pending', 'ok-r.md.delegated'))
    await rename(path.join(q, 'pending', '.ccl-tmp-123'), path.join(q, 'pending', '.hidden'))
    const retried = await checkQueue(l, ['alpha', 'beta'], created.slice(0, 2), [job('ok-r.md', 1), job('ok-r.md', 2)], new Map([['ok-r', 1]]))
    expect(retried.problems.filter((p) => !p.startsWith('run twice'))).toEqual([])
  })
})
