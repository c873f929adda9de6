#!/usr/bin/env node
// A stand-in for Claude Code, run as an account's tmux command by `npm run demo` and the
// end-to-end tests. It behaves like the real thing where ccl can tell the difference:
// it turns on bracketed paste, takes a pasted prompt as one piece, submits it on Enter,
// finds the task's absolute path in the prompt, "works" for a moment, then moves the
// task into the done/ folder the prompt names — as a real session told to do so would.
// Like Claude Code it also runs the command hooks of $CLAUDE_CONFIG_DIR/settings.json,
// keeps a transcript under $CLAUDE_CONFIG_DIR/projects/, resumes one with --resume ID, and
// can be told to hit a usage limit, ask for a permission, end a turn unfinished or lose an
// Enter (the STANDIN_* variables below), so ccl's tests exercise the real hook path.
//
// Usage: stand-in-claude.mjs [--resume [ID]]   (-r is the same; other arguments are ignored)
//   --resume ID   continue the conversation ID: its transcript must be
//                 $CLAUDE_CONFIG_DIR/projects/<encoded cwd>/ID.jsonl (SessionStart source
//                 "resume", the same session_id, later turns appended to that file); otherwise
//                 prints "No conversation found with session ID: ID" on stderr and exits 1.
//   --resume      (no ID, or an empty one) a picker: it lists this cwd's conversations, takes
//                 the next paste into its search box (the prompt is lost, as with the real
//                 picker), and Enter or Esc closes it and starts a new conversation.
//
// Environment (all optional):
//   STANDIN_WORK_MS   how long each task takes (default 300)
//   STANDIN_LOG       a file to append JSON lines to: each prompt received, each task done, and
//                     session, hook, limited, continued, continue-cancelled, unfinished, permission,
//                     enter-lost, swallowed, menu-closed and error events
//   STANDIN_NAME      a name for that log (default: $CLAUDE_CONFIG_DIR's base name)
//   STANDIN_LIMIT_AFTER=N   after N prompts submitted in this process, the next one hits the
//                     5-hour usage limit: the pane shows
//                       You've hit your 5-hour limit · resets 9:37pm (UTC)
//                       Usage limit reached · continuing automatically at 9:37pm · esc to cancel
//                     StopFailure fires ({error: "rate_limit"}, the first line as
//                     last_assistant_message) and the task is left where it is. Every prompt
//                     submitted before the reset gets the same answer. At the reset the session
//                     carries on by itself, as Claude Code >= 2.1.234 does: a UserPromptSubmit
//                     with "Continue from where you left off." (machine-injected turns go through
//                     it, per the SDK's UserPromptSubmitHookInput.source), then it finishes the
//                     task it was given and Stop fires. Esc while it waits cancels that.
//   STANDIN_LIMIT_RESETS_AT=ISO  the reset instant (default: one hour after the limit is hit).
//                     Shown in 12-hour form, ":00" left out ("9pm"), with the month and day
//                     ("Jan 5 at 9pm") when more than a day away.
//   STANDIN_TZ        the time zone of those times (default UTC), printed in the parentheses
//   STANDIN_NO_AUTO_CONTINUE=1  as Claude Code before 2.1.234: no continuing at the reset and no
//                     "Usage limit reached · continuing automatically" line
//   STANDIN_RATE_LIMIT_MENU=1  after the limit, show the /rate-limit-options menu: while it shows,
//                     a paste is swallowed (lost); Enter, 1 or 2 choose and close it; Esc closes
//                     it. Typing /rate-limit-options opens it too.
//   STANDIN_ASK_PERMISSION=1  on every task, before working: Notification
//                     {notification_type: "permission_prompt", message: "Claude needs your
//                     permission to use Bash"}, a permission dialog on screen, and a wait (the task
//                     stays in active/) until a line "1" or "y" + Enter arrives; then it carries on.
//   STANDIN_END_TURN_UNFINISHED=N  the first N task prompts end their turn WITHOUT moving the task
//                     (Stop fires with a last_assistant_message saying so); later prompts naming it
//                     finish it. "1": only the first.
//   STANDIN_IGNORE_ENTER=N  the first N Enter keys that find a pasted prompt in the input box are
//                     lost: the prompt stays there unsubmitted, and a later Enter submits it.
//   STANDIN_IDLE_MS=MS  fire Notification {notification_type: "idle_prompt", message: "Claude is
//                     waiting for your input"} once the session has sat idle that long after a
//                     turn (the real CLI does so after 60 s; off by default so the tests stay quiet)
//   STANDIN_TRUST_DIALOG=1  as a new account home does: until this cwd is trusted in
//                     $CLAUDE_CONFIG_DIR/.claude.json (projects[cwd].hasTrustDialogAccepted), start with
//                     Claude Code 2.1.328's folder-trust dialog ("Quick safety check: Is this a project
//                     you created or one you trust?", options "❯ No, exit" / "Yes, I trust this
//                     folder"); no hook runs and a paste is swallowed while it shows. "2" trusts (it is
//                     written to .claude.json) and the session starts; Enter (on "No, exit"), "1" or
//                     Esc exit with code 1.
//   STANDIN_MODEL     the model named in SessionStart (default: settings.json "model", else
//                     "claude-sonnet-4-5")
//   CLAUDE_CODE_SESSIONEND_HOOKS_TIMEOUT_MS  how long SessionEnd hooks may hold up the exit
//                     (default 1500, like the real CLI's default)
//
// Input box, as Claude Code 2.1.328 (measured, docs/real-claude-code.md): a bracketed paste is text
// (its line breaks too), Enter submits what the box holds, Backspace deletes one character (or one
// folded paste), Ctrl-U deletes back to the start of the cursor's row on screen (a line wraps at the
// pane's width less 4; at a row's start it deletes the line break before it), and a paste over 800
// characters or 3 lines is held folded as one "[Pasted text #N +M lines]" that Ctrl-U deletes whole.
// So text left in the box by a paste without its Enter is submitted with the next paste, unless
// enough Ctrl-U came first. The cursor is always at the end (no arrow keys).
//
// Hooks. settings.json is read once, at start (as Claude Code snapshots its hooks):
//   {"hooks": {"<Event>": [{"matcher": "…", "hooks": [{"type": "command", "command": "…", "timeout": N}]}]}}
// Each matching command runs through `/bin/sh -c` in the session's cwd with the session's
// environment (plus CLAUDE_PROJECT_DIR=cwd), its payload as one JSON object on stdin, its stdout
// and stderr discarded, killed (its whole process group) after `timeout` seconds (default 60).
// Hooks run asynchronously, never holding up input; one event's hooks finish before the next
// event's start, so a recorder sees them in order. A matcher absent, "" or "*" always matches;
// otherwise it is compared with SessionStart's source, Notification's notification_type,
// StopFailure's error or SessionEnd's reason ("a|b" lists alternatives, anything else is a regular
// expression); UserPromptSubmit and Stop have nothing to match, so their matchers are ignored (as
// Claude Code does). Exit codes and hook output are not acted on (ccl's hook prints nothing).
// No CLAUDE_CONFIG_DIR: no settings, no hooks, and no transcript is written.
//
// Payloads. Every one: session_id (a UUID), transcript_path, cwd, permission_mode ("default"),
// prompt_id (from the first prompt of this process on: the UUID of the latest prompt), and
// hook_event_name; then
//   SessionStart      {source: "startup" | "resume", model}
//   UserPromptSubmit  {prompt}                      the exact submitted text
//   Stop              {stop_hook_active: false, last_assistant_message, background_tasks: []}
//   StopFailure       {error: "rate_limit", last_assistant_message: "You've hit your 5-hour limit · resets …"}
//   Notification      {message, notification_type: "permission_prompt" | "idle_prompt"}
//   SessionEnd        {reason: "prompt_input_exit" (Ctrl-C, /exit) | "other" (stdin closed, SIGHUP, SIGTERM)}
// Checked against @anthropic-ai/claude-agent-sdk 0.3.227 (Claude Code 2.1.227), sdk.d.ts:
//   BaseHookInput = {session_id, transcript_path, cwd, prompt_id?, permission_mode?, agent_id?,
//     agent_type?, effort?} ("prompt_id … Absent until the first user input of the process
//     lifetime"); each *HookInput adds hook_event_name and:
//   SessionStartHookInput {source: "startup"|"resume"|"clear"|"compact"|"fork", agent_type?, model?, session_title?}
//   UserPromptSubmitHookInput {prompt, source?, session_title?}
//   StopHookInput {stop_hook_active, last_assistant_message?, background_tasks?, session_crons?}
//   StopFailureHookInput {error: SDKAssistantMessageError, error_details?, last_assistant_message?}
//     (SDKAssistantMessageError includes "rate_limit")
//   NotificationHookInput {message, title?, notification_type: string}
//   SessionEndHookInput {reason: ExitReason}, ExitReason = "clear"|"resume"|"logout"|
//     "prompt_input_exit"|"other"|"bypass_permissions_disabled"
// and against /work/shared/REAL-CLAUDE-CODE.md (2.1.328 measured: Stop carries background_tasks).
// The SDK's USAGE_LIMIT_ERROR_PREFIXES starts with "You've hit your", the banner's opening.
//
// Transcript. $CLAUDE_CONFIG_DIR/projects/<encoded cwd>/<session id>.jsonl, one JSON line per
// user prompt and per assistant reply (type, message, uuid, parentUuid, sessionId, cwd,
// timestamp, version; a limit's reply is an API error message: isApiErrorMessage, error
// "rate_limit", model "<synthetic>"), written from the first prompt on. The folder name is the
// cwd with every UTF-16 code unit outside [A-Za-z0-9] replaced by "-" (no collapsing: "/a/.b"
// -> "-a--b"); over 200 units it is cut to 200 and "-" + base-36 of |32-bit string hash| of the
// cwd is appended. That is the rule several projects took out of the CLI's bundle (cli.js
// 2.1.139-2.1.239: gptme/gptme#3672, Michaelliv/claude-quest#15, Digital-Process-Tools/
// claude-remember#157), and the SDK's SessionKey.projectKey ("sanitized cwd … longer than 200
// characters are truncated and suffixed with a portable djb2 hash"). Claude Code 2.1.224
// changed how long paths are told apart; the exact new suffix was not found, so paths over 200
// units may not match the real CLI's folder.
import {spawn} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const PASTE_START = '\u001B[200~'
const PASTE_END = '\u001B[201~'
const ESC = '\u001B'
/** How long a lone Esc byte waits for the rest of an escape sequence before it counts as the Esc key. */
const ESC_WAIT_MS = 40
/** The release REAL-CLAUDE-CODE.md measured; written into transcript lines as the real CLI writes its own. */
const VERSION = '2.1.328'
const CONTINUE_PROMPT = 'Continue from where you left off.'
const PERMISSION_MESSAGE = 'Claude needs your permission to use Bash'
const IDLE_MESSAGE = 'Claude is waiting for your input'
const HOUR_MS = 3_600_000
/** A paste longer than this, or with more line breaks, shows folded as "[Pasted text #N +M lines]" (2.1.328). */
const FOLD_CHARS = 800
const FOLD_BREAKS = 2

