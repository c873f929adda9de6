// `ccl route`: cold start of one decision against bare `node -e 0`, its peak RSS, and batch routing of
// 10,000 generated task files in one call against a spawned script that reads each file and parses its
// frontmatter with yaml (and against the same loop in this process, which pays no start-up).
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {parse} from 'yaml'

import {BIN, figure, median, QUICK, REPO, report, timeSpawn} from './lib.mjs'

const FILES = QUICK ? 500 : 10_000
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

/** Peak RSS (MB) of one run: the child writes its own process.resourceUsage().maxRSS at exit. */
function peakRss(args, env, dir) {
  const out = path.join(dir, 'rss')
  const hook = `data:text/javascript,import {writeFileSync} from 'node:fs'; process.on('exit', () => writeFileSync(${JSON.stringify(out)}, String(process.resourceUsage().maxRSS)))`
  const values = []
  for (let i = 0; i < (QUICK ? 2 : 7); i++) {
    const result = spawnSync(process.execPath, ['--import', hook, ...args], {env, stdio: ['ignore', 'ignore', 'pipe']})
    if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`)
    values.push(Number(readFileSync(out, 'utf8')) / 1024)
  }

  return median(values)
}

export default async function routeBench() {
  const {dir, config, files} = setUp()
  try {
    // Cold start: one task, as the dispatcher calls it.
    const bare = timeSpawn(process.execPath, ['-e', '0'], {env: ENV})
    const one = timeSpawn(process.execPath, [BIN, 'route', '--config', config, files[0]], {env: ENV})
    figure('route-cold', 'ccl route FILE, cold, against node -e 0', report('ccl route FILE, cold', one, 'ms', 'node -e 0', bare), 2)
    const rss = peakRss([BIN, 'route', '--config', config, files[0]], ENV, dir)
    const bareRss = peakRss(['-e', '0'], ENV, dir)
    report('ccl route FILE, peak RSS', rss, 'MB', 'node -e 0', bareRss)
    figure('route-rss', 'peak RSS of ccl route FILE (MB)', rss, 60, 'MB')

    // Batch: every file in one call, against a spawned script that reads and parses each the same way.
    const list = path.join(dir, 'files.txt')
    writeFileSync(list, files.join('\n'))
    const script = path.join(REPO, 'bench', '.route-floor.mjs')
    writeFileSync(
      script,
      `import {readFileSync} from 'node:fs'
import {parse} from 'yaml'
let remote = 0
for (const file of readFileSync(process.argv[2], 'utf8').split('\\n')) {
  const text = readFileSync(file, 'utf8')
  if (!text.startsWith('---\\n')) continue
  const data = parse(text.slice(4, text.indexOf('\\n---', 3) + 1)) ?? {}
  if (data.allow_delegation === true || data.preferred_ai === 'gpu') remote++
}
if (remote === 0) throw new Error('bad bench data')
`,
    )
    const runs = []
    const floor = []
    try {
      for (let i = 0; i < 3; i++) {
        const start = process.hrtime.bigint()
        const result = spawnSync(process.execPath, [BIN, 'route', '--config', config, '--json', ...files], {env: ENV, maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore']})
        runs.push(Number(process.hrtime.bigint() - start) / 1e6)
        if (result.status !== 0) throw new Error(`ccl route batch exited ${result.status}`)
        const decisions = JSON.parse(result.stdout).decisions
        if (decisions.length !== FILES) throw new Error(`ccl route decided ${decisions.length} of ${FILES}`)
        const from = process.hrtime.bigint()
        const plain = spawnSync(process.execPath, [script, list], {env: ENV, stdio: ['ignore', 'ignore', 'pipe']})
        if (plain.status !== 0) throw new Error(`the floor script failed: ${plain.stderr}`)
        floor.push(Number(process.hrtime.bigint() - from) / 1e6)
      }
    } finally {
      rmSync(script, {force: true})
    }

    const batch = report(`ccl route ${FILES} files, one call`, median(runs), 'ms', 'spawned read+yaml script', median(floor))
    figure('route-batch', `ccl route over ${FILES} files in one call, against a spawned read+yaml script`, batch, 1)
    const inProcess = median([bareLoop(files).ms, bareLoop(files).ms, bareLoop(files).ms])
    report(`  files/s in one call`, FILES / (median(runs) / 1000), 'files/s', 'same loop in this process', FILES / (inProcess / 1000))
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
