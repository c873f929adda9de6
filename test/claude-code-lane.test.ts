import {execFile} from 'node:child_process'
import {chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'
import {afterEach, describe, expect, it} from 'vitest'

import {REPO} from './support/sandbox.js'
import config from '../vitest.config.js'
import realConfig from '../vitest.real.config.js'

// The real-CLI lane's set-up, checked where the CLI is not installed: one pin, an install script that
// installs exactly it (and nothing when it is there), and a default lane that never runs test/real.

const run = promisify(execFile)
const SCRIPT = path.join(REPO, 'scripts', 'install-claude-code.sh')
const pkg = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as {config: {claudeCodeVersion: string}; scripts: Record<string, string>}
const VERSION = pkg.config.claudeCodeVersion

let dir: string | undefined

afterEach(async () => {
  if (dir) await rm(dir, {recursive: true, force: true})
  dir = undefined
})

/** A folder with a stand-in `npm` on PATH that logs its arguments and installs a `claude` printing `prints`. */
async function fakeNpm(prints: string): Promise<{bin: string; log: string}> {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-install-'))
  const bin = path.join(dir, 'bin')
  const log = path.join(dir, 'npm.log')
  await mkdir(bin)
  const npm = [
    '#!/bin/sh',
    `printf '%s\\n' "$*" >> '${log}'`,
    'while [ "$#" -gt 0 ]; do [ "$1" = --prefix ] && prefix=$2; shift; done',
    'mkdir -p "$prefix/node_modules/.bin"',
    `printf '#!/bin/sh\\necho "${prints}"\\n' > "$prefix/node_modules/.bin/claude"`,
    'chmod +x "$prefix/node_modules/.bin/claude"',
  ].join('\n')
  await writeFile(path.join(bin, 'npm'), npm + '\n')
  await chmod(path.join(bin, 'npm'), 0o755)
  return {bin, log}
}

function install(bin: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return run('bash', [SCRIPT, ...args], {env: {...process.env, PATH: `${bin}:${process.env.PATH}`, ...env}})
}

describe('the pinned Claude Code', () => {
  it('is one version, named by the fixtures folder and the docs', async () => {
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+$/)
    expect((await stat(path.join(REPO, 'test', 'fixtures', `claude-code-${VERSION}`, 'hooks'))).isDirectory()).toBe(true)
    const docs = await readFile(path.join(REPO, 'docs', 'real-claude-code.md'), 'utf8')
    expect(docs).toContain(`@anthropic-ai/claude-code@${VERSION}`)
    expect(await readFile(path.join(REPO, 'README.md'), 'utf8')).toContain('npm run test:real')
  })

  it('runs only in its own lane', () => {
    expect(pkg.scripts['test:real']).toContain('vitest.real.config.ts')
    expect(config.test?.exclude).toContain('test/real/**')
    expect(realConfig.test?.include).toEqual(['test/real/**/*.test.ts'])
  })
})

describe('scripts/install-claude-code.sh', () => {
  it('installs the pinned version into DIR with npm --prefix, and checks what it installed', async () => {
    const {bin, log} = await fakeNpm(`${VERSION} (Claude Code)`)
    const target = path.join(dir!, 'cache')
    const {stdout} = await install(bin, [target])
    expect(await readFile(log, 'utf8')).toMatch(new RegExp(`^install --no-save .*--prefix ${target} @anthropic-ai/claude-code@${VERSION.replaceAll('.', '\\.')}\\n$`))
    expect(stdout).toContain(`${VERSION} (Claude Code) in ${target}`)
  })

  it('does nothing when DIR already holds the pinned version; CCL_CLAUDE_CACHE is the default DIR', async () => {
    const {bin, log} = await fakeNpm(`${VERSION} (Claude Code)`)
    const target = path.join(dir!, 'cache')
    await install(bin, [], {CCL_CLAUDE_CACHE: target})
    const {stdout} = await install(bin, [], {CCL_CLAUDE_CACHE: target})
    expect(stdout).toContain('already')
    expect((await readFile(log, 'utf8')).trim().split('\n')).toHaveLength(1)
  })

  it('fails when the install does not give the pinned version', async () => {
    const {bin} = await fakeNpm('2.0.1 (Claude Code)')
    const failed = await install(bin, [path.join(dir!, 'cache')]).then(
      () => undefined,
      (error: {code: number; stderr: string}) => error,
    )
    expect(failed?.code).toBe(1)
    expect(failed?.stderr).toContain(`does not print ${VERSION}`)
  })

  it('is shellcheck-clean and strict', async () => {
    expect(await readFile(SCRIPT, 'utf8')).toMatch(/^#!\/usr\/bin\/env bash\n[\s\S]*^set -euo pipefail$/m)
    const result = await run('shellcheck', ['--severity=style', SCRIPT]).catch((error: {code?: number | string; stdout?: string}) => {
      if (error.code === 'ENOENT') throw new Error("shellcheck not found: install Debian's shellcheck (apt-get install -y shellcheck); CI must have it")
      return {stdout: error.stdout ?? ''}
    })
    expect(result.stdout).toBe('')
  })
})
