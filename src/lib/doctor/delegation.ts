// Delegation on or off, and when on, whether secutools is reachable and takes the key: a GET of a
// job id that cannot exist, through the one secutools client. The key is never printed.
import {randomBytes} from 'node:crypto'

import {type DelegationState, delegationState} from '../config/read.js'
import type {Config} from '../config/schema.js'
import {ApiError, errorMessage} from '../errors.js'
import {clientOptionsFor} from '../secutools/options.js'
import {type DoctorCheck, fail, pass, warn} from './report.js'

/** A wrong key for the control request: a server that answers it 404 too is not checking keys on that path. */
const WRONG_KEY = 'ccl-doctor-not-a-key'

export async function checkDelegation(config: Config, env: NodeJS.ProcessEnv): Promise<DoctorCheck[]> {
  const at = {id: 'delegation'}
  const state = delegationState(config, env)
  if (!state.on) {
    if (!config.delegation) return [pass(at, `delegation: off (no delegation block in ${config.file}): every task runs locally`)]
    const name = config.delegation.api_key_env
    return [
      fail(
        at,
        `delegation: off: ${config.file} has a delegation block but $${name} is not set or empty here, so every task stays local and ccl delegate exits 3`,
        `set ${name} in the environment ccl runs with (systemd: ~/.config/ccl/env; cron: the cron file), or remove the delegation block`,
      ),
    ]
  }

  const on = pass(at, `delegation: on ($${state.settings.api_key_env} is set; providers ${state.settings.providers.join(', ')})`)
  return [on, await probe(config, state, env)]
}

async function probe(config: Config, state: Extract<DelegationState, {on: true}>, env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const at = {id: 'delegation.api'}
  const base = state.settings.base_url
  const {createClient} = await import('../secutools/client.js')
  // One retry and a short timeout: a doctor answers in seconds, the timers' runs retry for real.
  const options = {...clientOptionsFor(state, env), retries: 1, timeoutMs: Math.min(state.settings.timeout, 10_000)}
  const id = `ccl-doctor-${randomBytes(6).toString('hex')}`
  const ask = async (apiKey: string): Promise<'found' | ApiError | Error> => {
    try {
      await (await createClient({...options, apiKey})).getJob(id)
      return 'found'
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error))
    }
  }

  const [answer, control] = await Promise.all([ask(state.apiKey), ask(WRONG_KEY)])
  const fixKey = `check the key in $${state.settings.api_key_env} (ccl never prints it)`
  if (answer === 'found' || (answer instanceof ApiError && answer.kind === 'not_found')) {
    if (control === 'found' || (control instanceof ApiError && control.kind === 'not_found')) {
      return warn(at, `secutools: ${base} answered GET /jobs/${id} with ${control === 'found' ? 'a job' : '404'} even with a wrong key: reachable, but the key could not be checked`, `is delegation.base_url right? it should end in /api/v1 (${config.file})`)
    }

    return pass(at, `secutools: ${base} reachable, key accepted (GET /jobs/<unknown id> answered 404)`)
  }

  if (answer instanceof ApiError) {
    switch (answer.kind) {
      case 'unauthorized': {
        return fail(at, `secutools: ${base} refused the key in $${state.settings.api_key_env} (HTTP ${answer.status ?? '401/403'})`, fixKey)
      }

      case 'unavailable': {
        return fail(at, `secutools: ${answer.message}`, `check delegation.base_url in ${config.file}, the network, and the platform's status`)
      }

      default: {
        return fail(at, `secutools: ${answer.message}`, `is delegation.base_url right? it should end in /api/v1 (${config.file})`)
      }
    }
  }

  return fail(at, `secutools: ${base}: ${errorMessage(answer)}`, `check delegation.base_url in ${config.file}`)
}
