#!/usr/bin/env node
// One "host" of test/fleet: a child process that does filesystem operations through one mount, so that two
// racers on two mounts are two processes with two client caches. Line protocol: one JSON command per line on
// stdin, one JSON answer per line on stdout. A race command carries `at` (epoch ms): both racers start at
// that instant. Answers list what this racer won and every error that is not the expected loss.
import {randomBytes} from 'node:crypto'
import {constants} from 'node:fs'
import {link, open, readFile, rename, unlink} from 'node:fs/promises'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {createInterface} from 'node:readline'

const IN_FLIGHT = 8

/** Runs `step` over `names`, IN_FLIGHT at a time; returns the names it won and the unexpected errors. */
async function race(names, step) {
  const won = []
  const errors = []
  let next = 0
  async function worker() {
    while (next < names.length) {
      const name = names[next++]
      try {
        if (await step(name)) won.push(name)
      } catch (error) {
        errors.push(`${name}: ${error.code ?? ''} ${error.message}`)
      }
    }
  }

  await Promise.all(Array.from({length: IN_FLIGHT}, worker))
  return {won, errors}
}

const lost = (error, ...codes) => {
  if (codes.includes(error.code)) return false
  throw error
}

async function writeNew(file, data) {
  const handle = await open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

const temp = (dir) => path.join(dir, `.ccl-tmp-${process.pid}-${randomBytes(6).toString('hex')}`)

const ops = {
  // open(O_CREAT|O_EXCL): the winner is who created the file.
  excl: ({dir, names, label}) =>
    race(names, async (name) => {
      const handle = await open(path.join(dir, name), 'wx').catch((error) => lost(error, 'EEXIST'))
      if (!handle) return false
      await handle.writeFile(label)
      await handle.close()
      return true
    }),
  // rename(2) pending/X → <to>/X: the winner is whose rename found the source.
  rename: ({from, to, names}) => race(names, (name) => rename(path.join(from, name), path.join(to, name)).then(() => true, (error) => lost(error, 'ENOENT'))),
  // ccl's move (src/lib/queue/transitions.ts): link(2) to the destination, EEXIST is a loss; the winner unlinks the source.
  link: ({from, to, names}) =>
    race(names, async (name) => {
      const ok = await link(path.join(from, name), path.join(to, name)).then(() => true, (error) => lost(error, 'EEXIST', 'ENOENT'))
      if (ok) await unlink(path.join(from, name))
      return ok
    }),
  // ccl's claim (createExclusive in src/lib/queue/files.ts): own content written and fsynced under a temp
  // name, then link(2)ed to the claim name; EEXIST is a loss.
  claim: ({dir, names, label}) =>
    race(names, async (name) => {
      const mine = temp(dir)
      await writeNew(mine, `${label} ${name}\n`)
      try {
        return await link(mine, path.join(dir, name)).then(() => true, (error) => lost(error, 'EEXIST'))
      } finally {
        await unlink(mine)
      }
    }),
  // writeFileAtomic (src/lib/queue/files.ts): temp, fsync, rename over the file.
  write: async ({file, data}) => {
    const mine = temp(path.dirname(file))
    await writeNew(mine, data)
    await rename(mine, file)
    return {}
  },
  read: async ({file}) => {
    try {
      return {data: await readFile(file, 'utf8')}
    } catch (error) {
      return {error: error.code ?? error.message}
    }
  },
}

const lines = createInterface({input: process.stdin})
for await (const line of lines) {
  const command = JSON.parse(line)
  let answer
  try {
    if (command.at) await new Promise((resolve) => setTimeout(resolve, Math.max(0, command.at - Date.now())))
    const started = performance.now()
    answer = {...(await ops[command.op](command)), ms: Math.round(performance.now() - started)}
  } catch (error) {
    answer = {fatal: `${error.code ?? ''} ${error.message}`}
  }

  process.stdout.write(`${JSON.stringify(answer)}\n`)
}
