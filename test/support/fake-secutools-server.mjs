#!/usr/bin/env node
// The fake secutools API as a process, for the demo and for manual runs:
//   node test/support/fake-secutools-server.mjs [--port N] [--api-key KEY] [--latency MS]
//        [--complete-after-polls N] [--complete-after-ms MS] [--fail-jobs] [--cost USD]
// Prints one line on stdout, the base URL for `delegation.base_url` (…/api/v1), then logs each request on stderr.
// The key is --api-key, else $SECUTOOLS_API_KEY, else a random one printed on stderr.
// Control routes (no auth): GET /_fake/jobs lists jobs; PATCH /_fake/jobs/ID {"status":"completed","result":"…"} changes one.
// Stops on SIGINT/SIGTERM.
import {parseArgs} from 'node:util'

import {startFakeSecutools} from './fake-secutools-core.mjs'

const {values} = parseArgs({
  options: {
    port: {type: 'string', default: '0'},
    'api-key': {type: 'string'},
    latency: {type: 'string', default: '0'},
    'complete-after-polls': {type: 'string'},
    'complete-after-ms': {type: 'string'},
    'fail-jobs': {type: 'boolean', default: false},
    cost: {type: 'string'},
  },
})

const number = (text) => (text === undefined ? undefined : Number(text))
const auto = values['complete-after-polls'] !== undefined || values['complete-after-ms'] !== undefined
  ? {
      afterPolls: number(values['complete-after-polls']),
      afterMs: number(values['complete-after-ms']),
      status: values['fail-jobs'] ? 'failed' : 'completed',
      ...(values.cost === undefined ? {} : {cost_usd: Number(values.cost)}),
    }
  : undefined

const fake = await startFakeSecutools({
  port: Number(values.port),
  apiKey: values['api-key'] ?? (process.env.SECUTOOLS_API_KEY || undefined),
  latencyMs: Number(values.latency),
  autoComplete: auto,
})
if (!values['api-key'] && !process.env.SECUTOOLS_API_KEY) console.error(`fake secutools: api key ${fake.apiKey}`)
console.log(fake.url)

let logged = 0
const timer = setInterval(() => {
  for (; logged < fake.requests.length; logged++) {
    const r = fake.requests[logged]
    console.error(`fake secutools: ${r.method} ${r.path} -> ${r.answered ?? '…'}${r.authOk ? '' : ' (bad key)'}`)
  }
}, 200)

const stop = async () => {
  clearInterval(timer)
  await fake.close()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
