// Types of messages-api.mjs, the Anthropic Messages API stand-in (kept in JavaScript like the secutools fake).

/** How the stand-in answers one request to POST /v1/messages. */
export type Step =
  /** A text answer that ends the turn (stop_reason end_turn). */
  | {text: string; delayMs?: number}
  /**
   * A `tool_use` block for the Bash tool (stop_reason tool_use), after an optional text block. With `then`,
   * the next request of that token (the one carrying the tool_result) is answered with that text.
   */
  | {bash: string; description?: string; text?: string; then?: string; delayMs?: number}
  /** A `tool_use` block for any tool. */
  | {toolUse: {name: string; input: Record<string, unknown>}; text?: string; delayMs?: number}
  /** The 429 of a usage limit, once. */
  | {limit: {resetAt: number; claim?: string}}
  /** Any other error status with the API's error body (default: 500 api_error). */
  | {status: number; body?: unknown}

/** A script: steps consumed one per request, or a function deciding each answer. */
export type Script = Step[] | ((request: ApiRequest) => Step | undefined)

export interface ToolResult {
  toolUseId: string
  isError: boolean
  /** The result's text (text parts joined). */
  content: string
}

export interface ApiRequest {
  method: string
  path: string
  /** e.g. "?beta=true" */
  query: string
  /** The bearer token (a subscription login's accessToken), or null. */
  token: string | null
  /** x-api-key (API-key mode), or null. */
  apiKey: string | null
  /** The x-claude-code-session-id header. */
  sessionId: string | null
  userAgent: string | null
  model: string | null
  stream: boolean
  /** The last user turn's typed text (system reminders left out), or null when it only carries tool results. */
  prompt: string | null
  toolResults: ToolResult[]
  /** Names of the tools offered. */
  tools: string[]
  /** The parsed JSON body. */
  body: {messages?: {role: string; content: unknown}[]; [key: string]: unknown}
  /** The status answered. */
  answered: number | undefined
  answer: 'text' | 'tool_use' | 'limit' | 'error' | 'unknown' | undefined
  /** The tool_use blocks sent in the answer. */
  toolUses: {id: string; name: string; input: Record<string, unknown>}[]
  /** ms since epoch, by the `now` option. */
  at: number
}

export interface MessagesApiOptions {
  host?: string
  port?: number
  /** Scripts by bearer token. */
  scripts?: Record<string, Script>
  /** The answer when a token has no script or its steps are used up (default: text "Done."). */
  fallback?: Step | ((request: ApiRequest) => Step)
  /** The clock limits are lifted by (ms since epoch). */
  now?: () => number
  /** Called for every request as it arrives, before it is answered. */
  onRequest?: (request: ApiRequest) => void
}

export interface LimitOptions {
  /** The reset time the 429 announces: epoch seconds or a Date. */
  resetAt: number | Date
  /** When the stand-in stops answering 429 (ms since epoch or a Date); default: resetAt. */
  until?: number | Date
  /** anthropic-ratelimit-unified-representative-claim; default five_hour. */
  claim?: string
}

export interface MessagesApi {
  /** http://127.0.0.1:PORT: ANTHROPIC_BASE_URL. */
  url: string
  /** Every request, in order of arrival. */
  requests: ApiRequest[]
  /** Replaces the token's script. */
  script(token: string, script: Script): void
  /** Appends steps to the token's list. */
  push(token: string, ...steps: Step[]): void
  /** Every request of this token answers the usage-limit 429 until `until`. */
  limit(token: string, options: LimitOptions): void
  lift(token: string): void
  /** Requests to /v1/messages, of one token if given. */
  messages(token?: string): ApiRequest[]
  /** Requests the stand-in has no route for (answered 404). */
  unknown(): ApiRequest[]
  close(): Promise<void>
}

export function startMessagesApi(options?: MessagesApiOptions): Promise<MessagesApi>

export function lastUserTurn(messages: unknown): {prompt: string | null; toolResults: ToolResult[]}
