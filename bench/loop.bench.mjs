// `ccl dispatch` on a backlog: every pass (every 15 s) lists pending/ and, with delegation on, reads
// and routes every task (a remote one may hide behind the waiting local ones). Measured: one pass
// over 2,000 waiting local tasks with no free account, against `ccl route` of the same 2,000 files
// in one call (the same reading and routing, without the queue walk, markers and account lookup).
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {BIN, median, report} from './lib.mjs'

const TASKS = 2000

function timed(args, env) {
  const start = process.hrtime.bigint()
  const result = spawnSync(process.execPath, [BIN, ...args], {env, maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe']})
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  return {ms, result}
}

export default async function loopBench() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ccl-bench-loop-'))
  try {
    const queue = path.join(dir, 'queue')
    mkdirSync(path.join(queue, 'pending'), {recursive: true})
    const config = path.join(dir, 'ccl.yaml')
    // A socket with no server: the one account's session is absent, so nothing can be assigned.
    writeFileSync(config, `queue: ${queue}\nshared: {root: ${dir}/shared}\ntmux: {socket: ccl-bench-none-${process.pid}}\naccounts: [{name: alpha, home: ${dir}/home}]\ndelegation: {base_url: 'https://secutools.example/api/v1'}\n`)
    const files = []
    // All older than dispatch.settle (2 s): none is still being written.
    const base = Date.now() / 1000 - TASKS - 60
    for (let i = 0; i < TASKS; i++) {
      const file = path.join(queue, 'pending', `task-${String(i).padStart(5, '0')}.md`)
      writeFileSync(file, i % 2 ? `---\nneeds_claude_code: true\n---\nRefactor module ${i}.\n` : `Plain task ${i}.\n`)
      utimesSync(file, base + i, base + i)
      files.push(file)
    }

    // Delegation on (no task here goes remote): every waiting task must still be read and routed.
    const env = {...process.env, SECUTOOLS_API_KEY: 'bench-key'}
    delete env.TMUX
    const passes = []
    const routes = []
    for (let i = 0; i < 3; i++) {
      const pass = timed(['dispatch', '--config', config, '--json'], env)
      if (pass.result.status !== 0) throw new Error(`ccl dispatch exited ${pass.result.status}: ${pass.result.stderr}`)
      const counts = JSON.parse(pass.result.stdout).counts
      if (counts.waiting !== TASKS) throw new Error(`ccl dispatch left ${counts.waiting} of ${TASKS} waiting`)
      passes.push(pass.ms)
      const route = timed(['route', '--config', config, '--json', ...files], env)
      if (route.result.status !== 0) throw new Error(`ccl route exited ${route.result.status}`)
      routes.push(route.ms)
    }

    report(`ccl dispatch, ${TASKS} waiting tasks (${process.version})`, median(passes), 'ms', `ccl route ${TASKS} files`, median(routes), (ratio) => ratio <= 3)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
