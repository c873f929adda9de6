// The real Claude Code CLI in tests (test/real/, docs/real-claude-code.md): where the pinned version is
// installed, an account home it accepts offline, and an interactive session of it in a private tmux server.
// Facts these rely on are measured in /work/shared/REAL-CLAUDE-CODE.md and docs/real-claude-code.md.
import {execFile, spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {randomBytes} from 'node:crypto'
import {chmod, mkdir, readFile, realpath, symlink, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {type ApiRequest, type MessagesApi, type MessagesApiOptions, startMessagesApi, type Step} from './messages-api.mjs'
import {makeSandbox, REPO, type Sandbox} from './sandbox.js'
import {type PrivateTmux, startPrivateTmux, tmuxEnv} from './tmux.js'

/** The one pin: package.json `config.claudeCodeVersion`, which scripts/install-claude-code.sh installs. */
export const CLAUDE_CODE_VERSION: string = (
  JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as {config: {claudeCodeVersion: string}}
).config.claudeCodeVersion

/** Hook payloads and screens captured from the pinned version. */
export const FIXTURES = path.join(REPO, 'test', 'fixtures', `claude-code-${CLAUDE_CODE_VERSION}`)

/** The install folder, as scripts/install-claude-code.sh picks it. */
export function claudeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CCL_CLAUDE_CACHE || path.join(env.HOME || os.homedir(), '.cache', 'ccl', `claude-code-${CLAUDE_CODE_VERSION}`)
}

export function claudeBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(claudeCacheDir(env), 'node_modules', '.bin')
}

/**
 * The folder holding the pinned `claude`, or an Error saying how to install it. The lane fails on a
 * missing CLI rather than skipping: a skipped lane reads as a passed one.
 */
export async function requireClaudeCode(): Promise<string> {
  const bin = path.join(claudeBinDir(), 'claude')
  const version = await new Promise<string>((resolve) => {
    execFile(bin, ['--version'], {timeout: 30_000}, (error, stdout) => resolve(error ? `not runnable (${error.message.split('\n')[0]})` : String(stdout).trim()))
  })
  if (!version.startsWith(`${CLAUDE_CODE_VERSION} `)) {
    throw new Error(
      `Claude Code ${CLAUDE_CODE_VERSION} is not installed at ${bin}: ${version}. Run scripts/install-claude-code.sh (about 360 MB, cached in ${claudeCacheDir()}).`,
    )
  }

  return path.dirname(bin)
}

export type HookEventName = 'SessionStart' | 'UserPromptSubmit' | 'Stop' | 'StopFailure' | 'Notification' | 'SessionEnd'

export interface HookCommand {
  type: 'command'
  command: string
  timeout?: number
}

/** The `hooks` block of settings.json: per event, groups of commands (with a matcher where the event has one). */
export type HooksSettings = Partial<Record<string, {matcher?: string; hooks: HookCommand[]}[]>>

/** Every payload carries these (`BaseHookInput` in @anthropic-ai/claude-agent-sdk); the rest depends on the event. */
export interface HookPayload {
  session_id: string
  transcript_path: string
  cwd: string
  hook_event_name: string
  [key: string]: unknown
}

