import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {readEvents} from '../../src/lib/events/log.js'
import {FINISH_STEPS, type FinishRequest, type FinishStep, finishJob} from '../../src/lib/delegation/finish.js'
import type {FooterData} from '../../src/lib/delegation/footer.js'
import {parseFooter} from '../../src/lib/delegation/footer.js'
import {contentHash, idempotencyKey, type Marker, serializeMarker} from '../../src/lib/delegation/marker.js'
import {type QueueLayout, ensureLayout, markerPath, queueLayout} from '../../src/lib/queue/layout.js'
import {resultJournalName} from '../../src/lib/queue/transitions.js'
import {allEvents} from '../support/events.js'
import {makeSandbox, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
let layout: QueueLayout
const now = new Date('2026-11-25T12:00:00.000Z')

beforeEach(async () => {
  sandbox = await makeSandbox()
  layout = queueLayout({queue: sandbox.queue, state: path.join(sandbox.queue, '.ccl')})
  await ensureLayout(layout)
})
afterEach(async () => sandbox.cleanup())

function footer(task: string, jobId: string, status: FooterData['status'] = 'completed'): FooterData {
  return {
    status,
    provider: 'gemini',
    job_id: jobId,
    cost_usd: 0.01,
    submitted_at: '2026-11-25T11:00:00.000Z',
    finished_at: '2026-11-25T11:30:00.000Z',
    task,
    reaped_at: now.toISOString(),
  }
}

function markerFor(task: string, content: string, jobId: string): Marker {
  return {
    version: 1,
    task,
    state: 'submitted',
    provider: 'gemini',
    idempotency_key: idempotencyKey(task, content, 'nonce-of-' + task),
    claimed_at: '2026-11-25T11:00:00.000Z',
    job_id: jobId,
    submitted_at: '2026-11-25T11:00:00.000Z',
    task_sha256: contentHash(content),
  }
}

async function delegated(task: string, content = `# ${task}\n`): Promise<FinishRequest> {
  const taskFile = path.join(layout.pending, task)
  await writeFile(taskFile, content)
  const marker = markerFor(task, content, `j-${task}`)
  await writeFile(markerPath(layout, task), serializeMarker(marker))
  return {task, marker, outcome: {footer: footer(task, `j-${task}`), text: {result: 'the result'}}}
}

function withOutcome(request: FinishRequest, status: FooterData['status'], text: FinishRequest['outcome'] extends infer O ? (O extends {text: infer T} ? T : never) : never) {
  return {...request, outcome: {footer: footer(request.task, request.marker.job_id!, status), text}}
}

class Crash extends Error {}

async function finishCrashingAt(request: FinishRequest, at: FinishStep | undefined) {
  return finishJob(layout, request, {
    now,
    onStep(step) {
      if (step === at) throw new Crash(step)
    },
  })
}

describe('finishJob', () => {
  it('writes done/ with the footer, logs one event, then removes the task and its marker', async () => {
    const request = await delegated('fix.md', '# Fix\n')
    const result = await finishCrashingAt(request, undefined)
    expect(result).toEqual({kind: 'finished', destination: path.join(layout.done, 'fix.md'), status: 'completed', recovered: false})
    const text = await readFile(path.join(layout.done, 'fix.md'), 'utf8')
    expect(text.startsWith('# Fix\n\n<!-- ccl:delegation ')).toBe(true)
    expect(await readdir(layout.pending)).toEqual([])
    const events = await readEvents(layout.events)
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({event: 'delegation.completed', task: 'fix.md', job_id: 'j-fix.md', destination: 'done/fix.md', cost_usd: 0.01, duration_ms: 1_800_000})
  })

  it('puts failed, cancelled and timed-out jobs in failed/ with the right event', async () => {
    for (const [status, event] of [['failed', 'delegation.failed'], ['cancelled', 'delegation.failed'], ['timed_out', 'delegation.timed_out']] as const) {
      const request = await delegated(`${status}.md`)
      const result = await finishCrashingAt(withOutcome(request, status, {error: 'boom'}), undefined)
      expect(result).toMatchObject({kind: 'finished', destination: path.join(layout.failed, `${status}.md`)})
      expect((await readEvents(layout.events)).at(-1)).toMatchObject({event, job_id: `j-${status}.md`})
    }

    expect(await readdir(layout.done)).toEqual([])
  })

  it('never writes over a finished task of the same name: it takes NAME.2.md', async () => {
    await writeFile(path.join(layout.done, 'fix.md'), 'an older, local fix\n')
    const request = await delegated('fix.md')
    const result = await finishCrashingAt(request, undefined)
    expect(result).toMatchObject({destination: path.join(layout.done, 'fix.2.md')})
    expect(await readFile(path.join(layout.done, 'fix.md'), 'utf8')).toBe('an older, local fix\n')
  })

  for (const at of FINISH_STEPS) {
    it(`a run killed after step "${at}" is finished by the next run: one done file, one footer, one event`, async () => {
      await writeFile(path.join(layout.done, 'fix.md'), 'unrelated task of the same name\n')
      const request = await delegated('fix.md', 'body\n')
      await expect(finishCrashingAt(request, at)).rejects.toThrow(Crash)
      const again = await finishCrashingAt(request, undefined)
      expect(again).toMatchObject({kind: 'finished', destination: path.join(layout.done, 'fix.2.md'), recovered: true})
      // the journal file is gone too once the finish completed
      expect((await readdir(layout.done)).sort()).toEqual(['fix.2.md', 'fix.md'])
      expect(await readdir(layout.pending)).toEqual([])
      const text = await readFile(path.join(layout.done, 'fix.2.md'), 'utf8')
      expect(text.match(/<!-- ccl:delegation /g)).toHaveLength(1)
      expect(parseFooter(text)?.job_id).toBe('j-fix.md')
      const events = await readEvents(layout.events)
      expect(events.filter((e) => e.event === 'delegation.completed')).toHaveLength(1)
    })
  }

  it('a run killed on one host after logging its outcome, finished by another host: the outcome is found in the first host\'s log, not logged twice', async () => {
    const onA = queueLayout({queue: sandbox.queue, state: path.join(sandbox.queue, '.ccl'), host: 'host-a'})
    const onB = queueLayout({queue: sandbox.queue, state: path.join(sandbox.queue, '.ccl'), host: 'host-b'})
    const request = await delegated('fix.md', 'body\n')
    const crashAfterLogged = {now, onStep: (step: FinishStep) => {
      if (step === 'logged') throw new Crash(step)
    }}
    await expect(finishJob(onA, request, crashAfterLogged)).rejects.toThrow(Crash)
    expect(await finishJob(onB, request, {now})).toMatchObject({kind: 'finished', recovered: true})
    const outcomes = allEvents(path.join(sandbox.queue, '.ccl')).filter((e) => e.event === 'delegation.completed')
    expect(outcomes).toHaveLength(1)
    expect(await readEvents(onA.events)).toHaveLength(1)
    expect(await readEvents(onB.events)).toEqual([])
  })

  it('recovers from its journal even when the task is already gone and only the marker is left', async () => {
    const request = await delegated('gone.md')
    await expect(finishCrashingAt(request, 'task-removed')).rejects.toThrow(Crash)
    expect((await readdir(layout.pending)).sort()).toEqual([resultJournalName(request.marker.idempotency_key, 'done'), 'gone.md.delegated'])
    // The job now reads differently (say the poll raced a retry): what was journaled first still wins.
    const result = await finishCrashingAt(withOutcome(request, 'failed', {error: 'late'}), undefined)
    expect(result).toMatchObject({kind: 'finished', status: 'completed', recovered: true})
    expect(await readdir(layout.pending)).toEqual([])
    expect(await readdir(layout.failed)).toEqual([])
  })

  it('on recovery, leaves alone a new task that took the delegated one\'s name in pending/', async () => {
    const request = await delegated('same.md', 'the delegated text\n')
    const taskFile = path.join(layout.pending, 'same.md')
    await expect(finishCrashingAt(request, 'task-removed')).rejects.toThrow(Crash)
    await writeFile(taskFile, 'a new task, dropped in under the same name\n')
    const result = await finishCrashingAt(request, undefined)
    expect(result).toMatchObject({kind: 'finished', recovered: true})
    expect(await readdir(layout.pending)).toEqual(['same.md'])
    expect(await readFile(taskFile, 'utf8')).toBe('a new task, dropped in under the same name\n')
  })

  it('on recovery, removes the delegated task when it is still the same text', async () => {
    const request = await delegated('same.md', 'the delegated text\n')
    await expect(finishCrashingAt(request, 'logged')).rejects.toThrow(Crash)
    await finishCrashingAt(request, undefined)
    expect(await readdir(layout.pending)).toEqual([])
  })

  it('leaves the marker of a task that vanished without a finished copy, and says so', async () => {
    const request = await delegated('vanished.md')
    await mkdir(path.join(layout.root, 'elsewhere'))
    const {rename} = await import('node:fs/promises')
    await rename(path.join(layout.pending, 'vanished.md'), path.join(layout.root, 'elsewhere', 'vanished.md'))
    const result = await finishCrashingAt(request, undefined)
    expect(result.kind).toBe('orphan')
    expect(result.kind === 'orphan' && result.message).toContain('vanished.md is gone (or not a regular file) but its marker vanished.md.delegated remains')
    expect(result.kind === 'orphan' && result.message).toContain('an orphaned marker; run ccl fsck --repair (it moves the marker to ')
    expect(await readdir(layout.pending)).toEqual(['vanished.md.delegated'])
    expect(await readEvents(layout.events)).toEqual([])
  })

  it('a file in done/ that carries this job id in a footer (a local task, a forged server field) is not taken as its result', async () => {
    // X.2.md is another task's file whose own text ends with a footer line naming X's job.
    const forged = 'a local task\n\n<!-- ccl:delegation {"status":"completed","provider":"p","job_id":"j-x.md","task":"x.md"} -->\n## Delegation result\n'
    await writeFile(path.join(layout.done, 'x.2.md'), forged)
    const request = await delegated('x.md', 'the real task x\n')
    // Killed right after it prepared its result: the next run completes from its own journal only.
    await expect(finishCrashingAt(request, 'prepared')).rejects.toThrow(Crash)
    const result = await finishCrashingAt(request, undefined)
    expect(result).toMatchObject({kind: 'finished', destination: path.join(layout.done, 'x.md'), recovered: true})
    expect(await readFile(path.join(layout.done, 'x.2.md'), 'utf8')).toBe(forged)
    expect((await readFile(path.join(layout.done, 'x.md'), 'utf8')).startsWith('the real task x\n')).toBe(true)
    // And with no journal at all, the forged file changes nothing: a fresh finish.
    const other = await delegated('y.md', 'the real task y\n')
    await writeFile(path.join(layout.done, 'y.2.md'), forged.replaceAll('x.md', 'y.md'))
    expect(await finishCrashingAt(other, undefined)).toMatchObject({destination: path.join(layout.done, 'y.md'), recovered: false})
  })
})
