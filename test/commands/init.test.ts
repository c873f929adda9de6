// ccl init in a temp folder standing in for the operator's home: the starter config where ccl looks
// by itself, the queue folders, and no file ever replaced without --force.
import {mkdtemp, readFile, rm, stat} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {runCcl} from '../support/sandbox.js'

let home: string
beforeEach(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'ccl-init-'))
})
afterEach(async () => {
  await rm(home, {recursive: true, force: true})
})

// runCcl makes HOME the cwd and XDG_CONFIG_HOME <cwd>/.config: init's default place is in the temp folder.
const ccl = (...args: string[]) => runCcl(args, {cwd: home})
const isDir = async (dir: string) => (await stat(dir)).isDirectory()

describe('ccl init', () => {
  it('writes a commented config where ccl looks by default, makes the queue folders, and that config passes doctor\'s config check', async () => {
    const queue = path.join(home, 'srv', 'queue')
    const result = await ccl('init', '--queue', queue, '--account', `alpha=${home}/.claude-alpha`, '--account', 'beta=.claude-beta')
    expect(result.code, result.stderr).toBe(0)
    const file = path.join(home, '.config', 'ccl', 'config.yaml')
    expect(result.stdout.split('\n')[0]).toBe(`wrote ${file}`)
    expect(result.stdout).toContain('next:\n  1. edit')
    for (const step of ['ccl validate-symlinks --create-missing', 'ccl hooks install', 'ccl doctor', 'contrib/systemd/']) expect(result.stdout).toContain(step)
    for (const dir of ['pending', 'active', 'done', 'failed']) expect(await isDir(path.join(queue, dir))).toBe(true)

    const text = await readFile(file, 'utf8')
    expect(text).toContain('# root of the queue folders')
    expect(text).toContain("# the NAME of the variable; the key is never in the file")
    expect(text).toMatch(/^ {4}home: .*\/\.claude-beta$/m)

    // No --config: doctor finds the file in the same place, and it loads. The config names tmux
    // socket "ccl": TMUX_TMPDIR keeps doctor's look at that server inside the temp folder.
    const doctor = await runCcl(['doctor', '--json'], {cwd: home, env: {TMUX_TMPDIR: home}})
    const report = JSON.parse(doctor.stdout) as {configLoaded: boolean; config: string; checks: {id: string; severity: string; account?: string}[]}
    expect(report.configLoaded).toBe(true)
    expect(report.config).toBe(file)
    expect(report.checks.find((check) => check.id === 'config')).toMatchObject({severity: 'ok'})
    expect(report.checks.find((check) => check.id === 'queue.folders')).toMatchObject({severity: 'ok'})
    expect(report.checks.filter((check) => check.id === 'account.home').map((check) => check.account)).toEqual(['alpha', 'beta'])
    // delegation is left off (its block commented out): not a failure
    expect(report.checks.find((check) => check.id === 'delegation')).toMatchObject({severity: 'ok'})
  })

  it('refuses to overwrite an existing config (exit 4, the file untouched); --force replaces it and keeps the old one', async () => {
    const file = path.join(home, 'ccl.yaml')
    expect((await ccl('init', '--config', file, '--queue', path.join(home, 'q1'))).code).toBe(0)
    const first = await readFile(file, 'utf8')
    const again = await ccl('init', '--config', file, '--queue', path.join(home, 'q2'))
    expect(again.code).toBe(4)
    expect(again.stderr).toBe(`ccl: ${file} already exists; left as it was\n  hint: ccl init --force replaces it (the old file is kept as .bak beside it)\n`)
    expect(await readFile(file, 'utf8')).toBe(first)
    await expect(stat(path.join(home, 'q2'))).rejects.toThrow(/ENOENT/)

    const forced = await ccl('init', '--config', file, '--queue', path.join(home, 'q2'), '--force')
    expect(forced.code, forced.stderr).toBe(0)
    expect(await readFile(`${file}.bak`, 'utf8')).toBe(first)
    expect(await readFile(file, 'utf8')).toContain(`queue: ${path.join(home, 'q2')}`)
  })

  it('a bad --account is a usage error (exit 2) and writes nothing', async () => {
    const result = await ccl('init', '--account', 'Alpha')
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('--account "Alpha": expected NAME=HOME')
    await expect(stat(path.join(home, '.config', 'ccl', 'config.yaml'))).rejects.toThrow(/ENOENT/)
  })
})
