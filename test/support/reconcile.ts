import {mkdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {LastCrash} from '../../src/lib/sessions/crash.js'
import {linkAll, makeSandbox, runCcl, type Sandbox} from './sandbox.js'
import {type PrivateTmux, startPrivateTmux} from './tmux.js'
import {allEvents} from './events.js'

export interface Machine {
  sandbox: Sandbox
  server: PrivateTmux
  /** Runs `ccl ARGS --config <sandbox config>` as cron would. */
  ccl(args?: string[], env?: NodeJS.ProcessEnv): ReturnType<typeof runCcl>
  sessions(): Promise<string[]>
  /** `session pane_dead` lines of every pane. */
  panes(): Promise<string[]>
  events(): Promise<{event: string; account?: string; task?: string; [k: string]: unknown}[]>
  record(account: string): Promise<{crashes: string[]; failed_at: string | null; created_at: string | null; held: boolean; last_crash?: LastCrash}>
  active(account: string, name: string, content: string): Promise<string>
  waitUntil(check: () => Promise<boolean>, what: string): Promise<void>
  cleanup(): Promise<void>
}

/** A sandboxed machine with valid links and its own tmux server, whose accounts run `command`. */
export async function makeMachine(options: {accounts?: string[]; command?: string; config?: Record<string, unknown>; links?: boolean; start?: boolean} = {}): Promise<Machine> {
  const sandbox = await makeSandbox({accounts: options.accounts ?? ['alpha', 'beta']})
  const server = await startPrivateTmux({start: options.start ?? true})
  if (options.links !== false) await linkAll(sandbox)
  const accounts = (sandbox.config.accounts as Record<string, unknown>[]).map((a) => ({...a, command: options.command ?? 'sleep 3600'}))
  await sandbox.writeConfig({...sandbox.config, accounts, tmux: {socket: server.socket}, ...options.config})
  const state = path.join(sandbox.queue, '.ccl')
  const machine: Machine = {
    sandbox,
    server,
    ccl: (args = [], env = {}) => runCcl([...args, '--config', sandbox.configFile], {cwd: sandbox.dir, env}),
    async sessions() {
      const out = await server.tmux('list-sessions', '-F', '#{session_name}').catch(() => '')
      return out.split('\n').filter(Boolean).sort()
    },
    async panes() {
      const out = await server.tmux('list-panes', '-a', '-F', '#{session_name} #{pane_dead}').catch(() => '')
      return out.split('\n').filter(Boolean).sort()
    },
    async events() {
      return allEvents(state) as Awaited<ReturnType<Machine['events']>>
    },
    async record(account) {
      return JSON.parse(await readFile(path.join(state, 'sessions', `${account}.json`), 'utf8'))
    },
    async active(account, name, content) {
      const dir = path.join(sandbox.queue, 'active', account)
      await mkdir(dir, {recursive: true})
      await writeFile(path.join(dir, name), content)
      return path.join(dir, name)
    },
    async waitUntil(check, what) {
      const deadline = Date.now() + 10_000
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    },
    async cleanup() {
      await server.kill()
      await sandbox.cleanup()
    },
  }
  return machine
}
