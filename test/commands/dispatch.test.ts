import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'
import {type LoopSandbox, makeLoopSandbox} from '../support/loop.js'

let loop: LoopSandbox | undefined
let fake: FakeSecutools | undefined

afterEach(async () => {
  await loop?.cleanup()
  await fake?.close()
  loop = undefined
  fake = undefined
})

const KEY = 'sk-test-dispatch-0123456789'

/** Two accounts running the stand-in (busy for a long time once given a task), and the fake secutools. */
async function started(options: {delegation?: boolean} = {}): Promise<{l: LoopSandbox; f: FakeSecutools}> {
  fake = await startFakeSecutools({apiKey: KEY})
  loop = await makeLoopSandbox({
    workMs: 600_000,
    config: options.delegation === false ? {} : {delegation: {base_url: fake.url, retries: 1, timeout: '5s'}},
  })
  loop.env = {...loop.env, SECUTOOLS_API_KEY: KEY, CCL_TEST_BACKOFF_BASE_MS: '10'}
  const reconciled = await loop.ccl(['reconcile'])
  expect(reconciled.code, reconciled.stderr).toBe(0)
  await loop.ready()
  return {l: loop, f: fake}
}

const remote = (provider: string) => `---\npreferred_ai: ${provider}\n---\nSummarise for ${provider}.\n`
const local = (what: string) => `---\nneeds_claude_code: true\n---\n${what}\n`

async function marker(l: LoopSandbox, name: string): Promise<{state: string; job_id: string | null; provider: string}> {
  return JSON.parse(await readFile(path.join(l.sandbox.queue, 'pending', `${name}.delegated`), 'utf8'))
}

