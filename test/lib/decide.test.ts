import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import type {DelegationState} from '../../src/lib/config/load.js'
import {checkRules, decide} from '../../src/lib/tasks/decide.js'
import {SPILL_NOT_ASKED, type SpillContext} from '../../src/lib/tasks/spill.js'
import type {RoutingFields} from '../../src/lib/tasks/task.js'
import {DELEGATION_ON} from '../support/delegation-state.js'

const ON = DELEGATION_ON
const OFF: DelegationState = {on: false, reason: 'delegation is off: $SECUTOOLS_API_KEY is not set or empty'}

const route = (fields: RoutingFields, delegation: DelegationState = ON) => decide({name: 't.md', fields, warnings: []}, delegation, SPILL_NOT_ASKED)

describe('decide: each rule of SPEC §4.1 alone', () => {
  it.each([
    [1, {needs_claude_code: true}, ON, 'claude-code', 'rule 1: needs_claude_code=true'],
    [2, {preferred_ai: 'claude-code'}, ON, 'claude-code', 'rule 2: preferred_ai=claude-code'],
    [3, {allow_delegation: false}, ON, 'claude-code', 'rule 3: allow_delegation=false'],
    [4, {allow_delegation: true, preferred_ai: 'gpu'}, OFF, 'claude-code', 'rule 4: delegation is off: $SECUTOOLS_API_KEY is not set or empty'],
    [5, {preferred_ai: 'gpu'}, ON, 'gpu', 'rule 5: preferred_ai=gpu'],
    [6, {preferred_ai: 'llama'}, ON, 'claude-code', 'rule 6: preferred_ai=llama is not a configured provider'],
    [7, {allow_delegation: true, complexity_hint: 'low'}, ON, 'gemini', 'rule 7: allow_delegation=true, complexity_hint=low -> complexity_map.low=gemini'],
    [7, {allow_delegation: true, complexity_hint: 'medium'}, ON, 'gpu', 'rule 7: allow_delegation=true, complexity_hint=medium -> complexity_map.medium=gpu'],
    [7, {allow_delegation: true, complexity_hint: 'high'}, ON, 'claude-api', 'rule 7: allow_delegation=true, complexity_hint=high -> complexity_map.high=claude-api'],
    [7, {allow_delegation: true}, ON, 'gemini', 'rule 7: allow_delegation=true, no complexity_hint -> default_provider=gemini'],
    [8, {}, ON, 'claude-code', 'rule 8: no routing field sends the task elsewhere'],
    [8, {complexity_hint: 'high'}, ON, 'claude-code', 'rule 8: no routing field sends the task elsewhere'],
    [8, {needs_claude_code: false}, ON, 'claude-code', 'rule 8: no routing field sends the task elsewhere'],
  ] as const)('rule %i: %j', (rule, fields, delegation, target, reason) => {
    const decision = route(fields, delegation)
    expect(decision).toEqual({task: 't.md', target, remote: target !== 'claude-code', rule, reason, warnings: rule === 6 ? [expect.stringContaining('not a configured provider')] : []})
  })

  it('rule 6 warns naming the file, the field and the configured providers', () => {
    expect(route({preferred_ai: 'llama'}).warnings).toEqual([
      't.md: preferred_ai: "llama" is not a configured provider (gpu, gemini, claude-api); kept local (fail-safe)',
    ])
  })

  it('keeps a remote task local when its name is too long for a marker (246+ bytes), with a warning; 245 bytes still go', () => {
    const long = 'l'.repeat(243) + '.md' // 246 bytes
    const decision = decide({name: long, fields: {preferred_ai: 'gpu'}, warnings: []}, ON, SPILL_NOT_ASKED)
    expect(decision).toMatchObject({target: 'claude-code', remote: false, rule: 5, reason: 'rule 5: preferred_ai=gpu; kept local: name too long to delegate'})
    expect(decision.warnings).toEqual([`${long}: the name is 246 bytes, too long to delegate (its marker .delegated must fit in 255 bytes, so at most 245); kept local`])
    expect(decide({name: long.slice(1), fields: {preferred_ai: 'gpu'}, warnings: []}, ON, SPILL_NOT_ASKED)).toMatchObject({target: 'gpu', remote: true})
  })

  it("keeps the task's own warnings in the decision", () => {
    const decision = decide({name: 'x.md', fields: {allow_delegation: false}, warnings: ['x.md: allow_delegation: bad']}, ON, SPILL_NOT_ASKED)
    expect(decision.warnings).toEqual(['x.md: allow_delegation: bad'])
  })

  it('a provider the site does not configure is unknown even if another site has it', () => {
    const only: DelegationState = {...ON, settings: {...ON.settings, providers: ['gemini'], complexity_map: {low: 'gemini', medium: 'gemini', high: 'gemini'}}} as DelegationState
    expect(route({preferred_ai: 'gpu'}, only)).toMatchObject({target: 'claude-code', rule: 6})
  })
})

