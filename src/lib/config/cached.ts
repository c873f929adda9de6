/*
 * The full config without paying for its validation on every start: every command but the hot ones
 * validates the whole config with zod, which costs ~30 ms a start on Node 24 (importing zod and yaml,
 * building the schema, parsing) against ~35 ms for `node -e 0`, while the file changes perhaps once a
 * week and the timers start a command every few seconds. So the validated config is kept in
 * `${XDG_CACHE_HOME:-~/.cache}/ccl/config/<fnv1a64 of its path>.json` (0600, folder 0700) with what
 * identifies the file's content: device, inode, size, mtime and ctime in nanoseconds (ctime changes on
 * every write, and nobody but the kernel can set it), plus the build of ccl that validated it and the
 * home folder (the default account cwd). A start whose file matches all of it takes the cached
 * config; any difference, an unreadable or foreign cache, and zod validates afresh (then the cache is
 * rewritten). The cache never decides anything a validation has not decided: an invalid config is
 * never cached, so its error is reported on every run. `ccl doctor` always validates. What the hot
 * commands read (hot.ts) is kept the same way beside it, in `<fnv1a64 of its path>.hot.json`.
 */
import {mkdirSync, readFileSync, type BigIntStats, statSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {writeFileAtomic} from '../queue/files.js'
import {useConfigHost} from '../queue/holder.js'
import {type ConfigSource, configCandidates} from './read.js'
import {fnv1a64} from '../digest.js'
import type {HotConfig} from './hot.js'
import type {Config} from './schema.js'
import {cclVersion} from '../version.js'

// Set by the bundler (scripts/build.mjs): a hash of the config sources, so a cache written by a build
// with another schema is never used. Absent when the sources run directly (tests).
declare const __CCL_CONFIG_BUILD__: string | undefined

const VERSION = 1

interface Entry<T> {
  version: number
  key: string
  config: T
}

/** The full config (every command) or the hot one (route, hook, statusline): one file each. */
type Kind = 'full' | 'hot'


/** This build of ccl: a cache written by another build (another schema) is not used. */
function buildId(): string {
  return `${cclVersion()}:${typeof __CCL_CONFIG_BUILD__ === 'string' ? __CCL_CONFIG_BUILD__ : 'sources'}`
}

function identity(file: string, info: BigIntStats): string {
  return [file, info.dev, info.ino, info.size, info.mtimeNs, info.ctimeNs, os.homedir(), buildId()].join('\0')
}

export function configCacheDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(env.HOME ?? os.homedir(), '.cache')
  return path.join(base, 'ccl', 'config')
}

function cacheFile(dir: string, file: string, kind: Kind): string {
  return path.join(dir, `${fnv1a64(file)}${kind === 'hot' ? '.hot' : ''}.json`)
}

/** The config file SPEC §2 finds, and its identity, when it is a regular file; undefined lets the full load report what is wrong. */
function locate(source: ConfigSource): {file: string; key: string} | undefined {
  for (const candidate of configCandidates(source)) {
    let info
    try {
      info = statSync(candidate.path, {bigint: true})
    } catch {
      continue
    }

    return info.isFile() ? {file: candidate.path, key: identity(candidate.path, info)} : undefined
  }

  return undefined
}

/** The cached value of `kind` for the config `found`, when its entry matches the file as it is now. */
function readEntry<T extends {file: string}>(dir: string, kind: Kind, found: {file: string; key: string}): T | undefined {
  try {
    const entry = JSON.parse(readFileSync(cacheFile(dir, found.file, kind), 'utf8')) as Entry<T>
    if (entry.version === VERSION && entry.key === found.key && entry.config?.file === found.file) return entry.config
  } catch {
    // no cache yet, or not one of ours: read the file
  }

  return undefined
}

/** Keeps what was read, only when the file read is the one identified before reading it (not changed meanwhile). */
async function writeEntry<T extends {file: string}>(source: ConfigSource, dir: string, kind: Kind, found: {file: string; key: string} | undefined, config: T): Promise<void> {
  const after = locate(source)
  if (!found || !after || after.key !== found.key || config.file !== found.file) return
  try {
    mkdirSync(dir, {recursive: true, mode: 0o700})
    const entry: Entry<T> = {version: VERSION, key: found.key, config}
    await writeFileAtomic(cacheFile(dir, found.file, kind), JSON.stringify(entry) + '\n', {mode: 0o600})
  } catch {
    // a read-only or full home: read the file next time too
  }
}

/** `kind`'s config from its cache entry when the file is unchanged since it was read, else by `read` (then kept). */
async function cachedOr<T extends {file: string; host?: string | undefined}>(source: ConfigSource, kind: Kind, read: () => Promise<T>): Promise<T> {
  const found = locate(source)
  const dir = configCacheDir(source.env)
  const cached = found ? readEntry<T>(dir, kind, found) : undefined
  if (cached) {
    useConfigHost(cached)
    return cached
  }

  const config = await read()
  await writeEntry(source, dir, kind, found, config)
  return config
}

/** The validated config (load.ts's loadConfig), from the cache when the file is unchanged since it was validated. */
export async function loadConfigCached(source: ConfigSource): Promise<Config> {
  return cachedOr(source, 'full', async () => (await import('./load.js')).loadConfig(source))
}

/**
 * What the hot commands read of the config (hot.ts's loadHotConfig: route, hook, statusline), from
 * the cache on the same terms. It is kept apart from the full config's entry: the hot reader checks
 * only its own keys, so a config the full load refuses can still be a hot one (docs/route.md), and a
 * hook must not start validating with zod because some other key is wrong. A hit loads neither the
 * yaml package nor the hot reader's checks.
 */
export async function loadHotConfigCached(source: ConfigSource): Promise<HotConfig> {
  return cachedOr(source, 'hot', async () => (await import('./hot.js')).loadHotConfig(source))
}
