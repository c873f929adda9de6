// `ccl init`: a commented starter config where ccl looks for it, and the queue folders. The text
// is built here (starterConfig, pure); initSite writes it without ever replacing a file unless asked.
import {copyFile, mkdir} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {configCandidates, parseConfig} from '../config/load.js'
import {ConfigError, RefusedError, UsageError} from '../errors.js'
import {createExclusive, writeFileAtomic} from '../queue/files.js'
import {ensureLayout, queueLayout} from '../queue/layout.js'

const NAME = /^[a-z0-9][a-z0-9-]*$/

export interface StarterAccount {
  name: string
  home: string
}

export interface StarterOptions {
  queue: string
  shared: string
  cwd: string
  accounts: StarterAccount[]
}

/** A YAML scalar: bare when plainly safe, else double-quoted (JSON strings are YAML). */
function scalar(value: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(value) && !/^[-.]/.test(value) ? value : JSON.stringify(value)
}

/** The config ccl init writes: SPEC §2's example with its comments, the optional blocks commented out at their defaults. */
export function starterConfig(options: StarterOptions): string {
  const accounts = options.accounts
    .map(
      (account, i) => `  - name: ${scalar(account.name)}${i === 0 ? '                     # [a-z0-9][a-z0-9-]*, unique' : ''}
    home: ${scalar(account.home)}${i === 0 ? '     # its CLAUDE_CONFIG_DIR (absolute)' : ''}
    # session: ccl-${account.name}           # optional; the tmux session, default ccl-<name>
    command: claude${i === 0 ? '                 # what the session runs; e.g. claude --permission-mode acceptEdits (ccl doctor checks it runs unattended)' : ''}
    cwd: ${scalar(options.cwd)}${i === 0 ? '          # where it runs; give every account the same one (a failover resumes only in the same cwd)' : ''}`,
    )
    .join('\n')
  return `# ccl config, written by \`ccl init\`. Every key is explained in the README ("Configuration").
# Paths are absolute (~ is not expanded); durations take ms s m h d (1h30m); unknown keys are errors.
# Check the whole site with: ccl doctor

queue: ${scalar(options.queue)}         # root of the queue folders: pending/ active/ done/ failed/
# state: ${scalar(path.join(options.queue, '.ccl'))}   # optional; default <queue>/.ccl
shared:
  root: ${scalar(options.shared)}       # canonical shared-state folders live here
  dirs: [projects, file-history, session-env]   # default; each account's <home>/<dir> links to <root>/<dir>
tmux:
  socket: ccl                     # tmux -L NAME; contrib/systemd's ccl-tmux.service runs this one
accounts:                         # at least one
${accounts}

# watchdog:                       # optional; these are the defaults
#   stale_after: 45m              # a task in active/ longer than this is stale
#   crash_limit: 5                # crashes within crash_window put an account
#   crash_window: 30m             #   on hold: reconcile stops recreating it
#   waiting_after: 5m             # a session waiting longer needs an operator
# assign:                         # optional; these are the defaults
#   prompt: "Read the task in {task} and do it. When it is finished, move that file into {done}/."
#   enter_delay: 300ms            # pause between the paste and Enter
#   ready_after: 10s              # a session younger than this gets no task (Claude Code still starting)
#   confirm_within: 5s            # with hooks: wait this long for the session to take the prompt
#   enter_retries: 2              # then press Enter again this many times
# dispatch:
#   settle: 2s                    # a pending task modified more recently waits for the next pass
# failover:                       # optional; these are the defaults
#   resume: true                  # continue the conversation on the new account
#   margin: 1m                    # a limited account gets nothing until its reset plus this
#   default_cooldown: 5h          # when no reset time can be read
#   transient_cooldown: 2m        # a rate_limit without a usage-limit banner
#   spill_to_remote: false        # every account limited: delegable tasks go remote
#   headroom: false               # record plan usage through ccl's statusLine; prefer the most headroom
#   watermark: 95%                # with headroom: no new task above this use
# delegation:                     # optional; absent = delegation off
#   base_url: https://secutools.example/api/v1   # required in the block; the rest are defaults
#   api_key_env: SECUTOOLS_API_KEY  # the NAME of the variable; the key is never in the file
#   providers: [gpu, gemini, claude-api]     # remote providers this site may use
#   complexity_map: {low: gemini, medium: gemini, high: claude-api}
#   default_provider: gemini      # allow_delegation: true with no hint
#   timeout: 30s                  # per HTTP request
#   retries: 5                    # per command run, exponential backoff with jitter
#   concurrency: 8                # reap's parallel polls
#   job_timeout: 6h               # a job still not finished after this is failed
`
}

