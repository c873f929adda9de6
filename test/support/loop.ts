import {mkdir, readdir, readFile, stat, utimes, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {linkAll, makeSandbox, REPO, runCcl, type RunResult, type Sandbox} from './sandbox.js'
import {type PrivateTmux, startPrivateTmux, tmuxEnv} from './tmux.js'

export const STAND_IN = path.join(REPO, 'scripts', 'stand-in-claude.mjs')

export interface StandInEntry {
  ts: string
  standIn: string
  /** What the stand-in did; scripts/stand-in-claude.mjs's header says when it logs each. */
  event:
    | 'received'
    | 'done'
    | 'error'
    | 'session'
    | 'hook'
    | 'limited'
    | 'continued'
    | 'continue-cancelled'
    | 'unfinished'
    | 'permission'
    | 'enter-lost'
    | 'swallowed'
    | 'menu-closed'
  /** received, enter-lost, swallowed: the whole prompt; pasted: whether it came as a bracketed paste */
  prompt?: string
  pasted?: boolean
  task?: string | null
  movedTo?: string
  error?: string
  /** received, session, continued: the conversation's session id */
  session?: string
  /** session: "startup" or "resume", and the transcript's path */
  source?: string
  transcript?: string
  /** hook: the event whose hook ran, its exit code or signal, whether its timeout killed it */
  hook?: string
  code?: number | null
  signal?: string | null
  timedOut?: boolean
  /** limited: when the limit resets */
  resetsAt?: string
  /** permission: asked or granted */
  state?: string
  /** swallowed: the menu that took the paste; menu-closed: which menu, and how */
  by?: string
  menu?: string
  how?: string
}

export interface LoopSandbox {
  sandbox: Sandbox
  server: PrivateTmux
  /** The environment every ccl run gets: the sandbox config, no $TMUX. */
  env: NodeJS.ProcessEnv
  standInLog: string
  ccl(args: string[], options?: {env?: NodeJS.ProcessEnv}): Promise<RunResult>
  /** Writes a task into pending/ with an mtime `ageS` seconds in the past (older = first in line). */
  addTask(name: string, body?: string, ageS?: number): Promise<string>
  /** What the stand-ins received so far, one entry per submitted prompt. */
  received(): Promise<StandInEntry[]>
  /** Everything the stand-ins logged: received, done, error. */
  standInEvents(): Promise<StandInEntry[]>
  /** Waits until every account's stand-in has started and turned on bracketed paste. */
  ready(accounts?: string[]): Promise<void>
  /** Every task in the queue, by folder ("pending", "active/alpha", "done", "failed"). */
  where(): Promise<Record<string, string[]>>
  cleanup(): Promise<void>
}

/**
 * A queue whose accounts run the stand-in for Claude Code inside a private tmux server, with valid
 * symlinks; sessions are not started (run `ccl reconcile`, as cron would).
 */
export async function makeLoopSandbox(
  options: {
    accounts?: string[]
    workMs?: number
    config?: Record<string, unknown>
    /** Extra environment for one account's stand-in (STANDIN_LIMIT_AFTER, …): per account name. */
    standInEnv?: Record<string, Record<string, string>>
    /** An account's cwd when it is not the sandbox folder (made if missing): per account name. */
    cwds?: Record<string, string>
  } = {},
): Promise<LoopSandbox> {
  const names = options.accounts ?? ['alpha', 'beta']
  const server = await startPrivateTmux()
  const sandbox = await makeSandbox({accounts: names})
  await linkAll(sandbox)
  const standInLog = path.join(sandbox.dir, 'stand-in.jsonl')
  for (const cwd of Object.values(options.cwds ?? {})) await mkdir(cwd, {recursive: true})
  const extra = (name: string) =>
    Object.entries(options.standInEnv?.[name] ?? {})
      .map(([key, value]) => `${key}='${value.replaceAll("'", "'\\''")}' `)
      .join('')
  const command = (name: string) =>
    `${extra(name)}STANDIN_LOG='${standInLog}' STANDIN_NAME=${name} STANDIN_WORK_MS=${options.workMs ?? 150} exec '${process.execPath}' '${STAND_IN}'`
  await sandbox.writeConfig({
    ...sandbox.config,
    tmux: {socket: server.socket},
    accounts: names.map((name) => ({name, home: sandbox.homes[name], cwd: options.cwds?.[name] ?? sandbox.dir, command: command(name)})),
    // The stand-in starts in well under a second; tests that need the start-up grace set it themselves.
    assign: {enter_delay: '100ms', ready_after: '0s'},
    ...options.config,
  })
  const env = {...tmuxEnv(), CCL_CONFIG: sandbox.configFile}
  const loop: LoopSandbox = {
    sandbox,
    server,
    env,
    standInLog,
    ccl: (args, extra = {}) => runCcl(args, {env: {...loop.env, ...extra.env}, cwd: sandbox.dir}),
    async addTask(name, body = `Do ${name}.\n`, ageS = 0) {
      const file = path.join(sandbox.queue, 'pending', name)
      await writeFile(file, body)
      if (ageS) {
        const when = new Date(Date.now() - ageS * 1000)
        await utimes(file, when, when)
      }

      return file
    },
    async received() {
      return (await loop.standInEvents()).filter((e) => e.event === 'received')
    },
    async standInEvents() {
      const text = await readFile(standInLog, 'utf8').catch(() => '')
      return completeLines(text).map((line) => JSON.parse(line) as StandInEntry)
    },
    async ready(accounts = names) {
      for (const name of accounts) {
        const up = await waitFor(async () => {
          const screen = await server.tmux('capture-pane', '-p', '-t', `=ccl-${name}:`).catch(() => '')
          return screen.includes('ready')
        })
        if (!up) throw new Error(`stand-in of ${name} did not start`)
      }
    },
    async where() {
      const out: Record<string, string[]> = {}
      const look = async (rel: string) => {
        const names = await readdir(path.join(sandbox.queue, rel)).catch(() => [] as string[])
        const tasks = names.filter((n) => n.endsWith('.md')).sort()
        if (tasks.length > 0) out[rel] = tasks
      }

      await look('pending')
      for (const name of names) await look(`active/${name}`)
      await look('done')
      await look('failed')
      return out
    },
    async cleanup() {
      await server.kill()
      await sandbox.cleanup()
    },
  }
  return loop
}

/** Polls until `check` holds or the time is up; returns whether it held. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000, stepMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
}

export async function mtimeMs(file: string): Promise<number> {
  return (await stat(file)).mtimeMs
}

/**
 * The whole lines of a JSON-lines log: a line still being appended by another process (read
 * between its bytes) is left for the next read.
 */
export function completeLines(text: string): string[] {
  const lines = text.split('\n')
  lines.pop() // after the last newline: '' or a line not yet whole
  return lines.filter(Boolean)
}