const env = process.env
const configDir = env.CLAUDE_CONFIG_DIR || undefined
const cwd = process.cwd()
const workMs = Number(env.STANDIN_WORK_MS ?? 300)
const logFile = env.STANDIN_LOG
const name = env.STANDIN_NAME ?? path.basename(configDir ?? 'stand-in').replace(/^\.claude-/, '')

/** A non-negative integer from the environment, or `fallback` when unset or not one. */
function count(variable, fallback = 0) {
  const value = env[variable]
  if (value === undefined || value === '') return fallback
  const n = Number(value)
  if (Number.isInteger(n) && n >= 0) return n
  warnings.push(`${variable}=${value} is not a whole number; ignored`)
  return fallback
}

const flag = (variable) => env[variable] === '1' || env[variable] === 'true'
const warnings = []
const limitAfter = count('STANDIN_LIMIT_AFTER', -1) // -1: never
const autoContinue = !flag('STANDIN_NO_AUTO_CONTINUE')
const rateLimitMenu = flag('STANDIN_RATE_LIMIT_MENU')
const askPermission = flag('STANDIN_ASK_PERMISSION')
let unfinishedLeft = count('STANDIN_END_TURN_UNFINISHED')
let entersToLose = count('STANDIN_IGNORE_ENTER')
const idleMs = count('STANDIN_IDLE_MS')
const sessionEndCapMs = count('CLAUDE_CODE_SESSIONEND_HOOKS_TIMEOUT_MS', 1500)
const zone = validZone(env.STANDIN_TZ || 'UTC')

