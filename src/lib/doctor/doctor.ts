// `ccl doctor`: every check an operator needs before trusting the timers (docs/doctor.md). The
// checks read and probe; the only thing written is a probe file in the state folder, removed at once.
import {type ConfigSource, loadConfig} from '../config/load.js'
import type {Config} from '../config/schema.js'
import {ConfigError, errorMessage} from '../errors.js'
import {findProblems} from '../fsck/fsck.js'
import {queueLayout} from '../queue/layout.js'
import {cwdWarnings} from '../sessions/reconcile.js'
import {validateSymlinks} from '../symlinks/validate.js'
import {createTmux, type Tmux} from '../tmux/tmux.js'
import {checkAccount, type SessionPath} from './account.js'
import {checkDelegation} from './delegation.js'
import {type DoctorCheck, type DoctorReport, fail, pass, summarise, warn} from './report.js'
import {checkQueue, checkState, checkTmux} from './site.js'
import {checkTimers, defaultProbes, type TimerProbes} from './timers.js'

export interface DoctorOptions {
  source: ConfigSource
  env: NodeJS.ProcessEnv
  /** The node and ccl bin/run.js that `ccl hooks install` would write into the hooks. */
  hookParts: {node: string; bin: string}
  /** The uid sessions run as: this process's. */
  uid: number | undefined
  /** Replaces systemctl/crontab (tests of the timers check). */
  timerProbes?: TimerProbes
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  let config: Config | undefined
  let configCheck: DoctorCheck
  try {
    config = loadConfig(options.source)
    configCheck = pass({id: 'config'}, `config: ${config.file} (${config.accounts.length} account${config.accounts.length === 1 ? '' : 's'})`)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    const none = /no config file found|config file not found/.test(error.message)
    configCheck = fail({id: 'config'}, `config: ${error.message}`, none ? `${error.hint ?? 'pass --config PATH'}; or write a commented starter config with ccl init` : 'fix what the message names (file, key path, what was expected)')
  }

  const env = options.env
  const tmux = await createTmux({...(config?.tmux.socket ? {socket: config.tmux.socket} : {}), env})
  const timers = options.timerProbes ?? (await defaultProbes(env))
  const searchPath = env.PATH ?? ''
  if (!config) {
    // What needs no config still helps: the operator fixes the file and comes back.
    const rest = await Promise.all([checkTmux(tmux, {socket: undefined, searchPath, cwd: options.source.cwd, server: false}), checkTimers(timers)])
    return summarise(null, false, [configCheck, ...rest])
  }

  const layout = queueLayout(config)
  const [queue, state, tmuxCheck, sessionPath, links, delegation, timerCheck] = await Promise.all([
    checkQueue(layout, config.accounts.map((a) => a.name)),
    checkState(layout),
    checkTmux(tmux, {socket: config.tmux.socket, searchPath, cwd: options.source.cwd, server: true}),
    sessionPathOf(tmux, config, env),
    validateSymlinks(config),
    checkDelegation(config, env),
    checkTimers(timers),
  ])

  const fsck = await fsckCheck(layout, config.accounts.map((a) => a.name))
  const shared = links.problems.filter((problem) => problem.account === null)
  const sharedCheck = shared.length === 0
    ? pass({id: 'shared.root'}, `shared: ${config.shared.dirs.map((dir) => `${dir}/`).join(', ')} in ${config.shared.root}`)
    : fail({id: 'shared.root'}, `shared: ${shared.map((problem) => problem.message).join('; ')}`, `mkdir -p ${shared.map((problem) => problem.path).join(' ')}`)

  const accounts = await Promise.all(
    config.accounts.map((account) =>
      checkAccount({
        config: config!,
        account,
        linkProblems: links.problems.filter((problem) => problem.account === account.name),
        hookParts: options.hookParts,
        sessionPath,
        uid: options.uid,
      }),
    ),
  )

  const cwds = cwdWarnings(config)
  const cwdCheck = cwds.length === 0
    ? pass({id: 'failover.cwd'}, config.accounts.length < 2 ? 'failover: one account, nothing to fail over to' : config.failover.resume ? `failover: every account runs in ${config.accounts[0]!.cwd}, so a failover resumes the conversation` : 'failover: failover.resume is off: a failover starts the task afresh')
    : warn({id: 'failover.cwd'}, `failover: ${cwds[0]}`, 'give every account the same cwd')

  return summarise(config.file, true, [configCheck, ...queue, state, fsck, tmuxCheck, sharedCheck, ...accounts.flat(), cwdCheck, ...delegation, timerCheck])
}

/** ccl fsck's checks, read-only, as one line: sound, only warnings, or the problems by kind. */
async function fsckCheck(layout: ReturnType<typeof queueLayout>, accounts: string[]): Promise<DoctorCheck> {
  const findings = await findProblems(layout, accounts, new Date())
  const problems = findings.filter((f) => f.severity === 'problem')
  const byKind = (list: typeof findings) => [...new Set(list.map((f) => f.kind))].map((k) => `${list.filter((f) => f.kind === k).length} ${k}`).join(', ')
  if (problems.length > 0) {
    const repairable = problems.filter((p) => p.repairable).length
    return fail({id: 'queue.fsck'}, `fsck: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the queue or the state (${byKind(problems)})`, `run ccl fsck for the list; ccl fsck --repair fixes ${repairable} of them`)
  }

  // Mode warnings only: not worth a doctor warning of its own (ccl fsck lists them).
  if (findings.length > 0) return pass({id: 'queue.fsck'}, `fsck: the queue and the state are sound (${byKind(findings)}: see ccl fsck)`)
  return pass({id: 'queue.fsck'}, 'fsck: the queue and the state are sound')
}

/** The PATH a session will have: the tmux server's global environment if one runs, else ours, which a server started now inherits. */
async function sessionPathOf(tmux: Tmux, config: Config, env: NodeJS.ProcessEnv): Promise<SessionPath> {
  const socket = config.tmux.socket ? `socket ${config.tmux.socket}` : 'the default socket'
  try {
    const value = await tmux.globalEnvironment('PATH')
    if (typeof value === 'string') return {value, source: `the PATH of the tmux server on ${socket}`}
    if (value === null) return {value: '', source: `the tmux server on ${socket}, which has no PATH`}
  } catch (error) {
    return {value: env.PATH ?? '', source: `this shell's PATH (tmux could not be asked: ${errorMessage(error)})`}
  }

  return {value: env.PATH ?? '', source: `this shell's PATH (no tmux server on ${socket}: one started from here inherits it)`}
}
