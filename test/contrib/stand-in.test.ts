// The stand-in for Claude Code (scripts/stand-in-claude.mjs) against a real private tmux server and
// real files: the hooks of settings.json fire with the real payload fields, the transcript lands at
// Claude Code's path, --resume continues a conversation under another account, and the scripted
// behaviours (usage limit, permission wait, unfinished turn, lost Enter, menus) do what ccl's tests
// rely on. Hooks are recorded by a `node -e` command that appends its stdin to a file.
import {execFile} from 'node:child_process'
import {mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {STAND_IN, type StandInEntry, waitFor} from '../support/loop.js'
import {type PrivateTmux, startPrivateTmux, tmuxEnv} from '../support/tmux.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const EVENTS = ['SessionStart', 'UserPromptSubmit', 'Stop', 'StopFailure', 'Notification', 'SessionEnd']
const BASE_KEYS = ['cwd', 'hook_event_name', 'permission_mode', 'session_id', 'transcript_path']

interface HookCall {
  payload: Record<string, unknown> & {hook_event_name: string; session_id: string}
  /** where the hook ran, and the session's STANDIN_NAME as the hook saw it */
  cwd: string
  name?: string
  tag: string
}

type HookGroups = Record<string, {matcher?: string; hooks: {type: string; command: string; timeout?: number}[]}[]>

interface Rig {
  dir: string
  /** The sessions' cwd: it has "_" and "." in its name, which Claude Code's folder name turns into "-". */
  cwd: string
  shared: string
  active: string
  done: string
  server: PrivateTmux
  home(name: string): string
  /** A hook command that appends {payload, cwd, name, tag} to the rig's hook file. */
  recorder(tag: string): string
  /** Writes the account's settings.json; default: a recorder (tag "all") on every event. */
  settings(name: string, hooks?: HookGroups): Promise<void>
  start(name: string, options?: {env?: Record<string, string>; args?: string[]}): Promise<void>
  screen(name: string): Promise<string>
  waitScreen(name: string, text: string, timeoutMs?: number): Promise<void>
  paste(name: string, text: string): Promise<void>
  key(name: string, ...keys: string[]): Promise<void>
  type(name: string, text: string): Promise<void>
  /** Pastes the prompt ccl would send for the task and presses Enter. */
  assign(name: string, task: string): Promise<string>
  task(file: string, body?: string): Promise<string>
  calls(filter?: Partial<{name: string; event: string; tag: string}>): Promise<HookCall[]>
  waitCalls(filter: Partial<{name: string; event: string; tag: string}>, n: number, timeoutMs?: number): Promise<HookCall[]>
  log(filter?: Partial<StandInEntry>): Promise<StandInEntry[]>
  waitLog(filter: Partial<StandInEntry>, n?: number, timeoutMs?: number): Promise<StandInEntry[]>
  tasks(): Promise<{active: string[]; done: string[]}>
  cleanup(): Promise<void>
}

const RECORD_JS =
  'const fs=require("fs");let d="";process.stdin.setEncoding("utf8");process.stdin.on("data",c=>d+=c);' +
  'process.stdin.on("end",()=>fs.appendFileSync(process.argv[1],JSON.stringify({payload:JSON.parse(d),cwd:process.cwd(),name:process.env.STANDIN_NAME,tag:process.argv[2]})+"\\n"))'

const readLines = async <T>(file: string): Promise<T[]> =>
  (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T)

const matching = <T extends object>(items: T[], filter: object): T[] =>
  items.filter((item) => Object.entries(filter).every(([k, v]) => (item as Record<string, unknown>)[k] === v))

async function makeRig(): Promise<Rig> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-standin-'))
  const cwd = path.join(dir, 'my_project.v2')
  const shared = path.join(dir, 'shared')
  const active = path.join(dir, 'queue', 'active', 'alpha')
  const done = path.join(dir, 'queue', 'done')
  const hookFile = path.join(dir, 'hooks.jsonl')
  const logFile = path.join(dir, 'stand-in.jsonl')
  await Promise.all([cwd, active, done, path.join(shared, 'projects')].map((d) => mkdir(d, {recursive: true})))
  const server = await startPrivateTmux()
  const home = (name: string) => path.join(dir, 'homes', `.claude-${name}`)
  const target = (name: string) => `=${name}:`
  const callFilter = (call: HookCall, filter: Partial<{name: string; event: string; tag: string}>) =>
    (filter.name === undefined || call.name === filter.name) &&
    (filter.event === undefined || call.payload.hook_event_name === filter.event) &&
    (filter.tag === undefined || call.tag === filter.tag)
  const rig: Rig = {
    dir,
    cwd,
    shared,
    active,
    done,
    server,
    home,
    recorder: (tag) => `'${process.execPath}' -e '${RECORD_JS}' '${hookFile}' ${tag}`,
    async settings(name, hooks) {
      const all: HookGroups = Object.fromEntries(EVENTS.map((e) => [e, [{hooks: [{type: 'command', command: rig.recorder('all'), timeout: 20}]}]]))
      await mkdir(home(name), {recursive: true})
      await writeFile(path.join(home(name), 'settings.json'), JSON.stringify({hooks: hooks ?? all}, null, 2))
    },
    async start(name, options = {}) {
      // Each account's projects/ is a link to the shared root, as validate-symlinks makes it.
      await mkdir(home(name), {recursive: true})
      await symlink(path.join(shared, 'projects'), path.join(home(name), 'projects')).catch(() => {})
      const vars = {
        STANDIN_LOG: logFile,
        STANDIN_NAME: name,
        STANDIN_WORK_MS: '150',
        // a loaded machine may take more than the real 1.5 s to start a node hook
        CLAUDE_CODE_SESSIONEND_HOOKS_TIMEOUT_MS: '15000',
        ...options.env,
      }
      const assignments = Object.entries(vars).map(([k, v]) => `${k}='${v}'`)
      const args = (options.args ?? []).map((a) => `'${a}'`)
      const command = [...assignments, 'exec', `'${process.execPath}'`, `'${STAND_IN}'`, ...args].join(' ')
      await server.tmux('new-session', '-d', '-s', name, '-x', '250', '-y', '50', '-c', cwd, '-e', `CLAUDE_CONFIG_DIR=${home(name)}`, command)
    },
    screen: (name) => server.tmux('capture-pane', '-p', '-J', '-S', '-', '-t', target(name)).catch(() => ''),
    async waitScreen(name, text, timeoutMs = 15_000) {
      if (!(await waitFor(async () => (await rig.screen(name)).includes(text), timeoutMs))) {
        throw new Error(`${name}'s screen never showed ${JSON.stringify(text)}:\n${await rig.screen(name)}`)
      }
    },
    async paste(name, text) {
      await server.tmux('set-buffer', '-b', `b-${name}`, '--', text)
      await server.tmux('paste-buffer', '-p', '-d', '-b', `b-${name}`, '-t', target(name))
    },
    async key(name, ...keys) {
      await server.tmux('send-keys', '-t', target(name), ...keys)
    },
    async type(name, text) {
      await server.tmux('send-keys', '-l', '-t', target(name), text)
    },
    async assign(name, task) {
      const prompt = `Read the task in ${task} and do it. When it is finished, move that file into ${done}/.`
      await rig.paste(name, prompt)
      await new Promise((resolve) => setTimeout(resolve, 100))
      await rig.key(name, 'Enter')
      return prompt
    },
    async task(file, body = `Do ${file}.\n`) {
      const full = path.join(active, file)
      await writeFile(full, body)
      return full
    },
    async calls(filter = {}) {
      return (await readLines<HookCall>(hookFile)).filter((c) => callFilter(c, filter))
    },
    async waitCalls(filter, n, timeoutMs = 20_000) {
      if (!(await waitFor(async () => (await rig.calls(filter)).length >= n, timeoutMs))) {
        throw new Error(`fewer than ${n} hook calls ${JSON.stringify(filter)}: ${JSON.stringify(await rig.calls(), null, 1)}`)
      }

      return rig.calls(filter)
    },
    async log(filter = {}) {
      return matching(await readLines<StandInEntry>(logFile), filter)
    },
    async waitLog(filter, n = 1, timeoutMs = 20_000) {
      if (!(await waitFor(async () => (await rig.log(filter)).length >= n, timeoutMs))) {
        throw new Error(`fewer than ${n} log entries ${JSON.stringify(filter)}: ${JSON.stringify(await rig.log(), null, 1)}`)
      }

      return rig.log(filter)
    },
    async tasks() {
      const list = async (d: string) => (await readdir(d)).filter((n) => n.endsWith('.md')).sort()
      return {active: await list(active), done: await list(done)}
    },
    async cleanup() {
      await server.kill()
      // Hung up, each stand-in still runs its SessionEnd hooks, which may write here for a moment.
      await rm(dir, {recursive: true, force: true, maxRetries: 20, retryDelay: 250})
    },
  }
  return rig
}