export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`
}

/** A hook command that appends its stdin payload to `file` as one JSON line. */
export function hookRecorder(file: string): string {
  const js = 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>require("fs").appendFileSync(process.argv[1],JSON.stringify(JSON.parse(s))+"\\n"))'
  return `${shellQuote(process.execPath)} -e ${shellQuote(js)} ${shellQuote(file)}`
}

/** settings.json hooks that record each of `events` into `file`. */
export function recordHooks(
  file: string,
  events: HookEventName[] = ['SessionStart', 'UserPromptSubmit', 'Stop', 'StopFailure', 'Notification', 'SessionEnd'],
): HooksSettings {
  const group = (event: HookEventName) => ({...(event === 'Notification' ? {matcher: ''} : {}), hooks: [{type: 'command' as const, command: hookRecorder(file)}]})
  return Object.fromEntries(events.map((event) => [event, [group(event)]]))
}

export async function readHooks(file: string): Promise<HookPayload[]> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as HookPayload)
}

/** Waits for a recorded payload that `match` accepts; throws with everything recorded when none comes. */
export async function waitForHook(file: string, match: (payload: HookPayload) => boolean, timeoutMs = 20_000): Promise<HookPayload> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = (await readHooks(file)).find(match)
    if (found) return found
    if (Date.now() > deadline) {
      const seen = (await readHooks(file)).map((p) => `${p.hook_event_name}${p.notification_type ? `(${String(p.notification_type)})` : ''}`)
      throw new Error(`no such hook payload within ${timeoutMs} ms; recorded: ${seen.join(', ') || 'none'}`)
    }

    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The folders the accounts of one machine share (SPEC §6): the transcripts live in projects/. */
export const SHARED_DIRS = ['projects', 'file-history', 'session-env'] as const

export interface ClaudeAccount {
  home: string
  cwd: string
  /** The fake subscription's access token: the stand-in tells accounts apart by it. */
  token: string
  /** The environment a session of this account needs, and nothing that lets traffic leave 127.0.0.1. */
  env: Record<string, string>
}

export interface ClaudeAccountOptions {
  /** CLAUDE_CONFIG_DIR; created if missing. */
  home: string
  /** The folder sessions run in; its trust dialog is answered. */
  cwd: string
  /** The Messages API stand-in, http://127.0.0.1:PORT. */
  apiUrl: string
  token?: string
  /** Merged into settings.json beside the permissions. */
  hooks?: HooksSettings
  /** Extra keys for settings.json (a `permissions` key here replaces ours). */
  settings?: Record<string, unknown>
  /** Extra keys for .claude.json, e.g. `messageIdleNotifThresholdMs`. */
  claudeJson?: Record<string, unknown>
  /** Make projects/, file-history/ and session-env/ links to these folders under this root. */
  shared?: string
}

/**
 * An account home the interactive CLI starts in without a first-run screen, logged in with a fake
 * subscription (requests carry `Authorization: Bearer <token>`), allowed to run Bash without asking.
 * `--dangerously-skip-permissions` is no way round the prompts: the CLI refuses it as root, as CI runs.
 */
export async function makeClaudeAccount(options: ClaudeAccountOptions): Promise<ClaudeAccount> {
  const {home, cwd} = options
  const token = options.token ?? `fake-oauth-${path.basename(home)}-${randomBytes(6).toString('hex')}`
  await mkdir(home, {recursive: true})
  if (options.shared) {
    for (const dir of SHARED_DIRS) {
      await mkdir(path.join(options.shared, dir), {recursive: true})
      await symlink(path.join(options.shared, dir), path.join(home, dir))
    }
  }

  const credentials = path.join(home, '.credentials.json')
  const login = {
    claudeAiOauth: {
      accessToken: token,
      refreshToken: `${token}-refresh`,
      // Far ahead: an expired token would make the CLI try to refresh it with its vendor.
      expiresAt: Date.now() + 365 * 24 * 3600 * 1000,
      scopes: ['user:inference', 'user:profile', 'user:sessions:claude_code'],
      subscriptionType: 'max',
    },
  }
  await writeFile(credentials, JSON.stringify(login, null, 2) + '\n', {mode: 0o600})
  await chmod(credentials, 0o600)
  // The CLI keys projects by the folder it runs in; name both spellings when cwd goes through a link.
  const cwds = [...new Set([cwd, await realpath(cwd)])]
  const claudeJson = {
    hasCompletedOnboarding: true,
    hasSeenAutoDefaultNudge: true,
    projects: Object.fromEntries(cwds.map((dir) => [dir, {hasTrustDialogAccepted: true}])),
    ...options.claudeJson,
  }
  await writeFile(path.join(home, '.claude.json'), JSON.stringify(claudeJson, null, 2) + '\n')
  const settings = {
    // The default mode, auto, asks its vendor whether each tool call is safe; offline every call stops there.
    permissions: {defaultMode: 'acceptEdits', allow: ['Bash']},
    ...options.settings,
    ...(options.hooks ? {hooks: {...(options.settings?.hooks as HooksSettings | undefined), ...options.hooks}} : {}),
  }
  await writeFile(path.join(home, 'settings.json'), JSON.stringify(settings, null, 2) + '\n')
  return {
    home,
    cwd,
    token,
    env: {
      ANTHROPIC_BASE_URL: options.apiUrl,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CONFIG_DIR: home,
    },
  }
}

/** Variables of the test's own environment that would change how the CLI logs in or where it connects. */
function inheritedClaudeVariables(keep: Record<string, string>): string[] {
  return Object.keys(process.env).filter((name) => /^(ANTHROPIC_|CLAUDE|OTEL_|AWS_|GOOGLE_|VERTEX_|HTTPS?_PROXY$|https?_proxy$)/.test(name) && !(name in keep))
}

export interface ClaudePane {
  /** The tmux session name; its pane is `=<name>:`. */
  name: string
  /** Pid of the CLI (the pane's process: the command is exec'd). */
  pid: number
  /** The pane's text, wrapped lines joined, trailing blanks dropped; with `history`, what scrolled off too. */
  screen(options?: {history?: boolean}): Promise<string>
  /** Waits until the screen matches; throws with the last screen when it does not. */
  waitForScreen(pattern: RegExp | string, timeoutMs?: number): Promise<string>
  /** Waits for the input box, as a prompt pasted into a first-run screen or a half-drawn one is lost. */
  ready(timeoutMs?: number): Promise<void>
  /** Pastes `text` as one bracketed paste (load-buffer + paste-buffer -p), waits to see it, then presses Enter. */
  submit(text: string): Promise<void>
  /** The exit code once the CLI has exited, else null. */
  exitCode(): Promise<number | null>
  waitForExit(timeoutMs?: number): Promise<number>
  /** Ends the CLI: SIGTERM, then SIGKILL if it is still there after a few seconds. Safe to call twice. */
  stop(): Promise<void>
}

export interface StartClaudeOptions {
  name: string
  account: ClaudeAccount
  /** Arguments after `claude`, e.g. ['--resume', id]. */
  args?: string[]
  /** $HOME for the session (the CLI writes a desktop file under it); default: the account home's parent. */
  home?: string
  width?: number
  height?: number
}

/**
 * Runs `claude` (the pinned one, first on PATH) interactively in a new session of the private tmux
 * server. The pane stays after the CLI exits (remain-on-exit), so its exit code can be read.
 */
/** The exit code of a process that has exited but not been reaped (a zombie), from /proc; else null. */
function zombieExitCode(pid: number): number | null {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }

  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  if (fields[0] !== 'Z') return null
  const wait = Number(fields[49]) // field 52 of the whole line; fields[0] is field 3
  if (!Number.isInteger(wait)) return null
  return (wait & 0x7f) === 0 ? (wait >> 8) & 0xff : 128 + (wait & 0x7f)
}

export async function startClaude(server: PrivateTmux, options: StartClaudeOptions): Promise<ClaudePane> {
  const binDir = await requireClaudeCode()
  const {account, name} = options
  const env: Record<string, string> = {
    ...account.env,
    PATH: `${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: options.home ?? path.dirname(account.home),
    // The limit banner prints the reset time in the local zone; UTC keeps screens comparable.
    TZ: 'UTC',
  }
  // Through env(1), not `new-session -e`: tmux sets a new session's PATH from its client whatever -e says.
  const unset = inheritedClaudeVariables(env).flatMap((v) => ['-u', v])
  const assignments = Object.entries(env).map(([key, value]) => `${key}=${value}`)
  const command = ['exec', 'env', ...[...unset, ...assignments, 'claude', ...(options.args ?? [])].map(shellQuote)].join(' ')
  await server.tmux('set-option', '-g', 'remain-on-exit', 'on')
  const size = ['-x', String(options.width ?? 120), '-y', String(options.height ?? 40)]
  await server.tmux('new-session', '-d', '-s', name, ...size, '-c', account.cwd, command)
  const target = `=${name}:`
  const pid = Number((await server.tmux('display-message', '-p', '-t', target, '#{pane_pid}')).trim())
  let stopped = false

  const pane: ClaudePane = {
    name,
    pid,
    async screen(options = {}) {
      const text = await server.tmux('capture-pane', '-p', '-J', ...(options.history ? ['-S', '-'] : []), '-t', target)
      return text
        .split('\n')
        .map((line) => line.trimEnd())
        .join('\n')
        .trimEnd()
    },
    async waitForScreen(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const text = await pane.screen()
        if (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text)) return text
        const code = await pane.exitCode()
        if (code !== null) throw new Error(`claude in ${name} exited ${code} before showing ${String(pattern)}; the pane shows:\n${text}`)
        if (Date.now() > deadline) throw new Error(`pane ${name} never showed ${String(pattern)} within ${timeoutMs} ms; it shows:\n${text}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    },
    async ready(timeoutMs = 30_000) {
      // The status line under the input box names the permission mode once the prompt is drawn.
      await pane.waitForScreen(/❯[\s\S]*accept edits on/, timeoutMs)
    },
    async submit(text) {
      const buffer = `ccl-${randomBytes(4).toString('hex')}`
      await loadBuffer(server.socket, buffer, text)
      await server.tmux('paste-buffer', '-p', '-d', '-b', buffer, '-t', target)
      const firstLine = text.split('\n')[0] ?? ''
      // A long or multi-line paste is shown folded as "[Pasted text #1 …]".
      await pane.waitForScreen(new RegExp(`${escapeRegExp(firstLine.slice(0, 40))}|\\[Pasted text`), 10_000)
      await server.tmux('send-keys', '-t', target, 'Enter')
    },
    async exitCode() {
      // tmux marks the pane dead a moment before it has the status: until then, keep waiting.
      const [dead, status = '', signal = ''] = (await server.tmux('display-message', '-p', '-t', target, '#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}')).trim().split('|')
      if (dead !== '1') return null
      if (/^\d+$/.test(status)) return Number(status)
      if (/^\d+$/.test(signal)) return 128 + Number(signal)
      // Seen under load: the pane is dead (its pty closed) but tmux has not reaped the CLI yet, so it
      // knows no status. The exited process is then a zombie, and Linux keeps its wait status in
      // /proc/<pid>/stat (field 52, exit_code, since Linux 3.5).
      return zombieExitCode(pid)
    },
    async waitForExit(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const code = await pane.exitCode()
        if (code !== null) return code
        if (Date.now() > deadline) {
          const raw = (await server.tmux('display-message', '-p', '-t', target, '#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}|#{pane_pid}')).trim()
          throw new Error(`claude in ${name} still runs after ${timeoutMs} ms (tmux: ${raw}; pid ${pid} ${alive(pid) ? 'alive' : 'gone'}); it shows:\n${await pane.screen()}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    },
    async stop() {
      if (stopped) return
      stopped = true
      if (!alive(pid)) return
      process.kill(pid, 'SIGTERM')
      const deadline = Date.now() + 5000
      while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
      if (alive(pid)) process.kill(pid, 'SIGKILL')
    },
  }
  return pane
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function escapeRegExp(text: string): string {
  return text.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** `tmux load-buffer -b NAME -` with the text on stdin: the way ccl hands a prompt to a session. */
function loadBuffer(socket: string, buffer: string, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tmux', ['-L', socket, 'load-buffer', '-b', buffer, '-'], {env: tmuxEnv(), stdio: ['pipe', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tmux load-buffer: ${stderr.trim() || `exit ${code}`}`))))
    child.stdin.end(text)
  })
}

