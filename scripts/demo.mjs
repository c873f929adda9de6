#!/usr/bin/env node
// `npm run demo`: the whole loop on a throw-away machine, in about half a minute.
//
// A temp folder holds a queue, a shared root and two account homes; each account's "Claude Code"
// is scripts/stand-in-claude.mjs (it reads the pasted prompt and moves the task into done/). A fake
// secutools runs on 127.0.0.1, tmux runs on a private socket, and nine tasks of every routing kind
// go through validate-symlinks -> hooks install -> reconcile -> dispatch -> reap -> status, as the
// timers would run them. alpha hits its 5-hour usage limit on its second task: the next reconcile
// fails that task over to beta, which resumes alpha's conversation (--resume, the transcript is in
// the shared projects/) and finishes it. The last line says how many tasks got done and how many
// failed over; anything left undone makes it exit 1.
// The tmux server, the fake server and the temp folder are removed at the end, on Ctrl-C too;
// your own tmux is never touched (everything goes through `tmux -L <private socket>`).
//
//   npm run demo                 build, then run
//   node scripts/demo.mjs --keep keep the temp folder to look around afterwards
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BIN = path.join(REPO, 'bin', 'run.js')
const STAND_IN = path.join(REPO, 'scripts', 'stand-in-claude.mjs')
const KEEP = process.argv.includes('--keep')
const WORK_MS = 700
const COST_PER_JOB = 0.0125
const ROUNDS = 12

if (!existsSync(path.join(REPO, 'dist', 'commands'))) {
  process.stderr.write('demo: dist/ is missing; run `npm run build` first (`npm run demo` does)\n')
  process.exit(1)
}

const {startFakeSecutools} = await import(pathToFileURL(path.join(REPO, 'test', 'support', 'fake-secutools-core.mjs')).href)
const {parseFooter} = await import(pathToFileURL(path.join(REPO, 'dist', 'lib', 'delegation', 'footer.js')).href)

const out = (line = '') => process.stdout.write(line + '\n')
const bold = (text) => (process.stdout.isTTY ? `\u001B[1m${text}\u001B[22m` : text)
const dim = (text) => (process.stdout.isTTY ? `\u001B[2m${text}\u001B[22m` : text)

// The nine tasks: the rule of SPEC §4.1 each one exercises, and where it should run.
const TASKS = [
  ['01-plain.md', '', 'Rename the helper in utils.ts.', 'rule 8: no routing fields -> local'],
  ['02-needs-tools.md', 'needs_claude_code: true\npreferred_ai: gemini', 'Run the test suite and fix what fails.', 'rule 1 -> local'],
  ['03-prefers-claude-code.md', 'preferred_ai: claude-code', 'Refactor the session module.', 'rule 2 -> local'],
  ['04-no-delegation.md', 'allow_delegation: false\npreferred_ai: gpu', 'Review the private keys handling.', 'rule 3 -> local'],
  ['05-unknown-ai.md', 'preferred_ai: quantum-oracle', 'Tidy the changelog.', 'rule 6: unknown provider -> local, with a warning'],
  ['06-gpu.md', 'preferred_ai: gpu', 'Embed these 10,000 product descriptions.', 'rule 5 -> gpu'],
  ['07-gemini.md', 'preferred_ai: gemini', 'Summarise yesterday\'s incident log.', 'rule 5 -> gemini'],
  ['08-hard.md', 'allow_delegation: true\ncomplexity_hint: high', 'Draft a migration plan for the billing schema.', 'rule 7: high -> claude-api'],
  ['09-default.md', 'allow_delegation: true', 'Translate the release notes into German.', 'rule 7: no hint -> default_provider'],
]

let dir
let socket
let fake
let cleaned = false

async function cleanup() {
  if (cleaned) return
  cleaned = true
  if (socket) {
    await run('tmux', ['-L', socket, 'kill-server'], {env: tmuxEnv()}).catch(() => {})
    // tmux leaves its socket file behind; it is ours, so it goes too.
    const uid = process.getuid?.() ?? 0
    await rm(path.join(process.env.TMUX_TMPDIR || '/tmp', `tmux-${uid}`, socket), {force: true}).catch(() => {})
  }
  if (fake) await fake.close().catch(() => {})
  if (dir && !KEEP) await rm(dir, {recursive: true, force: true}).catch(() => {})
  if (dir && KEEP) process.stderr.write(`demo: kept ${dir} (tmux and the fake server are stopped)\n`)
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    process.stderr.write(`\ndemo: ${signal}, cleaning up\n`)
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  })
}

