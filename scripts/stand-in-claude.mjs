#!/usr/bin/env node
// A stand-in for Claude Code, run as an account's tmux command by `npm run demo` and the
// end-to-end tests. It behaves like the real thing where ccl can tell the difference:
// it turns on bracketed paste, takes a pasted prompt as one piece, submits it on Enter,
// finds the task's absolute path in the prompt, "works" for a moment, then moves the
// task into the done/ folder the prompt names — as a real session told to do so would.
//
// Environment (all optional):
//   STANDIN_WORK_MS   how long each task takes (default 300)
//   STANDIN_LOG       a file to append JSON lines to: each prompt received, each task done
//   STANDIN_NAME      a name for that log (default: $CLAUDE_CONFIG_DIR's base name)
import {appendFileSync, existsSync, renameSync, statSync} from 'node:fs'
import path from 'node:path'

const PASTE_START = '\u001B[200~'
const PASTE_END = '\u001B[201~'
const workMs = Number(process.env.STANDIN_WORK_MS ?? 300)
const logFile = process.env.STANDIN_LOG
const name = process.env.STANDIN_NAME ?? path.basename(process.env.CLAUDE_CONFIG_DIR ?? 'stand-in').replace(/^\.claude-/, '')

let pending = '' // bytes not yet parsed (a marker may be split across reads)
let prompt = '' // the prompt being composed
let pasted = false // whether any of it arrived inside paste markers
let inPaste = false
let busy = false
const queue = []

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

function record(entry) {
  if (logFile) appendFileSync(logFile, JSON.stringify({ts: new Date().toISOString(), standIn: name, ...entry}) + '\n')
}

async function work(text, wasPasted) {
  const task = findTask(text)
  record({event: 'received', prompt: text, pasted: wasPasted, task: task ?? null})
  if (!task) {
    say(`stand-in: no task file named in: ${JSON.stringify(text)}`)
    return
  }

  say(`stand-in: working on ${path.basename(task)}`)
  await new Promise((resolve) => setTimeout(resolve, workMs))
  const done = findDone(text, task)
  try {
    const target = path.join(done, freeName(done, path.basename(task)))
    renameSync(task, target)
    say(`stand-in: done, moved to ${target}`)
    record({event: 'done', task, movedTo: target})
  } catch (error) {
    // The task was taken away meanwhile (requeued by reconcile): a real session would fail the same way.
    say(`stand-in: could not move ${task}: ${error.message}`)
    record({event: 'error', task, error: error.message})
  }
}

async function drain() {
  if (busy) return
  busy = true
  while (queue.length > 0) {
    const next = queue.shift()
    await work(next.text, next.pasted)
  }

  busy = false
  say('stand-in: ready')
}

function submit() {
  const text = prompt
  const wasPasted = pasted
  prompt = ''
  pasted = false
  if (text.trim() === '') return
  queue.push({text, pasted: wasPasted})
  void drain()
}

function feed(chunk) {
  pending += chunk
  for (;;) {
    if (inPaste) {
      const end = pending.indexOf(PASTE_END)
      if (end === -1) {
        // keep a possible partial end marker for the next read
        const keep = Math.min(pending.length, PASTE_END.length - 1)
        prompt += pending.slice(0, pending.length - keep)
        pending = pending.slice(pending.length - keep)
        return
      }

      prompt += pending.slice(0, end)
      pending = pending.slice(end + PASTE_END.length)
      inPaste = false
      pasted = true
      continue
    }

    const start = pending.indexOf(PASTE_START)
    const typed = start === -1 ? pending : pending.slice(0, start)
    // Outside a paste, Enter submits; anything else is typed text.
    let rest = typed
    if (start === -1 && typed.endsWith('\u001B')) rest = typed.slice(0, -1) // maybe the start of a marker
    for (const ch of rest) {
      if (ch === '\r' || ch === '\n') submit()
      else if (ch === '\u0003') process.exit(130) // Ctrl-C, as in a terminal
      else if (ch >= ' ') prompt += ch
    }

    if (start === -1) {
      pending = pending.slice(rest.length)
      return
    }

    pending = pending.slice(start + PASTE_START.length)
    inPaste = true
  }
}

if (process.stdin.isTTY) process.stdin.setRawMode(true)
process.stdin.setEncoding('utf8')
process.stdin.on('data', feed)
process.stdin.on('end', () => process.exit(0))
// Like Claude Code: ask the terminal to mark pastes, so a pasted newline is not an Enter.
process.stdout.write('\u001B[?2004h')
say(`stand-in for Claude Code (${name}) ready`)
