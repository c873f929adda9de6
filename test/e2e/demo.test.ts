import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {REPO} from '../support/sandbox.js'
import {tmuxEnv} from '../support/tmux.js'

function runDemo(): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'scripts', 'demo.mjs')], {env: tmuxEnv(), timeout: 120_000}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr)})
    })
  })
}

describe('npm run demo', () => {
  it('takes nine tasks of every routing kind through the whole loop, one of them failed over from a limited account, then leaves nothing behind', async () => {
    const result = await runDemo()
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const lines = result.stdout.trimEnd().split('\n')
    // alpha hits its usage limit on its second task; reconcile fails it over to beta, same conversation
    expect(lines.at(-1)).toMatch(/^demo: 9\/9 tasks done \(5 local, 4 remote, \$0\.05\); 1 failed over \(0\d-[a-z-]+\.md: alpha -> beta, same conversation\)$/)
    expect(result.stdout).toMatch(/failover: 0\d-[a-z-]+\.md: alpha → beta: beta resumed alpha's conversation [0-9a-f-]{36}/)
    // Each step is shown as the command an operator would type.
    const steps = lines.filter((l) => /^\[\d+\] \$ ccl /.test(l)).map((l) => l.replace(/^\[\d+\] \$ ccl (\S+).*$/, '$1'))
    expect(steps.slice(0, 6)).toEqual(['validate-symlinks', 'hooks', 'reconcile', 'route', 'dispatch', 'reap'])
    expect(steps).toContain('reconcile')
    expect(steps.at(-1)).toBe('status')
    expect(result.stdout).toMatch(/^ {4}0 +0 +0 +0 +0 +9 +0$/m) // status: pending settling held delegated active done failed
    expect(result.stdout).toContain('$0.0500')

    // Its tmux server and sandbox are gone.
    const socket = /tmux -L (ccl-demo-\S+)/.exec(result.stdout)![1]!
    const sandbox = /sandbox (\S+)/.exec(result.stdout)![1]!
    expect(existsSync(sandbox)).toBe(false)
    const probe = await new Promise<string>((resolve) => {
      execFile('tmux', ['-L', socket, 'list-sessions'], {env: tmuxEnv()}, (_error, _stdout, stderr) => resolve(String(stderr)))
    })
    expect(probe).toMatch(/no server running|error connecting/)
  }, 150_000)
})
