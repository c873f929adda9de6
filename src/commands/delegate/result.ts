import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {parseDuration} from '../../lib/config/duration.js'
import {requireDelegation} from '../../lib/config/read.js'
import {isFinished, waitForJob} from '../../lib/delegation/wait.js'
import {EXIT_CODES, TimeoutError, UserError} from '../../lib/errors.js'
import {oneLine} from '../../lib/render/delegate.js'
import type {Job} from '../../lib/secutools/client.js'
import {requireJobId} from '../../lib/secutools/job-id.js'
import {connect, describeRetry} from '../../lib/secutools/options.js'

export default class DelegateResult extends BaseCommand<typeof DelegateResult> {
  static override summary = "Print a finished job's result text (stdout carries the text alone)."
  static override description = `completed: prints the result text on stdout, exit 0. failed or cancelled: prints the error on stderr, exit 1. Still queued or running: exit 124 at once, or with --wait, polls (pauses growing from 1s to 30s, with jitter) until the job ends or --timeout runs out (default: delegation.job_timeout), then exit 124. API failure: exit 5.`

  static override examples = [
    {description: 'Result of a finished job', command: '<%= config.bin %> <%= command.id %> j-1042 > answer.md'},
    {description: 'Wait up to 10 minutes for it', command: '<%= config.bin %> <%= command.id %> j-1042 --wait --timeout 10m'},
    {description: 'Submit, then wait for the answer', command: 'JOB=$(<%= config.bin %> delegate submit task.md) && <%= config.bin %> <%= command.id %> "$JOB" --wait'},
  ]

  static override args = {
    job: Args.string({description: 'the job id printed by ccl delegate submit', required: true}),
  }

  static override flags = {
    wait: Flags.boolean({description: 'poll until the job is completed, failed or cancelled'}),
    timeout: Flags.string({description: 'with --wait: give up after this long (30s, 10m, 2h; implies --wait); default delegation.job_timeout'}),
  }

  async run(): Promise<{job: Job}> {
    const id = requireJobId(this.args.job)
    let timeoutMs: number | undefined
    if (this.flags.timeout !== undefined) {
      timeoutMs = parseDuration(this.flags.timeout)
      if (timeoutMs === undefined) {
        throw new UserError(`--timeout ${this.flags.timeout}: expected a duration such as 30s, 10m or 2h`, EXIT_CODES.taskFile)
      }
    }

    const delegation = requireDelegation(this.cclConfig(), process.env)
    const client = await connect(delegation, process.env, {userAgent: `ccl/${this.config.version}`, onRetry: (info) => this.note(describeRetry(info))})
    const wait = this.flags.wait || timeoutMs !== undefined
    let job: Job
    if (wait) {
      const pollMs = Number(process.env.CCL_TEST_BACKOFF_BASE_MS) || undefined
      job = await waitForJob(client, id, {
        timeoutMs: timeoutMs ?? delegation.settings.job_timeout,
        ...(pollMs === undefined ? {} : {pollMs, maxPollMs: pollMs * 4}),
      })
    } else {
      job = await client.getJob(id)
      if (!isFinished(job)) {
        throw new TimeoutError(`job ${id} is ${job.status}, not finished`, {hint: `wait for it with: ccl delegate result ${id} --wait`})
      }
    }

    if (job.status === 'completed') {
      const text = job.result ?? ''
      if (job.result === null) this.note(`job ${id} completed without a result text`)
      this.log(text.endsWith('\n') ? text.slice(0, -1) : text)
    } else {
      this.note(`ccl: job ${id} ${job.status}${job.error ? `: ${oneLine(job.error)}` : ''}`)
      this.setExitCode(EXIT_CODES.failure)
    }

    if (job.finished_at && job.cost_usd !== null) this.note(`job ${id}: ${job.provider}, cost $${job.cost_usd}`)
    return {job}
  }
}
