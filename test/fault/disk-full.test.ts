// Disk full (issue 15): reaps on a real 1 MiB tmpfs. In the fault lane, not `npm test`: mounting a
// tmpfs needs root, which CI has (`bash .ci/run` runs as root) and a developer's `npm test` must not need.
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {parseFooter} from '../../src/lib/delegation/footer.js'
import {delegatedTask, delegationOn, eventsOf, queueState} from '../support/delegated.js'
import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'
import {makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
let fake: FakeSecutools
let env: NodeJS.ProcessEnv

beforeEach(async () => {
  sandbox = await makeSandbox()
  fake = await startFakeSecutools()
  env = await delegationOn(sandbox, fake)
})
afterEach(async () => {
  await fake.close()
  await sandbox.cleanup()
})

const reap = (...args: string[]) => runCcl(['reap', '--config', sandbox.configFile, ...args], {env, cwd: sandbox.dir})
const file = (...parts: string[]) => readFile(path.join(sandbox.queue, ...parts), 'utf8')

describe('disk full', () => {
  it('on a 1 MiB tmpfs: reaps that hit ENOSPC leave no temp files, lose and duplicate nothing, and finish once space returns', async () => {
    const {execFileSync} = await import('node:child_process')
    const {mkdir, readdir} = await import('node:fs/promises')
    // A tmpfs is the real thing (a failing write, not a mock of one); mounting it needs root.
    expect(process.getuid?.(), 'the fault lane mounts a tmpfs: run it as root (CI does)').toBe(0)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', sandbox.queue])
    try {
      for (const d of ['pending', 'done', 'failed']) await mkdir(path.join(sandbox.queue, d))
      const names = Array.from({length: 8}, (_, i) => `big-${i}.md`)
      for (const name of names) await delegatedTask(sandbox, fake, name, {result: `${name}: ${'r'.repeat(150_000)}\n`})
      const temps = async () => (await readdir(sandbox.queue, {recursive: true})).filter((n) => path.basename(n).startsWith('.ccl-tmp-'))
      // Whatever the results left free is taken by a filler: every write of a reap now meets ENOSPC,
      // the claims' and markers' exclusive creates (temp + link) as well as the results.
      const {open: openFile, rm} = await import('node:fs/promises')
      const filler = path.join(sandbox.queue, 'filler')
      const handle = await openFile(filler, 'w')
      await handle.write(Buffer.alloc(2 * 1024 * 1024)).catch((error: NodeJS.ErrnoException) => expect(error.code).toBe('ENOSPC'))
      await handle.close()
      let full = 0
      for (let run = 0; run < 3; run++) {
        const result = await reap()
        if (result.code !== 0) full++
        expect(result.stderr).not.toMatch(/internal error: (?!ENOSPC)/)
        expect(await temps()).toEqual([])
      }

      expect(full).toBeGreaterThan(0) // the disk did fill up
      await rm(filler)
      execFileSync('mount', ['-o', 'remount,size=64m', sandbox.queue])
      const after = await reap()
      expect(after.stderr).not.toMatch(/error/i)
      expect(after.code).toBe(0)
      expect(await temps()).toEqual([])
      const state = await queueState(sandbox)
      expect(state).toEqual({pending: [], done: names, failed: []})
      for (const name of names) expect(parseFooter(await file('done', name))?.job_id).toBe(`j-${name.replace(/\.md$/, '')}`)
      const outcomes = (await eventsOf(sandbox)).filter((e) => e.event === 'delegation.completed')
      expect(outcomes.map((e) => e.task).sort()).toEqual(names)
    } finally {
      execFileSync('umount', ['-l', sandbox.queue])
    }
  }, 60_000)
})
