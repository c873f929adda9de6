import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {spawn} from 'node:child_process'
import {describe, expect, it} from 'vitest'

import {EXIT_CODE_MEANINGS, EXIT_CODES} from '../src/lib/errors.js'
import {BIN, REPO, makeSandbox, runCcl} from './support/sandbox.js'

describe('the README', () => {
  it('has an exit-code table that matches src/lib/errors.ts exactly', async () => {
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8')
    const section = readme.split('## Exit codes')[1]!.split('\n## ')[0]!
    const rows = [...section.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map(([, code, meaning]) => [Number(code), meaning])
    expect(rows).toEqual(Object.entries(EXIT_CODE_MEANINGS).map(([code, meaning]) => [Number(code), meaning]))
    expect(Object.values(EXIT_CODES).sort((a, b) => a - b)).toEqual(rows.map(([code]) => code))
  })

  it('holds exactly two set-up commands, the second being npm test', async () => {
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8')
    const setup = readme.split('## Set up')[1]!.split('\n## ')[0]!
    const blocks = [...setup.matchAll(/```sh\n([^`]+)```/g)].map(([, body]) => body!.trim())
    expect(blocks).toHaveLength(2)
    expect(blocks[1]).toBe('npm test')
  })
})

describe('the binary', () => {
  it('survives its reader going away (EPIPE) without a stack trace', async () => {
    // 300 accounts with no links: a report far larger than a pipe buffer.
    const sandbox = await makeSandbox({accounts: Array.from({length: 300}, (_, i) => `a${i}`)})
    try {
      // `ccl validate-symlinks --json | head -c 1`: the pipe closes after the first chunk.
      const child = spawn(process.execPath, [BIN, 'validate-symlinks', '--json', '--config', sandbox.configFile], {stdio: ['ignore', 'pipe', 'pipe']})
      let stderr = ''
      child.stderr.on('data', (chunk) => (stderr += chunk))
      child.stdout.once('data', () => child.stdout.destroy())
      const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)))
      expect(stderr).not.toMatch(/EPIPE|Error:|\n\s+at /)
      expect(code).toBe(1) // the layout is invalid: the exit code still says so
    } finally {
      await sandbox.cleanup()
    }
  })

  it('answers an unknown flag with a one-line usage error and exit 2', async () => {
    const result = await runCcl(['validate-symlinks', '--frobnicate'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('ccl: Nonexistent flag: --frobnicate')
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })

  // Every kind of oclif parse error we can trigger, with the whole of its message on one line.
  // `before` are the words up to where --json goes (a flag after --release would be its value).
  const usageCases: {kind: string; before: string[]; after: string[]; message: string; json?: 'only'}[] = [
    {kind: 'missing argument', before: ['route'], after: [], message: 'Missing 1 required arg: task (task file(s) to decide)'},
    {kind: 'missing argument', before: ['delegate', 'get'], after: [], message: 'Missing 1 required arg: job (the job id printed by ccl delegate submit)'},
    {kind: 'extra argument', before: ['delegate', 'get'], after: ['j-1', 'j-2'], message: 'Unexpected argument: j-2'},
    {kind: 'extra argument to a command without arguments', before: ['validate-symlinks'], after: ['extra'], message: 'Unexpected argument: extra'},
    {kind: 'extra arguments after a flag', before: ['status'], after: ['a', 'b'], message: 'Unexpected arguments: a, b'},
    {kind: 'unknown flag', before: ['reap'], after: ['--frobnicate'], message: 'Nonexistent flag: --frobnicate'},
    {
      kind: 'exclusive flags',
      before: ['status'],
      after: ['--prometheus'],
      message: 'The following error occurred: --json=true cannot also be provided when using --prometheus',
      json: 'only',
    },
    {kind: 'flag without its value', before: ['reconcile'], after: ['--release'], message: 'Flag --release expects a value'},
    {kind: 'invalid flag value', before: ['dispatch'], after: ['--max', '0'], message: 'Parsing --max: Expected an integer greater than or equal to 1 but received: 0'},
    {kind: 'invalid flag value', before: ['dispatch'], after: ['--max', 'many'], message: 'Parsing --max: Expected an integer but received: many'},
    {kind: 'flag given twice', before: ['dispatch'], after: ['--max', '1', '--max', '2'], message: 'Flag --max can only be specified once'},
  ]

  for (const {kind, before, after, message, json} of usageCases) {
    const command = before.join(' ')
    const hint = `see: ccl ${command} --help`
    if (json !== 'only') {
      it(`${kind}: \`ccl ${[...before, ...after].join(' ')}\` says it all in one line, exit 2`, async () => {
        const result = await runCcl([...before, ...after])
        expect(result).toEqual({code: 2, stdout: '', stderr: `ccl: ${message}\n  hint: ${hint}\n`})
      })
    }

    it(`${kind} under --json: \`ccl ${[...before, '--json', ...after].join(' ')}\` gives code usage, exit 2`, async () => {
      // FORCE_COLOR: oclif colours parts of these messages on a terminal; none of it may remain.
      const result = await runCcl([...before, '--json', ...after], {env: {FORCE_COLOR: '3'}})
      expect(result.code).toBe(2)
      expect(result.stderr).toBe(`ccl: ${message}\n  hint: ${hint}\n`)
      expect(JSON.parse(result.stdout)).toEqual({schemaVersion: 1, error: {code: 'usage', exitCode: 2, message, hint}})
    })
  }

  it('escapes control characters that came from the command line', async () => {
    const result = await runCcl(['reap', '--bad\tflag\u001B[2J'])
    expect(result).toEqual({code: 2, stdout: '', stderr: 'ccl: Nonexistent flag: --bad\\tflag\\e[2J\n  hint: see: ccl reap --help\n'})
  })

  it('reports a missing config with where it looked, exit 3, also under --json', async () => {
    const result = await runCcl(['validate-symlinks', '--json'])
    expect(result.code).toBe(3)
    expect(JSON.parse(result.stdout).error.message).toMatch(/^no config file found; looked in .*ccl\.yaml, .*ccl\/config\.yaml$/)
  })
})
