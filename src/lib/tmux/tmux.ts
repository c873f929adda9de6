// The one way ccl talks to tmux: argument arrays (never a shell string), `-L <socket>` when configured.
// node:child_process directly, not execa: execa's import alone cost ~16 ms of every reconcile start
// (measured on Node 24; reconcile with every session alive was 6.4x `node -e 0`), and tmux needs none
// of what it adds (no shell, no streams, output of a few kilobytes).
import {spawn} from 'node:child_process'

import {ExternalError, ProgramNotFoundError} from '../errors.js'
import {trace} from '../trace.js'

export interface TmuxOptions {
  /** `tmux -L NAME`; the default server when absent. */
  socket?: string
  /** The tmux program; default `tmux`, found on PATH. */
  bin?: string
  /** Environment for tmux itself (PATH is how `bin` is found); default process.env. */
  env?: NodeJS.ProcessEnv
}

export type SessionState = 'alive' | 'dead' | 'absent'

export interface NewSession {
  name: string
  cwd: string
  /** Run by tmux through the default shell, as a config file writes it (`claude --resume`). */
  command: string
  env: Record<string, string>
}

/** What a dead pane (kept by remain-on-exit) says about its end. */
export interface DeadPane {
  /** The command's exit status; null when it was killed by a signal. */
  exitStatus: number | null
  /** The signal that killed it, where tmux reports one (`#{pane_dead_signal}`, tmux 3.3 and later); null otherwise. */
  signal: number | null
  /** The pane's text (`capture-pane -p -J`): its screen and `history` lines above it; tmux's own "Pane is dead" line included. */
  text: string
}

export interface Tmux {
  /** Exact name match; `dead` when every pane of the session is a dead pane kept by remain-on-exit. */
  sessionState(name: string): Promise<SessionState>
  /** The state of every session there is, from one tmux call; a name not in the map is absent. */
  sessionStates(): Promise<Map<string, Exclude<SessionState, 'absent'>>>
  /**
   * sessionStates and, in the same tmux call, the visible screen of each of `sessions` (as
   * capturePane): the every-session-alive pass of reconcile is one process start instead of one per
   * session. `screens` is null when any of them could not be captured (not there, or dead between
   * the two); `states` is then read by a call of its own.
   */
  statesAndScreens(sessions: readonly string[]): Promise<{states: Map<string, Exclude<SessionState, 'absent'>>; screens: Map<string, string> | null}>
  /** Creates it detached, with `remain-on-exit on` for its window (one tmux call): when the command ends, the pane stays, dead, for reading. */
  newSession(options: NewSession): Promise<void>
  /**
   * The session's dead pane: its exit status or signal and its text (its screen and `history` lines
   * above); null when the session is gone or its pane runs. Waits up to 1 s for a status tmux has not read yet.
   */
  deadPane(session: string, history?: number): Promise<DeadPane | null>
  /** Kills the session; one already gone is fine. */
  killSession(name: string): Promise<void>
  /** Session names; [] when no server is running. */
  listSessions(): Promise<string[]>
  /** `load-buffer -b NAME -`: the text goes through stdin, never the command line. */
  loadBuffer(buffer: string, text: string): Promise<void>
  /** `paste-buffer -p -d -b NAME -t =session:` (bracketed paste; the buffer is deleted after). */
  pasteBuffer(buffer: string, session: string): Promise<void>
  /** `send-keys -t =session: KEY...` — for keys such as Enter, never for text. */
  sendKeys(session: string, keys: string[]): Promise<void>
  /** The visible screen of the session's pane (`capture-pane -p`), plus `history` lines above it. */
  capturePane(session: string, history?: number): Promise<string>
  /** `tmux -V`, e.g. `tmux 3.3a`; needs no server. */
  version(): Promise<string>
  /**
   * A variable of the server's global environment (`show-environment -g NAME`), which every new
   * session starts with: its value, null when the server has none (or removed it), undefined when
   * no server is running on the socket (then a new one takes the environment of whoever starts it).
   */
  globalEnvironment(name: string): Promise<string | null | undefined>
}

