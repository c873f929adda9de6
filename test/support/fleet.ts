// Several hosts on one queue (SPEC §8), as the fleet tests run them on one machine: each host a config of
// its own (`host:`), its own tmux server (a private socket), account homes and shared root in a folder of
// its own (as each VM has its own disk), and the queue reached through a path of its own (on GlusterFS,
// one mount per host: the same folder through two clients). Every account runs the stand-in for Claude
// Code with hooks installed; the stand-ins of all hosts log to one file, each line naming its account.
import {mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {expect} from 'vitest'
import {stringify} from 'yaml'

import {doneBy} from './failover.js'
import {completeLines, STAND_IN, type StandInEntry, waitFor} from './loop.js'

export {doneBy} from './failover.js'
import {runCcl, type RunResult} from './sandbox.js'
import {type PrivateTmux, startPrivateTmux, tmuxEnv} from './tmux.js'

export interface HostSpec {
  host: string
  /** The queue as this host reaches it (its mount of the shared folder). */
  queue: string
  accounts: string[]
  /** How long this host's stand-ins take per task (default: the fleet's workMs). */
  workMs?: number
  /** This host's shared.root, as it reaches it (one folder on the volume for every host); default its own. */
  sharedRoot?: string
}

export interface Host {
  host: string
  queue: string
  accounts: string[]
  dir: string
  configFile: string
  config: Record<string, unknown>
  server: PrivateTmux
  env: NodeJS.ProcessEnv
  homes: Record<string, string>
  ccl(args: string[], extra?: {env?: NodeJS.ProcessEnv}): Promise<RunResult>
  writeConfig(): Promise<void>
}

export interface Fleet {
  hosts: Host[]
  /** The stand-ins' log, every host's. */
  log: string
  standInEvents(): Promise<StandInEntry[]>
  /** Every task in the queue by folder, read through the first host's path. */
  where(): Promise<Record<string, string[]>>
  addTask(name: string, body?: string, ageS?: number): Promise<void>
  cleanup(): Promise<void>
}

export interface FleetOptions {
  hosts: HostSpec[]
  /** Extra environment of one account's stand-in, by account name (over the defaults: STANDIN_WORK_MS too). */
  standInEnv?: Record<string, Record<string, string>>
  /** Config keys every host gets (delegation, failover…). */
  config?: Record<string, unknown>
  /** Environment every ccl run gets (the platform's key…). */
  env?: NodeJS.ProcessEnv
  workMs?: number
  /**
   * Every host's shared.root one folder and every account's cwd one folder (failover.across_hosts: resume
   * needs both); by default each host has its own, as separate machines do.
   */
  oneSharedRoot?: boolean
}

/** The hosts' configs written, the queue's folders made; no session started (see startFleet). */
export async function makeFleet(options: FleetOptions): Promise<Fleet> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'ccl-fleet-'))
  const log = path.join(base, 'stand-in.jsonl')
  const first = options.hosts[0]!.queue
  for (const folder of ['pending', 'done', 'failed']) await mkdir(path.join(first, folder), {recursive: true})
  const hosts: Host[] = []
  for (const spec of options.hosts) {
    const dir = path.join(base, spec.host)
    const shared = spec.sharedRoot ?? (options.oneSharedRoot ? path.join(base, 'shared') : path.join(dir, 'shared'))
    const cwd = options.oneSharedRoot || spec.sharedRoot ? path.join(base, 'work') : dir
    await mkdir(cwd, {recursive: true})
    const homes = Object.fromEntries(spec.accounts.map((name) => [name, path.join(dir, 'homes', `.claude-${name}`)]))
    for (const d of ['projects', 'file-history', 'session-env']) await mkdir(path.join(shared, d), {recursive: true})
    for (const home of Object.values(homes)) {
      await mkdir(home, {recursive: true})
      for (const d of ['projects', 'file-history', 'session-env']) await symlink(path.join(shared, d), path.join(home, d))
    }

    const server = await startPrivateTmux()
    const extra = (name: string) =>
      Object.entries(options.standInEnv?.[name] ?? {})
        .map(([key, value]) => `${key}='${value.replaceAll("'", "'\\''")}' `)
        .join('')
    const command = (name: string) =>
      `STANDIN_LOG='${log}' STANDIN_NAME=${name} STANDIN_WORK_MS=${spec.workMs ?? options.workMs ?? 150} ${extra(name)}exec '${process.execPath}' '${STAND_IN}'`
    const configFile = path.join(dir, 'ccl.yaml')
    const host: Host = {
      host: spec.host,
      queue: spec.queue,
      accounts: spec.accounts,
      dir,
      configFile,
      server,
      homes,
      config: {
        host: spec.host,
        queue: spec.queue,
        shared: {root: shared},
        tmux: {socket: server.socket},
        accounts: spec.accounts.map((name) => ({name, home: homes[name], cwd, command: command(name)})),
        assign: {enter_delay: '100ms', ready_after: '0s'},
        failover: {margin: '1s'},
        watchdog: {crash_limit: 1_000_000},
        dispatch: {settle: '0s'},
        ...options.config,
      },
      env: {...tmuxEnv(), ...options.env},
      ccl: (args, more = {}) => runCcl(args, {env: {...host.env, ...more.env}, cwd: dir}),
      async writeConfig() {
        await writeFile(configFile, stringify(host.config))
      },
    }
    host.env.CCL_CONFIG = configFile
    await host.writeConfig()
    hosts.push(host)
  }

  const fleet: Fleet = {
    hosts,
    log,
    async standInEvents() {
      const text = await readFile(log, 'utf8').catch(() => '')
      return completeLines(text).map((line) => JSON.parse(line) as StandInEntry)
    },
    async where() {
      const out: Record<string, string[]> = {}
      const look = async (rel: string) => {
        const names = await readdir(path.join(first, rel)).catch(() => [] as string[])
        const tasks = names.filter((n) => n.endsWith('.md')).sort()
        if (tasks.length > 0) out[rel] = tasks
      }

      await look('pending')
      for (const host of hosts) for (const name of host.accounts) await look(`active/${name}`)
      await look('done')
      await look('failed')
      return out
    },
    async addTask(name, body = `Do ${name}.\n`, ageS = 0) {
      const file = path.join(first, 'pending', name)
      await writeFile(file, body)
      if (ageS) {
        const when = new Date(Date.now() - ageS * 1000)
        await utimes(file, when, when)
      }
    },
    async cleanup() {
      for (const host of hosts) await host.server.kill()
      await rm(base, {recursive: true, force: true, maxRetries: 10, retryDelay: 100})
    },
  }
  return fleet
}