/** Runs a program; resolves {code, stdout, stderr}, never rejects on a non-zero exit. */
function run(file, args, options = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, {maxBuffer: 16 * 1024 * 1024, ...options}, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        if (error.code === 'ENOENT') reject(new Error(`${file} not found on PATH`))
        else resolve({code: 1, stdout: String(stdout), stderr: String(stderr)})
        return
      }

      resolve({code: error ? error.code : 0, stdout: String(stdout), stderr: String(stderr)})
    })
  })
}

let env
let step = 0

/** The environment for every tmux call: no $TMUX, so only `-L <socket>` decides which server. */
function tmuxEnv() {
  const clean = {...process.env}
  delete clean.TMUX
  delete clean.TMUX_PANE
  return clean
}

/** Shows one ccl step the way an operator would type it, then what it printed. */
async function ccl(args, why, options = {}) {
  const result = await run(process.execPath, [BIN, ...args], {env, cwd: dir})
  if (options.quiet && result.code === 0 && !result.stdout.trim() && !result.stderr.trim()) return result
  step++
  out()
  out(bold(`[${step}] $ ccl ${args.join(' ')}`) + (why ? dim(`   # ${why}`) : ''))
  for (const line of result.stdout.split('\n').filter(Boolean)) out(`    ${line}`)
  for (const line of result.stderr.split('\n').filter(Boolean)) out(dim(`    ${line}`))
  if (result.code !== 0) out(dim(`    (exit ${result.code})`))
  return result
}

async function tasksIn(folder) {
  return (await readdir(path.join(dir, 'queue', folder)).catch(() => [])).filter((n) => n.endsWith('.md'))
}

