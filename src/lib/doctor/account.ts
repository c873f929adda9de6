// The doctor's checks of one account: its home, links, hooks, command, cwd, Claude Code's first-run
// screens and permission mode. Each reads files only; nothing is changed.
import {realpath} from 'node:fs/promises'
import path from 'node:path'

import type {Account, Config} from '../config/schema.js'
import {hookCommand, mergeHooks, mergeStatusLine, shellWords, statusLineCommand} from '../hooks/install.js'
import {exists} from '../queue/files.js'
import {formatProblem, type SymlinkProblem} from '../symlinks/validate.js'
import {commandPermissionMode, commandProgram} from './command-line.js'
import {findOnPath, isExecutableFile, isObject, type JsonFile, readJsonFile, whatIs} from './files.js'
import {type DoctorCheck, fail, pass, warn} from './report.js'

/** The PATH a new session of ccl's tmux server gets, and how it was learnt. */
export interface SessionPath {
  value: string
  source: string
}

export interface AccountContext {
  config: Config
  account: Account
  /** What validate-symlinks found wrong with this account's links. */
  linkProblems: SymlinkProblem[]
  /** The node and bin/run.js `ccl hooks install` writes into the hooks. */
  hookParts: {node: string; bin: string}
  sessionPath: SessionPath
  /** The uid the sessions run as (this process's): Claude Code refuses bypassPermissions as root. */
  uid: number | undefined
}

export async function checkAccount(ctx: AccountContext): Promise<DoctorCheck[]> {
  const {account} = ctx
  const [settings, claudeJson] = await Promise.all([
    readJsonFile(path.join(account.home, 'settings.json')),
    readJsonFile(path.join(account.home, '.claude.json')),
  ])
  return Promise.all([
    checkHome(account),
    Promise.resolve(checkLinks(ctx)),
    checkHooks(ctx, settings),
    checkCommand(ctx),
    checkCwd(account),
    checkFirstRun(account, claudeJson),
    Promise.resolve(checkPermissions(ctx, settings, claudeJson)),
  ])
}

async function checkHome(account: Account): Promise<DoctorCheck> {
  const at = {id: 'account.home', account: account.name}
  const is = await whatIs(account.home)
  if (is.kind === 'dir') return pass(at, `home: ${account.home}`)
  const what = is.kind === 'missing' ? 'does not exist' : is.kind === 'other' ? 'is not a folder' : `cannot be read (${is.error})`
  return fail(at, `home: ${account.home} ${what}`, `ccl validate-symlinks --create-missing makes it with its links; then log the account in (CLAUDE_CONFIG_DIR=${account.home} claude)`)
}

function checkLinks(ctx: AccountContext): DoctorCheck {
  const at = {id: 'account.links', account: ctx.account.name}
  const dirs = ctx.config.shared.dirs
  if (ctx.linkProblems.length === 0) return pass(at, `links: ${dirs.join(', ')} -> ${ctx.config.shared.root}`)
  const onlyMissing = ctx.linkProblems.every((problem) => problem.kind === 'missing')
  return fail(
    at,
    `links: ${ctx.linkProblems.map((problem) => formatProblem(problem).replace(`${ctx.account.name} `, '')).join('; ')}`,
    onlyMissing
      ? 'ccl validate-symlinks --create-missing'
      : `ccl validate-symlinks names each; move what a folder or wrong link holds into ${ctx.config.shared.root}/<dir> and make it a link there (--create-missing makes absent links only)`,
  )
}

