import {execFile} from 'node:child_process'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {stringify} from 'yaml'

import {assertNoSecrets, describeLeaks, registerMisplacedKey, registerSecretsOfEnv, scanTreeForSecrets} from './secrets.js'

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = path.join(REPO, 'bin', 'run.js')

export interface Sandbox {
  dir: string
  queue: string
  shared: string
  homes: Record<string, string>
  configFile: string
  /** The config object written to configFile; change it and call writeConfig(). */
  config: Record<string, unknown>
  writeConfig(config?: Record<string, unknown>): Promise<string>
  cleanup(): Promise<void>
}

export interface SandboxOptions {
  accounts?: string[]
  /** Extra top-level config keys merged over the defaults. */
  config?: Record<string, unknown>
}

/** A throw-away machine: queue, shared root and account homes in a fresh temp folder. */
export async function makeSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-test-'))
  const queue = path.join(dir, 'queue')
  const shared = path.join(dir, 'shared')
  const names = options.accounts ?? ['alpha', 'beta']
  const homes = Object.fromEntries(names.map((name) => [name, path.join(dir, 'homes', `.claude-${name}`)]))
  await Promise.all([
    ...['pending', 'done', 'failed'].map((d) => mkdir(path.join(queue, d), {recursive: true})),
    ...Object.values(homes).map((home) => mkdir(home, {recursive: true})),
  ])
  const configFile = path.join(dir, 'ccl.yaml')
  let written = ''
  const sandbox: Sandbox = {
    dir,
    queue,
    shared,
    homes,
    configFile,
    config: {
      queue,
      shared: {root: shared},
      accounts: names.map((name) => ({name, home: homes[name], cwd: dir})),
      ...options.config,
    },
    async writeConfig(config = sandbox.config) {
      sandbox.config = config
      registerMisplacedKey(config)
      written = stringify(config)
      await writeFile(configFile, written)
      return configFile
    },
    async cleanup() {
      // Whatever ccl wrote here (queue, markers, state, events.jsonl) must not hold a key: scanned before it goes.
      // The config as the test wrote it is input (it may hold a mis-pasted key on purpose); changed by ccl, it is scanned.
      const leaks = await scanTreeForSecrets(dir, undefined, new Map([[configFile, written]]))
      // A hook or stand-in of a session just killed may still write a last line here: retry, as rm -rf would race too.
      await rm(dir, {recursive: true, force: true, maxRetries: 10, retryDelay: 100})
      if (leaks.length > 0) throw new Error(`secrets scan of the sandbox ${dir}: ${describeLeaks(leaks, dir)}`)
    },
  }
  await sandbox.writeConfig()
  return sandbox
}

/** Makes the canonical shared dirs and every account's links to them: a valid layout. */
export async function linkAll(sandbox: Sandbox, dirs = ['projects', 'file-history', 'session-env']): Promise<void> {
  const {symlink} = await import('node:fs/promises')
  for (const d of dirs) await mkdir(path.join(sandbox.shared, d), {recursive: true})
  for (const home of Object.values(sandbox.homes)) {
    for (const d of dirs) await symlink(path.join(sandbox.shared, d), path.join(home, d))
  }
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/**
 * Runs the built binary as cron or bash would: a separate process, its stdout, stderr and exit code.
 * HOME and XDG_CONFIG_HOME point into the sandbox so no test can read the user's own config; XDG_CACHE_HOME
 * is the test file's own (isolate-env.ts).
 * Rejects when stdout or stderr holds a known API key (test/support/secrets.ts), whatever the test asserts.
 */
export function runCcl(
  args: string[],
  options: {env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number; node?: string} = {},
): Promise<RunResult> {
  const cwd = options.cwd ?? os.tmpdir()
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: cwd,
    XDG_CONFIG_HOME: path.join(cwd, '.config'),
    // The config cache goes where test/support/isolate-env.ts put this file's, not into cwd (often pending/).
    ...(process.env.XDG_CACHE_HOME ? {XDG_CACHE_HOME: process.env.XDG_CACHE_HOME} : {}),
    LANG: 'C.UTF-8',
    ...options.env,
  }
  registerSecretsOfEnv(env)
  return new Promise((resolve, reject) => {
    const child = execFile(
      options.node ?? process.execPath,
      [BIN, ...args],
      {cwd, env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024},
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        try {
          assertNoSecrets(`the stdout of ccl ${args.join(' ')}`, String(stdout))
          assertNoSecrets(`the stderr of ccl ${args.join(' ')}`, String(stderr))
        } catch (leak) {
          reject(leak as Error)
          return
        }

        resolve({code, stdout: String(stdout), stderr: String(stderr)})
      },
    )
    if (options.input !== undefined) child.stdin?.end(options.input)
    else child.stdin?.end()
  })
}