/** A fixture path: test/fixtures/claude-code-<version>/<name>. */
export function fixturePath(name: string): string {
  return path.join(FIXTURES, name)
}

/** The test's temp folder is written into fixtures as this, so a capture does not change them by its name alone. */
export const FIXTURE_ROOT = '/tmp/ccl-fixture'

/** The name the CLI gives a folder's transcripts under projects/: every character but letters and digits as "-". */
export function projectSlug(dir: string): string {
  return dir.replaceAll(/[^a-zA-Z0-9]/g, '-')
}

export function normaliseForFixture(text: string, sandboxDir: string): string {
  return text.replaceAll(sandboxDir, FIXTURE_ROOT).replaceAll(projectSlug(sandboxDir), projectSlug(FIXTURE_ROOT))
}

/**
 * With CCL_UPDATE_FIXTURES=1, writes `value` as the fixture `name`; otherwise returns the stored one (so a
 * test can compare shapes), failing when there is none.
 */
export async function fixture(name: string, value: string, sandboxDir: string): Promise<string> {
  const file = fixturePath(name)
  const text = normaliseForFixture(value, sandboxDir)
  if (process.env.CCL_UPDATE_FIXTURES === '1') {
    await mkdir(path.dirname(file), {recursive: true})
    await writeFile(file, text)
    return text
  }

  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`fixture ${path.relative(REPO, file)} is missing: run CCL_UPDATE_FIXTURES=1 npm run test:real to capture it`)
    }

    throw error
  }
}