const settings = readSettings()
const hooks = settings.hooks && typeof settings.hooks === 'object' ? settings.hooks : {}
const model = env.STANDIN_MODEL || (typeof settings.model === 'string' ? settings.model : 'claude-sonnet-4-5')

// Session state
let sessionId // set when the conversation starts (after the picker, if any)
let transcriptPath
let lastUuid = null // the transcript's last line, the next one's parentUuid
let promptId // the latest prompt's id, in every payload from then on
let submitted = 0 // prompts submitted in this process
let limitHit = false // STANDIN_LIMIT_AFTER has fired
let limitedUntil // ms: prompts before this get the limit banner
let limitedTurn // {text, task} of the last prompt the limit stopped, finished at the reset
let continueTimer
let idleTimer
let ending = false

// Input state
let pending = '' // bytes not yet parsed (a marker may be split across reads)
let inPaste = false
let pasteText = ''
let escTimer
let box = [] // the input box, one unit per typed or pasted character, or per folded paste {text, label}
let pastes = 0 // folded pastes so far: their labels are numbered
let pasted = false // whether any of it arrived inside paste markers
let menu // {kind: 'rate-limit' | 'picker' | 'trust', search} while a menu shows: it takes the input
let afterTrust // what starts the session once the folder is trusted
let permission // {answer, resolve} while the permission dialog shows
let busy = false
const jobs = [] // {kind: 'prompt', text, pasted} | {kind: 'continue'}

function say(line) {
  process.stdout.write(line + '\r\n')
}

function isFile(p) {
  try {
    return statSync(p).isFile()
  } catch {
    return false
  }
}

function isDir(p) {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function record(entry) {
  if (!logFile) return
  try {
    appendFileSync(logFile, JSON.stringify({ts: new Date().toISOString(), standIn: name, ...entry}) + '\n')
  } catch {
    // its folder is gone (a test cleaning up while SessionEnd hooks still run): nothing to tell
  }
}

function readSettings() {
  if (!configDir) return {}
  const file = path.join(configDir, 'settings.json')
  let text
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return {}
  }

  try {
    const parsed = JSON.parse(text)
    return parsed && typeof parsed === 'object' ? parsed : {}
  } catch (error) {
    warnings.push(`${file} is not valid JSON (${error.message}); no hooks`)
    return {}
  }
}

function validZone(tz) {
  try {
    new Intl.DateTimeFormat('en-US', {timeZone: tz})
    return tz
  } catch {
    warnings.push(`STANDIN_TZ=${tz} is not a time zone; using UTC`)
    return 'UTC'
  }
}

