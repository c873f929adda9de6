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

  it('reports a missing config with where it looked, exit 3, also under --json', async () => {
    const result = await runCcl(['validate-symlinks', '--json'])
    expect(result.code).toBe(3)
    expect(JSON.parse(result.stdout).error.message).toMatch(/^no config file found; looked in .*ccl\.yaml, .*ccl\/config\.yaml$/)
  })
})
