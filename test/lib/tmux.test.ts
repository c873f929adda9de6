import {chmod, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {ExternalError} from '../../src/lib/errors.js'
import {createTmux, type Tmux} from '../../src/lib/tmux/tmux.js'
import {type PrivateTmux, startPrivateTmux, tmuxEnv} from '../support/tmux.js'

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

describe('tmux wrapper on a private server', () => {
  let server: PrivateTmux
  let tmux: Tmux
  let dir: string

  beforeEach(async () => {
    server = await startPrivateTmux()
    tmux = await createTmux({socket: server.socket, env: tmuxEnv()})
    dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-tmux-'))
  })

  afterEach(async () => {
    await server.kill()
    await rm(dir, {recursive: true, force: true})
  })

  it('creates a detached session in cwd with the env given, and finds it by exact name only', async () => {
    const out = path.join(dir, 'seen.txt')
    await tmux.newSession({
      name: 'ccl-ab',
      cwd: dir,
      command: `sh -c 'echo "$CLAUDE_CONFIG_DIR"; pwd' > ${out}; exec sleep 3600`,
      env: {CLAUDE_CONFIG_DIR: '/home/ops/.claude-ab'},
    })
    const seen = await waitFor(async () => {
      const text = await readFile(out, 'utf8').catch(() => '')
      return text.split('\n').length >= 3 ? text : undefined
    }, 'the session to write its env')
    expect(seen).toBe(`/home/ops/.claude-ab\n${dir}\n`)
    expect(await tmux.sessionState('ccl-ab')).toBe('alive')
    // tmux itself would prefix-match "ccl-a" to "ccl-ab" for some commands; ours must not.
    expect(await tmux.sessionState('ccl-a')).toBe('absent')
    expect(await tmux.listSessions()).toEqual(['ccl-ab'])
  })

  it('statesAndScreens: the listing and each screen in one call; null screens when one is not there or not alive', async () => {
    await tmux.newSession({name: 'ccl-s1', cwd: dir, command: 'echo "screen of one"; exec sleep 3600', env: {}})
    await tmux.newSession({name: 'ccl-s12', cwd: dir, command: 'printf "two\\nlines\\n"; exec sleep 3600', env: {}})
    await tmux.newSession({name: 'ccl-end', cwd: dir, command: 'echo bye; sleep 0.2; exit 0', env: {}})
    await waitFor(async () => ((await server.tmux('capture-pane', '-p', '-t', '=ccl-s12:')).includes('lines') ? true : undefined), 'the printf')
    await waitFor(async () => ((await tmux.sessionStates()).get('ccl-end') === 'dead' ? true : undefined), 'ccl-end to end')
    const both = await tmux.statesAndScreens(['ccl-s1', 'ccl-s12'])
    expect(both.states).toEqual(new Map([['ccl-s1', 'alive'], ['ccl-s12', 'alive'], ['ccl-end', 'dead']]))
    // The same text capturePane reads, each session's own (exact names: ccl-s1 is a prefix of ccl-s12).
    expect(both.screens?.get('ccl-s1')).toBe(await tmux.capturePane('ccl-s1'))
    expect(both.screens?.get('ccl-s1')).toMatch(/^screen of one\n/)
    expect(both.screens?.get('ccl-s12')).toMatch(/^two\nlines\n/)
    // One session not there: the capture fails, the states still come (from a call of their own).
    const missing = await tmux.statesAndScreens(['ccl-s1', 'ccl-nope'])
    expect(missing).toEqual({states: both.states, screens: null})
    // A dead pane can be captured, but it is no alive session's screen.
    expect(await tmux.statesAndScreens(['ccl-end'])).toEqual({states: both.states, screens: null})
    await server.kill()
    expect(await tmux.statesAndScreens(['ccl-s1'])).toEqual({states: new Map(), screens: null})
  })

  it('keeps the pane of a command that ended (remain-on-exit, set by newSession), reports it dead, reads why, and kills it', async () => {
    // No global remain-on-exit on this server: the wrapper sets it for the sessions it creates. (The
    // pause before `exit 3`: tmux 3.3a may drop the output of a command that ends at once, see docs/reconcile.md.)
    await tmux.newSession({name: 'ccl-x', cwd: dir, command: 'echo "last words"; sleep 0.2; exit 3', env: {}})
    await tmux.newSession({name: 'ccl-missing', cwd: dir, command: 'claude-not-installed-xyz --flag', env: {}})
    await tmux.newSession({name: 'ccl-sig', cwd: dir, command: 'echo "about to be killed"; exec sleep 3600', env: {}})
    await tmux.newSession({name: 'ccl-live', cwd: dir, command: 'exec sleep 3600', env: {}})
    await waitFor(async () => ((await server.tmux('capture-pane', '-p', '-t', '=ccl-sig:')).includes('about to be killed') ? true : undefined), 'the echo')
    process.kill(Number((await server.tmux('list-panes', '-t', '=ccl-sig:', '-F', '#{pane_pid}')).trim()), 'SIGTERM')
    await waitFor(async () => {
      const states = await tmux.sessionStates()
      return ['ccl-x', 'ccl-missing', 'ccl-sig'].every((s) => states.get(s) === 'dead') ? true : undefined
    }, 'the panes to die')

    const x = (await tmux.deadPane('ccl-x'))!
    expect(x).toMatchObject({exitStatus: 3, signal: null})
    expect(x.text).toMatch(/^last words\n/)
    expect(await tmux.deadPane('ccl-missing')).toMatchObject({exitStatus: 127, signal: null})
    const sig = (await tmux.deadPane('ccl-sig'))!
    expect(sig).toMatchObject({exitStatus: null, signal: 15})
    expect(sig.text).toContain('about to be killed')
    expect((await tmux.sessionStates()).get('ccl-x')).toBe('dead')
    // a live pane and a session that is not there (a prefix of others) have no dead pane
    expect(await tmux.deadPane('ccl-live')).toBeNull()
    expect(await tmux.deadPane('ccl')).toBeNull()

    await tmux.killSession('ccl-x')
    expect(await tmux.sessionState('ccl-x')).toBe('absent')
    await tmux.killSession('ccl-x') // already gone: fine
    expect(await tmux.deadPane('ccl-x')).toBeNull()
  })

  it('delivers text through a named buffer with a bracketed paste, then Enter', async () => {
    const out = path.join(dir, 'pasted.txt')
    await tmux.newSession({name: 'ccl-p', cwd: dir, command: `cat > ${out}`, env: {}})
    await tmux.loadBuffer('ccl-test-buf', 'Read the task in /q/it\'s "quoted" $HOME.md')
    await tmux.pasteBuffer('ccl-test-buf', 'ccl-p')
    await tmux.sendKeys('ccl-p', ['Enter'])
    const text = await waitFor(async () => {
      const t = await readFile(out, 'utf8').catch(() => '')
      return t.endsWith('\n') ? t : undefined
    }, 'the pasted line')
    expect(text).toBe('Read the task in /q/it\'s "quoted" $HOME.md\n')
    // -d deleted the buffer after the paste
    expect(await server.tmux('list-buffers', '-F', '#{buffer_name}')).not.toContain('ccl-test-buf')
  })

  it('names the tmux command that failed', async () => {
    await tmux.newSession({name: 'ccl-dup', cwd: dir, command: 'sleep 3600', env: {}})
    const error = await tmux.newSession({name: 'ccl-dup', cwd: dir, command: 'sleep 3600', env: {}}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ExternalError)
    expect((error as Error).message).toMatch(new RegExp(`^\`tmux -L ${server.socket} new-session -d -s ccl-dup .*\` failed: duplicate session: ccl-dup$`))
    await expect(tmux.pasteBuffer('no-such-buffer', 'ccl-dup')).rejects.toThrow(/paste-buffer .* failed: no buffer no-such-buffer/)
  })
})

describe('tmux wrapper without a server or without tmux', () => {
  it('treats "no server running" as no sessions for lookups', async () => {
    const server = await startPrivateTmux({start: false})
    try {
      const tmux = await createTmux({socket: server.socket, env: tmuxEnv()})
      expect(await tmux.listSessions()).toEqual([])
      expect(await tmux.sessionState('ccl-alpha')).toBe('absent')
      await tmux.killSession('ccl-alpha')
    } finally {
      await server.kill()
    }
  })

  it('says tmux is not installed when it is not on PATH', async () => {
    const tmux = await createTmux({socket: 'ccl-never-started', env: {PATH: '/nonexistent'}})
    const error = await tmux.listSessions().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ExternalError)
    expect((error as Error).message).toBe(
      '`tmux -L ccl-never-started list-sessions -F #{session_name}` failed: tmux is not installed or not on PATH (tmux not found)',
    )
  })

  it('a tmux that dies by a signal is reported with the signal, not as an exit code', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-tmux-bin-'))
    try {
      const bin = path.join(dir, 'tmux')
      await writeFile(bin, '#!/bin/sh\nkill -9 $$\n')
      await chmod(bin, 0o755)
      const tmux = await createTmux({socket: 'ccl-never-started', bin, env: {PATH: process.env.PATH}})
      await expect(tmux.listSessions()).rejects.toThrow(`\`${bin} -L ccl-never-started list-sessions -F #{session_name}\` failed: killed by SIGKILL`)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})