// ---------------------------------------------------------------------------------------------
// Transcript

/** Claude Code's folder name for a cwd under projects/ (see the header). */
function projectDirName(dir) {
  const safe = dir.replace(/[^a-zA-Z0-9]/g, '-')
  if (safe.length <= 200) return safe
  let hash = 0
  for (let i = 0; i < dir.length; i++) hash = ((hash << 5) - hash + dir.charCodeAt(i)) | 0
  return `${safe.slice(0, 200)}-${Math.abs(hash).toString(36)}`
}

function transcriptFor(id) {
  return path.join(configDir ?? path.join(os.homedir(), '.claude'), 'projects', projectDirName(cwd), `${id}.jsonl`)
}

function readTranscript(file) {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line)]
      } catch {
        return []
      }
    })
}

function appendTranscript(type, message, extra = {}) {
  const uuid = randomUUID()
  const line = {parentUuid: lastUuid, isSidechain: false, userType: 'external', cwd, sessionId, version: VERSION, type, message, uuid, timestamp: new Date().toISOString(), ...extra}
  lastUuid = uuid
  if (!configDir) return
  try {
    mkdirSync(path.dirname(transcriptPath), {recursive: true})
    appendFileSync(transcriptPath, JSON.stringify(line) + '\n')
  } catch (error) {
    say(`stand-in: could not write the transcript: ${error.message}`)
  }
}

function userLine(text, extra = {}) {
  appendTranscript('user', {role: 'user', content: text}, {...(promptId ? {promptId} : {}), ...extra})
}

