import {describe, expect, it} from 'vitest'

import {splitOperands, valueFlagNames} from '../../src/argv.js'

describe('splitOperands', () => {
  const takes = valueFlagNames({config: {type: 'option'}, json: {type: 'boolean'}, out: {type: 'option', char: 'o', aliases: ['output']}})

  it('knows which flags take a value, in every spelling', () => {
    expect([...takes].sort()).toEqual(['--config', '--out', '--output', '-o'])
  })

  it('separates flags (with their values) from operands, keeping operand order', () => {
    expect(splitOperands(['a.md', '--config', 'c.yaml', 'b.md', '--json', '--config=x', '-o', 'o.txt', 'c.md', '-'], takes)).toEqual({
      flags: ['--config', 'c.yaml', '--json', '--config=x', '-o', 'o.txt'],
      operands: ['a.md', 'b.md', 'c.md', '-'],
    })
  })

  it('takes everything after -- as operands, and leaves unknown flags to oclif', () => {
    expect(splitOperands(['--bogus', 'a.md', '--', '--json', '-x.md'], takes)).toEqual({flags: ['--bogus'], operands: ['a.md', '--json', '-x.md']})
  })

  it('a value flag at the very end keeps nothing else', () => {
    expect(splitOperands(['a.md', '--config'], takes)).toEqual({flags: ['--config'], operands: ['a.md']})
  })
})
