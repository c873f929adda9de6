// `ccl reap` over 1,000 jobs against the fake secutools with 20 ms latency, as a ratio to the ideal
// (jobs × latency ÷ concurrency); and `ccl status` on 10,000 tasks and a 100,000-line events log, against
// a bare Node script that lists the same folders, reads the markers and only stats the log (status reads
// just the log's tail past its counters.json checkpoint), and against `node -e 0`.
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {stringify} from 'yaml'

import {startFakeSecutools} from '../test/support/fake-secutools-core.mjs'
import {BIN, figure, median, QUICK, report} from './lib.mjs'

function run(args, env) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(process.execPath, args, {env: {...process.env, ...env}, stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', reject)
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      if (code !== 0 && code !== 1) reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`))
      else resolve(ms)
    })
  })
}

async function timed(args, env, runs) {
  const times = []
  for (let i = 0; i < runs; i++) times.push(await run(args, env))
  return median(times)
}

function sandbox() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ccl-bench-'))
  const queue = path.join(dir, 'queue')
  for (const d of ['pending', 'done', 'failed', 'active/alpha', 'active/beta', '.ccl/locks', '.ccl/sessions']) mkdirSync(path.join(queue, d), {recursive: true})
  const shared = path.join(dir, 'shared')
  return {dir, queue, shared}
}

function writeConfig(box, extra = {}) {
  const file = path.join(box.dir, 'ccl.yaml')
  writeFileSync(
    file,
    stringify({
      queue: box.queue,
      shared: {root: box.shared},
      tmux: {socket: `ccl-bench-none-${process.pid}`},
      accounts: ['alpha', 'beta'].map((name) => ({name, home: path.join(box.dir, 'homes', name), cwd: box.dir})),
      ...extra,
    }),
  )
  return file
}

function delegate(box, fake, task, submittedAt) {
  const content = `# ${task}\n\nSummarise item ${task}.\n`
  writeFileSync(path.join(box.queue, 'pending', task), content)
  const jobId = `j-${task.slice(0, -3)}`
  const key = createHash('sha256').update(task).update('\0').update(content).digest('hex')
  const marker = {version: 1, task, state: 'submitted', provider: 'gemini', idempotency_key: key, claimed_at: submittedAt, job_id: jobId, submitted_at: submittedAt}
  writeFileSync(path.join(box.queue, 'pending', `${task}.delegated`), JSON.stringify(marker, null, 2) + '\n')
  fake?.jobs.set(jobId, {
    id: jobId, status: 'completed', provider: 'gemini', result: `result of ${task}`, error: null, cost_usd: 0.0042,
    created_at: submittedAt, finished_at: new Date().toISOString(), prompt: content, complexity: null, metadata: {task, source: 'ccl'},
  })
}

async function benchReap() {
  const jobs = QUICK ? 100 : 1000
  const latencyMs = 20
  const concurrency = 8
  const times = []
  const firstRequest = []
  // Five rounds, not three: on a 2-core machine one slow round (a busy disk, a neighbour) moves a
  // median of three by 10 %.
  for (let round = 0; round < (QUICK ? 1 : 5); round++) {
    const box = sandbox()
    const fake = await startFakeSecutools({latencyMs})
    try {
      const config = writeConfig(box, {delegation: {base_url: fake.url, concurrency}})
      const at = new Date(Date.now() - 60_000).toISOString()
      for (let i = 0; i < jobs; i++) delegate(box, fake, `task-${String(i).padStart(4, '0')}.md`, at)
      // The timer runs reap every 30 s with one config: every run but the first after an edit finds it
      // validated in its cache (src/lib/config/cached.ts). A command that asks nothing of the platform
      // validates it first here, so the round measures a timer's run, not the first after a config change.
      await run([BIN, 'events', '--config', config, '--json'], {})
      const spawnedAt = Date.now()
      times.push(await run([BIN, 'reap', '--config', config, '--quiet'], {SECUTOOLS_API_KEY: fake.apiKey}))
      const gets = fake.requests.filter((r) => r.method === 'GET')
      if (gets.length !== jobs) throw new Error(`expected ${jobs} polls, saw ${gets.length}`)
      firstRequest.push(gets[0].at - spawnedAt)
    } finally {
      await fake.close()
      rmSync(box.dir, {recursive: true, force: true})
    }
  }

  // A floor measured in the same run (so it slows down with the machine): a bare script that makes
  // the same 1,000 GETs with got, 8 at a time, and does nothing with the answers.
  const fake = await startFakeSecutools({latencyMs})
  const bareTimes = []
  try {
    const at = new Date().toISOString()
    for (let i = 0; i < jobs; i++) fake.jobs.set(`j-${i}`, {id: `j-${i}`, status: 'completed', provider: 'gemini', result: 'r', error: null, cost_usd: 0, created_at: at, finished_at: at, prompt: '', complexity: null, metadata: {}})
    const script = `import got from 'got'
const limit = (await import('p-limit')).default(${concurrency})
const client = got.extend({prefixUrl: ${JSON.stringify(fake.url)}, headers: {authorization: 'Bearer ' + ${JSON.stringify(fake.apiKey)}}, responseType: 'json'})
await Promise.all(Array.from({length: ${jobs}}, (_, i) => limit(() => client.get('jobs/j-' + i).json())))
`
    for (let i = 0; i < (QUICK ? 1 : 3); i++) bareTimes.push(await run(['--input-type=module', '-e', script], {}))
  } finally {
    await fake.close()
  }

  const ideal = (jobs * latencyMs) / concurrency
  const startup = await timed([BIN, '--version'], {}, 5)
  const reapMs = median(times)
  figure('reap', `reap ${jobs} jobs at ${latencyMs} ms latency, ${concurrency} at once, against jobs × latency ÷ concurrency`, report(`reap ${jobs} jobs, ${latencyMs} ms latency, ${concurrency} at once`, reapMs, 'ms', 'ideal jobs×latency÷conc', ideal), 1.2)
  report(`reap ${jobs} jobs (same run)`, reapMs, 'ms', 'bare got, 8 at once', median(bareTimes))
  report('  start-up alone: ccl --version', startup, 'ms', 'ideal jobs×latency÷conc', ideal)
  report('  spawn to first request', median(firstRequest), 'ms', 'ideal jobs×latency÷conc', ideal)
}

/** 10,000 tasks and a 100,000-line events log in a fresh folder (a tenth with --quick; also used to profile by hand). */
export async function statusFixture(scale = QUICK ? 0.1 : 1) {
  const n = (count) => Math.round(count * scale)
  const box = sandbox()
  const config = writeConfig(box, {delegation: {base_url: 'http://127.0.0.1:9/api/v1', job_timeout: '6h'}})
  for (const d of ['projects', 'file-history', 'session-env']) {
    mkdirSync(path.join(box.shared, d), {recursive: true})
    for (const name of ['alpha', 'beta']) {
      mkdirSync(path.join(box.dir, 'homes', name), {recursive: true})
      symlinkSync(path.join(box.shared, d), path.join(box.dir, 'homes', name, d))
    }
  }

  // 10,000 tasks: 1,500 pending, 500 delegated (+ markers), 2 active, 7,500 done, 498 failed.
  const at = new Date(Date.now() - 3_600_000).toISOString()
  for (let i = 0; i < n(1500); i++) writeFileSync(path.join(box.queue, 'pending', `p-${i}.md`), 'task\n')
  for (let i = 0; i < n(500); i++) delegate(box, undefined, `d-${i}.md`, at)
  writeFileSync(path.join(box.queue, 'active', 'alpha', 'a.md'), 'task\n')
  writeFileSync(path.join(box.queue, 'active', 'beta', 'b.md'), 'task\n')
  const recent = new Date()
  utimesSync(path.join(box.queue, 'active', 'beta', 'b.md'), recent, recent)
  for (let i = 0; i < n(7500); i++) writeFileSync(path.join(box.queue, 'done', `x-${i}.md`), 'done\n')
  for (let i = 0; i < n(498); i++) writeFileSync(path.join(box.queue, 'failed', `f-${i}.md`), 'failed\n')

  // 100,000 events over 30 days, most of them delegation events.
  const names = ['delegation.claimed', 'delegation.submitted', 'delegation.completed', 'delegation.failed', 'task.assigned', 'session.created']
  const start = Date.now() - 30 * 86_400_000
  const lines = []
  for (let i = 0; i < n(100_000); i++) {
    const event = names[i % names.length]
    const fields = {ts: new Date(start + i * 25_000).toISOString(), event, task: `t-${i}.md`, job_id: `j-${i}`, provider: 'gemini'}
    if (event === 'delegation.completed' || event === 'delegation.failed') Object.assign(fields, {cost_usd: 0.0042, destination: `done/t-${i}.md`, duration_ms: 61_000})
    lines.push(JSON.stringify(fields))
  }

  writeFileSync(path.join(box.queue, '.ccl', 'events.jsonl'), lines.join('\n') + '\n')
  return {box, config}
}

async function benchStatus() {
  const {box, config} = await statusFixture()
  try {
    // The floor, as the performance issue defines it: a script that only lists the queue's folders and
    // stats the log (with its checkpoint, counters.json, status reads no more of the log than was appended).
    const bare = path.join(box.dir, 'bare.mjs')
    writeFileSync(
      bare,
      `import {readdirSync, statSync} from 'node:fs'
const q = ${JSON.stringify(box.queue)}
let n = 0
for (const d of ['pending', 'done', 'failed', 'active/alpha', 'active/beta']) n += readdirSync(q + '/' + d).length
if (n < 10 || statSync(q + '/.ccl/events.jsonl').size < 1e5) throw new Error('bad bench data')
`,
    )

    const checkpoint = path.join(box.queue, '.ccl', 'counters.json')
    const runs = QUICK ? 2 : 7
    const bareNode = await timed(['-e', '0'], {}, runs)
    const bareList = await timed([bare], {}, runs)
    // Cold: no checkpoint, so all 100,000 lines are read (the first run after an upgrade or a lost counters.json).
    const coldTimes = []
    for (let i = 0; i < (QUICK ? 1 : 5); i++) {
      rmSync(checkpoint, {force: true})
      coldTimes.push(await run([BIN, 'status', '--config', config, '--json'], {}))
    }

    // Warm: the checkpoint the last cold run left; each run reads only the log's tail (here: none).
    const status = await timed([BIN, 'status', '--config', config, '--json'], {}, runs)
    const prom = await timed([BIN, 'status', '--config', config, '--prometheus'], {}, runs)
    figure('status', 'ccl status --json, 10,000 tasks + 100,000-line log, against list+stat', report('status, 10,000 tasks + 100,000 events', status, 'ms', 'bare readdir+stat script', bareList), 3)
    report('status, cold (no counters.json yet)', median(coldTimes), 'ms', 'bare readdir+stat script', bareList, (_ratio, ms) => ms < 1000)
    report('status, same data', status, 'ms', 'node -e 0', bareNode, (_ratio, ms) => ms < 1000)
    report('status --prometheus, same data', prom, 'ms', 'bare readdir+stat script', bareList, (ratio) => ratio <= 3)
  } finally {
    rmSync(box.dir, {recursive: true, force: true})
  }
}

export default async function reapStatus() {
  // Absolute times grow with the machine's load; the ratios to the same-run floors much less.
  const [one] = os.loadavg()
  console.log(`(load average ${one.toFixed(1)} on ${os.cpus().length} cores while measuring)`)
  await benchReap()
  await benchStatus()
}