async function checkHooks(ctx: AccountContext, settings: JsonFile): Promise<DoctorCheck> {
  const {account, config} = ctx
  const at = {id: 'account.hooks', account: account.name}
  const file = path.join(account.home, 'settings.json')
  const fix = 'ccl hooks install'
  if (settings.kind === 'missing') return fail(at, `hooks: ${file} does not exist, so Claude Code runs no ccl hook`, fix)
  if (settings.kind === 'invalid') return fail(at, `hooks: ${settings.error}`, `fix the file by hand, then ${fix}`)
  const parts = {...ctx.hookParts, configFile: config.file}
  const expected = hookCommand(parts)
  const merged = mergeHooks(settings.value, expected)
  if (!merged.ok) return fail(at, `hooks: ${file}: ${merged.key}: ${merged.problem}`, `fix the file by hand, then ${fix}`)
  const missing = merged.events.filter((event) => event.change === 'added').map((event) => event.event)
  const failures: string[] = []
  const warnings: string[] = []
  if (missing.length > 0) failures.push(`not installed on ${missing.join(', ')}`)
  for (const event of merged.events.filter((e) => e.change === 'replaced')) {
    const others = [...new Set(event.removed.filter((command) => command !== expected))]
    if (event.removed.length > 1) warnings.push(`${event.event}: ccl's hook is there ${event.removed.length} times (each event is recorded that often)`)
    if (others.length === 0 && event.removed.length === 1) warnings.push(`${event.event}: ccl's entry was changed by hand (timeout or matcher)`)
    for (const command of others) {
      // Another Node or checkout of ccl still works while both exist and it records for this config.
      if (await runsForConfig(command, config.file)) warnings.push(`${event.event}: installed by another Node or ccl, which still run (${command})`)
      else failures.push(`installed for another ccl, Node or config on ${event.event} (${command})`)
    }
  }

  let fixWarning = `${fix} (from the environment the timers run in: it writes its own Node and ccl)`
  if (isObject(settings.value)) {
    const status = mergeStatusLine(settings.value, {headroom: config.failover.headroom, command: (chain) => statusLineCommand(parts, chain)})
    if (!status.ok) failures.push(`${status.key}: ${status.problem}`)
    else if (status.change === 'added' || status.change === 'replaced') failures.push("failover.headroom is on but the statusLine is not ccl's (usage is not recorded)")
    else if (status.change === 'restored' || status.change === 'removed') warnings.push("ccl's statusLine is still there though failover.headroom is off")
    else if (status.change === 'skipped') {
      warnings.push(status.note ?? 'statusLine left alone')
      fixWarning = `make the statusLine a "command", then ${fix}`
    }
  }

  if (failures.length > 0) return fail(at, `hooks: ${file}: ${failures.join('; ')}`, fix)
  if (warnings.length > 0) return warn(at, `hooks: ${file}: ${warnings.join('; ')}`, fixWarning)
  return pass(at, `hooks: ccl's ${merged.events.length} hooks in ${file}`)
}

async function checkCommand(ctx: AccountContext): Promise<DoctorCheck> {
  const {account} = ctx
  const at = {id: 'account.command', account: account.name}
  const parsed = commandProgram(account.command)
  if (!parsed) return fail(at, `command: ${JSON.stringify(account.command)} names no program`, `set accounts[].command to the program the session runs (default claude)`)
  const searchPath = parsed.path ?? ctx.sessionPath.value
  const source = parsed.path === undefined ? ctx.sessionPath.source : "the command's own PATH="
  const found = await findOnPath(parsed.program, searchPath, account.cwd)
  if (found) return pass(at, `command: ${parsed.program} is ${found} (on ${source})`)
  return fail(
    at,
    `command: ${parsed.program} not found on ${source}${parsed.program.includes('/') ? '' : ` (${searchPath})`}`,
    parsed.program.includes('/')
      ? `install it there, or fix accounts[].command in ${ctx.config.file}`
      : `install it, or give its absolute path in accounts[].command (the tmux server's PATH: tmux${ctx.config.tmux.socket ? ` -L ${ctx.config.tmux.socket}` : ''} set-environment -g PATH …)`,
  )
}

async function checkCwd(account: Account): Promise<DoctorCheck> {
  const at = {id: 'account.cwd', account: account.name}
  const is = await whatIs(account.cwd)
  if (is.kind === 'dir') return pass(at, `cwd: ${account.cwd}`)
  const what = is.kind === 'missing' ? 'does not exist' : is.kind === 'other' ? 'is not a folder' : `cannot be read (${is.error})`
  return fail(at, `cwd: ${account.cwd} ${what}: tmux cannot start the session there`, `mkdir -p ${account.cwd}, or fix accounts[].cwd`)
}

/** A ccl hook command (`'NODE' 'BIN' hook --config 'FILE' # ccl-hook`) whose Node and ccl exist and whose config is this one. */
async function runsForConfig(command: string, configFile: string): Promise<boolean> {
  const words = shellWords(command)
  if (!words || words.length !== 5 || words[2] !== 'hook' || words[3] !== '--config' || words[4] !== configFile) return false
  return (await isExecutableFile(words[0]!)) && (await exists(words[1]!))
}

/**
 * Claude Code's first-run screens, each answered by a key of `<home>/.claude.json`
 * (/work/shared/REAL-CLAUDE-CODE.md): a prompt pasted while one shows is lost.
 */