function assistantLine(text, extra = {}) {
  const synthetic = extra.isApiErrorMessage === true
  appendTranscript(
    'assistant',
    {
      id: `msg_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      type: 'message',
      role: 'assistant',
      model: synthetic ? '<synthetic>' : model,
      content: [{type: 'text', text}],
      stop_reason: synthetic ? 'stop_sequence' : 'end_turn',
      stop_sequence: null,
      usage: {input_tokens: 0, output_tokens: 0},
    },
    extra,
  )
}

const textOf = (message) =>
  typeof message?.content === 'string'
    ? message.content
    : Array.isArray(message?.content)
      ? message.content.map((block) => (block?.type === 'text' ? block.text : '')).join('')
      : ''

// ---------------------------------------------------------------------------------------------
// Hooks

/** The field of each event's payload that its matchers are compared with. */
const MATCH_FIELD = {SessionStart: 'source', Notification: 'notification_type', StopFailure: 'error', SessionEnd: 'reason'}

function matches(matcher, query) {
  if (matcher === undefined || matcher === null || matcher === '' || matcher === '*') return true
  if (query === undefined) return true // UserPromptSubmit, Stop: matchers are ignored
  if (typeof matcher !== 'string') return false
  if (/^[\w|-]+$/.test(matcher)) return matcher.split('|').includes(query)
  try {
    return new RegExp(matcher).test(query)
  } catch {
    return false
  }
}

function payload(event, fields) {
  return {
    session_id: sessionId,
    transcript_path: transcriptPath,
    cwd,
    permission_mode: 'default',
    ...(promptId ? {prompt_id: promptId} : {}),
    hook_event_name: event,
    ...fields,
  }
}

function runCommand(event, command, input, timeoutMs) {
  return new Promise((resolve) => {
    let child
    try {
      child = spawn('/bin/sh', ['-c', command], {
        cwd,
        env: {...process.env, CLAUDE_PROJECT_DIR: cwd},
        stdio: ['pipe', 'ignore', 'ignore'],
        detached: true, // its own process group, so a timeout kills what it started too
      })
    } catch (error) {
      record({event: 'hook', hook: event, error: error.message})
      resolve()
      return
    }

    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }, timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      record({event: 'hook', hook: event, error: error.message})
      resolve()
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      record({event: 'hook', hook: event, code, signal, timedOut})
      resolve()
    })
    child.stdin.on('error', () => {}) // a hook that does not read its stdin
    child.stdin.end(JSON.stringify(input))
  })
}

/** Runs the event's matching command hooks at once (identical commands once) and waits for them all. */
async function runHooks(event, input, capMs = Infinity) {
  const groups = Array.isArray(hooks[event]) ? hooks[event] : []
  const query = input[MATCH_FIELD[event]]
  const commands = new Map()
  for (const group of groups) {
    if (!group || typeof group !== 'object' || !matches(group.matcher, query)) continue
    for (const hook of Array.isArray(group.hooks) ? group.hooks : []) {
      if (hook?.type !== 'command' || typeof hook.command !== 'string' || commands.has(hook.command)) continue
      const seconds = Number(hook.timeout)
      commands.set(hook.command, Math.min(seconds > 0 ? seconds * 1000 : 60_000, capMs))
    }
  }

  await Promise.all([...commands].map(([command, timeoutMs]) => runCommand(event, command, input, timeoutMs)))
}

let hookChain = Promise.resolve()

/** Fires an event: its hooks run after the previous event's have finished. The payload is taken now. */
function fire(event, fields) {
  const input = payload(event, fields)
  const run = hookChain.then(() => runHooks(event, input))
  hookChain = run.catch(() => {})
  return run
}

// ---------------------------------------------------------------------------------------------
// Tasks

/** Every substring from a "/" to a ".md" that names an existing file; the longest wins (names may hold spaces). */
function findTask(text) {
  let best
  for (let start = text.indexOf('/'); start !== -1; start = text.indexOf('/', start + 1)) {
    for (let end = text.indexOf('.md', start); end !== -1; end = text.indexOf('.md', end + 1)) {
      const candidate = text.slice(start, end + 3)
      if ((best === undefined || candidate.length > best.length) && isFile(candidate)) best = candidate
    }
  }

  return best
}

/** The folder the prompt says to move the task into: an existing ".../done" directory named in it. */
function findDone(text, task) {
  for (let start = text.indexOf('/'); start !== -1; start = text.indexOf('/', start + 1)) {
    for (let end = text.indexOf('/done', start); end !== -1; end = text.indexOf('/done', end + 1)) {
      const candidate = text.slice(start, end + 5)
      if (isDir(candidate)) return candidate
    }
  }

  // A prompt template without {done}: the queue's done/ folder, as an operator would expect.
  return path.join(path.dirname(path.dirname(path.dirname(task))), 'done')
}

function freeName(dir, base) {
  if (!existsSync(path.join(dir, base))) return base
  const stem = base.slice(0, -3)
  for (let n = 2; ; n++) if (!existsSync(path.join(dir, `${stem}.${n}.md`))) return `${stem}.${n}.md`
}

/** The end of a turn: the reply goes into the transcript and Stop fires with it. */
async function endTurn(reply) {
  assistantLine(reply)
  await fire('Stop', {stop_hook_active: false, last_assistant_message: reply, background_tasks: []})
}

async function turn(text, wasPasted) {
  submitted++
  promptId = randomUUID()
  const task = findTask(text)
  record({event: 'received', prompt: text, pasted: wasPasted, task: task ?? null, session: sessionId})
  userLine(text)
  await fire('UserPromptSubmit', {prompt: text})
  const limitNow = limitAfter >= 0 && !limitHit && submitted > limitAfter
  if (limitNow || (limitedUntil !== undefined && Date.now() < limitedUntil)) return hitLimit(text, task)
  if (!task) {
    say(`stand-in: no task file named in: ${JSON.stringify(text)}`)
    return endTurn('I found no task file named in your message.')
  }

  return doTask(text, task)
}

async function doTask(text, task) {
  say(`stand-in: working on ${path.basename(task)}`)
  if (askPermission) await askForPermission(task)
  await sleep(workMs)
  if (unfinishedLeft > 0) {
    unfinishedLeft--
    say(`stand-in: ending the turn with ${path.basename(task)} unfinished`)
    record({event: 'unfinished', task})
    return endTurn(`I have started on ${task} but it is not finished yet.`)
  }

  const done = findDone(text, task)
  try {
    const target = path.join(done, freeName(done, path.basename(task)))
    renameSync(task, target)
    say(`stand-in: done, moved to ${target}`)
    record({event: 'done', task, movedTo: target})
    return endTurn(`The task is done; I moved it to ${target}.`)
  } catch (error) {
    // The task was taken away meanwhile (requeued by reconcile): a real session would fail the same way.
    say(`stand-in: could not move ${task}: ${error.message}`)
    record({event: 'error', task, error: error.message})
    return endTurn(`I could not move ${task}: ${error.message}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Usage limit

function resetInstant() {
  const given = env.STANDIN_LIMIT_RESETS_AT
  if (given) {
    const ms = Date.parse(given)
    if (!Number.isNaN(ms)) return ms
    say(`stand-in: STANDIN_LIMIT_RESETS_AT=${given} is not a date; the limit resets in an hour`)
  }

  return Date.now() + HOUR_MS
}

/** The real CLI's reset time: "9:37pm", "9pm", or "Jan 5 at 9pm" when more than a day away. */
function clock(ms) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {timeZone: zone, hour: 'numeric', minute: '2-digit', hour12: true})
      .formatToParts(new Date(ms))
      .map((part) => [part.type, part.value]),
  )
  const time = `${parts.hour}${parts.minute === '00' ? '' : `:${parts.minute}`}${String(parts.dayPeriod).toLowerCase()}`
  if (ms - Date.now() <= 24 * HOUR_MS) return time
  const day = new Intl.DateTimeFormat('en-US', {timeZone: zone, month: 'short', day: 'numeric'}).format(new Date(ms))
  return `${day} at ${time}`
}

