// The operator's own statusLine command, which `ccl statusline` runs after recording (docs/hooks.md,
// "The statusLine"). node:child_process rather than execa: this runs on every status refresh, and
// execa's import alone would cost more than the command does.
import {spawn} from 'node:child_process'
import {constants} from 'node:os'

export interface ChainedRun {
  stdout: Buffer
  stderr: Buffer
  /** Its exit code; 128 + the signal's number when a signal ended it, as a shell reports it; 127 when sh could not start. */
  code: number
  /** Why sh could not be started, when it could not. */
  error?: string
}

/** Runs `sh -c -- COMMAND` (a command may start with "-") with `input` on its stdin; its output is kept byte for byte for the caller to pass on. */
export function runChained(command: string, input: string, env: NodeJS.ProcessEnv): Promise<ChainedRun> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', '--', command], {env, stdio: ['pipe', 'pipe', 'pipe']})
    const out: Buffer[] = []
    const err: Buffer[] = []
    let failed: string | undefined
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.on('error', (error) => {
      failed = error.message
    })
    // A command that does not read its stdin closes the pipe early: that is not an error.
    child.stdin.on('error', () => {})
    child.stdin.end(input)
    child.on('close', (code, signal) => {
      const bySignal = signal ? 128 + (constants.signals[signal] ?? 0) : undefined
      resolve({
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err),
        code: failed === undefined ? (code ?? bySignal ?? 1) : 127,
        ...(failed === undefined ? {} : {error: failed}),
      })
    })
  })
}
