// Who holds a claim or a lock, and whether that holder can still be alive.
// Synchronous inside: a few reads under /proc, each a fraction of a millisecond.
import {readFileSync} from 'node:fs'
import os from 'node:os'

/**
 * The identity written into every claim, hand-off record and lock. A pid alone means nothing on
 * another machine and can be reused on this one, so the host, the boot and the process's start
 * time (clock ticks since boot, /proc/<pid>/stat field 22) come with it.
 */
export interface Holder {
  host: string
  pid: number
  /** /proc/<pid>/stat starttime; null where /proc is not there. */
  pid_start: number | null
  /** /proc/sys/kernel/random/boot_id; null where /proc is not there. */
  boot_id: string | null
}

/** alive: that process runs; dead: it provably does not; unknown: another host's (judged by age). */
export type Liveness = 'alive' | 'dead' | 'unknown'

let hostName: string | undefined

/** The host ccl writes into claims: set once per run from the config's `host` (default the hostname). */
export function setHostName(name: string): void {
  hostName = name
  self = undefined
}

/** Takes the host of a loaded config (every config loader calls this); none: the hostname stays. */
export function useConfigHost(config: {host?: string | undefined}): void {
  if (config.host !== undefined) setHostName(config.host)
}

export function currentHost(): string {
  hostName ??= os.hostname()
  return hostName
}

function readProc(file: string): string | null {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return null
  }
}

let bootId: string | null | undefined

export function currentBootId(): string | null {
  bootId ??= readProc('/proc/sys/kernel/random/boot_id')?.trim() || null
  return bootId
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses. */
export function processStart(pid: number): number | null {
  const stat = readProc(`/proc/${pid}/stat`)
  if (stat === null) return null
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const start = Number(fields[19])
  return Number.isFinite(start) ? start : null
}

let self: Holder | undefined

export function currentHolder(): Holder {
  self ??= {host: currentHost(), pid: process.pid, pid_start: processStart(process.pid), boot_id: currentBootId()}
  return self
}

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether the holder of a record may still be running. Only a holder on this host can be judged
 * dead at once: another boot, a pid that no longer runs, or a pid that runs but started at another
 * time (reused). A holder on another host is `unknown`: the caller falls back to the record's age.
 */
export function liveness(holder: Partial<Holder> | undefined): Liveness {
  if (!holder || typeof holder.pid !== 'number' || typeof holder.host !== 'string') return 'unknown'
  if (holder.host !== currentHost()) return 'unknown'
  const boot = currentBootId()
  if (boot !== null && typeof holder.boot_id === 'string' && holder.boot_id !== boot) return 'dead'
  if (holder.pid === process.pid && holder.pid_start === currentHolder().pid_start) return 'alive'
  if (!pidRuns(holder.pid)) return 'dead'
  if (typeof holder.pid_start === 'number') {
    const start = processStart(holder.pid)
    if (start !== null && start !== holder.pid_start) return 'dead'
  }

  return 'alive'
}

/** `pid 123 on host-a`, for messages. */
export function describeHolder(holder: Partial<Holder> | undefined): string {
  if (!holder || typeof holder.pid !== 'number') return 'an unknown process'
  return holder.host === undefined || holder.host === currentHost() ? `pid ${holder.pid}` : `pid ${holder.pid} on ${holder.host}`
}
