import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {REPO} from './sandbox.js'

export interface CronJob {
  line: number
  schedule: string
  user: string
  command: string
}

/** /etc/cron.d format: five time fields (or @reboot), a user, then the command. */
export function parseCronD(text: string): {env: Record<string, string>; jobs: CronJob[]} {
  const env: Record<string, string> = {}
  const jobs: CronJob[] = []
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (assignment) {
      env[assignment[1]!] = assignment[2]!
      continue
    }

    const job = /^(@reboot|(?:\S+\s+){4}\S+)\s+(\S+)\s+(.+)$/.exec(line)
    if (!job) throw new Error(`contrib/cron/ccl:${index + 1}: not a cron.d line: ${line}`)
    jobs.push({line: index + 1, schedule: job[1]!.replaceAll(/\s+/g, ' '), user: job[2]!, command: job[3]!})
  }

  return {env, jobs}
}


/** The command of the once-a-minute line (no `sleep` offset) that runs `ccl <command>` in contrib/cron/ccl. */
export async function cronLine(command: string): Promise<{line: string; env: Record<string, string>}> {
  const {env, jobs} = parseCronD(await readFile(path.join(REPO, 'contrib', 'cron', 'ccl'), 'utf8'))
  const job = jobs.find((j) => j.schedule === '* * * * *' && j.command.startsWith('flock') && j.command.includes(`ccl ${command} `))
  if (!job) throw new Error(`contrib/cron/ccl has no once-a-minute line for ccl ${command}`)
  return {line: job.command, env}
}