async function hitLimit(text, task) {
  limitHit = true
  if (limitedUntil === undefined || Date.now() >= limitedUntil) limitedUntil = resetInstant()
  const at = clock(limitedUntil)
  const banner = `You've hit your 5-hour limit · resets ${at} (${zone})`
  say(banner)
  if (autoContinue) say(`Usage limit reached · continuing automatically at ${at} · esc to cancel`)
  record({event: 'limited', task: task ?? null, resetsAt: new Date(limitedUntil).toISOString()})
  // A nudge without a task path does not make it forget the task the limit stopped.
  if (task || !limitedTurn) limitedTurn = {text, task}
  assistantLine(banner, {isApiErrorMessage: true, error: 'rate_limit'})
  // Armed (and the menu shown) with the banner, before the hooks run: an Esc seen with it counts.
  if (autoContinue) {
    clearTimeout(continueTimer)
    // setTimeout holds at most 2^31-1 ms (24.8 days)
    continueTimer = setTimeout(
      () => {
        continueTimer = undefined
        jobs.push({kind: 'continue'})
        void drain()
      },
      Math.min(Math.max(limitedUntil - Date.now(), 0), 2 ** 31 - 1),
    )
  }

  if (rateLimitMenu) openRateLimitMenu()
  await fire('StopFailure', {error: 'rate_limit', last_assistant_message: banner})
}

async function continueAfterReset() {
  const limited = limitedTurn
  limitedTurn = undefined
  if (!limited) return
  say('stand-in: the usage limit has reset; continuing')
  promptId = randomUUID()
  record({event: 'continued', task: limited.task ?? null, session: sessionId})
  userLine(CONTINUE_PROMPT, {isMeta: true})
  await fire('UserPromptSubmit', {prompt: CONTINUE_PROMPT})
  if (!limited.task) return endTurn('There was no task file in the message the limit stopped.')
  return doTask(limited.text, limited.task)
}

function cancelAutoContinue() {
  clearTimeout(continueTimer)
  continueTimer = undefined
  limitedTurn = undefined
  say('stand-in: automatic continuation cancelled')
  record({event: 'continue-cancelled', session: sessionId})
}

// ---------------------------------------------------------------------------------------------
// Menus and the permission dialog

function openRateLimitMenu() {
  menu = {kind: 'rate-limit', search: ''}
  say('What do you want to do?')
  say('❯ 1. Stop and wait for limit to reset')
  say('  2. Upgrade your plan')
  say('Enter to confirm · Esc to cancel')
}

function openPicker() {
  menu = {kind: 'picker', search: ''}
  const dir = path.dirname(transcriptFor('x'))
  const sessions = []
  try {
    for (const file of readdirSync(dir)) {
      if (!file.endsWith('.jsonl')) continue
      const full = path.join(dir, file)
      const first = readTranscript(full).find((line) => line.type === 'user')
      sessions.push({id: file.slice(0, -6), mtime: statSync(full).mtimeMs, first: textOf(first?.message).split(/\r|\n/)[0]})
    }
  } catch {
    // no conversations in this cwd yet
  }

  sessions.sort((a, b) => b.mtime - a.mtime)
  say(`Resume Session (${sessions.length} in this folder) · type to search · Esc to start a new conversation`)
  for (const s of sessions.slice(0, 10)) say(`  ${s.id}  ${s.first.slice(0, 80)}`)
  say('Search: ')
}

function closeMenu(how) {
  const closed = menu
  menu = undefined
  record({event: 'menu-closed', menu: closed.kind, how})
  if (closed.kind === 'picker') startSession('startup', randomUUID())
  else if (closed.kind === 'trust') {
    if (how !== 'option 2') {
      process.stderr.write('stand-in: the folder is not trusted; exiting\n')
      process.exit(1)
    }

    trustFolder()
    afterTrust()
  } else say('stand-in: menu closed')
}

/** The real CLI's record of a trusted folder, per account home. */
function claudeJsonPath() {
  return path.join(configDir ?? path.join(os.homedir(), '.claude'), '.claude.json')
}

function folderTrusted() {
  try {
    return JSON.parse(readFileSync(claudeJsonPath(), 'utf8'))?.projects?.[cwd]?.hasTrustDialogAccepted === true
  } catch {
    return false
  }
}

function trustFolder() {
  let data = {}
  try {
    data = JSON.parse(readFileSync(claudeJsonPath(), 'utf8')) ?? {}
  } catch {
    // none yet
  }

  data.projects = {...data.projects, [cwd]: {...data.projects?.[cwd], hasTrustDialogAccepted: true}}
  writeFileSync(claudeJsonPath(), JSON.stringify(data, null, 2) + '\n')
}

function openTrustDialog() {
  menu = {kind: 'trust', search: ''}
  say('Accessing workspace:')
  say('')
  say(` ${cwd}`)
  say('')
  say(' Quick safety check: Is this a project you created or one you trust? (Like your own code, a')
  say(" well-known open source project, or work from your team). If not, take a moment to review what's in")
  say(' this folder first.')
  say('')
  say(" Claude Code'll be able to read, edit, and execute files here.")
  say('')
  say(' ❯ No, exit')
  say('   Yes, I trust this folder')
  say('')
  say(' Enter to confirm · Esc to cancel')
}

async function askForPermission(task) {
  const granted = new Promise((resolve) => {
    permission = {answer: '', resolve}
  })
  say('Bash command')
  say(`  mv ${task} <done>/`)
  say('Do you want to proceed?')
  say('❯ 1. Yes')
  say('  2. No, and tell Claude what to do differently (esc)')
  record({event: 'permission', task, state: 'asked'})
  void fire('Notification', {message: PERMISSION_MESSAGE, notification_type: 'permission_prompt'})
  await granted
  permission = undefined
  record({event: 'permission', task, state: 'granted'})
  say('stand-in: permission granted')
}