/** Pretty JSON of a hook payload for a fixture file. */
export function payloadText(payload: HookPayload): string {
  return JSON.stringify(payload, null, 2) + '\n'
}

/** The stored sample hooks/<name>.json of this payload (written first under CCL_UPDATE_FIXTURES=1). */
export async function hookSample(name: string, payload: HookPayload, sandboxDir: string): Promise<HookPayload> {
  return JSON.parse(await fixture(`hooks/${name}.json`, payloadText(payload), sandboxDir)) as HookPayload
}

/** A payload's field names, sorted: what a live payload and its sample must share. */
export function fields(payload: object): string[] {
  return Object.keys(payload).sort()
}

export interface RealSandbox {
  sandbox: Sandbox
  api: MessagesApi
  server: PrivateTmux
  /** Where each account's hooks record their payloads (recordHooks). */
  hooksFile(name: string): string
  /** An account of the sandbox (homes/.claude-<name>), pointed at the stand-in, its hooks recording. */
  account(name: string, options?: Partial<ClaudeAccountOptions>): Promise<ClaudeAccount>
  /** Starts `claude ARGS` for the account in tmux session `name`; stopped by cleanup(). */
  start(name: string, account: ClaudeAccount, args?: string[]): Promise<ClaudePane>
  /** Stops every CLI, then the tmux server and the stand-in, then removes the folder. */
  cleanup(): Promise<void>
}

