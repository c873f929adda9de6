import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {requireDelegation} from '../../lib/config/read.js'
import {AlreadyDelegatedError, submitTask} from '../../lib/delegation/submit.js'
import {EXIT_CODES} from '../../lib/errors.js'
import {queueLayout} from '../../lib/queue/layout.js'
import {connect, describeRetry} from '../../lib/secutools/options.js'
import {spillContext} from '../../lib/tasks/spill.js'

export interface SubmitOutput {
  task: string
  jobId: string | null
  provider: string
  /** submitted: by this run; already-delegated: an earlier run had claimed it (exit 4). */
  outcome: 'submitted' | 'already-delegated'
  state: 'submitting' | 'submitted'
  resubmitted: boolean
}

export default class DelegateSubmit extends BaseCommand<typeof DelegateSubmit> {
  static override summary = 'Claim a pending task and submit it to secutools; prints the job id.'
  static override description = `The task must be in the queue's pending/ folder (a bare NAME.md means pending/NAME.md). In order:
  1. refuse (exit 4) a task the router keeps local (see ccl route; while the spill rule applies, a task it sends remote is not refused), unless --force;
  2. claim it: create pending/NAME.md.delegated in state "submitting" (exclusive create: one winner);
  3. POST it to secutools with Idempotency-Key = sha256(name + content + a random nonce of this claim), retrying outages with backoff;
  4. rewrite the marker as "submitted" with the job id, and print the job id on stdout.
A task already delegated prints its existing job id and exits 4. If the API still fails after the retries, the command exits 5 and keeps the "submitting" claim: ccl reap resubmits it with the same key, so the platform never runs it twice. ccl reap also collects the result into done/ or failed/.`

  static override examples = [
    {description: 'Delegate a pending task; stdout is the job id', command: '<%= config.bin %> <%= command.id %> /srv/agent-queue/pending/summarise-logs.md'},
    {description: 'In a dispatcher script', command: 'JOB=$(<%= config.bin %> <%= command.id %> "$TASK") && echo "delegated as $JOB"'},
    {description: 'Delegate a task the router would keep local, to a chosen provider', command: '<%= config.bin %> <%= command.id %> fix-login.md --force --provider claude-api'},
    {description: 'Machine-readable', command: '<%= config.bin %> <%= command.id %> summarise-logs.md --json'},
  ]

  static override args = {
    task: Args.string({description: 'the task file in pending/ (path or bare name)', required: true}),
  }

  static override flags = {
    force: Flags.boolean({description: 'delegate even when the router would keep the task local'}),
    provider: Flags.string({description: "send to this provider instead of the router's choice (one of delegation.providers)"}),
  }

  async run(): Promise<SubmitOutput> {
    const config = this.cclConfig()
    const delegation = requireDelegation(config, process.env)
    const layout = queueLayout(config)
    try {
      const result = await submitTask({
        layout,
        delegation,
        task: this.args.task,
        force: this.flags.force,
        spill: await spillContext(config, delegation, new Date()),
        ...(this.flags.provider === undefined ? {} : {provider: this.flags.provider}),
        client: () => connect(delegation, process.env, {userAgent: `ccl/${this.config.version}`, onRetry: (info) => this.note(describeRetry(info))}),
      })
      this.note(`${result.task}: delegated to ${result.provider} as job ${result.jobId}`)
      this.log(result.jobId)
      return {...result, outcome: 'submitted', state: 'submitted'}
    } catch (error) {
      if (!(error instanceof AlreadyDelegatedError)) throw error
      // Not a failure to report as such: the caller learns the job id it is looking for, and exit 4.
      const {marker} = error
      this.note(`ccl: ${error.message}${error.hint ? `\n  hint: ${error.hint}` : ''}`)
      if (marker.job_id) this.log(marker.job_id)
      this.setExitCode(EXIT_CODES.refused)
      return {
        task: marker.task,
        jobId: marker.job_id,
        provider: marker.provider,
        outcome: 'already-delegated',
        state: marker.state,
        resubmitted: false,
      }
    }
  }
}
