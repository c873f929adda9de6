// The failover's decisions on real files in a temp folder: which tasks need a failover, whether a
// conversation can be resumed on another account, and reconcile's cwd warning.
import {mkdir, mkdtemp, rm, symlink, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {type AccountState, emptyAccountState, updateAccountState} from '../../src/lib/accounts/state.js'
import {projectDirName} from '../../src/lib/claude/projects.js'
import {parseConfig} from '../../src/lib/config/load.js'
import type {Config} from '../../src/lib/config/schema.js'
import {failoverNeeds, whyNotResume} from '../../src/lib/failover/failover.js'
import {activeDir, ensureLayout, queueLayout} from '../../src/lib/queue/layout.js'
import {cwdWarnings} from '../../src/lib/sessions/reconcile.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-failover-'))
})
afterEach(async () => rm(dir, {recursive: true, force: true}))

function config(extra = '', cwds: Record<string, string> = {}): Config {
  const accounts = ['alpha', 'beta']
    .map((name) => `  - {name: ${name}, home: ${path.join(dir, 'homes', name)}, cwd: ${cwds[name] ?? path.join(dir, 'work')}}`)
    .join('\n')
  return parseConfig(`queue: ${path.join(dir, 'queue')}\nshared: {root: ${path.join(dir, 'shared')}}\naccounts:\n${accounts}\n${extra}`, path.join(dir, 'ccl.yaml'))
}

const NOW = new Date('2026-12-02T12:00:00.000Z')
const ago = (m: number) => new Date(NOW.getTime() - m * 60_000).toISOString()

async function setState(c: Config, account: string, change: Partial<AccountState>): Promise<void> {
  await updateAccountState(queueLayout(c), account, (s) => ({...s, ...change}))
}

describe('failoverNeeds', () => {
  it('a limited or needs-login account holding a task needs one; a free one, or one without a task, does not', async () => {
    const c = config()
    const layout = queueLayout(c)
    await ensureLayout(layout, ['alpha', 'beta'])
    await writeFile(path.join(activeDir(layout, 'alpha'), 't.md'), 'x\n')
    await writeFile(path.join(activeDir(layout, 'beta'), 'u.md'), 'x\n')
    expect(failoverNeeds(c, layout, NOW)).toEqual([])
    const limited = {until: new Date(NOW.getTime() + 3_600_000).toISOString(), reason: 'usage-limit' as const, limit: 'five_hour', banner: null, since: ago(1)}
    await setState(c, 'alpha', {limited})
    await setState(c, 'beta', {needs_login: {error: 'authentication_failed', message: null, since: ago(2)}})
    expect(failoverNeeds(c, layout, NOW).map((n) => [n.from.name, n.task, n.why, n.inPlace])).toEqual([
      ['alpha', 't.md', `limited until ${new Date(NOW.getTime() + 3_660_000).toISOString()}`, false],
      ['beta', 'u.md', 'needs login (authentication_failed)', false],
    ])
  })

  it('in place: the limit is over and nothing was submitted since it began; not when the session carried on or was restarted', async () => {
    const c = config()
    const layout = queueLayout(c)
    await ensureLayout(layout, ['alpha', 'beta'])
    await writeFile(path.join(activeDir(layout, 'alpha'), 't.md'), 'x\n')
    const over = {until: ago(5), reason: 'usage-limit' as const, limit: 'five_hour', banner: null, since: ago(60)}
    const base = {...emptyAccountState('alpha'), session_started_at: ago(120), turn: 'idle' as const, last_event: 'StopFailure', prompts: [{sha256: 'x', head: 'Read the task', at: ago(61)}]}
    await setState(c, 'alpha', {...base, limited: null, last_limited: over})
    expect(failoverNeeds(c, layout, NOW)).toEqual([expect.objectContaining({task: 't.md', inPlace: true, since: over.since})])
    // Claude Code continued by itself at the reset: a prompt after the limit began
    await setState(c, 'alpha', {prompts: [...base.prompts, {sha256: 'y', head: 'Your usage limit has reset', at: ago(4)}], turn: 'working'})
    expect(failoverNeeds(c, layout, NOW)).toEqual([])
    // a new session since the limit: not the stopped conversation
    await setState(c, 'alpha', {...base, last_limited: over, session_started_at: ago(10)})
    expect(failoverNeeds(c, layout, NOW)).toEqual([])
  })
})

describe('whyNotResume', () => {
  async function transcript(c: Config, cwd: string, id: string): Promise<void> {
    // the shared projects/, linked from both homes
    await mkdir(path.join(dir, 'shared', 'projects', projectDirName(cwd)), {recursive: true})
    for (const a of c.accounts) {
      await mkdir(a.home, {recursive: true})
      await symlink(path.join(dir, 'shared', 'projects'), path.join(a.home, 'projects')).catch(() => {})
    }

    await writeFile(path.join(dir, 'shared', 'projects', projectDirName(cwd), `${id}.jsonl`), '{}\n')
  }

  const state = (over: Partial<AccountState>): AccountState => ({...emptyAccountState('alpha'), ...over})
  const id = '3f1c2a9e-0000-4000-8000-000000000001'

  it('resumes when the id is known, the cwds match and the transcript is under the target home', async () => {
    const c = config()
    const [alpha, beta] = c.accounts as [Config['accounts'][number], Config['accounts'][number]]
    await transcript(c, alpha.cwd, id)
    expect(whyNotResume(c, alpha, beta, state({session_id: id, cwd: alpha.cwd}))).toBeNull()
  })

  it('says why not: resume off, no id, an id that is not one, other cwds, no transcript', async () => {
    const c = config()
    const [alpha, beta] = c.accounts as [Config['accounts'][number], Config['accounts'][number]]
    expect(whyNotResume(config('failover: {resume: false}'), alpha, beta, state({session_id: id}))).toBe('failover.resume is false')
    expect(whyNotResume(c, alpha, beta, state({session_id: null}))).toMatch(/session id of alpha's conversation is not known/)
    expect(whyNotResume(c, alpha, beta, state({session_id: 'x; rm -rf /'}))).toMatch(/not known/)
    const apart = config('', {beta: path.join(dir, 'elsewhere')})
    expect(whyNotResume(apart, apart.accounts[0]!, apart.accounts[1]!, state({session_id: id}))).toBe(`the accounts' cwds differ (alpha ran in ${alpha.cwd}, beta runs in ${path.join(dir, 'elsewhere')})`)
    expect(whyNotResume(c, alpha, beta, state({session_id: id}))).toMatch(/transcript is not at .*\/projects\/.*3f1c2a9e.*\.jsonl \(is projects\/ shared\?\)/)
  })
})

describe('cwdWarnings', () => {
  it('one line when accounts run in different cwds (and resume is on); none otherwise', () => {
    expect(cwdWarnings(config())).toEqual([])
    const apart = config('', {beta: '/srv/other'})
    expect(cwdWarnings(apart)).toEqual([expect.stringContaining(`accounts run in different cwds (alpha in ${path.join(dir, 'work')}; beta in /srv/other)`)])
    expect(cwdWarnings(config('failover: {resume: false}', {beta: '/srv/other'}))).toEqual([])
  })
})
