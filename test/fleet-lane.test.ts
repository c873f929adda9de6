import {execFile} from 'node:child_process'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {promisify} from 'node:util'
import {describe, expect, it} from 'vitest'

import {REPO} from './support/sandbox.js'
import config from '../vitest.config.js'
import fleetConfig from '../vitest.fleet.config.js'

// The fleet lane's set-up, checked in the default lane (which never mounts anything): test/fleet runs only
// in its own lane, and scripts/gluster-up.sh refuses bad use with a one-line reason before it installs or
// starts anything.

const run = promisify(execFile)
const pkg = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as {scripts: Record<string, string>}

async function failure(script: string, args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  try {
    await run(path.join(REPO, 'scripts', script), args)
  } catch (error) {
    const {code, stdout, stderr} = error as {code: number; stdout: string; stderr: string}
    return {code, stdout, stderr}
  }

  throw new Error(`${script} ${args.join(' ')} exited 0`)
}

describe('the fleet lane', () => {
  it('runs only in its own lane', () => {
    expect(pkg.scripts['test:fleet']).toBe('npm run build && vitest run --config vitest.fleet.config.ts')
    expect(config.test?.exclude).toContain('test/fleet/**')
    expect(fleetConfig.test?.include).toEqual(['test/fleet/**/*.test.ts'])
  })

  it('gluster-up.sh: one mount path for both hosts is refused in one line, nothing done', async () => {
    const result = await failure('gluster-up.sh', ['--mount-a', '/mnt/same', '--mount-b', '/mnt/same'])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    // Run as root this is the same-path reason; as another user, the root one. Either is one line.
    expect(result.stderr).toMatch(/^gluster-up: (--mount-a and --mount-b are the same path \(\/mnt\/same\)|needs root .*)\n$/)
  })

  it('gluster-up.sh and gluster-down.sh: an unknown argument exits 2 and names it', async () => {
    for (const script of ['gluster-up.sh', 'gluster-down.sh']) {
      const result = await failure(script, ['--mounts', '/mnt/x'])
      expect(result).toEqual({code: 2, stdout: '', stderr: `${script.replace('.sh', '')}: unknown argument --mounts\n`})
    }
  })
})
