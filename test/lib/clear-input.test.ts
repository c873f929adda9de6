// clearInputBox against a real tmux pane running a small program that draws an input box the way
// Claude Code 2.1.328 does (two rules around `❯ text`, test/fixtures/claude-code-2.1.328/screens/
// input-box-*.txt) and, like the CLI seen failing in CI, takes its Ctrl-U presses in only after a
// while: a paste that arrives before then is appended to the old text.
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {clearInputBox} from '../../src/lib/assign/deliver.js'
import {createTmux, type Tmux} from '../../src/lib/tmux/tmux.js'
import {type PrivateTmux, startPrivateTmux, tmuxEnv} from '../support/tmux.js'

const BOX = String.raw`
import {appendFileSync} from 'node:fs'
const [log, ignoreFirst, lagMs] = process.argv.slice(2)
let text = '', clearing = false, ignored = Number(ignoreFirst), buf = ''
const draw = () => process.stdout.write('\x1b[2J\x1b[H' + '─'.repeat(40) + '\r\n❯ ' + text.split(/\r\n?|\n/).join('\r\n  ') + '\r\n' + '─'.repeat(40) + '\r\n  status\r\n')
process.stdin.setRawMode(true)
process.stdout.write('\x1b[?2004h') // bracketed paste on, as Claude Code turns it on
process.stdin.on('data', (chunk) => {
  buf += chunk.toString('utf8')
  for (;;) {
    const start = buf.indexOf('\x1b[200~')
    if (start === 0) {
      const end = buf.indexOf('\x1b[201~')
      if (end < 0) return
      appendFileSync(log, JSON.stringify({paste: buf.slice(6, end), box: text, clearing}) + '\n')
      text += buf.slice(6, end)
      buf = buf.slice(end + 6)
      draw()
      continue
    }
    const keys = start < 0 ? buf : buf.slice(0, start)
    buf = start < 0 ? '' : buf.slice(start)
    if (keys.includes('\x15')) {
      if (ignored > 0) ignored--
      else if (!clearing) {
        clearing = true
        setTimeout(() => { text = ''; clearing = false; draw() }, Number(lagMs))
      }
    }
    if (start < 0) return
  }
})
draw()
`

describe('clearing the input box before a paste (a real tmux pane)', () => {
  let server: PrivateTmux
  let tmux: Tmux
  let dir: string

  beforeEach(async () => {
    server = await startPrivateTmux()
    tmux = await createTmux({socket: server.socket, env: tmuxEnv()})
    dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-clear-'))
    await writeFile(path.join(dir, 'box.mjs'), BOX)
  })

  afterEach(async () => {
    await server.kill()
    await rm(dir, {recursive: true, force: true})
  })

  async function start(ignoreFirst: number, lagMs: number): Promise<string> {
    const log = path.join(dir, 'pastes.jsonl')
    await tmux.newSession({name: 'ccl-box', cwd: dir, command: `exec ${process.execPath} box.mjs ${log} ${ignoreFirst} ${lagMs}`, env: {}})
    await until(async () => (await tmux.capturePane('ccl-box')).includes('status'))
    await tmux.loadBuffer('b', 'OLD stale prompt\nits second line')
    await tmux.pasteBuffer('b', 'ccl-box')
    await until(async () => (await tmux.capturePane('ccl-box')).includes('its second line'))
    return log
  }

  async function until(check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 10_000
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out; the pane shows:\n${await tmux.capturePane('ccl-box')}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  async function pasteNew(log: string): Promise<{paste: string; box: string; clearing: boolean}> {
    await tmux.loadBuffer('b', 'NEW')
    await tmux.pasteBuffer('b', 'ccl-box')
    await until(async () => (await readFile(log, 'utf8')).includes('NEW'))
    return JSON.parse((await readFile(log, 'utf8')).trim().split('\n').at(-1)!) as {paste: string; box: string; clearing: boolean}
  }

  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

  it('waits until the box is drawn empty before the paste goes: the new prompt is not appended to the old', async () => {
    const log = await start(0, 300)
    await clearInputBox(tmux, 'ccl-box', sleep)
    expect(await pasteNew(log)).toEqual({paste: 'NEW', box: '', clearing: false})
  })

  it('sends the keys once more when the box did not take the first round', async () => {
    const log = await start(1, 50)
    await clearInputBox(tmux, 'ccl-box', sleep)
    expect(await pasteNew(log)).toEqual({paste: 'NEW', box: '', clearing: false})
  })
})
