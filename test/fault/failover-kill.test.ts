// Failover survives a kill at every step (issue 13): reconcile SIGKILLed at each failpoint of the
// failover, then plain passes; every task ends in done/ exactly once, done by one session.
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {doneBy, doneLog, events, exactlyOnceInDone, limitedOnSecond, reconcileUntil, started} from '../support/failover.js'
import type {LoopSandbox} from '../support/loop.js'

let current: LoopSandbox | undefined

afterEach(async () => {
  await current?.cleanup()
  current = undefined
})

const POINTS = [
  'failover.after-begin',
  'failover.after-stop',
  'move.after-link',
  'failover.after-move',
  'failover.after-source-restart',
  'failover.after-target-start',
  'failover.after-paste',
] as const

describe('a reconcile killed during a failover', {timeout: 180_000}, () => {
  for (const point of POINTS) {
    it(`killed at ${point}: the next passes finish the failover; the task is done once, by the account it moved to`, async () => {
      const l = await started({standInEnv: {alpha: {STANDIN_LIMIT_AFTER: '1'}}})
      current = l
      const id = await limitedOnSecond(l)
      const killed = await l.ccl(['reconcile'], {env: {CCL_FAILPOINTS: `${point}=kill`}})
      expect(killed.code, killed.stderr).not.toBe(0)
      // the task is in one of the two active/ folders (a cut move: under both names of one file)
      const cut = await l.where()
      expect(cut.pending).toBeUndefined()
      expect([...(cut['active/alpha'] ?? []), ...(cut['active/beta'] ?? [])].every((name) => name === 'second.md')).toBe(true)

      await reconcileUntil(l, async () => (await l.where()).done?.includes('second.md') ?? false)
      await exactlyOnceInDone(l, ['first.md', 'second.md'])
      const log = await doneLog(l, ['first.md', 'second.md'])
      expect(doneBy(log, 'second.md')).toEqual(['beta'])
      // alpha never carried on with it after its limit: the only prompt naming it that alpha got is the first
      const alphaGot = log.filter((e) => e.event === 'received' && e.standIn === 'alpha' && e.prompt?.includes('second.md'))
      expect(alphaGot).toHaveLength(1)
      const betaGot = log.filter((e) => e.event === 'received' && e.standIn === 'beta')
      expect(betaGot).toHaveLength(1)
      expect(betaGot[0]!.session).toBe(id)
      const failedOver = (await events(l)).filter((e) => e.event === 'task.failed_over')
      expect(failedOver).toEqual([expect.objectContaining({task: 'second.md', from: 'alpha', to: 'beta', mode: 'resume', session_id: id})])
      expect(betaGot[0]!.prompt).toContain(path.join('active', 'beta', 'second.md'))
    })
  }
})
