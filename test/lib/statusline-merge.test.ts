import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {chainedCommand, mergeStatusLine, shellWords, statusLineCommand} from '../../src/lib/hooks/install.js'

const parts = {node: '/usr/bin/node', bin: "/opt/it's ccl/bin/run.js", configFile: '/etc/ccl/config.yaml'}
const moved = {node: '/new/node', bin: '/new/ccl/bin/run.js', configFile: '/etc/ccl/config.yaml'}
const want = (headroom: boolean, p = parts) => ({headroom, command: (chain: string | null) => statusLineCommand(p, chain)})

describe('statusLineCommand and chainedCommand', () => {
  it('carries the chained command as one quoted --chain= word that sh reads back exactly', () => {
    const command = statusLineCommand(parts, "~/bin/status --x 'y' \"$HOME\"")
    expect(command).toBe(
      `'/usr/bin/node' '/opt/it'\\''s ccl/bin/run.js' statusline --config '/etc/ccl/config.yaml' '--chain=~/bin/status --x '\\''y'\\'' "$HOME"' # ccl-hook`,
    )
    expect(shellWords(command)).toEqual(['/usr/bin/node', "/opt/it's ccl/bin/run.js", 'statusline', '--config', '/etc/ccl/config.yaml', `--chain=~/bin/status --x 'y' "$HOME"`])
    expect(chainedCommand(command)).toBe(`~/bin/status --x 'y' "$HOME"`)
    expect(chainedCommand(statusLineCommand(parts, null))).toBeNull()
    expect(chainedCommand("'/usr/bin/node' 'broken # ccl-hook")).toBeUndefined()
  })

  it('reads back any chained command (property)', () => {
    fc.assert(
      fc.property(fc.string({minLength: 1}).filter((s) => s.trim() !== '' && !s.trimEnd().endsWith(' # ccl-hook')), (chain) => {
        expect(chainedCommand(statusLineCommand(parts, chain))).toBe(chain)
      }),
    )
  })

  it("sees through a ccl command chained inside ccl's: the operator's command, never ccl's own", () => {
    const nested = statusLineCommand(parts, statusLineCommand(moved, 'mine'))
    expect(chainedCommand(nested)).toBe('mine')
    expect(chainedCommand(statusLineCommand(parts, statusLineCommand(moved, null)))).toBeNull()
  })
})

describe('mergeStatusLine', () => {
  it("headroom: sets ccl's statusLine where there was none", () => {
    const merged = mergeStatusLine({model: 'opus'}, want(true))
    expect(merged).toEqual({ok: true, change: 'added', chained: null, settings: {model: 'opus', statusLine: {type: 'command', command: statusLineCommand(parts, null)}}})
  })

  it("headroom: chains the operator's command and keeps the statusLine's other keys", () => {
    const merged = mergeStatusLine({statusLine: {type: 'command', command: '~/bin/status', padding: 2}}, want(true))
    expect(merged).toEqual({
      ok: true,
      change: 'added',
      chained: '~/bin/status',
      settings: {statusLine: {type: 'command', command: statusLineCommand(parts, '~/bin/status'), padding: 2}},
    })
  })

  it("re-install: its own entry is unchanged, and is never chained into itself", () => {
    const once = mergeStatusLine({statusLine: {type: 'command', command: '~/bin/status'}}, want(true))
    if (!once.ok) throw new Error(once.problem)
    const twice = mergeStatusLine(once.settings, want(true))
    expect(twice).toEqual({ok: true, change: 'unchanged', chained: '~/bin/status', settings: once.settings})
    // ccl moved: the entry is replaced, still chaining the operator's command alone
    const after = mergeStatusLine(once.settings, want(true, moved))
    expect(after).toMatchObject({ok: true, change: 'replaced', chained: '~/bin/status', removed: statusLineCommand(parts, '~/bin/status')})
    expect(after.ok && after.settings.statusLine).toEqual({type: 'command', command: statusLineCommand(moved, '~/bin/status')})
  })

  it("without headroom: the operator's command is put back, or ccl's entry removed; nothing else is touched", () => {
    const mine = {type: 'command', command: '~/bin/status', padding: 1}
    const installed = {model: 'x', statusLine: {...mine, command: statusLineCommand(parts, '~/bin/status')}}
    expect(mergeStatusLine(installed, want(false))).toMatchObject({ok: true, change: 'restored', chained: '~/bin/status', settings: {model: 'x', statusLine: mine}})
    expect(mergeStatusLine({model: 'x', statusLine: {type: 'command', command: statusLineCommand(parts, null)}}, want(false))).toEqual({
      ok: true,
      change: 'removed',
      chained: null,
      removed: statusLineCommand(parts, null),
      settings: {model: 'x'},
    })
    const theirs = {statusLine: mine}
    expect(mergeStatusLine(theirs, want(false))).toEqual({ok: true, change: 'none', chained: null, settings: theirs})
  })

  it('leaves a statusLine that is not a command alone, and says so', () => {
    const other = {statusLine: {type: 'static', text: 'hi'}}
    expect(mergeStatusLine(other, want(true))).toEqual({
      ok: true,
      change: 'skipped',
      chained: null,
      settings: other,
      note: `statusLine left alone: its type is "static", not "command"; this account's usage is not recorded`,
    })
  })

  it("refuses a ccl entry it cannot read back, rather than lose the operator's command", () => {
    const edited = {statusLine: {type: 'command', command: "'/usr/bin/node' 'run.js' statusline '--chain=oops # ccl-hook"}}
    expect(mergeStatusLine(edited, want(true))).toMatchObject({ok: false, key: 'statusLine'})
    expect(mergeStatusLine(edited, want(false))).toMatchObject({ok: false, key: 'statusLine'})
  })
})
