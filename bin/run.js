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

// Imported after the compile cache is on, so oclif itself is cached too.
const {execute} = await import('@oclif/core')
await execute({dir: import.meta.url})
