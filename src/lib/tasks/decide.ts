import type {HotDelegation} from '../config/hot.js'
import type {DelegationState as AnyDelegationState} from '../config/read.js'
import {MARKER_SUFFIX, MAX_DELEGATED_NAME_BYTES} from '../queue/layout.js'
import type {SpillContext} from './spill.js'
import type {Task} from './task.js'

/** What routing needs of delegation: a full config's block or the hot reader's part of it. */
type DelegationState = AnyDelegationState<Pick<HotDelegation, 'providers' | 'complexity_map' | 'default_provider'>>

export const LOCAL_TARGET = 'claude-code'

/** A rule of SPEC §4.1 by its number, or the spill rule (SPEC 6, `failover.spill_to_remote`), checked just before rule 8. */
export type RuleId = number | 'spill'

export interface Decision {
  task: string
  /** 'claude-code' or a remote provider name. */
  target: string
  remote: boolean
  /** The SPEC §4.1 rule that decided, 1–8, or 'spill'. */
  rule: RuleId
  /** Names the rule, e.g. "rule 5: preferred_ai=gpu", "spill: every account is limited or needs login (…) -> default_provider=gemini". */
  reason: string
  /** The task's own warnings, plus the router's (rule 6). */
  warnings: string[]
}

/** One rule of SPEC §4.1 checked against one task, for `--explain`. */
export interface RuleCheck {
  rule: RuleId
  /** The rule as the spec states it. */
  text: string
  matched: boolean
  /** Why it matched or why not; for the deciding rule, the decision's reason without "rule N: ". */
  why: string
  /** The target it gives when it matches. */
  target?: string
}

type Input = Pick<Task, 'name' | 'fields' | 'warnings'>

export const RULE_TEXTS: readonly string[] = [
  'needs_claude_code: true -> claude-code',
  'preferred_ai: claude-code -> claude-code',
  'allow_delegation: false -> claude-code',
  'delegation off -> claude-code',
  'preferred_ai is a configured provider -> that provider',
  'preferred_ai set but unknown -> claude-code (fail-safe, warning)',
  'allow_delegation: true -> complexity_map[complexity_hint], else default_provider',
  'otherwise -> claude-code',
]

export const SPILL_RULE_TEXT = 'failover.spill_to_remote and every account limited or needing login -> complexity_map[complexity_hint], else default_provider'

/** How a decision's reason names its rule. */
export function ruleLabel(rule: RuleId): string {
  return rule === 'spill' ? 'spill' : `rule ${rule}`
}

/**
 * Checks every rule of SPEC §4.1 against a task, in order, with the spill rule just before rule 8.
 * Pure; never throws. `decide` takes the first match, so what `--explain` shows is by construction
 * what the router did.
 */
export function checkRules(task: Input, delegation: DelegationState, spill: SpillContext): RuleCheck[] {
  return evaluate(task, delegation, spill).map(({why, ...check}) => ({...check, why: why()}))
}

