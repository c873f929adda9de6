// The state folder (`state:`) that cannot be created or written: one clear error naming it, exit 3,
// for every command that writes state — never "internal error: ENOTDIR … mkdir". And what ccl
// writes there is private: the folder 0700 (tightened when found looser), its files 0600.
import {execFileSync} from 'node:child_process'
import {chmod, mkdir, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {delegatedTask, delegationOn} from '../support/delegated.js'
import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'
import {makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
let fake: FakeSecutools
let env: NodeJS.ProcessEnv
const mounted: string[] = []

beforeEach(async () => {
  sandbox = await makeSandbox({accounts: ['alpha']})
  fake = await startFakeSecutools()
  env = await delegationOn(sandbox, fake)
})
afterEach(async () => {
  for (const dir of mounted.splice(0)) execFileSync('umount', [dir])
  await fake.close()
  await sandbox.cleanup()
})

const useState = async (state: string) => sandbox.writeConfig({...sandbox.config, state})

/** The four commands that write state, each with what it needs to get that far. */
async function writers(): Promise<Record<string, string[]>> {
  await writeFile(path.join(sandbox.queue, 'pending', 'local.md'), '# local\n')
  await delegatedTask(sandbox, fake, 'remote.md')
  return {
    reconcile: ['reconcile'],
    reap: ['reap'],
    assign: ['assign', 'local.md', '--account', 'alpha'],
    dispatch: ['dispatch'],
  }
}

async function expectStateDirError(state: string, why: RegExp): Promise<void> {
  for (const [name, argv] of Object.entries(await writers())) {
    const run = await runCcl([...argv, '--config', sandbox.configFile], {env, cwd: sandbox.dir})
    const first = run.stderr.split('\n')[0]
    expect({name, code: run.code, first}).toEqual({name, code: 3, first: expect.stringMatching(new RegExp(`^ccl: state folder ${state.replaceAll('/', '\\/')}: cannot be created or written \\(${why.source}`))})
    expect(run.stderr).not.toMatch(/internal error/)
  }
}

describe('a state folder that cannot be created or written', () => {
  it('a file in the way of its parent: reconcile, reap, assign and dispatch exit 3 naming it', async () => {
    await writeFile(path.join(sandbox.dir, 'blocker'), 'not a folder\n')
    const state = path.join(sandbox.dir, 'blocker', 'state')
    await useState(state)
    await expectStateDirError(state, /a file is in the way/)
  })

  it('a read-only file system (a read-only tmpfs as root; a file where the folder should be otherwise): exit 3 naming it', async () => {
    const state = path.join(sandbox.dir, 'state')
    if (process.getuid?.() === 0) {
      await mkdir(state)
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', state])
      mounted.push(state)
      await useState(state)
      await expectStateDirError(state, /the file system is read-only/)
    } else {
      await writeFile(state, 'not a folder\n')
      await useState(state)
      await expectStateDirError(state, /a file is in the way/)
    }
  })
})

describe('the state folder is private', () => {
  it('made 0700, tightened to 0700 when found 0755, and events.jsonl and session records are 0600', async () => {
    const state = path.join(sandbox.queue, '.ccl')
    await mkdir(state, {mode: 0o755})
    await chmod(state, 0o755)
    await writeFile(path.join(sandbox.queue, 'pending', 'local.md'), '# local\n')
    // reconcile with the links missing: it logs symlinks.invalid and stops (no tmux needed).
    const run = await runCcl(['reconcile', '--config', sandbox.configFile], {env, cwd: sandbox.dir})
    expect(run.stderr).not.toMatch(/internal error/)
    const mode = async (...parts: string[]) => ((await stat(path.join(state, ...parts))).mode & 0o777).toString(8)
    expect(await mode()).toBe('700')
    // The log is this host's (SPEC §8), in folders as private as the state folder.
    expect(await mode('hosts', os.hostname(), 'events.jsonl')).toBe('600')
    expect([await mode('hosts'), await mode('hosts', os.hostname())]).toEqual(['700', '700'])
  })
})
