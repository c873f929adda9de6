import {type ChildProcess, spawn} from 'node:child_process'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {afterEach, describe, expect, it} from 'vitest'

import {makeSandbox, REPO, runCcl, type Sandbox} from '../support/sandbox.js'

const SCRIPT = path.join(REPO, 'test', 'support', 'fake-secutools-server.mjs')
const KEY = 'sk-standalone-demo'

let server: ChildProcess | undefined
let sandbox: Sandbox | undefined
afterEach(async () => {
  server?.kill('SIGTERM')
  server = undefined
  await sandbox?.cleanup()
  sandbox = undefined
})

async function start(args: string[]): Promise<string> {
  server = spawn(process.execPath, [SCRIPT, '--api-key', KEY, ...args], {stdio: ['ignore', 'pipe', 'ignore']})
  return new Promise<string>((resolve, reject) => {
    createInterface({input: server!.stdout!}).once('line', resolve)
    server!.once('exit', (code) => reject(new Error(`fake secutools exited ${code}`)))
  })
}

describe('the standalone fake secutools (for the demo)', () => {
  it('prints its base URL and serves a whole submit -> result round trip through the real binary', async () => {
    const url = await start(['--complete-after-polls', '2', '--cost', '0.5'])
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1$/)
    sandbox = await makeSandbox({config: {delegation: {base_url: url, retries: 1}}})
    await writeFile(path.join(sandbox.queue, 'pending', 'demo.md'), '---\nallow_delegation: true\n---\nSay hello.\n')
    const env = {SECUTOOLS_API_KEY: KEY, CCL_TEST_BACKOFF_BASE_MS: '5'}
    const submit = await runCcl(['delegate', 'submit', 'demo.md', '--config', sandbox.configFile], {cwd: sandbox.dir, env})
    expect(submit.code).toBe(0)
    const id = submit.stdout.trim()
    const result = await runCcl(['delegate', 'result', id, '--wait', '--timeout', '20s', '--config', sandbox.configFile], {cwd: sandbox.dir, env})
    expect(result.code).toBe(0)
    expect(result.stdout).toBe('Done by the fake gemini worker: Say hello.\n')
    expect(result.stderr).toContain('cost $0.5')
  })

  it('lets a job be finished by hand through its control route', async () => {
    const url = await start([])
    const origin = new URL(url).origin
    const created = await fetch(`${url}/jobs`, {
      method: 'POST',
      headers: {authorization: `Bearer ${KEY}`, 'idempotency-key': 'k1', 'content-type': 'application/json'},
      body: JSON.stringify({provider: 'gpu', prompt: 'p', metadata: {task: 'a.md', source: 'ccl'}}),
    })
    expect(created.status).toBe(201)
    const {id} = (await created.json()) as {id: string}
    const patched = await fetch(`${origin}/_fake/jobs/${id}`, {method: 'PATCH', body: JSON.stringify({status: 'failed', error: 'boom'})})
    expect(patched.status).toBe(200)
    const job = (await (await fetch(`${url}/jobs/${id}`, {headers: {authorization: `Bearer ${KEY}`}})).json()) as Record<string, unknown>
    expect(job).toMatchObject({id, status: 'failed', error: 'boom', finished_at: expect.any(String)})
    const refused = await fetch(`${url}/jobs/${id}`, {headers: {authorization: 'Bearer wrong'}})
    expect(refused.status).toBe(401)
  })
})