// ---------------------------------------------------------------------------------------------
// Input

function onPaste(text) {
  if (menu) {
    menu.search += text
    record({event: 'swallowed', by: menu.kind, prompt: text})
    if (menu.kind === 'picker') say(`Search: ${text.split(/\r|\n/)[0].slice(0, 80)}`)
    else if (menu.kind === 'rate-limit') say('stand-in: the menu took the paste')
  } else if (permission) {
    permission.answer += text
  } else {
    // As Claude Code 2.1.328: a paste over 800 characters or 3 lines shows folded, one unit for Ctrl-U.
    const breaks = text.match(/\r\n|\r|\n/g)?.length ?? 0
    if (text.length > FOLD_CHARS || breaks > FOLD_BREAKS) {
      pastes++
      box.push({text, label: `[Pasted text #${pastes}${breaks > 0 ? ` +${breaks} lines` : ''}]`})
    } else {
      for (const ch of text) box.push({text: ch})
    }

    pasted = true
  }
}

function onChar(ch) {
  if (menu) {
    if ((menu.kind === 'rate-limit' || menu.kind === 'trust') && (ch === '1' || ch === '2')) closeMenu(`option ${ch}`)
    else menu.search += ch
  } else if (permission) {
    permission.answer += ch
  } else {
    box.push({text: ch})
  }
}

function onBackspace() {
  if (menu) menu.search = menu.search.slice(0, -1)
  else if (permission) permission.answer = permission.answer.slice(0, -1)
  else box.pop()
}

/**
 * Ctrl-U, as Claude Code 2.1.328 does it (measured, docs/real-claude-code.md): deletes from the cursor
 * (always at the end here) back to the start of its row on screen: a line wraps at the pane's width
 * less 4, a folded paste goes whole; at a row's start it deletes the line break before it. In a menu
 * or a dialog it does nothing here.
 */
function onKillLine() {
  if (menu || permission || box.length === 0) return
  const width = Math.max(1, (process.stdout.columns || 80) - 4)
  let rowStart = 0
  let column = 0
  for (const [i, unit] of box.entries()) {
    if (unit.label === undefined && (unit.text === '\r' || unit.text === '\n')) {
      rowStart = i + 1
      column = 0
      continue
    }

    const w = unit.label?.length ?? 1
    if (column > 0 && column + w > width) {
      rowStart = i
      column = 0
    }

    column += w
  }

  box = box.slice(0, rowStart === box.length ? rowStart - 1 : rowStart)
  if (box.length === 0) pasted = false
}

/** What the input box holds, folded pastes expanded: what Enter submits. */
function boxText() {
  return box.map((unit) => unit.text).join('')
}

function onEnter() {
  if (menu) return closeMenu('enter')
  if (permission) {
    const answer = permission.answer.trim().toLowerCase()
    permission.answer = ''
    if (answer === '1' || answer === 'y' || answer === 'yes') permission.resolve()
    else say('stand-in: answer 1 (or y) to allow')
    return
  }

  submit()
}

function onEsc() {
  if (menu) closeMenu('esc')
  else if (!permission && continueTimer !== undefined) cancelAutoContinue()
}

function submit() {
  if (boxText().trim() === '') {
    box = []
    pasted = false
    return
  }

  if (pasted && entersToLose > 0) {
    // The Enter never arrived: the prompt stays in the input box.
    entersToLose--
    record({event: 'enter-lost', prompt: boxText()})
    return
  }

  const text = boxText()
  const wasPasted = pasted
  box = []
  pasted = false
  const command = text.trim()
  if (command === '/exit') return void shutdown('prompt_input_exit', 0)
  if (command === '/rate-limit-options') return openRateLimitMenu()
  jobs.push({kind: 'prompt', text, pasted: wasPasted})
  void drain()
}

async function drain() {
  if (busy) return
  busy = true
  clearTimeout(idleTimer)
  while (jobs.length > 0) {
    const job = jobs.shift()
    try {
      if (job.kind === 'prompt') await turn(job.text, job.pasted)
      else await continueAfterReset()
    } catch (error) {
      say(`stand-in: ${error.message}`)
      record({event: 'error', task: null, error: error.message})
    }
  }

  busy = false
  say('stand-in: ready')
  if (idleMs > 0) {
    idleTimer = setTimeout(() => void fire('Notification', {message: IDLE_MESSAGE, notification_type: 'idle_prompt'}), idleMs)
  }
}

/**
 * Length of the complete CSI (ESC [ … final) or SS3 (ESC O x) sequence `s` starts with; 0 when
 * its ESC is the Esc key on its own; -1 when the next read may still complete it.
 */
function escapeSequence(s) {
  if (s.length === 1) return -1
  if (s[1] === '[') {
    for (let i = 2; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x40 && c <= 0x7e) return i + 1
      if (c < 0x20 || c > 0x3f) return 0
    }

    return -1
  }

  if (s[1] === 'O') return s.length >= 3 ? 3 : -1
  return 0
}