interface RunResult {
  stdout: string
  stderr: string
  exitCode: number
}

/** What tmux says when there is no server on the socket: for a lookup that means "nothing there". */
const NO_SERVER = /no server running|error connecting to .*\((?:No such file or directory|Connection refused)\)/
// "no current target": the server has no session at all (tmux 3.3a says that rather than naming ours).
const NO_SESSION = /can't find session|session not found|no current target/

const TMUX_TIMEOUT_MS = 15_000

type Ended =
  | {kind: 'exited'; exitCode: number; stdout: string; stderr: string}
  | {kind: 'not-found'}
  | {kind: 'timed-out'}
  | {kind: 'killed'; signal: string}
  | {kind: 'error'; message: string}

/** Runs a program to its end (no shell), `input` on its stdin or stdin closed, killed after `timeoutMs`. */
function runProgram(bin: string, args: string[], options: {env: NodeJS.ProcessEnv; input: string | undefined; timeoutMs: number}): Promise<Ended> {
  return new Promise((resolve) => {
    let child
    try {
      child = spawn(bin, args, {env: options.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']})
    } catch (error) {
      resolve({kind: 'error', message: (error as Error).message})
      return
    }

    const out: Buffer[] = []
    const err: Buffer[] = []
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, options.timeoutMs)
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk))
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve(error.code === 'ENOENT' ? {kind: 'not-found'} : {kind: 'error', message: error.message})
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (timedOut) resolve({kind: 'timed-out'})
      else if (code === null) resolve({kind: 'killed', signal: signal ?? 'a signal'})
      else resolve({kind: 'exited', exitCode: code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8')})
    })
    if (options.input !== undefined) {
      // tmux gone before reading its stdin (EPIPE) is reported by its exit, not by the write.
      child.stdin?.on('error', () => {})
      child.stdin?.end(options.input)
    }
  })
}

