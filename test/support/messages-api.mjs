// A stand-in for the Anthropic Messages API on 127.0.0.1, for the tests that run the real Claude Code CLI
// (test/real/, docs/real-claude-code.md). Plain JavaScript like fake-secutools-core.mjs, typed by
// messages-api.d.mts.
//
// Claude Code 2.1.328 under a subscription login calls only `POST /v1/messages?beta=true` with
// `stream: true`; each account is told apart by `Authorization: Bearer <accessToken>`. Every answer is
// decided by the script of that token: a list of steps consumed one per request, or a function. A usage
// limit set for a token answers every request with the 429 the real API sends until it is lifted.
// Anything else (another path, a request without `stream`) is recorded and answered the way the real
// API would answer a route it does not have (404) or with a plain JSON message.
import {randomBytes} from 'node:crypto'
import http from 'node:http'

/** @typedef {import('./messages-api.d.mts').Step} Step */
/** @typedef {import('./messages-api.d.mts').ApiRequest} ApiRequest */

const DEFAULT_STEP = {text: 'Done.'}

/** @param {import('./messages-api.d.mts').MessagesApiOptions} [options] */
export async function startMessagesApi(options = {}) {
  const now = options.now ?? (() => Date.now())
  const fallback = options.fallback ?? DEFAULT_STEP
  /** @type {ApiRequest[]} */
  const requests = []
  /** token -> Step[] | function */
  const scripts = new Map()
  /** token -> {resetAt: epoch seconds, until: ms, claim} */
  const limits = new Map()
  const sockets = new Set()
  let nextId = 1

  const id = (prefix) => `${prefix}${String(nextId++).padStart(4, '0')}${randomBytes(6).toString('hex')}`

  /** The step that answers this request: a limit first, then the token's script, then the fallback. */
  function decide(entry) {
    const limit = limits.get(entry.token)
    if (limit && now() < limit.until) return {limit: {resetAt: limit.resetAt, claim: limit.claim}}
    if (limit) limits.delete(entry.token)
    const script = scripts.get(entry.token)
    if (typeof script === 'function') return script(entry) ?? fallback
    if (Array.isArray(script) && script.length > 0) return script.shift()
    return typeof fallback === 'function' ? fallback(entry) : fallback
  }

  /** Steps with a follow-up (`bash` + `then`) become two steps: the tool call now, the text after its result. */
  function expand(steps) {
    return steps.flatMap((step) => (step.bash !== undefined && step.then !== undefined ? [{...step, then: undefined}, {text: step.then}] : [step]))
  }

  function sendJson(res, status, body, headers = {}) {
    const text = JSON.stringify(body)
    res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'request-id': id('req_'), ...headers})
    res.end(text)
  }

  /** The 429 of a subscription usage limit: the unified headers the CLI reads, and the body the real API sends. */
  function sendLimit(res, limit) {
    sendJson(
      res,
      429,
      {type: 'error', error: {type: 'rate_limit_error', message: "This request would exceed your account's rate limit. Please try again later."}, request_id: id('req_')},
      {
        'anthropic-ratelimit-unified-status': 'rejected',
        'anthropic-ratelimit-unified-reset': String(limit.resetAt),
        'anthropic-ratelimit-unified-representative-claim': limit.claim ?? 'five_hour',
        'anthropic-ratelimit-unified-5h-status': 'rejected',
        'anthropic-ratelimit-unified-5h-reset': String(limit.resetAt),
        'anthropic-ratelimit-unified-5h-utilization': '1.0',
        'retry-after': String(Math.max(0, limit.resetAt - Math.floor(now() / 1000))),
      },
    )
  }

  /** The content blocks of one step, as the finished message would hold them. */
  function blocks(step) {
    const out = []
    if (step.text !== undefined) out.push({type: 'text', text: step.text})
    if (step.bash !== undefined) {
      out.push({type: 'tool_use', id: id('toolu_'), name: 'Bash', input: {command: step.bash, description: step.description ?? 'Run the command'}})
    }

    if (step.toolUse !== undefined) out.push({type: 'tool_use', id: id('toolu_'), name: step.toolUse.name, input: step.toolUse.input})
    return out
  }

  /** Server-sent events of one streamed message, in the order the real API sends them. */
  function stream(res, model, content, delayMs) {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'request-id': id('req_'),
      'anthropic-ratelimit-unified-status': 'allowed',
    })
    const events = []
    const event = (type, data) => events.push(`event: ${type}\ndata: ${JSON.stringify({type, ...data})}\n\n`)
    const toolUse = content.some((block) => block.type === 'tool_use')
    event('message_start', {
      message: {id: id('msg_'), type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: {input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1}},
    })
    event('ping', {})
    content.forEach((block, index) => {
      if (block.type === 'text') {
        event('content_block_start', {index, content_block: {type: 'text', text: ''}})
        // Two deltas, so the CLI's joining of a streamed text is exercised too.
        const half = Math.ceil(block.text.length / 2)
        for (const part of [block.text.slice(0, half), block.text.slice(half)]) {
          if (part) event('content_block_delta', {index, delta: {type: 'text_delta', text: part}})
        }
      } else {
        event('content_block_start', {index, content_block: {type: 'tool_use', id: block.id, name: block.name, input: {}}})
        const json = JSON.stringify(block.input)
        const half = Math.ceil(json.length / 2)
        for (const part of [json.slice(0, half), json.slice(half)]) event('content_block_delta', {index, delta: {type: 'input_json_delta', partial_json: part}})
      }

      event('content_block_stop', {index})
    })
    event('message_delta', {delta: {stop_reason: toolUse ? 'tool_use' : 'end_turn', stop_sequence: null}, usage: {output_tokens: 20}})
    event('message_stop', {})
    const write = () => {
      res.write(events.shift())
      if (events.length === 0) res.end()
      else if (delayMs > 0) setTimeout(write, delayMs)
      else write()
    }

    write()
  }

  function answerMessages(res, entry, body) {
    const step = decide(entry)
    if (step.limit) {
      entry.answered = 429
      entry.answer = 'limit'
      sendLimit(res, step.limit)
      return
    }

    if (step.status !== undefined) {
      entry.answered = step.status
      entry.answer = 'error'
      sendJson(res, step.status, step.body ?? {type: 'error', error: {type: 'api_error', message: 'Internal server error'}})
      return
    }

    const content = blocks(step)
    entry.answered = 200
    entry.answer = content.some((block) => block.type === 'tool_use') ? 'tool_use' : 'text'
    entry.toolUses = content.filter((block) => block.type === 'tool_use').map((block) => ({id: block.id, name: block.name, input: block.input}))
    if (body.stream) {
      stream(res, body.model, content, step.delayMs ?? 0)
      return
    }

    sendJson(res, 200, {
      id: id('msg_'),
      type: 'message',
      role: 'assistant',
      model: body.model,
      content,
      stop_reason: entry.answer === 'tool_use' ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: {input_tokens: 12, output_tokens: 20},
    })
  }

  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const url = new URL(req.url ?? '/', 'http://stand-in')
      let body = {}
      try {
        body = raw ? JSON.parse(raw) : {}
      } catch {
        body = {}
      }

      const auth = String(req.headers.authorization ?? '')
      /** @type {ApiRequest} */
      const entry = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.search,
        token: auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : null,
        apiKey: typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : null,
        sessionId: typeof req.headers['x-claude-code-session-id'] === 'string' ? req.headers['x-claude-code-session-id'] : null,
        userAgent: req.headers['user-agent'] ?? null,
        model: typeof body.model === 'string' ? body.model : null,
        stream: body.stream === true,
        ...lastUserTurn(body.messages),
        tools: Array.isArray(body.tools) ? body.tools.map((tool) => tool.name) : [],
        body,
        answered: undefined,
        answer: undefined,
        toolUses: [],
        at: now(),
      }
      requests.push(entry)
      options.onRequest?.(entry)
      if (req.method === 'POST' && url.pathname === '/v1/messages') {
        answerMessages(res, entry, body)
        return
      }

      entry.answered = 404
      entry.answer = 'unknown'
      sendJson(res, 404, {type: 'error', error: {type: 'not_found_error', message: `Not found: ${req.method} ${url.pathname}`}})
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
  const url = `http://${address.address}:${address.port}`

  const self = {
    url,
    requests,
    script(token, script) {
      scripts.set(token, typeof script === 'function' ? script : expand(script))
    },
    push(token, ...steps) {
      const script = scripts.get(token)
      if (typeof script === 'function') throw new Error(`messages api: ${token} is scripted by a function`)
      scripts.set(token, [...(script ?? []), ...expand(steps)])
    },
    limit(token, {resetAt, until, claim = 'five_hour'}) {
      const resetS = Math.floor(resetAt instanceof Date ? resetAt.getTime() / 1000 : resetAt)
      const untilMs = until === undefined ? resetS * 1000 : until instanceof Date ? until.getTime() : until
      limits.set(token, {resetAt: resetS, until: untilMs, claim})
    },
    lift(token) {
      limits.delete(token)
    },
    messages(token) {
      return requests.filter((r) => r.path === '/v1/messages' && (token === undefined || r.token === token))
    },
    unknown() {
      return requests.filter((r) => r.answer === 'unknown')
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(() => resolve(undefined)))
    },
  }
  for (const [token, script] of Object.entries(options.scripts ?? {})) self.script(token, script)
  return self
}

/**
 * What the last user turn says: its prompt text (Claude Code puts `<system-reminder>` blocks before the
 * typed prompt, and may add `role: "system"` entries after the turn) and any tool results it carries.
 */
export function lastUserTurn(messages) {
  const turns = Array.isArray(messages) ? messages.filter((m) => m && m.role === 'user') : []
  const last = turns.at(-1)
  if (!last) return {prompt: null, toolResults: []}
  const content = typeof last.content === 'string' ? [{type: 'text', text: last.content}] : Array.isArray(last.content) ? last.content : []
  const texts = content.filter((b) => b.type === 'text' && typeof b.text === 'string' && !b.text.startsWith('<system-reminder>')).map((b) => b.text)
  const toolResults = content
    .filter((b) => b.type === 'tool_result')
    .map((b) => ({
      toolUseId: b.tool_use_id,
      isError: b.is_error === true,
      content: typeof b.content === 'string' ? b.content : Array.isArray(b.content) ? b.content.map((c) => c.text ?? '').join('') : '',
    }))
  return {prompt: texts.length > 0 ? texts.join('\n') : null, toolResults}
}