async function checkFirstRun(account: Account, claudeJson: JsonFile): Promise<DoctorCheck> {
  const at = {id: 'account.first-run', account: account.name}
  const file = path.join(account.home, '.claude.json')
  const answer = `start it once and answer the screen: CLAUDE_CONFIG_DIR=${account.home} claude (in ${account.cwd})`
  if (claudeJson.kind === 'missing') return fail(at, `first run: ${file} does not exist: Claude Code will show its onboarding, folder-trust and auto-mode screens`, answer)
  if (claudeJson.kind === 'invalid') return fail(at, `first run: ${claudeJson.error}`, `fix the file, or ${answer}`)
  const data = isObject(claudeJson.value) ? claudeJson.value : {}
  const projects = isObject(data.projects) ? data.projects : {}
  // The CLI keys projects by the folder it runs in; either spelling of a cwd reached through a link counts.
  const real = await realpath(account.cwd).catch(() => account.cwd)
  const trusted = [account.cwd, real].some((cwd) => {
    const project = projects[cwd]
    return isObject(project) && project.hasTrustDialogAccepted === true
  })
  const screens: string[] = []
  if (data.hasCompletedOnboarding !== true) screens.push('onboarding (hasCompletedOnboarding)')
  if (!trusted) screens.push(`folder trust for ${account.cwd} (projects["${account.cwd}"].hasTrustDialogAccepted)`)
  if (data.hasSeenAutoDefaultNudge !== true) screens.push('"Make auto mode your default permission mode?" (hasSeenAutoDefaultNudge)')
  if (screens.length === 0) return pass(at, `first run: onboarding, folder trust for ${account.cwd} and the auto-mode question answered`)
  return fail(at, `first run: not past ${screens.join(', ')} in ${file}: a prompt pasted into that screen is lost`, `${answer}; or set those keys to true in ${file}`)
}

/**
 * A permission mode a session can work in unattended (docs/doctor.md): the command's
 * `--permission-mode`/`--dangerously-skip-permissions`, else settings.json permissions.defaultMode,
 * else Claude Code's default ("auto").
 */
function checkPermissions(ctx: AccountContext, settings: JsonFile, claudeJson: JsonFile): DoctorCheck {
  const {account} = ctx
  const at = {id: 'account.permissions', account: account.name}
  const values = settings.kind === 'ok' && isObject(settings.value) ? settings.value : {}
  const permissions = isObject(values.permissions) ? values.permissions : {}
  const program = commandProgram(account.command)
  const fromCommand = program ? commandPermissionMode(program.args) : undefined
  const fromSettings = typeof permissions.defaultMode === 'string' ? permissions.defaultMode : undefined
  const mode = fromCommand?.mode ?? fromSettings
  const where = fromCommand ? `${fromCommand.flag} in the command` : fromSettings ? `permissions.defaultMode in ${path.join(account.home, 'settings.json')}` : "nothing set: Claude Code's default"
  const setIt = `add --permission-mode acceptEdits to accounts[].command, or "permissions": {"defaultMode": "acceptEdits", "allow": ["Bash", …]} to ${path.join(account.home, 'settings.json')}`
  switch (mode) {
    case 'bypassPermissions': {
      if (ctx.uid === 0) {
        return fail(at, `permissions: bypassPermissions (${where}), which Claude Code refuses when run as root`, `run the sessions as another user, or ${setIt}`)
      }

      const extra = claudeJson.kind === 'ok' && isObject(claudeJson.value) ? claudeJson.value : {}
      if (extra.bypassPermissionsModeAccepted !== true && values.skipDangerousModePermissionPrompt !== true) {
        return warn(at, `permissions: bypassPermissions (${where}); Claude Code may ask once to accept that mode, and neither .claude.json bypassPermissionsModeAccepted nor settings.json skipDangerousModePermissionPrompt says it was`, `start it once and accept, or set one of those keys to true`)
      }

      return pass(at, `permissions: bypassPermissions (${where})`)
    }

    case 'acceptEdits': {
      const allow = Array.isArray(permissions.allow) ? permissions.allow : []
      if (allow.length === 0) {
        return warn(at, `permissions: acceptEdits (${where}) with no permissions.allow rule: file edits go through, every command (Bash) still asks`, `list the tools the tasks need in permissions.allow, e.g. ["Bash"]`)
      }

      return pass(at, `permissions: acceptEdits (${where}), allowed: ${allow.map(String).join(', ')}`)
    }

    case 'dontAsk': {
      return pass(at, `permissions: dontAsk (${where}): what is not allowed is denied, never asked`)
    }

    case undefined:
    case 'auto': {
      return warn(
        at,
        `permissions: auto (${where}): each tool call is checked on the vendor's side; through a gateway (ANTHROPIC_BASE_URL) or offline every call stops at "Auto mode can't check actions"`,
        setIt,
      )
    }

    case 'default':
    case 'plan': {
      return fail(at, `permissions: ${mode} (${where}): ${mode === 'plan' ? 'plan mode changes nothing' : 'every tool call waits for a yes'}, so a task stalls with nobody to answer`, setIt)
    }

    default: {
      return fail(at, `permissions: ${JSON.stringify(mode)} (${where}) is not a permission mode Claude Code knows`, setIt)
    }
  }
}
