import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {rm} from 'node:fs/promises'
import path from 'node:path'

export interface PrivateTmux {
  /** The `-L` name: put it in the config as `tmux.socket`. */
  socket: string
  /** Runs `tmux -L <socket> ARGS...` and returns its stdout; rejects with tmux's stderr on failure. */
  tmux: (...args: string[]) => Promise<string>
  /** Kills the server and removes its socket; safe to call twice. */
  kill(): Promise<void>
}

/** The environment every test tmux call and every spawned ccl sees: no $TMUX, no $TMUX_TMPDIR, so `-L` means /tmp/tmux-UID/NAME. */
export function tmuxEnv(): NodeJS.ProcessEnv {
  const env = {...process.env}
  delete env.TMUX
  delete env.TMUX_PANE
  delete env.TMUX_TMPDIR
  return env
}

/**
 * A tmux server of its own on a fresh socket, never the user's default one. It is started with
 * `exit-empty off`, so it keeps running with no session and options can be set before the first
 * (unless `start: false`).
 */
export async function startPrivateTmux(options: {start?: boolean} = {}): Promise<PrivateTmux> {
  const socket = `ccl-test-${process.pid}-${randomBytes(4).toString('hex')}`
  const env = tmuxEnv()
  const tmux = (...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      execFile('tmux', ['-L', socket, ...args], {env, timeout: 10_000}, (error, stdout, stderr) => {
        if (error) reject(new Error(`tmux -L ${socket} ${args.join(' ')}: ${String(stderr).trim() || error.message}`))
        else resolve(String(stdout))
      })
    })
  // `start: false` leaves the socket without a server: a machine just booted.
  if (options.start !== false) await tmux('start-server', ';', 'set-option', '-g', 'exit-empty', 'off')
  return {
    socket,
    tmux,
    async kill() {
      await tmux('kill-server').catch(() => {})
      await rm(path.join('/tmp', `tmux-${process.getuid?.() ?? 0}`, socket), {force: true})
    },
  }
}
