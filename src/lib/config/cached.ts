/*
 * The full config without paying for its validation on every start: every command but the hot ones
 * validates the whole config with zod, which costs ~30 ms a start on Node 24 (importing zod and yaml,
 * building the schema, parsing) against ~35 ms for `node -e 0`, while the file changes perhaps once a
 * week and the timers start a command every few seconds. So the validated config is kept in
 * `${XDG_CACHE_HOME:-~/.cache}/ccl/config/<sha256 of its path>.json` (0600, folder 0700) with what
 * identifies the file's content: device, inode, size, mtime and ctime in nanoseconds (ctime changes on
 * every write, and nobody but the kernel can set it), plus the build of ccl that validated it and the
 * home folder (the default account cwd). A start whose file matches all of it takes the cached
 * config; any difference, an unreadable or foreign cache, and zod validates afresh (then the cache is
 * rewritten). The cache never decides anything a validation has not decided: an invalid config is
 * never cached, so its error is reported on every run. `ccl doctor` always validates.
 */
import {createHash} from 'node:crypto'
import {mkdirSync, readFileSync, type BigIntStats, statSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {writeFileAtomic} from '../queue/files.js'
import {useConfigHost} from '../queue/holder.js'
import {type ConfigSource, configCandidates} from './read.js'
import type {Config} from './schema.js'
import {cclVersion} from '../version.js'

// Set by the bundler (scripts/build.mjs): a hash of the config sources, so a cache written by a build
// with another schema is never used. Absent when the sources run directly (tests).
declare const __CCL_CONFIG_BUILD__: string | undefined

const VERSION = 1

interface Entry {
  version: number
  key: string
  config: Config
}

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

function cacheFile(dir: string, file: string): string {
  return path.join(dir, `${createHash('sha256').update(file).digest('hex').slice(0, 32)}.json`)
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

/** The validated config (load.ts's loadConfig), from the cache when the file is unchanged since it was validated. */
export async function loadConfigCached(source: ConfigSource): Promise<Config> {
  const found = locate(source)
  const dir = configCacheDir(source.env)
  if (found) {
    try {
      const entry = JSON.parse(readFileSync(cacheFile(dir, found.file), 'utf8')) as Entry
      if (entry.version === VERSION && entry.key === found.key && entry.config?.file === found.file) {
        useConfigHost(entry.config)
        return entry.config
      }
    } catch {
      // no cache yet, or not one of ours: validate
    }
  }

  const {loadConfig} = await import('./load.js')
  const config = loadConfig(source)
  // Only when the file validated is the one identified before reading it (not changed meanwhile).
  const after = locate(source)
  if (found && after && after.key === found.key && config.file === found.file) {
    try {
      mkdirSync(dir, {recursive: true, mode: 0o700})
      const entry: Entry = {version: VERSION, key: found.key, config}
      await writeFileAtomic(cacheFile(dir, found.file), JSON.stringify(entry) + '\n', {mode: 0o600})
    } catch {
      // a read-only or full home: validate next time too
    }
  }

  return config
}
