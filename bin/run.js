#!/usr/bin/env node
// Node 22+ caches compiled code between runs: cron calls us many times a minute.
import module from 'node:module'

module.enableCompileCache?.()

// A reader that went away (`ccl status | head -1`) is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    throw error
  })
}

// The hot commands (`route FILE…`, `hook`, `statusline`, `reconcile`, `status`, `reap`) first: their fast entry runs them without oclif when it
// understands the whole command line, and hands anything else (help, a bad flag…) to oclif.
const command = process.argv[2]
const FAST = new Set(['route', 'hook', 'statusline', 'reconcile', 'status', 'reap'])
// CCL_FAST=0 sends them through oclif too (for a comparison, or if the fast entry were ever in doubt).
const done = FAST.has(command) && process.env.CCL_FAST !== '0' && (await (await import(`../dist/fast/${command}.js`)).runFast(process.argv.slice(3)))
if (!done) {
  // oclif's index checks its own engines field with semver on every start (~15 ms); npm already
  // checks ours at install. Not passed on to the processes we start (tmux, Claude Code).
  const skipEngineCheck = process.env.OCLIF_DISABLE_ENGINE_WARNING === undefined
  if (skipEngineCheck) process.env.OCLIF_DISABLE_ENGINE_WARNING = '1'
  // Imported after the compile cache is on, so oclif itself is cached too.
  const {execute} = await import('@oclif/core')
  if (skipEngineCheck) delete process.env.OCLIF_DISABLE_ENGINE_WARNING
  await execute({dir: import.meta.url})
}