/** `NAME=HOME` from the command line; HOME may be relative to the cwd. */
export function parseAccountFlag(text: string, cwd: string): StarterAccount {
  const eq = text.indexOf('=')
  const name = eq === -1 ? '' : text.slice(0, eq)
  const home = eq === -1 ? '' : text.slice(eq + 1)
  if (!NAME.test(name) || home === '') {
    throw new UsageError(`--account ${JSON.stringify(text)}: expected NAME=HOME, NAME of a-z, 0-9 and - (e.g. alpha=/home/ops/.claude-alpha)`)
  }

  return {name, home: path.resolve(cwd, home)}
}

export interface InitOptions {
  /** `--config PATH`, when given: the file to write. */
  flag?: string
  env: NodeJS.ProcessEnv
  cwd: string
  queue?: string
  accounts: string[]
  force: boolean
}

export interface InitResult {
  file: string
  /** The file replaced under --force, kept here. */
  backup: string | null
  /** Whether ccl finds the file without --config or $CCL_CONFIG. */
  foundByDefault: boolean
  queue: string
  created: string[]
  accounts: StarterAccount[]
  next: string[]
}

/** Writes the starter config (never over a file, unless `force`) and makes the queue folders. */
export async function initSite(options: InitOptions): Promise<InitResult> {
  const home = options.env.HOME && path.isAbsolute(options.env.HOME) ? options.env.HOME : os.homedir()
  // Where ccl looks: --config or $CCL_CONFIG when given, else the XDG file (the one the systemd units name).
  const candidates = configCandidates({...(options.flag ? {flag: options.flag} : {}), env: options.env, cwd: options.cwd})
  const target = candidates.at(-1)!
  const file = target.path
  const foundByDefault = !options.flag || configCandidates({env: options.env, cwd: options.cwd}).some((candidate) => candidate.path === file)
  const queue = path.resolve(options.cwd, options.queue ?? path.join(home, 'agent-queue'))
  const accounts = options.accounts.length > 0 ? options.accounts.map((text) => parseAccountFlag(text, options.cwd)) : [{name: 'alpha', home: path.join(home, '.claude-alpha')}]
  const names = new Set<string>()
  for (const account of accounts) {
    if (names.has(account.name)) throw new UsageError(`--account ${account.name}: named twice`)
    names.add(account.name)
  }

  const text = starterConfig({queue, shared: path.join(path.dirname(queue), 'claude-shared'), cwd: home, accounts})
  // What it writes must load: a bug here must never leave an operator a config ccl refuses.
  const config = parseConfig(text, file)

  await mkdir(path.dirname(file), {recursive: true})
  let backup: string | null = null
  if (!(await createExclusive(file, text))) {
    if (!options.force) {
      throw new RefusedError(`${file} already exists; left as it was`, {hint: 'ccl init --force replaces it (the old file is kept as .bak beside it)'})
    }

    backup = `${file}.bak`
    await copyFile(file, backup).catch((error: NodeJS.ErrnoException) => {
      throw new ConfigError(`${file}: cannot keep a copy as ${backup}: ${error.message}; nothing replaced`)
    })
    await writeFileAtomic(file, text)
  }

  const layout = queueLayout(config)
  await ensureLayout(layout, config.accounts.map((a) => a.name))
  const created = [layout.pending, layout.active, layout.done, layout.failed, layout.state]
  const use = foundByDefault ? '' : ` --config ${file}`
  return {
    file,
    backup,
    foundByDefault,
    queue,
    created,
    accounts,
    next: [
      `edit ${file}: the accounts (name, home), their command and cwd`,
      `ccl validate-symlinks${use} --create-missing   # each account's ${config.shared.dirs.join(', ')} linked to ${config.shared.root}`,
      `log each account in once and answer Claude Code's first screens in its cwd: CLAUDE_CONFIG_DIR=<home> claude`,
      `ccl hooks install${use}`,
      `ccl doctor${use}`,
      'install the timers: contrib/systemd/ or contrib/cron/ccl (docs/loop.md)',
    ],
  }
}
