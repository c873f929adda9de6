import {mkdir} from 'node:fs/promises'
import path from 'node:path'

export interface Lock {
  release(): Promise<void>
}

export interface LockOptions {
  /** A lock whose holder stopped refreshing it this long ago is taken over (proper-lockfile's floor is 2 s). */
  staleMs?: number
}

/**
 * Takes the named command lock without waiting: returns undefined when a live holder has it.
 * proper-lockfile holds it as a directory (mkdir is atomic) whose mtime the holder refreshes;
 * a killed holder stops refreshing, so its lock is taken over once stale.
 */
export async function tryLock(locksDir: string, name: string, options: LockOptions = {}): Promise<Lock | undefined> {
  const {default: lockfile} = await import('proper-lockfile')
  await mkdir(locksDir, {recursive: true})
  const lockfilePath = path.join(locksDir, `${name}.lock`)
  const staleMs = options.staleMs ?? 10_000
  let compromised: Error | undefined
  try {
    const release = await lockfile.lock(locksDir, {
      lockfilePath,
      realpath: false,
      retries: 0,
      stale: staleMs,
      update: Math.max(1000, Math.floor(staleMs / 4)),
      onCompromised(error) {
        compromised = error
      },
    })
    return {
      async release() {
        if (compromised) return
        await release()
      },
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') return undefined
    throw error
  }
}
