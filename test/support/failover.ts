// Helpers of the failover tests: sessions of the stand-in with hooks installed, an account limited mid-task.
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {expect} from 'vitest'

import {completeLines, type LoopSandbox, makeLoopSandbox, type StandInEntry, waitFor} from './loop.js'
import {logTexts} from './events.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

export async function accountState(l: LoopSandbox, account: string): Promise<Json | undefined> {
  return readFile(path.join(l.sandbox.queue, '.ccl', 'accounts', `${account}.json`), 'utf8').then((t) => JSON.parse(t), () => undefined)
}

export async function events(l: LoopSandbox): Promise<Json[]> {
  return logTexts(path.join(l.sandbox.queue, '.ccl')).flatMap((text) => completeLines(text).map((line) => JSON.parse(line) as Json))
}

export interface Setup {
  accounts?: string[]
  standInEnv?: Record<string, Record<string, string>>
  config?: Record<string, unknown>
  cwds?: Record<string, string>
  workMs?: number
}

/** Sessions up with hooks installed, each SessionStart recorded. */
export async function started(setup: Setup = {}): Promise<LoopSandbox> {
  const accounts = setup.accounts ?? ['alpha', 'beta']
  const l = await makeLoopSandbox({
    accounts,
    workMs: setup.workMs ?? 200,
    ...(setup.standInEnv ? {standInEnv: setup.standInEnv} : {}),
    ...(setup.cwds ? {cwds: setup.cwds} : {}),
    config: {failover: {margin: '1s'}, ...setup.config},
  })
  const installed = await l.ccl(['hooks', 'install'])
  expect(installed.code, installed.stderr).toBe(0)
  const reconciled = await l.ccl(['reconcile'])
  expect(reconciled.code, reconciled.stderr).toBe(0)
  await l.ready()
  for (const account of accounts) {
    expect(await waitFor(async () => (await accountState(l, account))?.session_started_at != null, 15_000)).toBe(true)
  }

  return l
}

/** alpha does first.md, then hits its limit on second.md, which stays in active/alpha/. Returns alpha's session id. */
export async function limitedOnSecond(l: LoopSandbox): Promise<string> {
  await l.addTask('first.md', 'First.\n', 90)
  const first = await l.ccl(['assign', 'first.md', '--account', 'alpha'])
  expect(first.code, first.stderr).toBe(0)
  expect(await waitFor(async () => (await l.where()).done?.includes('first.md') ?? false, 20_000)).toBe(true)
  // the hand-off settles (task.done) with the session's Stop
  expect(await waitFor(async () => (await events(l)).some((e) => e.event === 'task.done' && e.task === 'first.md'), 10_000)).toBe(true)
  await l.addTask('second.md', 'Second.\n', 80)
  const second = await l.ccl(['assign', 'second.md', '--account', 'alpha'])
  expect(second.code, second.stderr).toBe(0)
  expect(await waitFor(async () => (await accountState(l, 'alpha'))?.limited != null, 20_000)).toBe(true)
  const where = await l.where()
  expect(where.done).toEqual(['first.md'])
  expect(where['active/alpha']).toEqual(['second.md'])
  const id = (await accountState(l, 'alpha'))?.session_id as string
  expect(id).toMatch(/^[0-9a-f-]{36}$/)
  return id
}

/** Runs reconcile passes until `done` holds (a failover may span passes while a session starts). */
export async function reconcileUntil(l: LoopSandbox, done: () => Promise<boolean>, passes = 6): Promise<{stdout: string; stderr: string}> {
  let stdout = ''
  let stderr = ''
  for (let i = 0; i < passes; i++) {
    const pass = await l.ccl(['reconcile'])
    stdout += pass.stdout
    stderr += pass.stderr
    expect(pass.code, pass.stderr).toBe(0)
    if (await waitFor(done, 8000)) return {stdout, stderr}
  }

  throw new Error(`not done after ${passes} passes:\n${stdout}\n${stderr}`)
}

/**
 * The stand-ins' log once each of `tasks` has its `done` entry: a stand-in renames the task into done/
 * and then writes that entry, so a test that saw the task in done/ may read the log a moment early.
 */
export async function doneLog(l: LoopSandbox, tasks: string[]): Promise<StandInEntry[]> {
  await waitFor(async () => {
    const log = await l.standInEvents()
    return tasks.every((task) => doneBy(log, task).length > 0)
  }, 5000)
  return l.standInEvents()
}

export function doneBy(log: StandInEntry[], task: string): string[] {
  return log.filter((e) => e.event === 'done' && path.basename(e.task ?? '') === task).map((e) => e.standIn)
}

/** Every task where it should be, once: nothing left in pending/ or active/. */
export async function exactlyOnceInDone(l: LoopSandbox, tasks: string[]): Promise<void> {
  const where = await l.where()
  expect(where).toEqual({done: [...tasks].sort()})
}