/**
 * A throw-away machine for the real CLI: a queue and account homes (sandbox.ts), the Messages API
 * stand-in on 127.0.0.1 and a private tmux server. Fails at once when the CLI is not installed.
 */
export async function makeRealSandbox(options: {accounts?: string[]; api?: MessagesApiOptions} = {}): Promise<RealSandbox> {
  await requireClaudeCode()
  const sandbox = await makeSandbox({accounts: options.accounts ?? ['alpha', 'beta']})
  const api = await startMessagesApi(options.api)
  const server = await startPrivateTmux()
  const panes: ClaudePane[] = []
  const real: RealSandbox = {
    sandbox,
    api,
    server,
    hooksFile: (name) => path.join(sandbox.dir, `hooks-${name}.jsonl`),
    async account(name, extra = {}) {
      const home = sandbox.homes[name] ?? path.join(sandbox.dir, 'homes', `.claude-${name}`)
      return makeClaudeAccount({home, cwd: sandbox.dir, apiUrl: api.url, hooks: recordHooks(real.hooksFile(name)), ...extra})
    },
    async start(name, account, args = []) {
      const pane = await startClaude(server, {name, account, args, home: sandbox.dir})
      panes.push(pane)
      return pane
    },
    async cleanup() {
      await Promise.all(panes.map((pane) => pane.stop()))
      await server.kill()
      await api.close()
      await sandbox.cleanup()
    },
  }
  return real
}

/** Polls `check` every 200 ms until it holds or `timeoutMs` passed; whether it held. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/**
 * Answers a prompt naming a task in active/ with a Bash call that moves it to the done/ folder the
 * prompt names. The last path named counts, as a model reads it: after a usage limit Claude Code sends
 * the interrupted prompt and the continue prompt as ONE user turn (the limit's error message is not part
 * of the conversation it sends), so a resumed turn names the old path first and the new one after.
 */
export function doTheTask(request: ApiRequest): Step | undefined {
  if (request.toolResults.length > 0) return {text: 'Done: the task is in done/.'}
  const task = [...(request.prompt ?? '').matchAll(/(\/\S+\/active\/[^/\s]+\/[^/\s]+\.md)/g)].at(-1)?.[1]
  const done = request.prompt?.match(/into (\/\S+\/done)\//)?.[1]
  if (!task || !done) return {text: 'Nothing to do.'}
  return {bash: `mv ${shellQuote(task)} ${shellQuote(done + '/')}`, description: 'Move the task to done'}
}
