import type {DelegationState} from '../config/load.js'
import type {ClientOptions, RetryInfo, SecutoolsClient} from './client.js'

type DelegationOn = Extract<DelegationState, {on: true}>

/** Reads a non-negative whole number of milliseconds from a test knob; anything else is ignored. */
function knob(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name]
  if (text === undefined || !/^\d+$/.test(text)) return undefined
  return Number(text)
}

/**
 * Client options from the config's delegation block. Two knobs exist for the test suite only,
 * so that spawned commands retry in milliseconds instead of seconds:
 * CCL_TEST_BACKOFF_BASE_MS (first backoff step, also the first poll interval of `delegate result --wait`)
 * and CCL_TEST_MAX_RETRY_AFTER_MS (cap on Retry-After).
 */
export function clientOptionsFor(
  delegation: DelegationOn,
  env: NodeJS.ProcessEnv,
  extra: {userAgent?: string; onRetry?: (info: RetryInfo) => void} = {},
): ClientOptions {
  const backoffBaseMs = knob(env, 'CCL_TEST_BACKOFF_BASE_MS')
  const maxRetryAfterMs = knob(env, 'CCL_TEST_MAX_RETRY_AFTER_MS')
  return {
    baseUrl: delegation.settings.base_url,
    apiKey: delegation.apiKey,
    apiKeyEnv: delegation.settings.api_key_env,
    timeoutMs: delegation.settings.timeout,
    retries: delegation.settings.retries,
    ...(backoffBaseMs === undefined ? {} : {backoffBaseMs}),
    ...(maxRetryAfterMs === undefined ? {} : {maxRetryAfterMs}),
    ...extra,
  }
}

/** The client for a command: got (and the client module) load only here, when a request is really made. */
export async function connect(
  delegation: DelegationOn,
  env: NodeJS.ProcessEnv,
  extra: {userAgent?: string; onRetry?: (info: RetryInfo) => void} = {},
): Promise<SecutoolsClient> {
  const {createClient} = await import('./client.js')
  return createClient(clientOptionsFor(delegation, env, extra))
}

/** The stderr line a command prints before a retry wait. */
export function describeRetry(info: RetryInfo): string {
  return `secutools: ${info.reason}; retrying in ${(info.delayMs / 1000).toFixed(1)}s (attempt ${info.attempt + 1})`
}