async function sleep(ms) {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** Waits until both stand-ins show their prompt (a real Claude Code also takes a moment to start). */
async function standInsReady(accounts) {
  const deadline = Date.now() + 15_000
  for (const account of accounts) {
    for (;;) {
      const screen = await run('tmux', ['-L', socket, 'capture-pane', '-p', '-t', `=ccl-${account}:`], {env})
      if (screen.stdout.includes('ready')) break
      if (Date.now() > deadline) throw new Error(`the stand-in session of ${account} did not start`)
      await sleep(100)
    }
  }
}

async function main() {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-demo-'))
  socket = `ccl-demo-${process.pid}-${randomBytes(3).toString('hex')}`
  const queue = path.join(dir, 'queue')
  const shared = path.join(dir, 'shared')
  const accounts = ['alpha', 'beta']
  for (const folder of ['pending', 'done', 'failed']) await mkdir(path.join(queue, folder), {recursive: true})
  for (const folder of ['projects', 'file-history', 'session-env']) await mkdir(path.join(shared, folder), {recursive: true})
  for (const account of accounts) await mkdir(path.join(dir, 'homes', `.claude-${account}`), {recursive: true})

  const apiKey = `demo-${randomBytes(12).toString('hex')}`
  fake = await startFakeSecutools({
    apiKey,
    latencyMs: 20,
    // Every job finishes on its first poll, as if the remote worker were quick.
    autoComplete: {afterPolls: 1, cost_usd: COST_PER_JOB, result: (job) => `(${job.provider}) done: ${job.prompt.trim()}`},
  })

  // alpha's second prompt meets its usage limit (the reset an hour away).
  const standIn = (account) =>
    `${account === 'alpha' ? 'STANDIN_LIMIT_AFTER=1 ' : ''}STANDIN_NAME=${account} STANDIN_WORK_MS=${WORK_MS} exec '${process.execPath}' '${STAND_IN}'`
  const config = [
    `queue: ${queue}`,
    'shared:',
    `  root: ${shared}`,
    'tmux:',
    `  socket: ${socket}`,
    'accounts:',
    ...accounts.flatMap((account) => [
      `  - name: ${account}`,
      `    home: ${path.join(dir, 'homes', `.claude-${account}`)}`,
      `    cwd: ${dir}`,
      `    command: ${JSON.stringify(standIn(account))}`,
    ]),
    'assign:',
    '  enter_delay: 200ms',
    // The stand-in is ready in well under a second; Claude Code needs the default 10 s.
    '  ready_after: 1s',
    'delegation:',
    `  base_url: ${fake.url}`,
    '  api_key_env: SECUTOOLS_API_KEY',
    '  retries: 2',
    '',
  ].join('\n')
  const configFile = path.join(dir, 'ccl.yaml')
  await writeFile(configFile, config)

  env = {...tmuxEnv(), CCL_CONFIG: configFile, SECUTOOLS_API_KEY: apiKey, NO_COLOR: '1'}

  // Oldest first: 01 is the oldest task.
  const t0 = Date.now() - 60_000
  for (const [index, [name, front, body]] of TASKS.entries()) {
    const file = path.join(queue, 'pending', name)
    await writeFile(file, front ? `---\n${front}\n---\n${body}\n` : `${body}\n`)
    const when = new Date(t0 + index * 1000)
    await utimes(file, when, when)
  }

  out(bold('ccl demo') + ` — sandbox ${dir}`)
  out(`  two accounts (alpha, beta) running a stand-in for Claude Code in tmux -L ${socket}`)
  out('  alpha hits its 5-hour usage limit on its second task')
  out(`  a fake secutools at ${fake.url}`)
  out('  nine tasks in pending/:')
  for (const [name, , , why] of TASKS) out(`    ${name.padEnd(28)} ${dim(why)}`)

  await ccl(['validate-symlinks', '--create-missing'], 'each account shares one state folder')
  await ccl(['hooks', 'install'], "Claude Code's hooks tell ccl what each session does")
  const reconciled = await ccl(['reconcile'], 'start one session per account')
  if (reconciled.code !== 0) throw new Error('reconcile failed; see above')
  await standInsReady(accounts)
  await ccl(['route', ...TASKS.map(([name]) => path.join('queue', 'pending', name))], 'what dispatch will decide')

  // What the timers do: dispatch and reap every few seconds until the queue is empty.
  for (let round = 1; round <= ROUNDS; round++) {
    // reconcile every round, shown when it did something: here, the failover
    if (round > 1) await ccl(['reconcile'], "a limited account's task goes to a free account, same conversation", {quiet: true})
    await ccl(['dispatch'], round === 1 ? 'remote tasks to secutools, local ones to free accounts' : 'the next local tasks')
    await ccl(['reap'], 'collect finished remote jobs into done/')
    const left = [...(await tasksIn('pending')), ...(await Promise.all(accounts.map((a) => tasksIn(`active/${a}`)))).flat()]
    if (left.length === 0) break
    // Give the sessions time to finish what they were handed.
    await sleep(WORK_MS + 600)
  }

  await ccl(['status'], 'the operator view')

  const done = await tasksIn('done')
  let remote = 0
  let cost = 0
  for (const name of done) {
    const footer = parseFooter(await readFile(path.join(queue, 'done', name), 'utf8'))
    if (footer) {
      remote++
      cost += footer.cost_usd ?? 0
    }
  }

  const local = done.length - remote
  // Every host's log (hosts/<host>/events.jsonl; the demo has one host) and the legacy top-level one.
  const state = path.join(queue, '.ccl')
  const logs = [path.join(state, 'events.jsonl'), ...(await readdir(path.join(state, 'hosts')).catch(() => [])).map((host) => path.join(state, 'hosts', host, 'events.jsonl'))]
  const texts = await Promise.all(logs.map(async (file) => readFile(file, 'utf8').catch(() => '')))
  const events = texts.join('\n').split('\n').filter(Boolean).map((line) => JSON.parse(line))
  const failovers = events.filter((e) => e.event === 'task.failed_over')
  const moved = failovers.map((e) => `${e.task}: ${e.from} -> ${e.to}, ${e.mode === 'resume' ? 'same conversation' : 'afresh'}`).join('; ')
  const summary = `demo: ${done.length}/${TASKS.length} tasks done (${local} local, ${remote} remote, $${cost.toFixed(2)}); ${failovers.length} failed over${moved ? ` (${moved})` : ''}`
  out()
  if (done.length === TASKS.length) {
    out(bold(summary))
    return 0
  }

  const missing = []
  for (const folder of ['pending', 'failed', ...accounts.map((a) => `active/${a}`)]) {
    for (const name of await tasksIn(folder)) missing.push(`${name} in ${folder}/`)
  }

  out(bold(`${summary}; NOT DONE: ${missing.join(', ') || 'tasks missing from the queue'}`))
  return 1
}

let code = 1
try {
  code = await main()
} catch (error) {
  process.stderr.write(`demo: ${error.message}\n`)
  code = 1
} finally {
  await cleanup()
}

process.exit(code)
