import {Args} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {requireDelegation} from '../../lib/config/read.js'
import {renderJob} from '../../lib/render/delegate.js'
import type {Job} from '../../lib/secutools/client.js'
import {requireJobId} from '../../lib/secutools/job-id.js'
import {connect, describeRetry} from '../../lib/secutools/options.js'

export default class DelegateGet extends BaseCommand<typeof DelegateGet> {
  static override summary = "Show a secutools job's status."
  static override description = `Asks secutools for the job once (with the configured retries) and prints its status, provider, times, cost and error. The result text itself is printed by ccl delegate result. Exit 5 when the API fails, the job is unknown (404) or the answer is malformed.`

  static override examples = [
    {description: 'Status of a job', command: '<%= config.bin %> <%= command.id %> j-1042'},
    {description: 'As JSON (the whole job, result text included)', command: '<%= config.bin %> <%= command.id %> j-1042 --json'},
    {description: 'The job of a delegated task, from its marker', command: '<%= config.bin %> <%= command.id %> "$(jq -r .job_id /srv/agent-queue/pending/summarise-logs.md.delegated)"'},
  ]

  static override args = {
    job: Args.string({description: 'the job id printed by ccl delegate submit', required: true}),
  }

  async run(): Promise<{job: Job}> {
    const id = requireJobId(this.args.job)
    const delegation = requireDelegation(this.cclConfig(), process.env)
    const client = await connect(delegation, process.env, {userAgent: `ccl/${this.config.version}`, onRetry: (info) => this.note(describeRetry(info))})
    const job = await client.getJob(id)
    this.log(renderJob(job))
    return {job}
  }
}
