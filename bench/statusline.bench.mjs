// `ccl statusline`: Claude Code runs it on every status refresh (failover.headroom), so like `ccl hook`
// it is a hot path. Measured with the 2.1.328 sample payload, with and without a chained command,
// against `ccl hook` on the same stdin (the cost the hooks already pay). Target: no slower than it.
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {BIN, median, REPO, report} from './lib.mjs'

function time(args, input, env, runs = 15, warmup = 3) {
  const times = []
  for (let i = 0; i < warmup + runs; i++) {
    const start = process.hrtime.bigint()
    const result = spawnSync(process.execPath, args, {input, env, stdio: ['pipe', 'pipe', 'pipe']})
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`)
    if (i >= warmup) times.push(ms)
  }

  return median(times)
}

export default async function statusline() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ccl-bench-statusline-'))
  try {
    const home = path.join(dir, 'home')
    mkdirSync(home)
    mkdirSync(path.join(dir, 'queue'))
    const config = path.join(dir, 'ccl.yaml')
    writeFileSync(config, `queue: ${dir}/queue\nshared: {root: ${dir}/shared}\nfailover: {headroom: true}\naccounts: [{name: alpha, home: ${home}}]\n`)
    const env = {PATH: process.env.PATH, HOME: dir, CLAUDE_CONFIG_DIR: home}
    const payload = readFileSync(path.join(REPO, 'test/fixtures/claude-code-2.1.328/statusline/rate-limits.json'), 'utf8')
    const hook = time([BIN, 'hook', '--config', config], JSON.stringify({hook_event_name: 'Stop', session_id: 's'}), env)
    const alone = time([BIN, 'statusline', '--config', config], payload, env)
    const chained = time([BIN, 'statusline', '--config', config, '--chain=cat > /dev/null; echo mine'], payload, env)
    report('ccl statusline, usage unchanged', alone, 'ms', 'ccl hook, Stop payload', hook, (ratio) => ratio <= 1.2)
    report('ccl statusline --chain (sh -c)', chained, 'ms', 'ccl hook, Stop payload', hook, (ratio) => ratio <= 1.3)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
