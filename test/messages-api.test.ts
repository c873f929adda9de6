import {afterEach, describe, expect, it} from 'vitest'

import {type MessagesApi, startMessagesApi} from './support/messages-api.mjs'

// The Messages API stand-in the real-CLI lane (test/real) runs against. These checks keep it honest in the
// default lane, where the CLI is not installed: the event stream, the scripts by token, the usage-limit 429.

let api: MessagesApi | undefined

afterEach(async () => {
  await api?.close()
  api = undefined
})

function ask(token: string, content: unknown, extra: Record<string, unknown> = {}) {
  return fetch(`${api!.url}/v1/messages?beta=true`, {
    method: 'POST',
    headers: {authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-claude-code-session-id': 's-1'},
    body: JSON.stringify({model: 'claude-opus-5-5', stream: true, max_tokens: 100, messages: [{role: 'user', content}], tools: [{name: 'Bash'}], ...extra}),
  })
}

/** The server-sent events of a streamed answer, as [event, data] pairs. */
async function events(response: Response): Promise<[string, Record<string, unknown>][]> {
  const text = await response.text()
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((chunk) => {
      const [eventLine, dataLine] = chunk.split('\n')
      const data = JSON.parse(dataLine!.slice('data: '.length)) as Record<string, unknown>
      expect(data.type).toBe(eventLine!.slice('event: '.length))
      return [eventLine!.slice('event: '.length), data]
    })
}

describe('messages api stand-in', () => {
  it('streams a text answer in the order the real API does, and records the prompt without system reminders', async () => {
    api = await startMessagesApi({scripts: {'tok-a': [{text: 'Hello there.'}]}})
    const response = await ask('tok-a', [
      {type: 'text', text: '<system-reminder>\nattribution\n</system-reminder>\n'},
      {type: 'text', text: 'Say hello'},
    ])
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/event-stream')
    const stream = await events(response)
    expect(stream.map(([name]) => name)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ])
    const text = stream
      .filter(([name]) => name === 'content_block_delta')
      .map(([, data]) => (data.delta as {type: string; text: string}).text)
      .join('')
    expect(text).toBe('Hello there.')
    expect(stream[6]![1]).toMatchObject({delta: {stop_reason: 'end_turn'}})
    expect(api.requests).toMatchObject([{token: 'tok-a', path: '/v1/messages', query: '?beta=true', sessionId: 's-1', prompt: 'Say hello', stream: true, answer: 'text', tools: ['Bash']}])
  })

  it('answers a Bash tool_use, then ends the turn with text once the tool_result comes back', async () => {
    api = await startMessagesApi()
    api.script('tok-a', [{bash: 'mv /q/pending/t.md /q/done/', then: 'Moved.'}])
    const stream = await events(await ask('tok-a', 'Do /q/pending/t.md'))
    const start = stream.find(([name]) => name === 'content_block_start')![1] as {content_block: {type: string; id: string; name: string}}
    expect(start.content_block).toMatchObject({type: 'tool_use', name: 'Bash'})
    const json = stream
      .filter(([name]) => name === 'content_block_delta')
      .map(([, data]) => (data.delta as {type: string; partial_json: string}))
    expect(json.every((d) => d.type === 'input_json_delta')).toBe(true)
    expect(JSON.parse(json.map((d) => d.partial_json).join(''))).toMatchObject({command: 'mv /q/pending/t.md /q/done/'})
    expect(stream.find(([name]) => name === 'message_delta')![1]).toMatchObject({delta: {stop_reason: 'tool_use'}})

    const after = await events(await ask('tok-a', [{type: 'tool_result', tool_use_id: start.content_block.id, content: '(Bash completed with no output)'}]))
    expect(after.find(([name]) => name === 'message_delta')![1]).toMatchObject({delta: {stop_reason: 'end_turn'}})
    expect(api.requests[1]).toMatchObject({prompt: null, toolResults: [{toolUseId: start.content_block.id, isError: false, content: '(Bash completed with no output)'}]})
    // Used up: the fallback answers.
    await ask('tok-a', 'more')
    expect(api.requests.map((r) => r.answer)).toEqual(['tool_use', 'text', 'text'])
  })

  it("limits one token with the usage-limit 429 until it is lifted at the given time; other tokens go on", async () => {
    let clock = Date.parse('2026-12-01T21:00:00Z')
    api = await startMessagesApi({now: () => clock, scripts: {'tok-a': [{text: 'after the reset'}], 'tok-b': [{text: 'b is fine'}]}})
    const resetAt = Date.parse('2026-12-01T21:37:00Z') / 1000
    api.limit('tok-a', {resetAt})
    const limited = await ask('tok-a', 'hi')
    expect(limited.status).toBe(429)
    expect(limited.headers.get('anthropic-ratelimit-unified-status')).toBe('rejected')
    expect(limited.headers.get('anthropic-ratelimit-unified-reset')).toBe(String(resetAt))
    expect(limited.headers.get('anthropic-ratelimit-unified-representative-claim')).toBe('five_hour')
    expect(await limited.json()).toMatchObject({type: 'error', error: {type: 'rate_limit_error'}})
    expect((await ask('tok-b', 'hi')).status).toBe(200)

    clock = resetAt * 1000 // lifted at the reset time by default
    expect((await ask('tok-a', 'hi')).status).toBe(200)
    expect(api.messages('tok-a').map((r) => r.answer)).toEqual(['limit', 'text'])
  })

  it('records what it has no route for and answers it 404 with the API error body', async () => {
    api = await startMessagesApi()
    const response = await fetch(`${api.url}/v1/models`, {headers: {authorization: 'Bearer tok-a'}})
    expect(response.status).toBe(404)
    expect(await response.json()).toMatchObject({type: 'error', error: {type: 'not_found_error'}})
    expect(api.unknown()).toMatchObject([{method: 'GET', path: '/v1/models', token: 'tok-a'}])
  })
})
