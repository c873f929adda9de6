import {describe, expect, it} from 'vitest'

import {describeCrash, lastCrash, lastLines} from '../../src/lib/sessions/crash.js'

describe('why a session died, from its dead pane', () => {
  it('keeps the last 10 non-empty lines, trimmed, control characters escaped, without tmux\'s own "Pane is dead" line', () => {
    const numbered = Array.from({length: 12}, (_, i) => `  line ${i + 1}  `)
    const text = [...numbered, '', 'bell\u0007 and \u001B[31mred', ' '.repeat(40), '', 'Pane is dead (status 3, Wed Dec  2 07:12:08 2026)', '', ''].join('\n')
    expect(lastLines(text)).toEqual(['line 4', 'line 5', 'line 6', 'line 7', 'line 8', 'line 9', 'line 10', 'line 11', 'line 12', String.raw`bell\x07 and \e[31mred`])
    // only tmux's line at the very end is tmux's; the same words earlier came from the command
    expect(lastLines('Pane is dead (a joke)\nbye\n')).toEqual(['Pane is dead (a joke)', 'bye'])
    expect(lastLines('x'.repeat(1000))[0]).toBe('x'.repeat(300) + '…')
    expect(lastLines('\n\nPane is dead (signal 9, Wed Dec  2 07:12:08 2026)\n')).toEqual([])
  })

  it('says it in one phrase: exit status, signal, or that nothing was left to read', () => {
    const at = new Date('2026-12-02T07:12:00.000Z')
    expect(describeCrash(lastCrash(at, 'dead', {exitStatus: 127, signal: null, text: 'sh: 1: claude-x: not found\n'}))).toBe('exit 127: "sh: 1: claude-x: not found"')
    expect(describeCrash(lastCrash(at, 'dead', {exitStatus: null, signal: 15, text: ''}))).toBe('killed by SIGTERM')
    expect(describeCrash(lastCrash(at, 'dead', {exitStatus: null, signal: null, text: 'bye\n'}))).toBe('pane dead, tmux gave no exit status: "bye"')
    expect(lastCrash(at, 'absent', null)).toEqual({at: at.toISOString(), state: 'absent', exit_status: null, signal: null, last_lines: []})
    expect(describeCrash(lastCrash(at, 'absent', null))).toBe('session gone, no pane to read')
  })
})
