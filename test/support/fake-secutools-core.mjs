// A stand-in for the secutools jobs API v1 (SPEC §5) on 127.0.0.1, for tests and the demo.
// Plain JavaScript so that it also runs as a standalone process on Node 20 without a TypeScript loader
// (see fake-secutools-server.mjs); tests import it through fake-secutools.ts, typed by fake-secutools-core.d.mts.
import {createHash} from 'node:crypto'
import http from 'node:http'

const BASE = '/api/v1'

/** @param {import('./fake-secutools-core.d.mts').FakeOptions} [options] */
export async function startFakeSecutools(options = {}) {
  const apiKey = options.apiKey ?? `sk-fake-${createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 24)}`
  const idPrefix = options.idPrefix ?? 'j-'
  const now = options.now ?? (() => new Date())
  let latencyMs = options.latencyMs ?? 0
  let nextNumber = 1
  /** @type {Map<string, any>} */
  const jobs = new Map()
  /** idempotency key -> {id, bodyHash} */
  const keys = new Map()
  /** job id -> GETs answered */
  const polls = new Map()
  /** job id -> ms since epoch when created */
  const createdMs = new Map()
  /** @type {any[]} */
  const requests = []
  /** @type {any[]} */
  const faults = []
  /** @type {string[]} */
  const hostile = []
  let autoRule = options.autoComplete
  /** Rate-based faults (flaky()): each request draws once; undefined = off. */
  let flakiness
  const sockets = new Set()

  function addFault(kind, times, details = {}) {
    if (times > 0) faults.push({kind, left: times, ...details})
  }

  /** The first fault that applies to this request, consumed once; else one drawn from flaky()'s rates. */
  function takeFault(method) {
    const fault = faults.find((f) => f.left > 0 && (!f.method || f.method === method))
    if (!fault) return drawFault()
    fault.left -= 1
    return fault
  }

  function drawFault() {
    if (!flakiness) return undefined
    const {serverError = 0, tooMany = 0, reset = 0, lost = 0, random = Math.random} = flakiness
    let roll = random()
    if ((roll -= serverError) < 0) return {kind: 'status', status: 500 + Math.floor(random() * 4)}
    if ((roll -= tooMany) < 0) return {kind: 'status', status: 429, retryAfter: 0}
    if ((roll -= reset) < 0) return {kind: 'reset', after: false}
    if ((roll -= lost) < 0) return {kind: 'reset', after: true}
    return undefined
  }

  function maybeAutoComplete(job) {
    if (!autoRule || job.status === 'completed' || job.status === 'failed' || job.status === 'cancelled') return
    const rule = autoRule
    const byPolls = rule.afterPolls !== undefined && (polls.get(job.id) ?? 0) >= rule.afterPolls
    const byTime = rule.afterMs !== undefined && now().getTime() - (createdMs.get(job.id) ?? 0) >= rule.afterMs
    if (!byPolls && !byTime) {
      if (job.status === 'queued' && (polls.get(job.id) ?? 0) > 0) job.status = 'running'
      return
    }

    const status = (typeof rule.status === 'function' ? rule.status(job) : rule.status) ?? 'completed'
    job.status = status
    job.finished_at = now().toISOString()
    job.cost_usd = rule.cost_usd === undefined ? 0.0042 : rule.cost_usd
    if (status === 'completed') {
      job.result = typeof rule.result === 'function' ? rule.result(job) : (rule.result ?? defaultResult(job))
    } else {
      job.error = rule.error ?? `the ${job.provider} worker failed`
    }
  }

  function defaultResult(job) {
    const firstLine = String(job.prompt ?? '').split('\n').find((line) => line.trim()) ?? ''
    return `Done by the fake ${job.provider} worker: ${firstLine.trim()}`
  }

  function publicJob(job) {
    const {prompt: _prompt, metadata: _metadata, complexity: _complexity, ...rest} = job
    return rest
  }

  function send(res, status, body, extraHeaders = {}) {
    const text = typeof body === 'string' ? body : JSON.stringify(body)
    res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extraHeaders})
    res.end(text)
  }

  /** Answers a request after any configured fault; `handle` does the real work and returns [status, body]. */
  async function answer(req, res, entry, handle) {
    const fault = takeFault(entry.method)
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs))
    if (fault?.kind === 'hang') await new Promise((resolve) => setTimeout(resolve, fault.ms))
    if (fault?.kind === 'reset' && !fault.after) {
      entry.answered = 'reset'
      req.socket.destroy()
      return
    }

    if (fault?.kind === 'status') {
      entry.answered = fault.status
      const headers = fault.retryAfter === undefined ? {} : {'retry-after': String(fault.retryAfter)}
      send(res, fault.status, fault.body ?? {error: `fake fault: HTTP ${fault.status}`}, headers)
      return
    }

    if (fault?.kind === 'redirect') {
      // A redirect that carries a job-shaped body: neither followed nor taken for an answer.
      entry.answered = fault.status
      send(res, fault.status, {id: 'j-redirected', status: 'queued'}, {location: fault.location})
      return
    }

    if (fault?.kind === 'raw') {
      entry.answered = fault.status
      send(res, fault.status, fault.body)
      return
    }

    const [status, body] = handle()
    if (fault?.kind === 'reset') {
      // The work is done (a job created), but the answer never arrives: the case idempotency keys exist for.
      entry.answered = 'reset'
      req.socket.destroy()
      return
    }

    entry.answered = status
    if (fault?.kind === 'cut' || fault?.kind === 'stall') {
      // The headers (with the full Content-Length) and half the body go out, then the connection is cut,
      // or (stall) nothing more is sent: the job is made, the client holds a status line but no answer.
      const text = JSON.stringify(body)
      res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text)})
      res.write(text.slice(0, Math.max(1, Math.floor(text.length / 2))))
      entry.answered = `${status}, ${fault.kind}`
      if (fault.kind === 'cut') setTimeout(() => req.socket.destroy(), 20)
      return
    }

    if (fault?.kind === 'truncate') {
      const text = JSON.stringify(body)
      send(res, status, text.slice(0, Math.max(1, Math.floor(text.length / 2))))
      return
    }

    send(res, status, body)
  }

  function createJob(payload) {
    const id = hostile.length > 0 ? hostile.shift() : `${idPrefix}${nextNumber++}`
    const job = {
      id,
      status: 'queued',
      provider: payload.provider,
      result: null,
      error: null,
      cost_usd: null,
      created_at: now().toISOString(),
      finished_at: null,
      prompt: payload.prompt,
      complexity: payload.complexity ?? null,
      metadata: payload.metadata,
    }
    jobs.set(id, job)
    createdMs.set(id, now().getTime())
    return job
  }

  function handlePost(entry, raw) {
    if (!entry.idempotencyKey) return [400, {error: 'Idempotency-Key header is required'}]
    let payload
    try {
      payload = JSON.parse(raw)
    } catch {
      return [400, {error: 'body is not JSON'}]
    }

    entry.body = payload
    if (!payload || typeof payload.provider !== 'string' || typeof payload.prompt !== 'string' || typeof payload.metadata !== 'object') {
      return [422, {error: 'provider, prompt and metadata are required'}]
    }

    if (options.providers && !options.providers.includes(payload.provider)) {
      return [422, {error: `unknown provider ${payload.provider}`}]
    }

    const bodyHash = createHash('sha256').update(raw).digest('hex')
    const seen = keys.get(entry.idempotencyKey)
    if (seen) {
      if (seen.bodyHash !== bodyHash) return [422, {error: 'Idempotency-Key reused with a different body'}]
      const job = jobs.get(seen.id)
      return [200, {id: job.id, status: job.status}]
    }

    const job = createJob(payload)
    keys.set(entry.idempotencyKey, {id: job.id, bodyHash})
    return [201, {id: job.id, status: job.status}]
  }

  function handleGet(id) {
    const job = jobs.get(id)
    if (!job) return [404, {error: `no job ${id}`}]
    polls.set(id, (polls.get(id) ?? 0) + 1)
    maybeAutoComplete(job)
    return [200, publicJob(job)]
  }

  /** Unauthenticated control routes for a standalone fake (the demo): complete or fail a job by hand. */
  function handleControl(method, path, raw) {
    const match = /^\/_fake\/jobs\/([^/]+)$/.exec(path)
    if (method === 'GET' && path === '/_fake/jobs') return [200, [...jobs.values()]]
    if (!match) return [404, {error: 'unknown control route'}]
    const id = decodeURIComponent(match[1])
    if (!jobs.has(id)) return [404, {error: `no job ${id}`}]
    if (method !== 'PATCH' && method !== 'POST') return [405, {error: 'use PATCH'}]
    let patch
    try {
      patch = JSON.parse(raw || '{}')
    } catch {
      return [400, {error: 'body is not JSON'}]
    }

    return [200, api.setJob(id, patch)]
  }

  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const url = new URL(req.url ?? '/', 'http://fake')
      const path = url.pathname
      if (path.startsWith('/_fake/')) {
        const [status, body] = handleControl(req.method, path, raw)
        send(res, status, body)
        return
      }

      const entry = {
        method: req.method,
        path,
        authOk: req.headers.authorization === `Bearer ${apiKey}`,
        idempotencyKey: req.headers['idempotency-key'] ?? null,
        userAgent: req.headers['user-agent'] ?? null,
        accept: req.headers.accept ?? null,
        body: undefined,
        answered: undefined,
        at: Date.now(),
      }
      requests.push(entry)
      void answer(req, res, entry, () => {
        if (!entry.authOk) return [401, {error: 'invalid API key'}]
        if (req.method === 'POST' && path === `${BASE}/jobs`) return handlePost(entry, raw)
        const get = new RegExp(`^${BASE}/jobs/([^/]+)$`).exec(path)
        if (req.method === 'GET' && get) return handleGet(decodeURIComponent(get[1]))
        return [404, {error: `no route ${req.method} ${path}`}]
      })
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve)
  })
  const address = server.address()
  const origin = `http://${address.address}:${address.port}`

  const api = {
    url: origin + BASE,
    origin,
    apiKey,
    requests,
    jobs,
    setJob(id, patch) {
      const job = jobs.get(id)
      if (!job) throw new Error(`fake secutools: no job ${id}`)
      Object.assign(job, patch)
      if ((patch.status === 'completed' || patch.status === 'failed' || patch.status === 'cancelled') && patch.finished_at === undefined) {
        job.finished_at = now().toISOString()
      }

      return publicJob(job)
    },
    complete(id, {result, cost_usd: cost = 0.0042} = {}) {
      return api.setJob(id, {status: 'completed', result: result ?? defaultResult(jobs.get(id) ?? {}), cost_usd: cost})
    },
    fail(id, error = 'the worker failed') {
      return api.setJob(id, {status: 'failed', error})
    },
    autoComplete(rule) {
      autoRule = rule
    },
    setLatency(ms) {
      latencyMs = ms
    },
    failNext(times, {status = 503, retryAfter, body, method} = {}) {
      addFault('status', times, {status, retryAfter, body, method})
    },
    answerNext(times, {status = 200, body, method} = {}) {
      addFault('raw', times, {status, body: typeof body === 'string' ? body : JSON.stringify(body), method})
    },
    resetNext(times, {after = false, method} = {}) {
      addFault('reset', times, {after, method})
    },
    truncateNext(times, {method} = {}) {
      addFault('truncate', times, {method})
    },
    cutBodyNext(times, {method} = {}) {
      addFault('cut', times, {method})
    },
    stallBodyNext(times, {method} = {}) {
      addFault('stall', times, {method})
    },
    redirectNext(times, {status = 302, location = `${origin}/elsewhere`, method} = {}) {
      addFault('redirect', times, {status, location, method})
    },
    hangNext(times, ms, {method} = {}) {
      addFault('hang', times, {ms, method})
    },
    hostileIds(...ids) {
      hostile.push(...ids)
    },
    flaky(rates) {
      flakiness = rates
    },
    clearFaults() {
      faults.length = 0
      hostile.length = 0
      flakiness = undefined
    },
    /** Jobs created so far (not replays). */
    jobCount() {
      return jobs.size
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(() => resolve(undefined)))
    },
  }
  return api
}
