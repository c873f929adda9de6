// The hand check of delegation markers (checkMarker, marker.ts) against the zod schema it stands in
// for (marker-schema.ts): one verdict and one value on valid markers, on each field broken, and on
// random JSON.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {checkMarker} from '../../src/lib/delegation/marker.js'
import {markerSchema} from '../../src/lib/delegation/marker-schema.js'

const KEY = 'a'.repeat(64)
const valid = {
  version: 1,
  task: 'fix.md',
  state: 'submitted',
  provider: 'gemini',
  idempotency_key: KEY,
  claimed_at: '2026-12-01T10:00:00.000Z',
  job_id: 'j-1',
  submitted_at: '2026-12-01T10:00:01.000Z',
  complexity: 'low',
  task_sha256: 'b'.repeat(64),
  last_error: null,
  later_key: 'ignored',
}

function agree(data: unknown): void {
  const parsed = markerSchema.safeParse(data)
  const hand = checkMarker(data)
  expect(hand === undefined ? 'refused' : 'valid', JSON.stringify(data)).toBe(parsed.success ? 'valid' : 'refused')
  if (parsed.success) expect(hand).toEqual(parsed.data)
}

describe('checkMarker agrees with markerSchema', () => {
  it('on valid markers, with the optional fields there, null or absent, unknown keys dropped', () => {
    agree(valid)
    expect(checkMarker(valid)).not.toHaveProperty('later_key')
    agree({...valid, state: 'submitting', job_id: null, submitted_at: null, last_error: {at: 'x', message: 'HTTP 503'}})
    const {complexity: _c, task_sha256: _t, last_error: _l, ...bare} = valid
    agree(bare)
    agree({...valid, complexity: null, task_sha256: null})
  })

  it('on each field broken', () => {
    const broken: Record<string, unknown[]> = {
      version: [2, '1', undefined],
      task: ['fix.txt', '', 3, undefined, 'a/b.md'],
      state: ['done', null, undefined],
      provider: ['', 7, undefined],
      idempotency_key: ['A'.repeat(64), 'a'.repeat(63), null, undefined],
      claimed_at: ['', null, undefined],
      job_id: ['..', '.', 'a b', '', 5, undefined],
      submitted_at: [5, undefined],
      complexity: [5, {}],
      task_sha256: ['x', 5],
      last_error: [{at: 'x'}, {message: 'm'}, 'e', {at: 1, message: 'm'}],
    }
    for (const [field, values] of Object.entries(broken)) {
      for (const value of values) agree({...valid, [field]: value})
    }

    agree({...valid, job_id: null}) // submitted needs a job id
    for (const data of [null, [], 'marker', 1, {}]) agree(data)
  })

  it('on random markers and random JSON', () => {
    const field = fc.oneof(fc.constant(undefined), fc.constant(null), fc.string({maxLength: 8}), fc.integer(), fc.constant('fix.md'), fc.constant(KEY), fc.constant('j-1'))
    const fields = Object.keys(valid)
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...fields), field), (changes) => {
        agree({...valid, ...changes})
      }),
      {seed: 2611, numRuns: 2000},
    )
    fc.assert(
      fc.property(fc.jsonValue(), (data) => {
        agree(data)
      }),
      {seed: 2612, numRuns: 500},
    )
  })
})