function onKey(ch) {
  if (ch === '\r' || ch === '\n') onEnter()
  else if (ch === '\u0003') void shutdown('prompt_input_exit', 130) // Ctrl-C, as in a terminal
  else if (ch === '\u007F' || ch === '\b') onBackspace()
  else if (ch === '\u0015') onKillLine() // Ctrl-U
  else if (ch >= ' ') onChar(ch)
}

/** Parses what has arrived; `flush`: nothing more is coming for now, so a lone ESC is the Esc key. */
function parse(flush) {
  for (;;) {
    if (inPaste) {
      const end = pending.indexOf(PASTE_END)
      if (end === -1) {
        // keep a possible partial end marker for the next read
        const keep = Math.min(pending.length, PASTE_END.length - 1)
        pasteText += pending.slice(0, pending.length - keep)
        pending = pending.slice(pending.length - keep)
        return
      }

      pasteText += pending.slice(0, end)
      pending = pending.slice(end + PASTE_END.length)
      inPaste = false
      const text = pasteText
      pasteText = ''
      onPaste(text)
      continue
    }

    if (pending === '') return
    const esc = pending.indexOf(ESC)
    // Outside a paste, Enter submits; anything else is typed text.
    for (const ch of esc === -1 ? pending : pending.slice(0, esc)) onKey(ch)
    if (esc === -1) {
      pending = ''
      return
    }

    pending = pending.slice(esc)
    if (pending.startsWith(PASTE_START)) {
      pending = pending.slice(PASTE_START.length)
      inPaste = true
      continue
    }

    const length = escapeSequence(pending)
    if (length === -1 && !flush) {
      // maybe the start of a paste marker or of a key's sequence: wait a moment for the rest
      escTimer = setTimeout(() => {
        escTimer = undefined
        parse(true)
      }, ESC_WAIT_MS)
      return
    }

    if (length > 0) {
      pending = pending.slice(length) // an arrow or function key: nothing to do
      continue
    }

    pending = pending.slice(1)
    onEsc()
  }
}

function feed(chunk) {
  clearTimeout(escTimer)
  escTimer = undefined
  clearTimeout(idleTimer)
  pending += chunk
  parse(false)
}

// ---------------------------------------------------------------------------------------------
// Start and end

function startSession(source, id) {
  sessionId = id
  transcriptPath = transcriptFor(id)
  record({event: 'session', source, session: id, transcript: transcriptPath})
  say(`stand-in for Claude Code (${name}) ready`)
  void fire('SessionStart', {source, model})
}

async function shutdown(reason, code) {
  if (ending) return
  ending = true
  clearTimeout(continueTimer)
  clearTimeout(idleTimer)
  if (sessionId !== undefined) {
    // After the hooks already under way (a recorder sees SessionEnd last), and a short while only:
    // the session is going away.
    const input = payload('SessionEnd', {reason})
    await Promise.race([hookChain.then(() => runHooks('SessionEnd', input, sessionEndCapMs)), sleep(sessionEndCapMs + 200)])
  }

  process.exit(code)
}

function parseArgs(argv) {
  let resume // undefined: no --resume; '': the picker
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--resume' || arg === '-r') {
      const next = argv[i + 1]
      if (next !== undefined && !next.startsWith('-')) {
        resume = next
        i++
      } else resume = ''
    } else if (arg.startsWith('--resume=')) resume = arg.slice('--resume='.length)
  }

  return {resume}
}

const {resume} = parseArgs(process.argv.slice(2))
let history = []
if (resume) {
  const file = transcriptFor(resume)
  const known = configDir !== undefined && /^[\w-]+$/.test(resume) && isFile(file)
  if (known) history = readTranscript(file)
  if (!known || history.length === 0) {
    process.stderr.write(`No conversation found with session ID: ${resume}\n`)
    process.exit(1)
  }
}

process.stdout.on('error', () => {}) // the pane went away; SessionEnd still runs
if (process.stdin.isTTY) process.stdin.setRawMode(true)
process.stdin.setEncoding('utf8')
process.stdin.on('data', feed)
process.stdin.on('end', () => void shutdown('other', 0))
process.stdin.on('error', () => void shutdown('other', 0))
process.on('SIGHUP', () => void shutdown('other', 129))
process.on('SIGTERM', () => void shutdown('other', 143))
process.on('SIGINT', () => void shutdown('prompt_input_exit', 130))
// Like Claude Code: ask the terminal to mark pastes, so a pasted newline is not an Enter.
process.stdout.write('\u001B[?2004h')
for (const warning of warnings) say(`stand-in: ${warning}`)
function start() {
  if (resume) {
    // The earlier turns on screen, then carry on in the same conversation and transcript.
    for (const line of history) {
      if (line.type === 'user' && !line.isMeta) say(`> ${textOf(line.message).split(/\r|\n/)[0]}`)
      else if (line.type === 'assistant') say(`⏺ ${textOf(line.message)}`)
    }

    lastUuid = history.at(-1)?.uuid ?? null
    startSession('resume', resume)
  } else if (resume === '') {
    openPicker()
  } else {
    startSession('startup', randomUUID())
  }
}

if (flag('STANDIN_TRUST_DIALOG') && !folderTrusted()) {
  afterTrust = start
  openTrustDialog()
} else {
  start()
}