/** Claude Code's projects/ folder name for the rig's cwd, spelled out: every "/", "_" and "." became "-". */
function encodedCwd(rig: Rig): string {
  // mkdtemp's random part is letters and digits, so the only other characters are "/" and "-".
  expect(rig.dir).toMatch(/^[A-Za-z0-9/-]+$/)
  return `${rig.dir.split('/').join('-')}-my-project-v2`
}

function expectPayload(call: HookCall, event: string, rig: Rig, session: string, home: string, extraKeys: string[]) {
  const p = call.payload
  expect(Object.keys(p).sort()).toEqual([...BASE_KEYS, ...extraKeys].sort())
  expect(p.hook_event_name).toBe(event)
  expect(p.session_id).toBe(session)
  expect(p.transcript_path).toBe(path.join(home, 'projects', encodedCwd(rig), `${session}.jsonl`))
  expect(p.cwd).toBe(rig.cwd)
  expect(p.permission_mode).toBe('default')
  // run through /bin/sh in the session's cwd, with the session's environment
  expect(call.cwd).toBe(rig.cwd)
}

let rig: Rig | undefined

afterEach(async () => {
  await rig?.cleanup()
  rig = undefined
})

async function newRig(): Promise<Rig> {
  rig = await makeRig()
  return rig
}

