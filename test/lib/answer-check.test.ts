// The hand checks of secutools' answers (checkJob, checkSubmitted in answers.ts) against the zod
// schemas they stand in for (answer-schema.ts): one verdict and one value on valid answers, on each
// field broken, and on random JSON. The client words a refusal with the schema (answerIssues).
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {jobSchema, submittedSchema} from '../../src/lib/secutools/answer-schema.js'
import {answerIssues, checkJob, checkSubmitted} from '../../src/lib/secutools/answers.js'

// The fake's answer (test/support/fake-secutools-core.mjs), with the fields ccl drops.
const job = {
  id: 'j-1',
  status: 'completed',
  provider: 'gemini',
  result: 'the answer',
  error: null,
  cost_usd: 0.0042,
  created_at: '2026-12-01T10:00:00.000Z',
  finished_at: '2026-12-01T10:01:00.000Z',
  prompt: '# fix\n',
  complexity: null,
  metadata: {task: 'fix.md', source: 'ccl'},
}

function agree(schema: typeof jobSchema | typeof submittedSchema, check: (data: unknown) => unknown, data: unknown): void {
  const parsed = schema.safeParse(data)
  const hand = check(data)
  expect(hand === undefined ? 'refused' : 'valid', JSON.stringify(data)).toBe(parsed.success ? 'valid' : 'refused')
  if (parsed.success) expect(hand).toEqual(parsed.data)
}

const agreeJob = (data: unknown) => agree(jobSchema, checkJob, data)
const agreeSubmitted = (data: unknown) => agree(submittedSchema, checkSubmitted, data)

describe('checkJob agrees with jobSchema', () => {
  it('on valid answers: every status, nullable fields null or absent, unknown keys dropped', () => {
    for (const status of ['queued', 'running', 'completed', 'failed', 'cancelled']) agreeJob({...job, status})
    expect(checkJob(job)).not.toHaveProperty('prompt')
    const {result: _r, error: _e, cost_usd: _c, finished_at: _f, ...bare} = job
    agreeJob(bare)
    expect(checkJob(bare)).toMatchObject({result: null, error: null, cost_usd: null, finished_at: null})
    agreeJob({...job, result: null, cost_usd: null, finished_at: null, error: 'boom'})
    agreeJob({...job, cost_usd: 0})
  })

  it('on each field broken', () => {
    const broken: Record<string, unknown[]> = {
      id: ['', '..', 'a b', 5, null, undefined, 'x'.repeat(300)],
      status: ['done', '', null, undefined, 1],
      provider: ['', 7, null, undefined],
      result: [5, {}, []],
      error: [false, 1],
      cost_usd: [-0.01, '0.1', Number.NaN, Number.POSITIVE_INFINITY, {}],
      created_at: ['', null, undefined, 0],
      finished_at: [0, true],
    }
    for (const [field, values] of Object.entries(broken)) {
      for (const value of values) agreeJob({...job, [field]: value})
    }

    for (const data of [null, [], 'job', 1, {}]) agreeJob(data)
  })

  it('on random answers and random JSON', () => {
    const field = fc.oneof(fc.constant(undefined), fc.constant(null), fc.string({maxLength: 8}), fc.double(), fc.integer(), fc.constant('j-1'), fc.constant('running'), fc.boolean())
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...Object.keys(job)), field), (changes) => {
        agreeJob({...job, ...changes})
      }),
      {seed: 2621, numRuns: 2000},
    )
    fc.assert(
      fc.property(fc.jsonValue(), (data) => {
        agreeJob(data)
        agreeSubmitted(data)
      }),
      {seed: 2622, numRuns: 500},
    )
  })
})

describe('checkSubmitted agrees with submittedSchema', () => {
  it('on valid, broken and random answers', () => {
    agreeSubmitted({id: 'j-9', status: 'queued', extra: 1})
    for (const id of ['', '..', 5, null, undefined]) agreeSubmitted({id, status: 'queued'})
    for (const status of ['', 5, null, undefined]) agreeSubmitted({id: 'j-9', status})
    fc.assert(
      fc.property(fc.record({id: fc.oneof(fc.string({maxLength: 6}), fc.constant('j-9'), fc.integer()), status: fc.oneof(fc.string({maxLength: 4}), fc.constant(null))}, {requiredKeys: []}), (data) => {
        agreeSubmitted(data)
      }),
      {seed: 2623, numRuns: 1000},
    )
  })
})

describe('answerIssues', () => {
  it("words a refused answer in the schema's terms, one path: message per issue", async () => {
    expect(await answerIssues('job', {...job, status: 'done', provider: ''})).toMatch(/^status: .+; provider: .+$/)
    expect(await answerIssues('submitted', {id: '..', status: 'queued'})).toMatch(/^id: job id "\.\." does not match/)
    expect(await answerIssues('job', 'nope')).toMatch(/^\(answer\): /)
  })
})
