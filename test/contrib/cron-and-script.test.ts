import {execFile, spawn} from 'node:child_process'
import {chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'
import {parseCronD} from '../support/cron.js'
import {makeSandbox, REPO, type Sandbox} from '../support/sandbox.js'
import {tmuxEnv} from '../support/tmux.js'

const run = promisify(execFile)

describe('contrib/cron/ccl', () => {
  let text: string
  let dir: string

  beforeAll(async () => {
    text = await readFile(path.join(REPO, 'contrib', 'cron', 'ccl'), 'utf8')
    dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-cron-'))
  })

  afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('guards every job with flock -n on a lock of its own command', () => {
    const {jobs} = parseCronD(text)
    expect(jobs.length).toBeGreaterThan(0)
    for (const job of jobs) {
      const match = /flock -n "\$LOCKDIR\/ccl-(\w+)\.lock" ccl (\w+) >\/dev\/null$/.exec(job.command)
      expect(match, `line ${job.line}: ${job.command}`).not.toBeNull()
      expect(match![1]).toBe(match![2])
    }
  })

  it('works around the one-minute floor: reconcile and dispatch every 15 s, reap every 30 s', () => {
    const {jobs} = parseCronD(text)
    const offsets = (command: string) =>
      jobs
        .filter((j) => j.schedule === '* * * * *' && j.command.endsWith(`ccl ${command} >/dev/null`))
        .map((j) => Number(/^sleep (\d+);/.exec(j.command)?.[1] ?? 0))
        .sort((a, b) => a - b)
    expect(offsets('reconcile')).toEqual([0, 15, 30, 45])
    expect(offsets('dispatch')).toEqual([0, 15, 30, 45])
    expect(offsets('reap')).toEqual([0, 30])
    expect(jobs.some((j) => j.schedule === '@reboot' && j.command.includes('ccl reconcile'))).toBe(true)
  })

  it('sets the config through CCL_CONFIG and keeps the API key out of the file', () => {
    const {env} = parseCronD(text)
    expect(env.CCL_CONFIG).toMatch(/^\/.+\.yaml$/)
    expect(env.SHELL).toBe('/bin/sh')
    expect(env.PATH).toContain('/usr/local/bin')
    expect(Object.keys(env)).not.toContain('SECUTOOLS_API_KEY')
  })

  it('runs a job line as cron would, and skips it while the previous run holds the lock', async () => {
    const bin = path.join(dir, 'bin')
    await mkdir(bin, {recursive: true})
    const calls = path.join(dir, 'calls')
    // Only in this test: a `ccl` on PATH that records its arguments, so the line's own plumbing is what is tested.
    await writeFile(path.join(bin, 'ccl'), `#!/bin/sh\necho "$CCL_CONFIG $*" >> '${calls}'\necho routine-output\n`)
    await chmod(path.join(bin, 'ccl'), 0o755)
    const {env, jobs} = parseCronD(text)
    const job = jobs.find((j) => j.schedule === '* * * * *' && j.command.startsWith('flock') && j.command.includes('ccl reap'))!
    const jobEnv = {...env, PATH: `${bin}:${env.PATH}`, LOCKDIR: dir, CCL_CONFIG: '/etc/ccl.yaml', HOME: dir}

    const first = await run('/bin/sh', ['-c', job.command], {env: jobEnv})
    expect(first.stdout).toBe('') // routine output is not mailed
    expect(await readFile(calls, 'utf8')).toBe('/etc/ccl.yaml reap\n')

    // Hold the lock the way a still-running reap would, then fire the line again.
    const holder = spawn('flock', [path.join(dir, 'ccl-reap.lock'), 'sleep', '30'], {stdio: 'ignore'})
    try {
      await new Promise((resolve) => setTimeout(resolve, 200))
      const second = await run('/bin/sh', ['-c', job.command], {env: jobEnv}).catch((error: {code: number}) => error)
      expect((second as {code?: number}).code).toBe(1) // flock -n gave up at once
      expect(await readFile(calls, 'utf8')).toBe('/etc/ccl.yaml reap\n')
    } finally {
      holder.kill()
    }
  })
})

describe('contrib/dispatch.sh', () => {
  it('is executable bash with set -euo pipefail', async () => {
    const script = await readFile(path.join(REPO, 'contrib', 'dispatch.sh'), 'utf8')
    expect(script.startsWith('#!/usr/bin/env bash\n')).toBe(true)
    expect(script).toMatch(/^set -euo pipefail$/m)
    await run('bash', ['-n', path.join(REPO, 'contrib', 'dispatch.sh')])
  })

  it('is shellcheck-clean', async () => {
    const result = await run('shellcheck', ['--severity=style', path.join(REPO, 'contrib', 'dispatch.sh')]).catch(
      (error: {code?: number | string; stdout?: string}) => {
        if (error.code === 'ENOENT') throw new Error("shellcheck not found: install Debian's shellcheck (apt-get install -y shellcheck); CI must have it")
        return {stdout: error.stdout ?? '', code: error.code}
      },
    )
    expect(result.stdout).toBe('')
  })

  it('uses no ccl command but route, delegate submit and assign', async () => {
    const script = await readFile(path.join(REPO, 'contrib', 'dispatch.sh'), 'utf8')
    const used = [...script.matchAll(/"\$CCL" ([a-z]+(?: [a-z]+)?)/g)].map((m) => m[1]!.replace(/ "\$task".*/, ''))
    expect(new Set(used)).toEqual(new Set(['route', 'assign', 'delegate submit']))
  })
})

describe('contrib/dispatch.sh against the real ccl (no session running)', {timeout: 120_000}, () => {
  let sandbox: Sandbox | undefined
  let fake: FakeSecutools | undefined
  const KEY = 'sk-dispatch-sh-test-123456'

  afterAll(async () => {
    await sandbox?.cleanup()
    await fake?.close()
  })

  async function script(env: NodeJS.ProcessEnv): Promise<{code: number; stdout: string; stderr: string}> {
    return new Promise((resolve) => {
      execFile(path.join(REPO, 'contrib', 'dispatch.sh'), [], {env: {...tmuxEnv(), ...env}, timeout: 60_000}, (error, stdout, stderr) => {
        resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr)})
      })
    })
  }

  it('submits remote tasks oldest first, skips delegated ones, and leaves local ones waiting when no account is free', async () => {
    fake = await startFakeSecutools({apiKey: KEY})
    sandbox = await makeSandbox({config: {tmux: {socket: `ccl-none-${process.pid}`}}})
    await sandbox.writeConfig({...sandbox.config, delegation: {base_url: fake.url, retries: 0}})
    const pending = path.join(sandbox.queue, 'pending')
    const base = Date.now()
    const add = async (name: string, text: string, ageS: number) => {
      await writeFile(path.join(pending, name), text)
      const when = new Date(base - ageS * 1000)
      await utimes(path.join(pending, name), when, when)
    }

    await add('local one.md', 'No frontmatter.\n', 50)
    await add('b-remote.md', '---\npreferred_ai: gpu\n---\nB\n', 40)
    await add('a-remote.md', '---\npreferred_ai: gemini\n---\nA\n', 40) // same age: by name
    await add('done-before.md', '---\npreferred_ai: gemini\n---\nC\n', 60)
    await writeFile(path.join(pending, 'done-before.md.delegated'), '{}')
    await add('local two.md', 'No frontmatter.\n', 10)

    const env = {CCL_CONFIG: sandbox.configFile, SECUTOOLS_API_KEY: KEY, PATH: `${path.join(REPO, 'bin')}:${process.env.PATH}`, CCL: path.join(REPO, 'bin', 'run.js')}
    const result = await script(env)
    expect(result.code, result.stderr).toBe(0)
    expect([...fake.jobs.values()].map((j) => j.metadata.task)).toEqual(['a-remote.md', 'b-remote.md'])
    expect(result.stderr).toContain('dispatch: local one.md: no free account; local tasks wait for the next pass')
    expect(result.stderr).toMatch(/dispatch: a-remote\.md: submitted to gemini as job j-\d+/)
    // One refusal is enough: the second local task is not even tried.
    expect(result.stderr).not.toContain('local two.md')
    expect((await readdir(pending)).sort()).toEqual([
      'a-remote.md', 'a-remote.md.delegated', 'b-remote.md', 'b-remote.md.delegated', 'done-before.md', 'done-before.md.delegated', 'local one.md', 'local two.md',
    ])

    // The API down: exit 1, the claim kept for reap.
    await add('c-remote.md', '---\npreferred_ai: gpu\n---\nC\n', 5)
    fake.failNext(5, {status: 500, method: 'POST'})
    const failing = await script(env)
    expect(failing.code).toBe(1)
    expect(failing.stderr).toContain('dispatch: c-remote.md: submit to gpu failed (exit 5)')
    expect(JSON.parse(await readFile(path.join(pending, 'c-remote.md.delegated'), 'utf8'))).toMatchObject({state: 'submitting'})
    expect(failing.stderr).not.toContain(KEY)
  })

  it('leaves a task modified within CCL_SETTLE for the next pass, skips names with control characters, and follows no symlink', async () => {
    fake = await startFakeSecutools({apiKey: KEY})
    sandbox = await makeSandbox({config: {tmux: {socket: `ccl-none-${process.pid}`}}})
    await sandbox.writeConfig({...sandbox.config, delegation: {base_url: fake.url, retries: 0}})
    const pending = path.join(sandbox.queue, 'pending')
    const remote = '---\npreferred_ai: gemini\n---\nR\n'
    const old = new Date(Date.now() - 60_000)
    // A local task with a tab in its name, oldest: without the skip, assign's refusal would read as "no free account".
    await writeFile(path.join(pending, 'tab\there.md'), 'local\n')
    await utimes(path.join(pending, 'tab\there.md'), new Date(old.getTime() - 1000), new Date(old.getTime() - 1000))
    await writeFile(path.join(pending, 'ok.md'), remote)
    await utimes(path.join(pending, 'ok.md'), old, old)

    await writeFile(path.join(sandbox.dir, 'outside.md'), remote)
    await symlink(path.join(sandbox.dir, 'outside.md'), path.join(pending, 'link.md'))
    await writeFile(path.join(pending, 'fresh.md'), remote) // just written: may still be being written
    const env = {CCL_CONFIG: sandbox.configFile, SECUTOOLS_API_KEY: KEY, PATH: `${path.join(REPO, 'bin')}:${process.env.PATH}`, CCL: path.join(REPO, 'bin', 'run.js'), CCL_SETTLE: '30'}
    const result = await script(env)
    expect(result.code, result.stderr).toBe(0)
    expect([...fake.jobs.values()].map((j) => j.metadata.task)).toEqual(['ok.md'])
    expect(result.stderr).not.toContain('tab')
    // Settled now (its mtime moved back, not waited for: a 0 s settle still skips a file of this very second).
    const settled = new Date(Date.now() - 10_000)
    await utimes(path.join(pending, 'fresh.md'), settled, settled)
    const later = await script({...env, CCL_SETTLE: '2'})
    expect(later.code, later.stderr).toBe(0)
    expect([...fake.jobs.values()].map((j) => j.metadata.task)).toEqual(['ok.md', 'fresh.md'])
  })

  it('exits 3 when it cannot find the queue', async () => {
    const none = await script({CCL_CONFIG: '', CCL_QUEUE: ''})
    expect(none.code).toBe(3)
    expect(none.stderr).toBe('dispatch: set CCL_CONFIG (or CCL_QUEUE) to find the queue\n')
    const missing = await script({CCL_QUEUE: '/nonexistent/queue'})
    expect(missing.code).toBe(3)
    expect(missing.stderr).toBe('dispatch: /nonexistent/queue/pending: not a folder\n')
  })
})
