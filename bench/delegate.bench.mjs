// What talking to secutools costs a command: `delegate get` (got loaded, one GET against the fake on
// 127.0.0.1) and a refused `delegate submit` (the router keeps the task local: got never loaded),
// each against bare `node -e 0` and `ccl --version` in the same run.
import {spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {createInterface} from 'node:readline'

import {BIN, REPO, report, timeSpawn} from './lib.mjs'

export default async function delegate() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ccl-bench-delegate-'))
  const key = 'sk-bench'
  // The fake runs as its own process: timeSpawn blocks this one's event loop.
  const fake = spawn(process.execPath, [path.join(REPO, 'test', 'support', 'fake-secutools-server.mjs'), '--api-key', key], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  try {
    const url = await new Promise((resolve, reject) => {
      createInterface({input: fake.stdout}).once('line', resolve)
      fake.once('exit', (code) => reject(new Error(`fake secutools exited ${code}`)))
    })
    mkdirSync(path.join(dir, 'queue', 'pending'), {recursive: true})
    writeFileSync(path.join(dir, 'queue', 'pending', 'local.md'), 'Fix the login page.\n')
    writeFileSync(path.join(dir, 'queue', 'pending', 'remote.md'), '---\nallow_delegation: true\n---\nSummarise.\n')
    const config = path.join(dir, 'ccl.yaml')
    writeFileSync(
      config,
      `queue: ${dir}/queue\nshared: {root: ${dir}/shared}\naccounts: [{name: alpha, home: ${dir}/home}]\ndelegation: {base_url: "${url}"}\n`,
    )
    const env = {...process.env, SECUTOOLS_API_KEY: key}
    const submit = timeSpawn(process.execPath, [BIN, 'delegate', 'submit', 'remote.md', '--config', config], {env, runs: 1, warmup: 0})
    const bare = timeSpawn(process.execPath, ['-e', '0'])
    const version = timeSpawn(process.execPath, [BIN, '--version'])
    const get = timeSpawn(process.execPath, [BIN, 'delegate', 'get', 'j-1', '--config', config], {env})
    const refused = timeSpawn(process.execPath, [BIN, 'delegate', 'submit', 'local.md', '--config', config], {
      env: {...env, CCL_BENCH_ANY_EXIT: '1'},
    })
    report('ccl delegate submit (first, one POST)', submit, 'ms', 'node -e 0', bare)
    report('ccl delegate get (one GET)', get, 'ms', 'node -e 0', bare)
    report('ccl delegate get (one GET)', get, 'ms', 'ccl --version', version)
    report('ccl delegate submit, refused (no got)', refused, 'ms', 'ccl --version', version)
  } finally {
    fake.kill()
    rmSync(dir, {recursive: true, force: true})
  }
}