describe('the stand-in for Claude Code', {timeout: 90_000}, () => {
  it('runs the command hooks of settings.json with the real payloads and keeps the transcript at the encoded path', async () => {
    const r = await newRig()
    await r.settings('alpha')
    await r.start('alpha')
    await r.waitScreen('alpha', 'ready')
    const task = await r.task('fix login.md')
    const prompt = await r.assign('alpha', task)
    await r.waitCalls({event: 'Stop'}, 1)
    expect(await r.tasks()).toEqual({active: [], done: ['fix login.md']})
    await r.key('alpha', 'C-c')
    const calls = await r.waitCalls({event: 'SessionEnd'}, 1)
    const all = await r.calls()
    expect(all.map((c) => c.payload.hook_event_name)).toEqual(['SessionStart', 'UserPromptSubmit', 'Stop', 'SessionEnd'])
    expect(all.every((c) => c.name === 'alpha')).toBe(true)

    const [start, submit, stop, end] = all as [HookCall, HookCall, HookCall, HookCall]
    const session = start.payload.session_id
    expect(session).toMatch(UUID)
    const home = r.home('alpha')
    expectPayload(start, 'SessionStart', r, session, home, ['source', 'model'])
    expect(start.payload.source).toBe('startup')
    expect(typeof start.payload.model).toBe('string')
    expectPayload(submit, 'UserPromptSubmit', r, session, home, ['prompt', 'prompt_id'])
    expect(submit.payload.prompt).toBe(prompt)
    expect(submit.payload.prompt_id).toMatch(UUID)
    expectPayload(stop, 'Stop', r, session, home, ['prompt_id', 'stop_hook_active', 'last_assistant_message', 'background_tasks'])
    expect(stop.payload).toMatchObject({stop_hook_active: false, prompt_id: submit.payload.prompt_id, background_tasks: []})
    expect(stop.payload.last_assistant_message).toBe(`The task is done; I moved it to ${path.join(r.done, 'fix login.md')}.`)
    expectPayload(end, 'SessionEnd', r, session, home, ['prompt_id', 'reason'])
    expect(end.payload.reason).toBe('prompt_input_exit')
    expect(calls).toHaveLength(1)

    // The transcript: one line per prompt and per reply, in the shared projects/ root, under the encoded cwd.
    expect(await readdir(path.join(r.shared, 'projects'))).toEqual([encodedCwd(r)])
    const transcript = await readLines<Record<string, unknown>>(path.join(r.shared, 'projects', encodedCwd(r), `${session}.jsonl`))
    expect(transcript.map((l) => l.type)).toEqual(['user', 'assistant'])
    expect(transcript.every((l) => l.sessionId === session && l.cwd === r.cwd)).toBe(true)
    expect(transcript[0]).toMatchObject({parentUuid: null, message: {role: 'user', content: prompt}})
    expect(transcript[1]).toMatchObject({parentUuid: transcript[0]!.uuid, message: {role: 'assistant', content: [{type: 'text', text: stop.payload.last_assistant_message}]}})
  })

  it('kills a hook at its timeout without holding up input, and runs only the groups whose matcher matches', async () => {
    const r = await newRig()
    const pidFile = path.join(r.dir, 'slow.pid')
    await r.settings('alpha', {
      SessionStart: [
        {matcher: 'startup', hooks: [{type: 'command', command: `sleep 30 & echo $! > '${pidFile}'; wait`, timeout: 3}]},
        {matcher: 'resume', hooks: [{type: 'command', command: r.recorder('resume-only')}]},
        {matcher: 'startup', hooks: [{type: 'command', command: r.recorder('startup')}]},
        {matcher: '*', hooks: [{type: 'command', command: r.recorder('star')}]},
      ],
      UserPromptSubmit: [{matcher: 'ignored for this event', hooks: [{type: 'command', command: r.recorder('submit')}]}],
    })
    await r.start('alpha')
    await r.waitScreen('alpha', 'ready')
    const task = await r.task('t.md')
    await r.assign('alpha', task)
    // The prompt is taken while the SessionStart hook still sleeps; its own hook waits for that one's end.
    const [received] = await r.waitLog({event: 'received'})
    const [killed] = await r.waitLog({event: 'hook', hook: 'SessionStart', timedOut: true})
    expect(Date.parse(received!.ts)).toBeLessThan(Date.parse(killed!.ts))
    expect(killed!.signal).toBe('SIGKILL')
    await r.waitCalls({tag: 'submit'}, 1)
    // What the hook started died with it (gone, or a zombie where nothing reaps orphans).
    const slept = Number((await readFile(pidFile, 'utf8')).trim())
    const state = () => readFile(`/proc/${slept}/stat`, 'utf8').then((s) => s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3), () => 'gone')
    expect(await waitFor(async () => ['gone', 'Z'].includes(await state()), 5000)).toBe(true)
    expect((await r.calls()).map((c) => c.tag).sort()).toEqual(['star', 'startup', 'submit'])
    await r.waitLog({event: 'done'})
  })

  it('--resume ID continues the conversation under another account sharing projects/; an unknown ID exits 1', async () => {
    const r = await newRig()
    await r.settings('alpha')
    await r.settings('beta')
    await r.start('alpha')
    await r.waitScreen('alpha', 'ready')
    const first = await r.assign('alpha', await r.task('one.md'))
    const [stop] = await r.waitCalls({name: 'alpha', event: 'Stop'}, 1)
    const session = stop!.payload.session_id
    // The limited account's session is restarted by ccl: tmux hangs it up, and SessionEnd says "other".
    await r.server.tmux('kill-session', '-t', '=alpha:')
    const [end] = await r.waitCalls({name: 'alpha', event: 'SessionEnd'}, 1)
    expect(end!.payload.reason).toBe('other')

    await r.start('beta', {args: ['--resume', session]})
    const [resumed] = await r.waitCalls({name: 'beta', event: 'SessionStart'}, 1)
    expectPayload(resumed!, 'SessionStart', r, session, r.home('beta'), ['source', 'model'])
    expect(resumed!.payload.source).toBe('resume')
    // The earlier turn is on screen, and the next prompt continues the same conversation.
    await r.waitScreen('beta', `> ${first}`)
    const second = await r.assign('beta', await r.task('two.md'))
    const [betaStop] = await r.waitCalls({name: 'beta', event: 'Stop'}, 1)
    expect(betaStop!.payload.session_id).toBe(session)
    expect(await r.tasks()).toEqual({active: [], done: ['one.md', 'two.md']})
    const transcript = await readLines<Record<string, unknown>>(path.join(r.shared, 'projects', encodedCwd(r), `${session}.jsonl`))
    expect(transcript.map((l) => [l.type, l.sessionId])).toEqual([
      ['user', session],
      ['assistant', session],
      ['user', session],
      ['assistant', session],
    ])
    expect(transcript[2]).toMatchObject({parentUuid: transcript[1]!.uuid, message: {content: second}})
    expect(await readdir(path.join(r.shared, 'projects', encodedCwd(r)))).toEqual([`${session}.jsonl`])

    const run = (id: string, cwd: string) =>
      new Promise<{code: number; stdout: string; stderr: string}>((resolve) => {
        execFile(process.execPath, [STAND_IN, '--resume', id], {cwd, env: {...tmuxEnv(), CLAUDE_CONFIG_DIR: r.home('beta')}, timeout: 10_000}, (error, stdout, stderr) =>
          resolve({code: error ? Number(error.code) : 0, stdout, stderr}),
        )
      })
    const unknown = '0b7e4f3c-1d2a-4c5b-9e8f-7a6b5c4d3e2f'
    expect(await run(unknown, r.cwd)).toEqual({code: 1, stdout: '', stderr: `No conversation found with session ID: ${unknown}\n`})
    // A known id is looked up under the cwd's own folder: from elsewhere it is unknown too.
    expect(await run(session, r.dir)).toEqual({code: 1, stdout: '', stderr: `No conversation found with session ID: ${session}\n`})
  })

  it('--resume with no id shows a picker that swallows the next paste; closing it starts a new conversation', async () => {
    const r = await newRig()
    await r.settings('alpha')
    await r.settings('beta')
    await r.start('alpha')
    await r.waitScreen('alpha', 'ready')
    await r.assign('alpha', await r.task('one.md'))
    const [stop] = await r.waitCalls({name: 'alpha', event: 'Stop'}, 1)

    await r.start('beta', {args: ['--resume']})
    await r.waitScreen('beta', 'Resume Session (1 in this folder)')
    expect(await r.screen('beta')).toContain(stop!.payload.session_id)
    const lost = await r.assign('beta', await r.task('two.md'))
    await r.waitLog({event: 'menu-closed', menu: 'picker', how: 'enter'})
    expect(await r.log({event: 'swallowed'})).toEqual([expect.objectContaining({by: 'picker', prompt: lost, standIn: 'beta'})])
    const [fresh] = await r.waitCalls({name: 'beta', event: 'SessionStart'}, 1)
    expect(fresh!.payload.source).toBe('startup')
    expect(fresh!.payload.session_id).not.toBe(stop!.payload.session_id)
    // Nothing of the swallowed prompt was submitted; a new one is.
    expect(await r.log({event: 'received', standIn: 'beta'})).toEqual([])
    expect((await r.tasks()).active).toEqual(['two.md'])
    await r.assign('beta', path.join(r.active, 'two.md'))
    await r.waitLog({event: 'done', standIn: 'beta'})
  })

  it('STANDIN_LIMIT_AFTER=1: the second prompt hits the 5-hour limit, shows both banner lines, fires StopFailure and leaves the task', async () => {
    const r = await newRig()
    // A reset 2-3 hours ahead at hh:07 UTC, shown in India's time (UTC+5:30, no DST) as hh:37.
    const reset = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 2 * 3_600_000 + 7 * 60_000)
    const hour = (reset.getUTCHours() + 5) % 24
    const at = `${hour % 12 || 12}:37${hour < 12 ? 'am' : 'pm'}`
    await r.settings('alpha')
    await r.start('alpha', {env: {STANDIN_LIMIT_AFTER: '1', STANDIN_LIMIT_RESETS_AT: reset.toISOString(), STANDIN_TZ: 'Asia/Kolkata'}})
    await r.waitScreen('alpha', 'ready')
    await r.assign('alpha', await r.task('first.md'))
    await r.waitCalls({event: 'Stop'}, 1)
    const second = await r.task('second.md')
    const prompt = await r.assign('alpha', second)

    const banner = `You've hit your 5-hour limit · resets ${at} (Asia/Kolkata)`
    const [failure] = await r.waitCalls({event: 'StopFailure'}, 1)
    const screen = await r.screen('alpha')
    expect(screen).toContain(`${banner}\nUsage limit reached · continuing automatically at ${at} · esc to cancel\n`)
    const session = failure!.payload.session_id
    expectPayload(failure!, 'StopFailure', r, session, r.home('alpha'), ['prompt_id', 'error', 'last_assistant_message'])
    expect(failure!.payload).toMatchObject({error: 'rate_limit', last_assistant_message: banner})
    // The limited prompt was submitted (UserPromptSubmit fired), but the task is not touched and no Stop follows.
    const submits = await r.calls({event: 'UserPromptSubmit'})
    expect(submits.map((c) => c.payload.prompt)).toEqual([expect.any(String), prompt])
    expect(failure!.payload.prompt_id).toBe(submits[1]!.payload.prompt_id)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(await r.tasks()).toEqual({active: ['second.md'], done: ['first.md']})
    expect(await r.calls({event: 'Stop'})).toHaveLength(1)
    expect(await r.log({event: 'limited'})).toEqual([expect.objectContaining({task: second, resetsAt: reset.toISOString()})])
    const transcript = await readLines<Record<string, unknown>>(failure!.payload.transcript_path as string)
    expect(transcript.at(-1)).toMatchObject({type: 'assistant', isApiErrorMessage: true, error: 'rate_limit', message: {content: [{text: banner}]}})
  })

  it('at the reset it finishes the limited task by itself, unless STANDIN_NO_AUTO_CONTINUE=1 or Esc cancelled it', async () => {
    const r = await newRig()
    const reset = new Date(Date.now() + 12_000).toISOString()
    const limit = {STANDIN_LIMIT_AFTER: '0', STANDIN_LIMIT_RESETS_AT: reset}
    for (const name of ['alpha', 'beta', 'gamma']) await r.settings(name)
    await r.start('alpha', {env: limit})
    await r.start('beta', {env: {...limit, STANDIN_NO_AUTO_CONTINUE: '1'}})
    await r.start('gamma', {env: limit})
    for (const name of ['alpha', 'beta', 'gamma']) await r.waitScreen(name, 'ready')
    for (const name of ['alpha', 'beta', 'gamma']) await r.assign(name, await r.task(`${name}.md`))
    for (const name of ['alpha', 'beta', 'gamma']) await r.waitCalls({name, event: 'StopFailure'}, 1)
    await r.waitScreen('gamma', 'esc to cancel')
    await r.key('gamma', 'Escape')
    await r.waitLog({event: 'continue-cancelled', standIn: 'gamma'})
    expect(await r.screen('beta')).toContain("You've hit your 5-hour limit · resets ")
    expect(await r.screen('beta')).not.toContain('continuing automatically')
    expect(Date.now()).toBeLessThan(Date.parse(reset))

    // alpha carries on at the reset: a machine-injected prompt, the work, Stop.
    await r.waitLog({event: 'done', standIn: 'alpha'}, 1, 30_000)
    await r.waitCalls({name: 'alpha', event: 'Stop'}, 1)
    const [continued] = await r.log({event: 'continued', standIn: 'alpha'})
    expect(Date.parse(continued!.ts)).toBeGreaterThanOrEqual(Date.parse(reset) - 50) // a timer may fire a hair early
    expect((await r.calls({name: 'alpha'})).map((c) => c.payload.hook_event_name)).toEqual(['SessionStart', 'UserPromptSubmit', 'StopFailure', 'UserPromptSubmit', 'Stop'])
    expect((await r.calls({name: 'alpha', event: 'UserPromptSubmit'}))[1]!.payload.prompt).toBe('Continue from where you left off.')
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(await r.tasks()).toEqual({active: ['beta.md', 'gamma.md'], done: ['alpha.md']})
    expect(await r.calls({event: 'Stop'})).toHaveLength(1)
  })

  it('STANDIN_RATE_LIMIT_MENU=1: the menu after the limit swallows the next paste, unless Esc closed it first', async () => {
    const r = await newRig()
    const env = {STANDIN_LIMIT_AFTER: '0', STANDIN_RATE_LIMIT_MENU: '1'}
    for (const name of ['alpha', 'beta']) await r.settings(name)
    await r.start('alpha', {env})
    await r.start('beta', {env})
    for (const name of ['alpha', 'beta']) await r.waitScreen(name, 'ready')
    const task = await r.task('t.md')
    for (const name of ['alpha', 'beta']) await r.assign(name, task)
    for (const name of ['alpha', 'beta']) await r.waitScreen(name, 'What do you want to do?')
    for (const name of ['alpha', 'beta']) await r.waitCalls({name, event: 'StopFailure'}, 1)

    await r.key('beta', 'Escape')
    await r.waitLog({event: 'menu-closed', standIn: 'beta', how: 'esc'})
    const again = `Read ${task} again and move it into ${r.done}/.`
    for (const name of ['alpha', 'beta']) {
      await r.paste(name, again)
      await r.key(name, 'Enter')
    }

    // beta took it (and, still limited, answered with the banner again); alpha's menu ate it.
    await r.waitCalls({name: 'beta', event: 'StopFailure'}, 2)
    await r.waitLog({event: 'menu-closed', standIn: 'alpha', how: 'enter'})
    expect((await r.log({event: 'received', standIn: 'beta'})).map((e) => e.prompt)).toEqual([expect.any(String), again])
    expect((await r.log({event: 'received', standIn: 'alpha'})).map((e) => e.prompt)).toHaveLength(1)
    expect(await r.log({event: 'swallowed'})).toEqual([expect.objectContaining({standIn: 'alpha', by: 'rate-limit', prompt: again})])
    expect(await r.calls({name: 'alpha', event: 'UserPromptSubmit'})).toHaveLength(1)
    expect(await r.tasks()).toEqual({active: ['t.md'], done: []})
  })

  it('STANDIN_ASK_PERMISSION=1: Notification permission_prompt, then it waits with the task in active/ until "1" + Enter', async () => {
    const r = await newRig()
    await r.settings('alpha')
    await r.start('alpha', {env: {STANDIN_ASK_PERMISSION: '1'}})
    await r.waitScreen('alpha', 'ready')
    await r.assign('alpha', await r.task('t.md'))
    const [notification] = await r.waitCalls({event: 'Notification'}, 1)
    const session = notification!.payload.session_id
    expectPayload(notification!, 'Notification', r, session, r.home('alpha'), ['prompt_id', 'message', 'notification_type'])
    expect(notification!.payload).toMatchObject({notification_type: 'permission_prompt', message: 'Claude needs your permission to use Bash'})
    await r.waitScreen('alpha', 'Do you want to proceed?')
    await new Promise((resolve) => setTimeout(resolve, 1500)) // ten times the work time
    expect(await r.tasks()).toEqual({active: ['t.md'], done: []})
    await r.type('alpha', 'x')
    await r.key('alpha', 'Enter')
    await r.waitScreen('alpha', 'answer 1 (or y) to allow')
    expect(await r.tasks()).toEqual({active: ['t.md'], done: []})
    await r.type('alpha', '1')
    await r.key('alpha', 'Enter')
    await r.waitCalls({event: 'Stop'}, 1)
    expect(await r.tasks()).toEqual({active: [], done: ['t.md']})
    expect((await r.log({event: 'permission'})).map((e) => e.state)).toEqual(['asked', 'granted'])
  })

  it('STANDIN_END_TURN_UNFINISHED=1: the first turn ends (Stop) without moving the task; the next prompt finishes it', async () => {
    const r = await newRig()
    await r.settings('alpha')
    await r.start('alpha', {env: {STANDIN_END_TURN_UNFINISHED: '1'}})
    await r.waitScreen('alpha', 'ready')
    const task = await r.task('t.md')
    await r.assign('alpha', task)
    const [stop] = await r.waitCalls({event: 'Stop'}, 1)
    expectPayload(stop!, 'Stop', r, stop!.payload.session_id, r.home('alpha'), ['prompt_id', 'stop_hook_active', 'last_assistant_message', 'background_tasks'])
    expect(stop!.payload.last_assistant_message).toBe(`I have started on ${task} but it is not finished yet.`)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(await r.tasks()).toEqual({active: ['t.md'], done: []})
    expect(await r.log({event: 'unfinished'})).toHaveLength(1)

    await r.assign('alpha', task)
    await r.waitCalls({event: 'Stop'}, 2)
    expect(await r.tasks()).toEqual({active: [], done: ['t.md']})
  })

  it('STANDIN_IGNORE_ENTER=1: the first Enter after a paste is lost and the prompt waits in the input box; a later Enter submits it', async () => {
    const r = await newRig()
    await r.settings('alpha')
    await r.start('alpha', {env: {STANDIN_IGNORE_ENTER: '1'}})
    await r.waitScreen('alpha', 'ready')
    const prompt = await r.assign('alpha', await r.task('t.md'))
    await r.waitLog({event: 'enter-lost'})
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(await r.log({event: 'received'})).toEqual([])
    expect(await r.calls({event: 'UserPromptSubmit'})).toEqual([])
    expect(await r.tasks()).toEqual({active: ['t.md'], done: []})

    await r.key('alpha', 'Enter')
    const [submit] = await r.waitCalls({event: 'UserPromptSubmit'}, 1)
    expect(submit!.payload.prompt).toBe(prompt)
    await r.waitCalls({event: 'Stop'}, 1)
    expect(await r.tasks()).toEqual({active: [], done: ['t.md']})
    // Only the first was lost: the next paste's Enter submits at once.
    await r.assign('alpha', await r.task('u.md'))
    await r.waitCalls({event: 'Stop'}, 2)
    expect(await r.log({event: 'enter-lost'})).toHaveLength(1)
    expect((await r.log({event: 'received'})).map((e) => e.prompt)).toEqual([prompt, expect.stringContaining('u.md')])
  })

  it("Ctrl-U as Claude Code 2.1.328's: back to the start of a row on screen, a line break per press, a folded paste whole", async () => {
    const r = await newRig()
    await r.start('alpha') // a 250-column pane: rows of 246 characters
    await r.waitScreen('alpha', 'ready')
    const submitted = async (n: number) => (await r.waitLog({event: 'received'}, n)).map((e) => e.prompt)
    const send = async (text: string, presses: number) => {
      if (text !== '') await r.paste('alpha', text)
      if (presses > 0) await r.key('alpha', ...Array<string>(presses).fill('C-u'))
      await r.paste('alpha', 'NEW')
      await r.key('alpha', 'Enter')
    }

    // Three short lines take 2 × 3 − 1 presses: 4 leave the first line.
    await send('l1\nl2\nl3', 4)
    // 600 characters on one line are three rows (246, 246, 108): one press takes the last row.
    await send('w'.repeat(600), 1)
    // A paste of 4 lines (or over 800 characters) is folded: one press takes it whole.
    await send('a\nb\nc\nd', 1)
    await send('x'.repeat(801), 1)
    // On an empty box Ctrl-U does nothing; enough presses empty any box.
    await send('', 3)
    await send('l1\nl2\nl3', 5)
    expect(await submitted(6)).toEqual(['l1NEW', 'w'.repeat(492) + 'NEW', 'NEW', 'NEW', 'NEW', 'NEW'])
  })
})
