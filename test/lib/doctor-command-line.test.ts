// How ccl doctor reads an account's command: the program the session's shell starts, and the
// permission mode its flags ask for.
import {describe, expect, it} from 'vitest'

import {commandPermissionMode, commandProgram, commandWords} from '../../src/lib/doctor/command-line.js'

describe('commandProgram', () => {
  it.each([
    ['claude', {program: 'claude', args: []}],
    ['claude --resume abc', {program: 'claude', args: ['--resume', 'abc']}],
    ['FOO=1 BAR="a b" claude -c', {program: 'claude', args: ['-c']}],
    ["exec env -u HOME -i ANTHROPIC_BASE_URL=http://x '/opt/claude code/claude'", {program: '/opt/claude code/claude', args: []}],
    ['PATH=/opt/bin:/usr/bin exec claude', {program: 'claude', args: [], path: '/opt/bin:/usr/bin'}],
    ['env PATH=/opt/bin claude # a comment', {program: 'claude', args: [], path: '/opt/bin'}],
  ])('%s', (command, expected) => {
    expect(commandProgram(command)).toEqual(expected)
  })

  it.each(['', 'FOO=1', "claude 'unclosed"])('no program in %j', (command) => {
    expect(commandProgram(command)).toBeNull()
  })
})

describe('commandPermissionMode', () => {
  it.each([
    [['--dangerously-skip-permissions'], 'bypassPermissions'],
    [['--model', 'x', '--permission-mode', 'acceptEdits'], 'acceptEdits'],
    [['--permission-mode=plan'], 'plan'],
    [['--resume', 'abc'], undefined],
  ])('%j', (args, mode) => {
    expect(commandPermissionMode(args)?.mode).toBe(mode)
  })
})

describe('commandWords', () => {
  it('splits as sh does: quotes, escapes, up to a comment or an operator', () => {
    expect(commandWords(`a 'b c' "d \\"e\\" \\x" f\\ g # h`)).toEqual(['a', 'b c', 'd "e" \\x', 'f g'])
    expect(commandWords('claude; echo done')).toEqual(['claude'])
    expect(commandWords('x"y')).toBeNull()
  })
})