describe('ccl dispatch', {timeout: 120_000}, () => {
  it('routes every pending task oldest first: remote ones submitted, local ones to free accounts, the rest wait', async () => {
    const {l, f} = await started()
    await l.addTask('l1.md', local('first'), 60)
    await l.addTask('r1.md', remote('gemini'), 50)
    await l.addTask('l2.md', local('second'), 40)
    await l.addTask('plain.md', 'No frontmatter: local, as before delegation existed.\n', 30)
    await l.addTask('r2.md', remote('gpu'), 20)
    await l.addTask('old-remote.md', remote('gemini'), 10)
    await writeFile(path.join(l.sandbox.queue, 'pending', 'old-remote.md.delegated'), JSON.stringify({version: 1}))

    const result = await l.ccl(['dispatch'])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const jobs = [...f.jobs.values()]
    expect(jobs.map((j) => [j.metadata.task, j.provider])).toEqual([
      ['r1.md', 'gemini'],
      ['r2.md', 'gpu'],
    ])
    expect(result.stdout).toBe(
      [
        'l1.md: assigned to alpha',
        `r1.md: submitted to gemini as job ${jobs[0]!.id}`,
        'l2.md: assigned to beta',
        `r2.md: submitted to gpu as job ${jobs[1]!.id}`,
        'waiting: plain.md (no free account (alpha: working on l1.md; beta: working on l2.md))',
        'dispatch: 2 assigned, 2 submitted, 1 waiting, 1 already delegated',
        '',
      ].join('\n'),
    )
    expect(await l.where()).toEqual({
      pending: ['old-remote.md', 'plain.md', 'r1.md', 'r2.md'],
      'active/alpha': ['l1.md'],
      'active/beta': ['l2.md'],
    })
    expect(await marker(l, 'r1.md')).toMatchObject({state: 'submitted', job_id: jobs[0]!.id, provider: 'gemini'})
    // The prompt for secutools is the body, without frontmatter.
    expect(jobs[0]!.prompt).toBe('Summarise for gemini.\n')

    // A second pass right after hands out nothing twice, and says nothing (cron mail, the journal).
    const quiet = await l.ccl(['dispatch'])
    expect(quiet).toEqual({code: 0, stdout: '', stderr: ''})
    const again = await l.ccl(['dispatch', '--json'])
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({
      schemaVersion: 1,
      counts: {assigned: 0, submitted: 0, waiting: 1, skipped: 0, failed: 0},
      delegated: 3,
      ok: true,
    })
    expect(f.jobCount()).toBe(2)
  })

  it('--max N hands off at most N tasks', async () => {
    const {l, f} = await started()
    await l.addTask('a.md', remote('gemini'), 30)
    await l.addTask('b.md', local('b'), 20)
    await l.addTask('c.md', remote('gemini'), 10)
    const result = await l.ccl(['dispatch', '--max', '2'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('dispatch: 1 assigned, 1 submitted, 0 waiting, 0 already delegated (stopped at --max)')
    expect(f.jobCount()).toBe(1)
    expect(await l.where()).toEqual({pending: ['a.md', 'c.md'], 'active/alpha': ['b.md']})
    const bad = await l.ccl(['dispatch', '--max', '0'])
    expect(bad.code).toBe(2)
  })

  it('exits 1 when the API fails, keeps the claim for reap, and still hands out the local tasks', async () => {
    const {l, f} = await started()
    await l.addTask('r.md', remote('gemini'), 20)
    await l.addTask('l.md', local('l'), 10)
    f.failNext(10, {status: 503, method: 'POST'})
    const result = await l.ccl(['dispatch'])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/^dispatch: r\.md: FAILED \(gemini\): r\.md: .*503/m)
    expect(result.stdout).toContain('l.md: assigned to alpha')
    expect(result.stdout).toContain('1 failed')
    expect(await marker(l, 'r.md')).toMatchObject({state: 'submitting', job_id: null})
    expect(await l.where()).toEqual({pending: ['r.md'], 'active/alpha': ['l.md']})
    expect(result.stderr).not.toContain(KEY)
    expect(result.stdout).not.toContain(KEY)
  })

  it('with delegation off, every task is local (rule 4) and nothing reaches secutools', async () => {
    const {l, f} = await started({delegation: false})
    await l.addTask('r.md', remote('gemini'), 20)
    await l.addTask('l.md', local('l'), 10)
    await l.addTask('later.md', remote('gpu'), 5)
    await l.addTask('last.md', local('last'), 3) // not even read: delegation off, no account free (3 s: settled)
    const result = await l.ccl(['dispatch'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('r.md: assigned to alpha')
    expect(result.stdout).toContain('l.md: assigned to beta')
    expect(result.stdout).toContain('waiting: later.md, last.md (no free account (alpha: working on r.md; beta: working on l.md))')
    expect(f.requests).toEqual([])
    expect(await l.where()).toEqual({pending: ['last.md', 'later.md'], 'active/alpha': ['r.md'], 'active/beta': ['l.md']})
  })

  it('routes a task with broken frontmatter local, with the warning on stderr', async () => {
    const {l, f} = await started()
    await l.addTask('broken.md', '---\npreferred_ai: [gemini\n---\nbody\n', 10)
    const result = await l.ccl(['dispatch'])
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/^dispatch: warning: broken\.md: /m)
    expect(result.stdout).toContain('broken.md: assigned to alpha')
    expect(f.jobCount()).toBe(0)
  })

  it('two passes at once hand every task out once', async () => {
    const {l, f} = await started()
    for (let i = 1; i <= 4; i++) await l.addTask(`r${i}.md`, remote('gemini'), 100 - i)
    for (let i = 1; i <= 3; i++) await l.addTask(`l${i}.md`, local(`l${i}`), 50 - i)
    const results = await Promise.all([l.ccl(['dispatch', '--json']), l.ccl(['dispatch', '--json'])])
    for (const r of results) expect(r.code, r.stderr).toBe(0)
    const counts = results.map((r) => JSON.parse(r.stdout).counts as Record<string, number>)
    expect(counts[0]!.submitted! + counts[1]!.submitted!).toBe(4)
    expect(counts[0]!.assigned! + counts[1]!.assigned!).toBe(2)
    expect(f.jobCount()).toBe(4)
    expect(new Set([...f.jobs.values()].map((j) => j.metadata.task)).size).toBe(4)
    const where = await l.where()
    expect(where['active/alpha']).toHaveLength(1)
    expect(where['active/beta']).toHaveLength(1)
    expect(Object.values(where).flat().sort()).toEqual(['l1.md', 'l2.md', 'l3.md', 'r1.md', 'r2.md', 'r3.md', 'r4.md'])
  })
})
