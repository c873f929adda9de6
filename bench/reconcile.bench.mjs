// `ccl reconcile` with nothing to do (what cron pays every minute) and a pass that creates every
// session, against `ccl --version` and bare `node -e 0` in the same run. Private tmux socket only.
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {BIN, figure, QUICK, report, timeSpawn} from './lib.mjs'

export default async function reconcileBench() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ccl-bench-'))
  const socket = `ccl-bench-${process.pid}`
  const env = {PATH: process.env.PATH, HOME: dir, LANG: 'C.UTF-8'}
  const tmux = (...args) => execFileSync('tmux', ['-L', socket, ...args], {env, stdio: 'ignore'})
  try {
    const accounts = ['a1', 'a2', 'a3', 'a4']
    for (const d of ['projects', 'file-history', 'session-env']) mkdirSync(path.join(dir, 'shared', d), {recursive: true})
    for (const a of accounts) {
      mkdirSync(path.join(dir, 'homes', a), {recursive: true})
      for (const d of ['projects', 'file-history', 'session-env']) symlinkSync(path.join(dir, 'shared', d), path.join(dir, 'homes', a, d))
    }

    const config = path.join(dir, 'ccl.yaml')
    writeFileSync(
      config,
      [
        `queue: ${path.join(dir, 'queue')}`,
        `shared: {root: ${path.join(dir, 'shared')}}`,
        `tmux: {socket: ${socket}}`,
        'accounts:',
        ...accounts.map((a) => `  - {name: ${a}, home: ${path.join(dir, 'homes', a)}, command: sleep 3600, cwd: ${dir}}`),
      ].join('\n') + '\n',
    )
    const args = [BIN, 'reconcile', '--config', config]
    const bare = timeSpawn(process.execPath, ['-e', '0'], {env, cwd: dir})
    const version = timeSpawn(process.execPath, [BIN, '--version'], {env, cwd: dir})
    execFileSync(process.execPath, args, {env, cwd: dir, stdio: 'ignore'})
    const idle = timeSpawn(process.execPath, args, {env, cwd: dir})
    figure('reconcile-alive', 'ccl reconcile, every session alive, against node -e 0', report('ccl reconcile, 4 sessions alive', idle, 'ms', 'node -e 0', bare), 3)
    report('ccl reconcile, 4 sessions alive', idle, 'ms', 'ccl --version', version)
    // Each measured run finds all four sessions gone and creates them again.
    const times = []
    for (let i = 0; i < (QUICK ? 1 : 5); i++) {
      tmux('kill-server')
      const start = process.hrtime.bigint()
      execFileSync(process.execPath, args, {env, cwd: dir, stdio: 'ignore'})
      times.push(Number(process.hrtime.bigint() - start) / 1e6)
    }

    times.sort((x, y) => x - y)
    report('ccl reconcile, creating 4 sessions', times[Math.floor(times.length / 2)], 'ms', 'node -e 0', bare)
  } finally {
    try {
      tmux('kill-server')
    } catch {
      // already gone
    }

    rmSync(dir, {recursive: true, force: true})
    // tmux 3.3a leaves the socket file behind after kill-server
    rmSync(path.join('/tmp', `tmux-${process.getuid()}`, socket), {force: true})
  }
}
