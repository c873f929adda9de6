import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {HOOK_EVENTS, hookCommand, isCclHook, mergeHooks, shellQuote} from '../../src/lib/hooks/install.js'

const command = hookCommand({node: '/usr/bin/node', bin: '/opt/ccl/bin/run.js', configFile: '/etc/ccl/config.yaml'})
const old = hookCommand({node: '/old/node', bin: '/old/ccl/bin/run.js', configFile: '/old/ccl.yaml'})
const ours = (cmd = command) => ({type: 'command', command: cmd, timeout: 10})
const user = (cmd: string) => ({type: 'command', command: cmd})

/** The settings without ccl's entries: what must come out of a merge exactly as it went in. */
function withoutCcl(settings: unknown): unknown {
  const copy = structuredClone(settings) as Record<string, unknown>
  const hooks = copy.hooks as Record<string, unknown> | undefined
  if (!hooks) return copy
  for (const [event, groups] of Object.entries(hooks)) {
    if (!Array.isArray(groups)) continue
    const kept = groups.flatMap((group) => {
      if (typeof group !== 'object' || group === null || !Array.isArray(group.hooks)) return [group]
      if (!group.hooks.some(isCclHook)) return [group]
      const rest = group.hooks.filter((hook: unknown) => !isCclHook(hook))
      return rest.length > 0 ? [{...group, hooks: rest}] : []
    })
    if (kept.length > 0) hooks[event] = kept
    else delete hooks[event]
  }

  if (Object.keys(hooks).length === 0) delete copy.hooks
  return copy
}

describe('hookCommand', () => {
  it('quotes every path for the shell and ends with the marker', () => {
    expect(command).toBe("'/usr/bin/node' '/opt/ccl/bin/run.js' hook --config '/etc/ccl/config.yaml' # ccl-hook")
    expect(shellQuote("/srv/it's here")).toBe("'/srv/it'\\''s here'")
  })

  it('tells ccl entries by the marker at the end of a command hook', () => {
    expect(isCclHook(ours())).toBe(true)
    expect(isCclHook({type: 'command', command: `${command}  `})).toBe(true)
    expect(isCclHook(user('ccl hook'))).toBe(false)
    expect(isCclHook(user('echo "# ccl-hook" > /tmp/x'))).toBe(false)
    expect(isCclHook({type: 'prompt', prompt: 'x # ccl-hook'})).toBe(false)
  })
})

describe('mergeHooks', () => {
  it('adds one group per event: a matcher of "" where Claude Code filters by one, none where it does not', () => {
    const merged = mergeHooks({}, command)
    expect(merged).toMatchObject({ok: true, changed: true})
    if (!merged.ok) return
    expect(merged.settings).toEqual({
      hooks: {
        SessionStart: [{matcher: '', hooks: [ours()]}],
        UserPromptSubmit: [{hooks: [ours()]}],
        Stop: [{hooks: [ours()]}],
        StopFailure: [{matcher: '', hooks: [ours()]}],
        Notification: [{matcher: '', hooks: [ours()]}],
        SessionEnd: [{matcher: '', hooks: [ours()]}],
      },
    })
    expect(merged.events.map((e) => `${e.event}:${e.change}`)).toEqual(HOOK_EVENTS.map((e) => `${e}:added`))
  })

  it('replaces an old ccl entry in its place, collapses duplicates, and leaves a user hook in a shared group', () => {
    const input = {
      hooks: {
        Stop: [{hooks: [user('notify-send done')]}, {hooks: [ours(old)]}, {hooks: [user('say bye')]}],
        SessionStart: [{matcher: '', hooks: [ours(old), user('echo hi')]}, {matcher: '', hooks: [ours()]}],
      },
    }
    const frozen = structuredClone(input)
    const merged = mergeHooks(input, command, ['Stop', 'SessionStart'])
    expect(input).toEqual(frozen) // the input is not changed
    if (!merged.ok) throw new Error('refused')
    expect(merged.settings.hooks).toEqual({
      Stop: [{hooks: [user('notify-send done')]}, {hooks: [ours()]}, {hooks: [user('say bye')]}],
      SessionStart: [{matcher: '', hooks: [user('echo hi')]}, {matcher: '', hooks: [ours()]}],
    })
    expect(merged.events).toEqual([
      {event: 'Stop', change: 'replaced', removed: [old]},
      {event: 'SessionStart', change: 'replaced', removed: [old, command]},
    ])
  })

  it('refuses a top level, a hooks or an event that is not what Claude Code reads, naming the key', () => {
    expect(mergeHooks([], command)).toEqual({ok: false, key: '(top level)', problem: 'expected a JSON object, got an array'})
    expect(mergeHooks({hooks: 'x'}, command)).toEqual({ok: false, key: 'hooks', problem: 'expected an object of events, got a string'})
    expect(mergeHooks({hooks: {Stop: {}}}, command)).toEqual({ok: false, key: 'hooks.Stop', problem: 'expected an array of matcher groups, got an object'})
  })

  it('keeps everything that is not ccl, and a second merge changes nothing', () => {
    const hook = fc.oneof(
      fc.constant(ours()),
      fc.constantFrom(old, `${command} `, 'echo hi', 'ccl hook').map((cmd) => ({type: 'command', command: cmd})),
      fc.record({type: fc.constant('prompt'), prompt: fc.string()}),
      fc.jsonValue(),
    )
    const group = fc.oneof(
      fc.record({matcher: fc.constantFrom('', '*', 'startup', 'Bash'), hooks: fc.array(hook, {maxLength: 3})}, {requiredKeys: ['hooks']}),
      fc.jsonValue(),
    )
    const events = fc.dictionary(fc.constantFrom(...HOOK_EVENTS, 'PreToolUse', 'SubagentStop'), fc.array(group, {maxLength: 3}))
    const settings = fc.record({model: fc.jsonValue(), env: fc.dictionary(fc.string(), fc.string()), hooks: events}, {requiredKeys: []})
    fc.assert(
      fc.property(settings, (input) => {
        const first = mergeHooks(input, command)
        if (!first.ok) throw new Error('refused')
        expect(withoutCcl(first.settings)).toEqual(withoutCcl(input))
        const second = mergeHooks(first.settings, command)
        expect(second).toMatchObject({ok: true, changed: false})
        const hooks = first.settings.hooks as Record<string, {hooks?: unknown[]}[]>
        for (const event of HOOK_EVENTS) {
          expect(hooks[event]!.flatMap((g) => (Array.isArray(g?.hooks) ? g.hooks : [])).filter(isCclHook)).toEqual([ours()])
        }
      }),
      {numRuns: 500},
    )
  })
})
