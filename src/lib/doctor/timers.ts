// Are the timers installed? systemd's ccl-*.timer units (user or system) or cron lines running ccl
// (contrib/systemd, contrib/cron). What cannot be seen is a warning, never a failure: the timers may
// run on another host, under another user, or from a scheduler ccl does not know.
import {readdir} from 'node:fs/promises'
import path from 'node:path'

import {readRegularText} from '../regular-file.js'
import {type DoctorCheck, pass, warn} from './report.js'

const JOBS = ['reconcile', 'dispatch', 'reap'] as const
const UNITS = JOBS.map((job) => `ccl-${job}.timer`)

export interface TimerProbes {
  /** Runs a program (arguments as an array) and gives its stdout and exit code; never throws. */
  run(file: string, args: string[]): Promise<{stdout: string; stderr: string; exitCode: number | undefined}>
  /** Folders of cron files to read (default /etc/cron.d). */
  cronDirs?: string[]
}

export async function defaultProbes(env: NodeJS.ProcessEnv): Promise<TimerProbes> {
  const {execa} = await import('execa')
  return {
    async run(file, args) {
      const result = await execa(file, args, {env, extendEnv: false, reject: false, timeout: 5000, stdin: 'ignore'})
      return {stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode: result.exitCode}
    },
  }
}

export async function checkTimers(probes: TimerProbes): Promise<DoctorCheck> {
  const at = {id: 'timers'}
  const [user, system, cron] = await Promise.all([systemd(probes, ['--user']), systemd(probes, []), cronLines(probes)])
  for (const [scope, found] of [['systemd --user', user], ['systemd', system]] as const) {
    if (found.enabled.length === UNITS.length) return pass(at, `timers: ${found.enabled.join(', ')} enabled (${scope})`)
  }

  if (cron.found.length === JOBS.length) return pass(at, `timers: cron lines run ccl ${JOBS.join(', ')} (${cron.where.join(', ')})`)
  const seen = [
    ...(user.enabled.length > 0 ? [`systemd --user: ${user.enabled.join(', ')} enabled`] : []),
    ...(system.enabled.length > 0 ? [`systemd: ${system.enabled.join(', ')} enabled`] : []),
    ...(cron.found.length > 0 ? [`cron: ${cron.found.join(', ')} (${cron.where.join(', ')})`] : []),
  ]
  const unseen = [user.note, system.note, cron.note].filter((note) => note !== '')
  return warn(
    at,
    `timers: ${seen.length > 0 ? `only ${seen.join('; ')}` : 'no ccl timer or cron line seen'}${unseen.length > 0 ? ` (${unseen.join('; ')})` : ''}; without them nothing runs reconcile, dispatch and reap`,
    'install contrib/systemd/ (systemctl --user enable --now ccl-tmux.service ccl-reconcile.timer ccl-dispatch.timer ccl-reap.timer) or contrib/cron/ccl: docs/loop.md',
  )
}

async function systemd(probes: TimerProbes, scope: string[]): Promise<{enabled: string[]; note: string}> {
  const result = await probes.run('systemctl', [...scope, 'is-enabled', ...UNITS])
  if (result.exitCode === undefined) return {enabled: [], note: scope.length > 0 ? 'no systemctl' : ''}
  // One answer per unit, in order ("enabled", "disabled", …); an error (no bus) answers none.
  const answers = result.stdout.split('\n').filter((line) => line.trim() !== '')
  const enabled = UNITS.filter((_, i) => answers[i]?.trim() === 'enabled')
  const said = result.stderr.split('\n')[0]?.trim() ?? ''
  return {enabled, note: enabled.length === 0 && answers.length === 0 && said !== '' && scope.length > 0 ? `systemctl --user: ${said}` : ''}
}

/** ccl lines in the user's crontab and in the cron.d files; a commented line does not count. */
async function cronLines(probes: TimerProbes): Promise<{found: string[]; where: string[]; note: string}> {
  const sources: {where: string; text: string}[] = []
  let note = ''
  const crontab = await probes.run('crontab', ['-l'])
  if (crontab.exitCode === 0) sources.push({where: 'crontab -l', text: crontab.stdout})
  else if (crontab.exitCode === undefined) note = 'no crontab program'
  for (const dir of probes.cronDirs ?? ['/etc/cron.d']) {
    const names = await readdir(dir).catch(() => [] as string[])
    for (const name of names) {
      if (name.startsWith('.')) continue
      const text = readCronFile(path.join(dir, name))
      sources.push({where: path.join(dir, name), text})
    }
  }

  const found = new Set<string>()
  const where = new Set<string>()
  for (const source of sources) {
    for (const line of source.text.split('\n')) {
      if (line.trim().startsWith('#')) continue
      for (const job of JOBS) {
        const pattern = job === 'dispatch' ? /\bccl\s+dispatch\b|\bdispatch\.sh\b/ : new RegExp(`\\bccl\\s+${job}\\b`)
        if (pattern.test(line)) {
          found.add(job)
          where.add(source.where)
        }
      }
    }
  }

  return {found: JOBS.filter((job) => found.has(job)), where: [...where], note}
}

/** A cron.d file's text, or '' when it cannot be read or is not a regular file (a FIFO there is not waited on). */
function readCronFile(file: string): string {
  try {
    return readRegularText(file, {maxBytes: 1024 * 1024})
  } catch {
    return ''
  }
}
