import {mkdtemp, readFile, rm} from 'node:fs/promises'
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

  it('reports a pane kept by remain-on-exit as dead, and kills it', async () => {
    await server.tmux('set-option', '-g', 'remain-on-exit', 'on')
    await tmux.newSession({name: 'ccl-x', cwd: dir, command: 'exit 1', env: {}})
    await waitFor(async () => ((await tmux.sessionState('ccl-x')) === 'dead' ? true : undefined), 'the pane to die')
    await tmux.killSession('ccl-x')
    expect(await tmux.sessionState('ccl-x')).toBe('absent')
    await tmux.killSession('ccl-x') // already gone: fine
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
})
