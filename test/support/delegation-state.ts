// Delegation states for in-process routing tests (decide, the frontmatter fuzz): on, with the spec's
// three providers, and off for the usual reason.
import type {DelegationState} from '../../src/lib/config/load.js'

export const DELEGATION_ON: Extract<DelegationState, {on: true}> = {
  on: true,
  apiKey: 'k',
  settings: {
    base_url: 'https://secutools.example/api/v1',
    api_key_env: 'SECUTOOLS_API_KEY',
    providers: ['gpu', 'gemini', 'claude-api'],
    complexity_map: {low: 'gemini', medium: 'gpu', high: 'claude-api'},
    default_provider: 'gemini',
    timeout: 30_000,
    retries: 5,
    concurrency: 8,
    job_timeout: 6 * 3_600_000,
  },
}