/**
 * Every pair of rules that can match the same task, the earlier one winning. Pairs that cannot
 * both match are listed with the reason; the test checks the two lists cover all 28 pairs.
 */
const PAIRS: [number, number, RoutingFields, DelegationState, string][] = [
  [1, 2, {needs_claude_code: true, preferred_ai: 'claude-code'}, ON, 'claude-code'],
  [1, 3, {needs_claude_code: true, allow_delegation: false}, ON, 'claude-code'],
  [1, 4, {needs_claude_code: true}, OFF, 'claude-code'],
  [1, 5, {needs_claude_code: true, preferred_ai: 'gpu'}, ON, 'claude-code'],
  [1, 6, {needs_claude_code: true, preferred_ai: 'llama'}, ON, 'claude-code'],
  [1, 7, {needs_claude_code: true, allow_delegation: true, complexity_hint: 'high'}, ON, 'claude-code'],
  [1, 8, {needs_claude_code: true}, ON, 'claude-code'],
  [2, 3, {preferred_ai: 'claude-code', allow_delegation: false}, ON, 'claude-code'],
  [2, 4, {preferred_ai: 'claude-code'}, OFF, 'claude-code'],
  [2, 7, {preferred_ai: 'claude-code', allow_delegation: true}, ON, 'claude-code'],
  [2, 8, {preferred_ai: 'claude-code'}, ON, 'claude-code'],
  [3, 4, {allow_delegation: false}, OFF, 'claude-code'],
  [3, 5, {allow_delegation: false, preferred_ai: 'gpu'}, ON, 'claude-code'],
  [3, 6, {allow_delegation: false, preferred_ai: 'llama'}, ON, 'claude-code'],
  [3, 8, {allow_delegation: false}, ON, 'claude-code'],
  [4, 8, {}, OFF, 'claude-code'],
  [5, 7, {preferred_ai: 'gpu', allow_delegation: true, complexity_hint: 'high'}, ON, 'gpu'],
  [5, 8, {preferred_ai: 'claude-api'}, ON, 'claude-api'],
  [6, 7, {preferred_ai: 'llama', allow_delegation: true, complexity_hint: 'low'}, ON, 'claude-code'],
  [6, 8, {preferred_ai: 'llama'}, ON, 'claude-code'],
  [7, 8, {allow_delegation: true}, ON, 'gemini'],
]
const IMPOSSIBLE: [number, number, string][] = [
  [2, 5, 'the config schema refuses "claude-code" as a provider'],
  [2, 6, 'claude-code is known, never "unknown"'],
  [3, 7, 'allow_delegation cannot be both false and true'],
  [4, 5, 'rule 5 needs delegation on'],
  [4, 6, 'providers are only known when delegation is on'],
  [4, 7, 'rule 7 needs delegation on'],
  [5, 6, 'a provider is either configured or not'],
]

describe('decide: every pair of competing rules', () => {
  it('covers all 28 pairs', () => {
    const seen = [...PAIRS.map(([a, b]) => `${a}-${b}`), ...IMPOSSIBLE.map(([a, b]) => `${a}-${b}`)].sort()
    const all = []
    for (let a = 1; a <= 8; a++) for (let b = a + 1; b <= 8; b++) all.push(`${a}-${b}`)
    expect(seen).toEqual(all.sort())
  })

  it.each(PAIRS)('rule %i beats rule %i: %j', (winner, loser, fields, delegation, target) => {
    const checks = checkRules({name: 't.md', fields, warnings: []}, delegation, SPILL_NOT_ASKED)
    // Both really match: otherwise the pair proves nothing.
    expect(checks.find((c) => c.rule === winner)!.matched).toBe(true)
    expect(checks.find((c) => c.rule === loser)!.matched).toBe(true)
    expect(route(fields, delegation)).toMatchObject({rule: winner, target})
  })
})