export async function createTmux(options: TmuxOptions = {}): Promise<Tmux> {
  const debug = trace('ccl:tmux')
  const bin = options.bin ?? 'tmux'
  const prefix = options.socket ? ['-L', options.socket] : []
  // Inside a tmux pane $TMUX would point tmux at that pane's server for some commands; ours is named by -L only.
  const env = {...(options.env ?? process.env)}
  delete env.TMUX
  delete env.TMUX_PANE

  // As an operator would retype it: an argument with blanks or quotes in it is shown quoted.
  // A `;` argument separates tmux commands in one call: a shell needs it escaped.
  const describe = (args: string[]) =>
    [bin, ...prefix, ...args].map((arg) => (arg === ';' ? '\\;' : /[\s'"\\]/.test(arg) || arg === '' ? JSON.stringify(arg) : arg)).join(' ')

  async function run(args: string[], input?: string): Promise<RunResult> {
    const ended = await runProgram(bin, [...prefix, ...args], {env, input, timeoutMs: TMUX_TIMEOUT_MS})
    if (ended.kind === 'not-found') {
      throw new ProgramNotFoundError(`\`${describe(args)}\` failed: tmux is not installed or not on PATH (${bin} not found)`, {
        hint: 'install tmux (e.g. apt-get install tmux) or put it on the PATH cron uses',
      })
    }

    if (ended.kind === 'error') throw new ExternalError(`\`${describe(args)}\` could not run: ${ended.message}`)
    if (ended.kind === 'timed-out') throw new ExternalError(`\`${describe(args)}\` failed: timed out after ${TMUX_TIMEOUT_MS / 1000}s`)
    if (ended.kind === 'killed') throw new ExternalError(`\`${describe(args)}\` failed: killed by ${ended.signal}`)
    debug('%s → exit %d %s', describe(args), ended.exitCode, ended.stderr.trim())
    return {stdout: ended.stdout, stderr: ended.stderr.trim(), exitCode: ended.exitCode}
  }

  function fail(args: string[], result: RunResult): never {
    const said = result.stderr.split('\n')[0] || `exit code ${result.exitCode}`
    throw new ExternalError(`\`${describe(args)}\` failed: ${said}`)
  }

  async function lines(args: string[], empty: RegExp = NO_SERVER): Promise<string[]> {
    const result = await run(args)
    if (result.exitCode !== 0) {
      if (NO_SERVER.test(result.stderr) || empty.test(result.stderr)) return []
      fail(args, result)
    }

    return result.stdout.split('\n').filter((line) => line !== '')
  }

  // One listing of every pane, matched by exact name here: tmux's own `-t =name` is a prefix
  // match for some commands (measured: `list-panes -s -t =a` finds session "ab" on tmux 3.3a).
  // A server with no session at all answers `list-panes -a` with "no current target" (tmux 3.3a).
  const LIST_PANES = ['list-panes', '-a', '-F', '#{session_name}\t#{pane_dead}']

  async function sessionStates(): Promise<Map<string, 'alive' | 'dead'>> {
    return statesOf(await lines(LIST_PANES, /no current target/))
  }

  function statesOf(panes: readonly string[]): Map<string, 'alive' | 'dead'> {
    const states = new Map<string, 'alive' | 'dead'>()
    for (const line of panes) {
      const tab = line.lastIndexOf('\t')
      const session = line.slice(0, tab)
      // alive as soon as one pane lives; dead only when every pane is dead
      if (line.slice(tab + 1) !== '1') states.set(session, 'alive')
      else if (!states.has(session)) states.set(session, 'dead')
    }

    return states
  }

  const paneTarget = (session: string) => `=${session}:`

  async function statesAndScreens(sessions: readonly string[]) {
    // Each screen is preceded by a line of its own, `display-message -p` of a token no pane shows.
    const token = `==ccl-screen-${process.pid}-${Date.now().toString(36)}==`
    const args = [...LIST_PANES, ...sessions.flatMap((session) => [';', 'display-message', '-p', token, ';', 'capture-pane', '-p', '-J', '-t', paneTarget(session)])]
    let result: RunResult
    try {
      result = await run(args)
    } catch (error) {
      // tmux missing: the error names the one command an operator would try, list-panes.
      if (error instanceof ProgramNotFoundError) return {states: await sessionStates(), screens: null}
      throw error
    }

    if (result.exitCode !== 0) return {states: NO_SERVER.test(result.stderr) ? new Map() : await sessionStates(), screens: null}
    const [listing = '', ...captured] = result.stdout.split(`${token}\n`)
    if (captured.length !== sessions.length) return {states: await sessionStates(), screens: null}
    const states = statesOf(listing.split('\n').filter((line) => line !== ''))
    // A session that was not alive in the listing is no screen to read (a dead pane captures too).
    if (sessions.some((session) => states.get(session) !== 'alive')) return {states, screens: null}
    return {states, screens: new Map(sessions.map((session, i) => [session, captured[i]!]))}
  }

  async function readDeadPane(session: string, history: number): Promise<DeadPane | null> {
    // capture-pane first: it fails on a missing target, which stops the list (display-message alone
    // would print an empty line for a session that is not there, tmux 3.3a); the format line comes last.
    const format = ['#{session_name}', '#{pane_dead}', '#{pane_dead_status}', '#{pane_dead_signal}'].join('\t')
    const target = paneTarget(session)
    const args = ['capture-pane', '-p', '-J', '-t', target, '-S', String(-history), ';', 'display-message', '-p', '-t', target, format]
    const result = await run(args)
    if (result.exitCode !== 0) {
      if (NO_SERVER.test(result.stderr) || NO_SESSION.test(result.stderr)) return null
      fail(args, result)
    }

    const out = result.stdout.replace(/\n$/, '')
    const cut = out.lastIndexOf('\n')
    const [name, dead, status, signal] = out.slice(cut + 1).split('\t')
    if (name !== session || dead !== '1') return null
    const number = (field: string | undefined) => (field && /^\d+$/.test(field) ? Number(field) : null)
    return {exitStatus: number(status), signal: number(signal), text: cut < 0 ? '' : out.slice(0, cut + 1)}
  }

  return {
    async sessionState(name) {
      return (await sessionStates()).get(name) ?? 'absent'
    },

    sessionStates,
    statesAndScreens,

    async newSession({name, cwd, command, env: sessionEnv}) {
      const args = ['new-session', '-d', '-s', name, '-c', cwd]
      for (const [key, value] of Object.entries(sessionEnv)) args.push('-e', `${key}=${value}`)
      // In the same call, so even a command that ends at once (not installed) leaves its dead pane: tmux
      // runs the whole command list before it looks at the pane again. A failed new-session stops the list.
      args.push(command, ';', 'set-option', '-w', '-t', paneTarget(name), 'remain-on-exit', 'on')
      const result = await run(args)
      if (result.exitCode !== 0) fail(args, result)
    },

    async deadPane(session, history = 50) {
      let pane = await readDeadPane(session, history)
      // Dead means its pty closed; the status comes once tmux has reaped the process. tmux 3.3a now and
      // then misses that SIGCHLD and leaves a zombie until some other child of the server ends: a
      // `run-shell -b true` job is one, and makes it reap them all (measured: the status follows in ~0.1 s).
      for (let waited = 0; pane && pane.exitStatus === null && pane.signal === null && waited < 1000; waited += 50) {
        if (waited === 0) await run(['run-shell', '-b', 'true'])
        await new Promise((resolve) => setTimeout(resolve, 50))
        pane = (await readDeadPane(session, history)) ?? pane
      }

      return pane
    },

    async killSession(name) {
      const args = ['kill-session', '-t', `=${name}`]
      const result = await run(args)
      if (result.exitCode !== 0 && !NO_SERVER.test(result.stderr) && !NO_SESSION.test(result.stderr)) fail(args, result)
    },

    async listSessions() {
      return lines(['list-sessions', '-F', '#{session_name}'])
    },

    async loadBuffer(buffer, text) {
      const args = ['load-buffer', '-b', buffer, '-']
      const result = await run(args, text)
      if (result.exitCode !== 0) fail(args, result)
    },

    async pasteBuffer(buffer, session) {
      const args = ['paste-buffer', '-p', '-d', '-b', buffer, '-t', paneTarget(session)]
      const result = await run(args)
      if (result.exitCode !== 0) fail(args, result)
    },

    async sendKeys(session, keys) {
      const args = ['send-keys', '-t', paneTarget(session), ...keys]
      const result = await run(args)
      if (result.exitCode !== 0) fail(args, result)
    },

    async capturePane(session, history = 0) {
      const args = ['capture-pane', '-p', '-J', '-t', paneTarget(session), ...(history > 0 ? ['-S', String(-history)] : [])]
      const result = await run(args)
      if (result.exitCode !== 0) fail(args, result)
      return result.stdout
    },

    async version() {
      const args = ['-V']
      const result = await run(args)
      if (result.exitCode !== 0) fail(args, result)
      return result.stdout.trim()
    },

    async globalEnvironment(name) {
      const args = ['show-environment', '-g', name]
      const result = await run(args)
      if (result.exitCode !== 0) {
        if (NO_SERVER.test(result.stderr)) return undefined
        if (/unknown variable/.test(result.stderr)) return null
        fail(args, result)
      }

      const line = result.stdout.split('\n')[0] ?? ''
      // `-NAME` means the variable is removed from sessions' environment.
      return line.startsWith(`${name}=`) ? line.slice(name.length + 1) : null
    },
  }
}
