import {readdir, readFile, utimes, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {limitedFields, needsLoginFields, writeAccountRecord} from '../support/accounts.js'
import {delegationOn} from '../support/delegated.js'
import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'
import {type LoopSandbox, makeLoopSandbox} from '../support/loop.js'
import {makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'
import {tmuxEnv} from '../support/tmux.js'

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

describe('ccl dispatch: spill to the remote platform', {timeout: 60_000}, () => {
  let sandbox: Sandbox | undefined
  afterEach(async () => {
    await sandbox?.cleanup()
    sandbox = undefined
  })

  it('every account limited or needing login: a delegable task is submitted to secutools, local-only ones wait, and status says why', async () => {
    fake = await startFakeSecutools()
    sandbox = await makeSandbox()
    const sb = sandbox
    const env = await delegationOn(sb, fake)
    // No tmux server on this socket: the sessions are down too, so nothing could be assigned anyway.
    await sb.writeConfig({...sb.config, tmux: {socket: `ccl-test-none-${process.pid}-spill`}, failover: {spill_to_remote: true}})
    const state = path.join(sb.queue, '.ccl')
    const until = new Date(Date.now() + 2 * 3_600_000)
    await writeAccountRecord(state, 'alpha', limitedFields(until))
    await writeAccountRecord(state, 'beta', needsLoginFields(new Date(Date.now() - 600_000)))
    const add = async (name: string, content: string, ageSec: number) => {
      const file = path.join(sb.queue, 'pending', name)
      await writeFile(file, content)
      const at = new Date(Date.now() - ageSec * 1000)
      await utimes(file, at, at)
    }

    await add('plain.md', 'Summarise the logs.\n', 50)
    await add('needs-cc.md', '---\nneeds_claude_code: true\n---\nFix the repo.\n', 40)
    await add('no-remote.md', '---\nallow_delegation: false\n---\nSecret.\n', 30)
    await add('wants-cc.md', '---\npreferred_ai: claude-code\n---\nIn Claude Code.\n', 20)
    const ccl = (args: string[]) => runCcl([...args, '--config', sb.configFile], {env: {...tmuxEnv(), ...env}, cwd: sb.dir})

    const result = await ccl(['dispatch', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const jobs = [...fake.jobs.values()]
    expect(jobs.map((j) => [j.metadata.task, j.provider, j.prompt])).toEqual([['plain.md', 'gemini', 'Summarise the logs.\n']])
    const out = JSON.parse(result.stdout) as {entries: {task: string; outcome: string; reason: string | null}[]}
    expect(out.entries.map((e) => [e.task, e.outcome])).toEqual([
      ['plain.md', 'submitted'],
      ['needs-cc.md', 'waiting'],
      ['no-remote.md', 'waiting'],
      ['wants-cc.md', 'waiting'],
    ])
    expect(out.entries[0]!.reason).toMatch(/^spill: every account is limited or needs login \(alpha limited until \S+Z, beta needs login\) -> default_provider=gemini$/)
    const marker = JSON.parse(await readFile(path.join(sb.queue, 'pending', 'plain.md.delegated'), 'utf8'))
    expect(marker).toMatchObject({state: 'submitted', provider: 'gemini', job_id: jobs[0]!.id})

    // The bash dispatcher's path: delegate submit (no --force) takes what route now sends remote.
    await add('later.md', '---\ncomplexity_hint: high\n---\nA hard one.\n', 10)
    const submitted = await ccl(['delegate', 'submit', path.join(sb.queue, 'pending', 'later.md')])
    expect(submitted.code, submitted.stderr).toBe(0)
    expect([...fake.jobs.values()].map((j) => [j.metadata.task, j.provider])).toEqual([
      ['plain.md', 'gemini'],
      ['later.md', 'claude-api'],
    ])
    expect(submitted.stdout.trim()).toBe([...fake.jobs.values()][1]!.id)
    // A local-only task is still refused without --force.
    const refused = await ccl(['delegate', 'submit', path.join(sb.queue, 'pending', 'needs-cc.md')])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain('the router keeps it local (rule 1: needs_claude_code=true)')

    // The three that must stay local wait, and status says why, in words.
    const next = new Date(until.getTime() + 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z')
    const status = await ccl(['status'])
    expect(status.stdout).toContain(
      `- warning: 3 pending tasks wait (they must stay local; failover.spill_to_remote sends the others remote): every account is limited or needs login (alpha limited until ${next}, beta needs login); next free at ${next}`,
    )
    const json = JSON.parse((await ccl(['status', '--json'])).stdout)
    expect(json.pending_waiting).toEqual({
      tasks: 3,
      accounts: [
        {account: 'alpha', reason: 'limited', until: next, since: expect.any(String)},
        {account: 'beta', reason: 'needs-login', until: null, since: expect.any(String)},
      ],
      next_free_at: next,
      spill: true,
    })
    expect((await readdir(path.join(sb.queue, 'pending'))).sort()).toEqual(['later.md', 'later.md.delegated', 'needs-cc.md', 'no-remote.md', 'plain.md', 'plain.md.delegated', 'wants-cc.md'])
  })

  it('spill off: the same task waits, and status counts every pending task that stays local; one account free: nothing to say', async () => {
    fake = await startFakeSecutools()
    sandbox = await makeSandbox()
    const sb = sandbox
    const env = await delegationOn(sb, fake)
    await sb.writeConfig({...sb.config, tmux: {socket: `ccl-test-none-${process.pid}-nospill`}})
    const state = path.join(sb.queue, '.ccl')
    await writeAccountRecord(state, 'alpha', limitedFields(new Date(Date.now() + 3_600_000)))
    await writeAccountRecord(state, 'beta', limitedFields(new Date(Date.now() + 7_200_000)))
    const file = path.join(sb.queue, 'pending', 'plain.md')
    await writeFile(file, 'Summarise.\n')
    await writeFile(path.join(sb.queue, 'pending', 'gpu.md'), '---\npreferred_ai: gpu\n---\nx\n')
    const old = new Date(Date.now() - 60_000)
    await utimes(file, old, old)
    const ccl = (args: string[]) => runCcl([...args, '--config', sb.configFile], {env: {...tmuxEnv(), ...env}, cwd: sb.dir})

    const status = JSON.parse((await ccl(['status', '--json'])).stdout)
    // gpu.md goes remote by rule 5 at the next dispatch: only plain.md waits for an account.
    expect(status.pending_waiting).toMatchObject({tasks: 1, spill: false, next_free_at: expect.any(String)})
    expect(status.warnings[0]).toMatch(/^1 pending task waits: every account is limited or needs login \(alpha limited until \S+, beta limited until \S+\); next free at /)

    const result = await ccl(['dispatch', '--json'])
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout).entries.find((e: {task: string}) => e.task === 'plain.md')).toMatchObject({outcome: 'waiting', target: 'claude-code'})
    expect([...fake.jobs.values()].map((j) => j.metadata.task)).not.toContain('plain.md')

    await writeAccountRecord(state, 'beta', {})
    const free = JSON.parse((await ccl(['status', '--json'])).stdout)
    expect(free.pending_waiting).toBeNull()
    expect(free.warnings.join('\n')).not.toContain('pending task')
  })
})

describe('ccl dispatch: the queue folder', () => {
  let sandbox: Sandbox | undefined
  afterEach(async () => sandbox?.cleanup())

  it('exits 3 when the queue root does not exist, naming the config file\'s queue and the folder, and creates nothing', async () => {
    sandbox = await makeSandbox()
    const missing = path.join(sandbox.dir, 'typo-queue')
    await sandbox.writeConfig({...sandbox.config, queue: missing, tmux: {socket: `ccl-test-none-${process.pid}-noqueue`}})
    const run = await runCcl(['dispatch', '--config', sandbox.configFile], {env: tmuxEnv(), cwd: sandbox.dir})
    expect(run.code).toBe(3)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain(`ccl: ${sandbox.configFile}: queue: ${missing} does not exist or is not a folder`)
    expect(run.stderr).toContain(`hint: create it (mkdir -p ${missing}`)
    await expect(readdir(missing)).rejects.toThrow(/ENOENT/)
  })
})