/** The rules written again straight from SPEC §4.1, as an oracle. */
const SPEC_RULES: ((f: RoutingFields, d: DelegationState) => string | undefined)[] = [
  (f) => (f.needs_claude_code === true ? 'claude-code' : undefined),
  (f) => (f.preferred_ai === 'claude-code' ? 'claude-code' : undefined),
  (f) => (f.allow_delegation === false ? 'claude-code' : undefined),
  (_f, d) => (d.on ? undefined : 'claude-code'),
  (f, d) => (d.on && f.preferred_ai !== undefined && d.settings.providers.includes(f.preferred_ai) ? f.preferred_ai : undefined),
  (f) => (f.preferred_ai === undefined ? undefined : 'claude-code'),
  (f, d) => (f.allow_delegation === true && d.on ? (f.complexity_hint ? d.settings.complexity_map[f.complexity_hint] : d.settings.default_provider) : undefined),
  () => 'claude-code',
]

const fieldsArb: fc.Arbitrary<RoutingFields> = fc.record(
  {
    needs_claude_code: fc.boolean(),
    preferred_ai: fc.oneof(fc.constantFrom('claude-code', 'gpu', 'gemini', 'claude-api', 'llama', 'GEMINI', ''), fc.string()),
    allow_delegation: fc.boolean(),
    complexity_hint: fc.constantFrom('low', 'medium', 'high'),
  },
  {requiredKeys: []},
)
const delegationArb: fc.Arbitrary<DelegationState> = fc.oneof(
  fc.constant(OFF),
  fc.subarray(['gpu', 'gemini', 'claude-api', 'llama2'], {minLength: 1}).chain((providers) =>
    fc.record({low: fc.constantFrom(...providers), medium: fc.constantFrom(...providers), high: fc.constantFrom(...providers), default: fc.constantFrom(...providers)}).map(
      (m): DelegationState => ({on: true, apiKey: 'k', settings: {...ON.settings, providers, complexity_map: {low: m.low, medium: m.medium, high: m.high}, default_provider: m.default}} as DelegationState),
    ),
  ),
)

describe('decide: properties', () => {
  it('never throws, and the first rule of the spec that matches always wins', () => {
    fc.assert(
      fc.property(fieldsArb, delegationArb, (fields, delegation) => {
        const decision = route(fields, delegation)
        const first = SPEC_RULES.findIndex((rule) => rule(fields, delegation) !== undefined)
        expect(decision.rule).toBe(first + 1)
        expect(decision.target).toBe(SPEC_RULES[first]!(fields, delegation))
        expect(decision.remote).toBe(decision.target !== 'claude-code')
        expect(decision.reason.startsWith(`rule ${decision.rule}: `)).toBe(true)
        // --explain tells the same story: the deciding rule is the first that matched.
        expect(checkRules({name: 't.md', fields, warnings: []}, delegation, SPILL_NOT_ASKED).find((c) => c.matched)!.rule).toBe(first + 1)
      }),
      {numRuns: 2000},
    )
  })

  it('never sends a task remote when delegation is off, or to a provider that is not configured', () => {
    fc.assert(
      fc.property(fieldsArb, delegationArb, (fields, delegation) => {
        const decision = route(fields, delegation)
        if (!delegation.on) expect(decision.remote).toBe(false)
        else if (decision.remote) expect(delegation.settings.providers).toContain(decision.target)
      }),
      {numRuns: 1000},
    )
  })
})

