// `ccl hook`: Claude Code runs it at every turn of every session (SessionStart, UserPromptSubmit,
// Stop, …), so it is a hot path. Measured with a real-shaped payload on stdin against `node -e 0`
// reading the same stdin. Target of the performance issue: within 2x.
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {BIN, figure, median, QUICK, report} from './lib.mjs'

function time(args, input, env, runs = QUICK ? 3 : 15, warmup = QUICK ? 1 : 3) {
  const times = []
  for (let i = 0; i < warmup + runs; i++) {
    const start = process.hrtime.bigint()
    const result = spawnSync(process.execPath, args, {input, env, stdio: ['pipe', 'pipe', 'pipe']})
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`)
    if (String(result.stdout) !== '') throw new Error(`ccl hook printed on stdout: ${result.stdout}`)
    if (i >= warmup) times.push(ms)
  }

  return median(times)
}

export default async function hook() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ccl-bench-hook-'))
  try {
    const home = path.join(dir, 'home')
    mkdirSync(home)
    mkdirSync(path.join(dir, 'queue'))
    const config = path.join(dir, 'ccl.yaml')
    writeFileSync(config, `queue: ${dir}/queue\nshared: {root: ${dir}/shared}\naccounts: [{name: alpha, home: ${home}}]\n`)
    const env = {PATH: process.env.PATH, HOME: dir, CLAUDE_CONFIG_DIR: home}
    const base = {
      session_id: '9b1c7a3e-2f4d-4e8a-9c1b-7a3e2f4d4e8a',
      transcript_path: `${home}/projects/-srv-work/9b1c7a3e-2f4d-4e8a-9c1b-7a3e2f4d4e8a.jsonl`,
      cwd: '/srv/work',
      permission_mode: 'default',
    }
    // Stop: at the end of every turn (the figure); UserPromptSubmit: at every prompt.
    const stop = JSON.stringify({...base, hook_event_name: 'Stop', stop_hook_active: false, last_assistant_message: 'Done: the task is in done/.'})
    const prompt = JSON.stringify({...base, hook_event_name: 'UserPromptSubmit', prompt: `Read the task in ${dir}/queue/active/alpha/fix.md and do it. When it is finished, move that file into ${dir}/queue/done/.`})
    const bare = time(['-e', 'process.stdin.resume(); process.stdin.on("end", () => {})'], stop, env)
    const run = time([BIN, 'hook', '--config', config], stop, env)
    figure('hook-stop', 'ccl hook, Stop payload on stdin, against node reading stdin', report('ccl hook, Stop payload', run, 'ms', 'node reading stdin', bare), 2)
    report('ccl hook, UserPromptSubmit payload', time([BIN, 'hook', '--config', config], prompt, env), 'ms', 'node reading stdin', bare)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
