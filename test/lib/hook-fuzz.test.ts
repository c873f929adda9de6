// Fuzzing `ccl hook` (issue 15, part 5): whatever Claude Code or anything else writes on its stdin, the
// hook never fails the session. In process (handleHook, where the payload is parsed and applied):
// thousands of payloads, built from the real payloads of Claude Code 2.1.328 (test/fixtures) with fields
// replaced, removed or added, plus arbitrary JSON and arbitrary text; then a few dozen runs of the built
// CLI with random stdin. Fixed seeds: a failure reproduces.
import {readdirSync, readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {handleHook} from '../../src/lib/accounts/hook.js'
import {readAccountState} from '../../src/lib/accounts/state.js'
import {parseConfig} from '../../src/lib/config/load.js'
import type {Config} from '../../src/lib/config/schema.js'
import {readEvents} from '../../src/lib/events/log.js'
import {queueLayout} from '../../src/lib/queue/layout.js'
import {makeSandbox, REPO, runCcl, type Sandbox} from '../support/sandbox.js'

const SAMPLES_DIR = path.join(REPO, 'test', 'fixtures', 'claude-code-2.1.328', 'hooks')
const SAMPLES: Record<string, unknown>[] = readdirSync(SAMPLES_DIR)
  .filter((name) => name.endsWith('.json'))
  .map((name) => JSON.parse(readFileSync(path.join(SAMPLES_DIR, name), 'utf8')) as Record<string, unknown>)
const EVENTS = ['SessionStart', 'UserPromptSubmit', 'Stop', 'StopFailure', 'Notification', 'SessionEnd', 'PreToolUse', 'SubagentStop']

let sandbox: Sandbox
let config: Config

beforeAll(async () => {
  sandbox = await makeSandbox()
  config = parseConfig(await readFile(sandbox.configFile, 'utf8'), sandbox.configFile)
})
afterAll(async () => sandbox.cleanup())

/** A real payload with some fields replaced by any value, some removed, some added. */
const mutatedSample = fc
  .tuple(
    fc.constantFrom(...SAMPLES),
    fc.dictionary(fc.constantFrom('session_id', 'transcript_path', 'cwd', 'hook_event_name', 'prompt', 'source', 'reason', 'error', 'last_assistant_message', 'notification_type', 'message', 'agent_id', 'stop_hook_active', 'background_tasks'), fc.oneof(fc.anything(), fc.constantFrom(...EVENTS), fc.string())),
    fc.subarray(['session_id', 'transcript_path', 'cwd', 'hook_event_name', 'error', 'last_assistant_message', 'prompt']),
    fc.dictionary(fc.string(), fc.anything(), {maxKeys: 3}),
  )
  .map(([sample, replaced, removed, added]) => {
    const payload: Record<string, unknown> = {...added, ...sample, ...replaced}
    for (const key of removed) delete payload[key]
    return JSON.stringify(payload)
  })

/** Any stdin: mutated real payloads, arbitrary JSON, arbitrary text, a real payload cut short. */
const stdin = fc.oneof(
  {weight: 4, arbitrary: mutatedSample},
  {weight: 2, arbitrary: fc.json()},
  {weight: 1, arbitrary: fc.string({unit: 'binary', maxLength: 300})},
  {weight: 1, arbitrary: fc.tuple(fc.constantFrom(...SAMPLES), fc.nat()).map(([s, n]) => JSON.stringify(s).slice(0, n % 200))},
)

describe('ccl hook, fuzzed', () => {
  it('any payload is recorded or ignored, never thrown; the account state and the event log stay readable', async () => {
    const layout = queueLayout(config)
    const homes = [sandbox.homes.alpha!, sandbox.homes.beta!, '/nowhere', '']
    let recorded = 0
    await fc.assert(
      fc.asyncProperty(stdin, fc.constantFrom(...homes), fc.integer({min: 0, max: 4e12}), async (payload, home, ms) => {
        const outcome = await handleHook({config, payload, env: home ? {CLAUDE_CONFIG_DIR: home} : {}, now: new Date(ms)})
        let parsed: unknown
        try {
          parsed = JSON.parse(payload)
        } catch {
          parsed = undefined
        }

        const event = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>).hook_event_name : undefined
        const known = home === sandbox.homes.alpha || home === sandbox.homes.beta
        // The rules: recorded exactly when the payload is a JSON object naming its event and the session's home is an account's.
        if (typeof event === 'string' && event !== '' && known) {
          expect(outcome).toEqual({kind: 'recorded', account: home === sandbox.homes.alpha ? 'alpha' : 'beta', event})
          recorded++
        } else {
          expect(outcome.kind).toBe('ignored')
        }

        // What it wrote can be read back: a later hook, assign or status does not fall over it.
        expect(() => readAccountState(layout, 'alpha')).not.toThrow()
        expect(() => readAccountState(layout, 'beta')).not.toThrow()
      }),
      {numRuns: 2500, seed: 15_005},
    )
    expect(recorded).toBeGreaterThan(250) // 337 of 2500 with this seed: the recording path is exercised, not only the refusals
    const events = await readEvents(layout.events)
    expect(events.length).toBeGreaterThan(0)
    expect(events.every((e) => typeof e.event === 'string')).toBe(true)
  }, 300_000)

  it('the built CLI with random stdin: exit 0, nothing on stdout, at most one line on stderr, never a stack trace or an internal error', async () => {
    const samples = fc.sample(fc.tuple(stdin, fc.constantFrom(sandbox.homes.alpha!, '/nowhere')), {numRuns: 30, seed: 15_015})
    // Two more a session may really send: an empty stdin and a huge one.
    samples.push(['', sandbox.homes.alpha!], ['{"hook_event_name":"Stop","x":"' + 'y'.repeat(1_000_000) + '"}', sandbox.homes.alpha!])
    for (const [input, home] of samples) {
      const result = await runCcl(['hook'], {env: {CCL_CONFIG: sandbox.configFile, CLAUDE_CONFIG_DIR: home}, input, cwd: sandbox.dir})
      const context = `stdin ${JSON.stringify(input.slice(0, 200))}: ${result.stderr}`
      expect(result.code, context).toBe(0)
      expect(result.stdout, context).toBe('')
      expect(result.stderr.split('\n').filter(Boolean).length, context).toBeLessThanOrEqual(1)
      expect(result.stderr, context).not.toMatch(/internal error|\n\s+at |Error: /)
    }
  }, 300_000)
})