describe('decide: the spill rule (failover.spill_to_remote, every account limited or needing login)', () => {
  const SPILL: SpillContext = {enabled: true, applies: true, why: 'every account is limited or needs login (alpha limited until 2026-12-02T05:01:00Z, beta needs login)'}
  const FREE: SpillContext = {enabled: true, applies: false, why: 'not every account is limited or needs login: beta is neither limited nor needing login'}
  const OFF_IN_CONFIG: SpillContext = {enabled: false, applies: false, why: 'failover.spill_to_remote is off'}
  const spill = (fields: RoutingFields, context: SpillContext, delegation: DelegationState = ON) => decide({name: 't.md', fields, warnings: []}, delegation, context)

  it('sends a task that would otherwise stay local (rule 8) to default_provider, or complexity_map[hint], saying why', () => {
    expect(spill({}, SPILL)).toEqual({
      task: 't.md',
      target: 'gemini',
      remote: true,
      rule: 'spill',
      reason: 'spill: every account is limited or needs login (alpha limited until 2026-12-02T05:01:00Z, beta needs login) -> default_provider=gemini',
      warnings: [],
    })
    expect(spill({complexity_hint: 'medium'}, SPILL)).toMatchObject({target: 'gpu', rule: 'spill', reason: expect.stringMatching(/-> complexity_map\.medium=gpu$/)})
    expect(spill({needs_claude_code: false}, SPILL)).toMatchObject({target: 'gemini', rule: 'spill'})
  })

  it.each([
    [1, {needs_claude_code: true}],
    [2, {preferred_ai: 'claude-code'}],
    [3, {allow_delegation: false}],
    [6, {preferred_ai: 'llama'}],
  ] as const)('keeps local what rule %i keeps local, and --explain says the task is excluded', (rule, fields) => {
    expect(spill(fields, SPILL)).toMatchObject({target: 'claude-code', remote: false, rule})
    const check = checkRules({name: 't.md', fields, warnings: []}, ON, SPILL).find((c) => c.rule === 'spill')!
    expect(check.matched).toBe(false)
    expect(check.why).toMatch(new RegExp(`^the task must stay local \\(rule ${rule}: `))
  })

  it('does nothing when an account is free, when spill is off in config, or when delegation is off', () => {
    expect(spill({}, FREE)).toMatchObject({target: 'claude-code', rule: 8})
    expect(spill({}, OFF_IN_CONFIG)).toMatchObject({target: 'claude-code', rule: 8})
    expect(spill({}, SPILL, OFF)).toMatchObject({target: 'claude-code', rule: 4})
    const why = (context: SpillContext) => checkRules({name: 't.md', fields: {}, warnings: []}, ON, context).find((c) => c.rule === 'spill')!.why
    expect(why(FREE)).toBe(FREE.why)
    expect(why(OFF_IN_CONFIG)).toBe('failover.spill_to_remote is off')
  })

  it('comes after rules 5 and 7 (they already send the task remote, to their own target) and before rule 8', () => {
    expect(spill({preferred_ai: 'claude-api'}, SPILL)).toMatchObject({target: 'claude-api', rule: 5})
    expect(spill({allow_delegation: true, complexity_hint: 'high'}, SPILL)).toMatchObject({target: 'claude-api', rule: 7})
    const checks = checkRules({name: 't.md', fields: {allow_delegation: true}, warnings: []}, ON, SPILL)
    expect(checks.map((c) => c.rule)).toEqual([1, 2, 3, 4, 5, 6, 7, 'spill', 8])
    expect(checks.find((c) => c.rule === 'spill')).toMatchObject({matched: true, target: 'gemini'})
  })

  it('a spilled task whose name is too long for a marker stays local, with a warning', () => {
    const long = 'l'.repeat(243) + '.md'
    expect(decide({name: long, fields: {}, warnings: []}, ON, SPILL)).toMatchObject({target: 'claude-code', remote: false, rule: 'spill'})
  })

  it('property: spill changes only decisions rule 8 made, and only to the rule 7 target', () => {
    fc.assert(
      fc.property(fieldsArb, delegationArb, (fields, delegation) => {
        const without = route(fields, delegation)
        const withSpill = spill(fields, SPILL, delegation)
        if (without.rule !== 8 || !delegation.on) {
          expect(withSpill).toEqual(without)
          return
        }

        expect(withSpill.rule).toBe('spill')
        expect(withSpill.target).toBe(fields.complexity_hint ? delegation.settings.complexity_map[fields.complexity_hint] : delegation.settings.default_provider)
        expect(checkRules({name: 't.md', fields, warnings: []}, delegation, SPILL).find((c) => c.matched)!.rule).toBe('spill')
      }),
      {numRuns: 1000},
    )
  })
})
