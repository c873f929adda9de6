// The session record's hand check (src/lib/sessions/record.ts: reconcile reads one per account at every
// pass, so no schema library there) accepts and refuses exactly what the zod schema it replaced did.
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {z} from 'zod'

import {StateFileError} from '../../src/lib/errors.js'
import {ensureLayout, type QueueLayout, queueLayout, sessionStatePath} from '../../src/lib/queue/layout.js'
import {readSessionRecord} from '../../src/lib/sessions/record.js'

// The schema as it was (until issue 16), the oracle.
const iso = z.iso.datetime({offset: true})
const oracle = z.object({
  crashes: z.array(iso).default([]),
  failed_at: iso.nullable().default(null),
  created_at: iso.nullable().default(null),
  held: z.boolean().default(false),
  last_crash: z
    .object({at: iso, state: z.enum(['dead', 'absent']), exit_status: z.number().int().nullable(), signal: z.number().int().nullable(), last_lines: z.array(z.string())})
    .optional(),
})

let dir: string
let layout: QueueLayout
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-record-'))
  layout = queueLayout({queue: dir, state: path.join(dir, '.ccl')})
  await ensureLayout(layout, ['alpha'])
})
afterAll(async () => rm(dir, {recursive: true, force: true}))

const times = fc.constantFrom('2026-12-02T10:00:00.000Z', '2026-12-02T10:00:00Z', '2026-12-02T10:00Z', '2026-12-02T10:00:00+01:00', '2026-12-02', 'yesterday', '', '2026-12-02T10:00:00.123456Z', '2026-13-40T10:00:00Z', '2026-02-30T10:00:00Z', '2026-12-02T25:61:00Z', '2026-12-02T10:00:60Z', '2026-12-02T10:00:00+24:00')
const anything = fc.oneof(times, fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({maxLength: 5}), fc.constant([]), fc.constant({}))
const record = fc.record(
  {
    crashes: fc.oneof(fc.array(times, {maxLength: 3}), anything),
    failed_at: fc.oneof(times, anything),
    created_at: fc.oneof(times, anything),
    held: fc.oneof(fc.boolean(), anything),
    last_crash: fc.oneof(
      fc.record(
        {
          at: fc.oneof(times, anything),
          state: fc.oneof(fc.constantFrom('dead', 'absent', 'alive'), anything),
          exit_status: fc.oneof(fc.integer(), fc.constant(null), anything),
          signal: fc.oneof(fc.integer(), fc.constant(null), anything),
          last_lines: fc.oneof(fc.array(fc.string({maxLength: 4}), {maxLength: 2}), fc.constant([1]), anything),
        },
        {requiredKeys: []},
      ),
      anything,
    ),
  },
  {requiredKeys: []},
)

describe('session records', () => {
  it('are read as the zod schema read them: the same records accepted, with the same values', async () => {
    let accepted = 0
    await fc.assert(
      fc.asyncProperty(fc.oneof(record, anything), async (data) => {
        await writeFile(sessionStatePath(layout, 'alpha'), JSON.stringify(data))
        const want = oracle.safeParse(data)
        const got = await readSessionRecord(layout, 'alpha').then(
          (value) => ({ok: true as const, value}),
          (error: unknown) => ({ok: false as const, error}),
        )
        if (want.success) {
          accepted++
          expect(got).toEqual({ok: true, value: want.data})
        } else {
          expect(got.ok).toBe(false)
          if (!got.ok) expect(got.error).toBeInstanceOf(StateFileError)
        }
      }),
      {seed: 16_002, numRuns: 2000},
    )
    expect(accepted).toBeGreaterThan(50)
  })
})
