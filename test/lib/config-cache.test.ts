// The validated-config cache (src/lib/config/cached.ts): a start whose config file is unchanged takes the
// config validated before; any change to the file is validated afresh; an invalid config is never cached.
import {chmod, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'

import {configCacheDir, loadConfigCached} from '../../src/lib/config/cached.js'
import {ConfigError} from '../../src/lib/errors.js'

let dir: string
let file: string
let env: NodeJS.ProcessEnv
const config = (queue: string) => ({queue, shared: {root: '/srv/shared'}, accounts: [{name: 'alpha', home: '/home/a'}]})

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-config-cache-'))
  file = path.join(dir, 'ccl.yaml')
  env = {HOME: dir}
  await writeFile(file, stringify(config('/srv/q1')))
})
afterEach(async () => {
  await chmod(path.join(dir, '.cache'), 0o700).catch(() => {})
  await rm(dir, {recursive: true, force: true})
})

const load = () => loadConfigCached({flag: file, env, cwd: dir})
async function entry(): Promise<string> {
  const [name] = await readdir(configCacheDir(env))
  return path.join(configCacheDir(env), name!)
}

describe('the config cache', () => {
  it('keeps the validated config (0600 in a 0700 folder) and uses it while the file is unchanged', async () => {
    expect((await load()).queue).toBe('/srv/q1')
    const cached = await entry()
    expect((await stat(cached)).mode & 0o777).toBe(0o600)
    expect((await stat(configCacheDir(env))).mode & 0o777).toBe(0o700)
    // Proof that a start takes it: an entry edited by hand (same key) is what the next load returns.
    const saved = JSON.parse(await readFile(cached, 'utf8')) as {config: {queue: string}}
    saved.config.queue = '/from/the/cache'
    await writeFile(cached, JSON.stringify(saved))
    expect((await load()).queue).toBe('/from/the/cache')
  })

  it('a file rewritten with the same size and its old mtime put back is validated afresh (its ctime changed)', async () => {
    await load()
    const before = await stat(file)
    await new Promise((resolve) => setTimeout(resolve, 20))
    await writeFile(file, stringify(config('/srv/q2')))
    await utimes(file, before.atime, before.mtime)
    expect((await stat(file)).size).toBe(before.size)
    expect((await load()).queue).toBe('/srv/q2')
  })

  it('an invalid config is reported on every load and never cached', async () => {
    await writeFile(file, stringify({...config('relative'), accounts: []}))
    for (let i = 0; i < 2; i++) await expect(load()).rejects.toBeInstanceOf(ConfigError)
    expect(await readdir(configCacheDir(env)).catch(() => [])).toEqual([])
  })

  it('a cache entry that is not ours, or a home that cannot be written, only costs a validation', async () => {
    await load()
    await writeFile(await entry(), '{not json')
    expect((await load()).queue).toBe('/srv/q1')
    expect(JSON.parse(await readFile(await entry(), 'utf8'))).toMatchObject({version: 1, config: {queue: '/srv/q1'}})
    // A file where the cache folder would be: no cache can be written there, even by root.
    await rm(path.join(dir, '.cache'), {recursive: true})
    await writeFile(path.join(dir, '.cache'), 'not a folder\n')
    expect((await load()).queue).toBe('/srv/q1')
    expect((await load()).queue).toBe('/srv/q1')
  })
})