/** The rules with their texts left unbuilt: routing 10,000 tasks only needs the winner's. */
function evaluate(task: Input, delegation: DelegationState, spill: SpillContext): (Omit<RuleCheck, 'why'> & {why: () => string})[] {
  const {needs_claude_code: needs, preferred_ai: preferred, allow_delegation: allow, complexity_hint: hint} = task.fields
  const providers = delegation.on ? delegation.settings.providers : []
  const shown = (value: unknown) => (value === undefined ? 'is not set' : `is ${String(value)}`)
  const check = (rule: RuleId, matched: boolean, why: () => string, target?: string) => ({
    rule,
    text: rule === 'spill' ? SPILL_RULE_TEXT : RULE_TEXTS[rule - 1]!,
    matched,
    why,
    ...(matched ? {target: target ?? LOCAL_TARGET} : {}),
  })

  const rule5 = preferred !== undefined && delegation.on && providers.includes(preferred)
  const rule6 = preferred !== undefined && preferred !== LOCAL_TARGET && delegation.on && !providers.includes(preferred)
  const rule7Target = delegation.on ? (hint ? delegation.settings.complexity_map[hint] : delegation.settings.default_provider) : undefined
  const toProvider = hint ? `complexity_map.${hint}=${rule7Target}` : `default_provider=${rule7Target}`
  // What keeps a task local even when spill applies: the rules that forbid remote execution, and an
  // unknown preferred_ai, which stays local (fail-safe) rather than going to a provider it did not name.
  const mustStayLocal =
    needs === true ? 'rule 1: needs_claude_code=true' : preferred === LOCAL_TARGET ? 'rule 2: preferred_ai=claude-code' : allow === false ? 'rule 3: allow_delegation=false' : rule6 ? `rule 6: preferred_ai=${preferred} is unknown` : undefined
  const spills = spill.enabled && spill.applies && delegation.on && mustStayLocal === undefined
  return [
    check(1, needs === true, () => needs === true ? 'needs_claude_code=true' : `needs_claude_code ${shown(needs)}`),
    check(2, preferred === LOCAL_TARGET, () => preferred === LOCAL_TARGET ? 'preferred_ai=claude-code' : `preferred_ai ${shown(preferred)}`),
    check(3, allow === false, () => allow === false ? 'allow_delegation=false' : `allow_delegation ${shown(allow)}`),
    check(4, !delegation.on, () => delegation.on ? 'delegation is on' : delegation.reason),
    check(
      5,
      rule5,
      () =>
        rule5
          ? `preferred_ai=${preferred}`
          : preferred === undefined
            ? 'preferred_ai is not set'
            : delegation.on
              ? `preferred_ai=${preferred} is not in providers [${providers.join(', ')}]`
              : `preferred_ai=${preferred}, but delegation is off`,
      preferred,
    ),
    check(
      6,
      rule6,
      () =>
        rule6
          ? `preferred_ai=${preferred} is not a configured provider`
          : preferred === undefined
            ? 'preferred_ai is not set'
            : delegation.on
              ? `preferred_ai=${preferred} is known`
              : `preferred_ai=${preferred}, but delegation is off`,
    ),
    check(
      7,
      allow === true && delegation.on,
      () =>
        allow !== true
          ? `allow_delegation ${shown(allow)}`
          : !delegation.on
            ? 'allow_delegation=true, but delegation is off'
            : hint
              ? `allow_delegation=true, complexity_hint=${hint} -> complexity_map.${hint}=${rule7Target}`
              : `allow_delegation=true, no complexity_hint -> default_provider=${rule7Target}`,
      rule7Target,
    ),
    check(
      'spill',
      spills,
      () =>
        spills
          ? `${spill.why} -> ${toProvider}`
          : !spill.enabled
            ? spill.why
            : mustStayLocal
              ? `the task must stay local (${mustStayLocal})`
              : spill.why,
      rule7Target,
    ),
    check(8, true, () => 'no routing field sends the task elsewhere'),
  ]
}

/** The routing decision of SPEC §4.1 (plus the spill rule): the first rule that matches wins. Pure; never throws. */
export function decide(task: Input, delegation: DelegationState, spill: SpillContext): Decision {
  const first = evaluate(task, delegation, spill).find((c) => c.matched)!
  const target = first.target ?? LOCAL_TARGET
  const warnings = [...task.warnings]
  if (first.rule === 6) {
    const providers = delegation.on ? delegation.settings.providers.join(', ') : ''
    warnings.push(`${task.name}: preferred_ai: "${task.fields.preferred_ai}" is not a configured provider (${providers}); kept local (fail-safe)`)
  }

  const reason = `${ruleLabel(first.rule)}: ${first.why()}`
  const bytes = Buffer.byteLength(task.name)
  if (target !== LOCAL_TARGET && bytes > MAX_DELEGATED_NAME_BYTES) {
    // Its marker NAME.delegated could not be created: the task runs here rather than never.
    warnings.push(`${task.name}: the name is ${bytes} bytes, too long to delegate (its marker ${MARKER_SUFFIX} must fit in 255 bytes, so at most ${MAX_DELEGATED_NAME_BYTES}); kept local`)
    return {task: task.name, target: LOCAL_TARGET, remote: false, rule: first.rule, reason: `${reason}; kept local: name too long to delegate`, warnings}
  }

  return {task: task.name, target, remote: target !== LOCAL_TARGET, rule: first.rule, reason, warnings}
}