/** The account's record in the shared state (through the first host's path). */
export async function fleetAccountState(fleet: Fleet, account: string): Promise<Record<string, unknown> | undefined> {
  return readFile(path.join(fleet.hosts[0]!.queue, '.ccl', 'accounts', `${account}.json`), 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => undefined)
}

/** Hooks installed and every host's sessions up (each account's SessionStart recorded). */
export async function startFleet(fleet: Fleet): Promise<void> {
  for (const host of fleet.hosts) {
    const installed = await host.ccl(['hooks', 'install'])
    expect(installed.code, installed.stderr).toBe(0)
    const reconciled = await host.ccl(['reconcile'])
    expect(reconciled.code, `${host.host}: ${reconciled.stderr}`).toBe(0)
  }

  for (const host of fleet.hosts) {
    for (const account of host.accounts) {
      expect(await waitFor(async () => (await fleetAccountState(fleet, account))?.session_started_at != null, 20_000), `${account} on ${host.host} started`).toBe(true)
    }
  }
}

/**
 * That `task` reached done/ finished by `account` alone, whose session came up resuming
 * `session` (a failover's or an adoption's --resume); the prompts that session was told, for the
 * caller's own checks.
 */
export async function expectResumedBy(f: Fleet, task: string, account: string, session: string): Promise<StandInEntry[]> {
  expect(await waitFor(async () => doneBy(await f.standInEvents(), task).length > 0, 5000)).toBe(true)
  const log = await f.standInEvents()
  expect(doneBy(log, task)).toEqual([account])
  expect(log.filter((e) => e.event === 'session' && e.standIn === account).at(-1)).toMatchObject({source: 'resume', session})
  return log.filter((e) => e.event === 'received' && e.standIn === account)
}
