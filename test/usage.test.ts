import {Args, Flags, Parser} from '@oclif/core'
import {describe, expect, it} from 'vitest'

import {usageMessage} from '../src/usage.js'

/** The error oclif's own parser throws for this command line (real oclif, not a copy of its text). */
async function parseError(argv: string[], options: Parameters<typeof Parser.parse>[1]): Promise<Error & {args?: unknown}> {
  try {
    await Parser.parse(argv, options)
  } catch (error) {
    return error as Error
  }

  throw new Error(`${argv.join(' ')} parsed without an error`)
}

describe('usageMessage: an oclif parse error on one line', () => {
  it('names every missing argument with its description, unwrapped, and keeps the note that follows', async () => {
    const error = await parseError(['--tag', 'x'], {
      args: {
        first: Args.string({required: true, description: 'the first thing, described at such length that oclif has to wrap it onto a second line'}),
        second: Args.string({required: true}),
      },
      flags: {tag: Flags.string({multiple: true})},
    })
    expect(error.message.split('\n').length).toBeGreaterThan(4)
    expect(usageMessage(error)).toBe(
      'Missing 2 required args: first (the first thing, described at such length that oclif has to wrap it onto a second line), second; ' +
        'Note: --tag allows multiple values. Because of this you need to provide all arguments before providing that flag. ' +
        'Alternatively, you can use "--" to signify the end of the flags and the beginning of arguments.',
    )
  })

  it('keeps every reason of a failed flag check', async () => {
    const error = await parseError(['--c'], {flags: {a: Flags.boolean(), c: Flags.boolean({dependsOn: ['a']}), d: Flags.boolean({required: true})}})
    expect(usageMessage(error)).toBe('The following errors occurred: All of the following must be provided when using --c: --a; Missing required flag d')
  })

  it('says which values a flag or an argument takes', async () => {
    expect(usageMessage(await parseError(['--k', 'z'], {flags: {k: Flags.string({options: ['x', 'y']})}}))).toBe('Expected --k=z to be one of: x, y')
    expect(usageMessage(await parseError(['z'], {args: {k: Args.string({options: ['x', 'y']})}}))).toBe('Expected z to be one of: x, y')
  })
})
