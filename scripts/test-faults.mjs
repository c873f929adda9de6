#!/usr/bin/env node
// `npm run test:faults [-- --trials N] [-- --seed N] [VITEST ARGS...]`: the fault lane (test/fault) under
// vitest. --trials and --seed become CCL_FAULT_TRIALS and CCL_FAULT_SEED (test/fault/random-kills.test.ts);
// every other argument goes to vitest as it is.
import {spawnSync} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const env = {...process.env}
const rest = []
const args = process.argv.slice(2)
for (let i = 0; i < args.length; i++) {
  const [flag, inline] = args[i].split('=', 2)
  const variable = {'--trials': 'CCL_FAULT_TRIALS', '--seed': 'CCL_FAULT_SEED'}[flag]
  if (!variable) {
    rest.push(args[i])
    continue
  }

  const value = inline ?? args[++i]
  if (!/^\d+$/.test(value ?? '')) {
    process.stderr.write(`test:faults: ${flag} wants a whole number, got ${value === undefined ? 'nothing' : JSON.stringify(value)}\n`)
    process.exit(2)
  }

  env[variable] = value
}

const vitest = path.join(repo, 'node_modules', 'vitest', 'vitest.mjs')
const run = spawnSync(process.execPath, [vitest, 'run', '--config', 'vitest.fault.config.ts', ...rest], {cwd: repo, env, stdio: 'inherit'})
process.exit(run.status ?? 1)
