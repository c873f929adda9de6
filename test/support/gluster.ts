// The two "hosts" of test/fleet: two FUSE mounts of one GlusterFS volume, each with its own client. CI
// mounts them with scripts/gluster-up.sh and names them in CCL_GLUSTER_A and CCL_GLUSTER_B; without those
// variables the helper runs the script itself. Anything that stops the lane from running is an Error with
// the reason: this lane fails, it never skips.
import {execFile, spawn, type ChildProcessWithoutNullStreams} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm, stat, unlink, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {createInterface, type Interface} from 'node:readline'
import {promisify} from 'node:util'

import {REPO} from './sandbox.js'

const DEFAULT_MOUNTS = ['/mnt/ccl-a', '/mnt/ccl-b'] as const
const UP_SCRIPT = path.join(REPO, 'scripts', 'gluster-up.sh')
const RACER = path.join(REPO, 'test', 'support', 'fs-racer.mjs')

export interface GlusterMounts {
  a: string
  b: string
  /** The volume both are mounts of, as /proc/mounts names it (`vm:/ccl`). */
  volume: string
}

interface MountEntry {
  source: string
  type: string
}

/** /proc/mounts, keyed by mount point (octal escapes of spaces and the like undone). */
async function readMounts(): Promise<Map<string, MountEntry>> {
  const mounts = new Map<string, MountEntry>()
  for (const line of (await readFile('/proc/mounts', 'utf8')).split('\n')) {
    const [source, point, type] = line.split(' ').map((field) => field.replaceAll(/\\([0-7]{3})/g, (_, octal: string) => String.fromCodePoint(Number.parseInt(octal, 8))))
    if (source && point && type) mounts.set(point, {source, type})
  }

  return mounts
}

async function runUpScript(a: string, b: string): Promise<void> {
  try {
    await promisify(execFile)(UP_SCRIPT, ['--mount-a', a, '--mount-b', b], {timeout: 180_000})
  } catch (error) {
    const {stderr, message} = error as {stderr?: string; message: string}
    const reason = stderr?.trim().split('\n').at(-1) || message
    throw new Error(`scripts/gluster-up.sh failed: ${reason}`)
  }
}

/**
 * The two mounts, checked: both fuse.glusterfs in /proc/mounts, of the same volume, and a file made through
 * one is read through the other.
 */
export async function glusterMounts(): Promise<GlusterMounts> {
  if (!existsSync('/dev/fuse')) throw new Error('no FUSE: /dev/fuse missing')
  const fromEnv = [process.env.CCL_GLUSTER_A, process.env.CCL_GLUSTER_B]
  if (Boolean(fromEnv[0]) !== Boolean(fromEnv[1])) throw new Error('CCL_GLUSTER_A and CCL_GLUSTER_B: set both or neither')
  const [a, b] = fromEnv[0] && fromEnv[1] ? [fromEnv[0], fromEnv[1]] : DEFAULT_MOUNTS
  if (path.resolve(a) === path.resolve(b)) throw new Error(`CCL_GLUSTER_A and CCL_GLUSTER_B are the same path (${a}): two mounts are needed`)
  if (!fromEnv[0]) {
    const mounts = await readMounts()
    if (mounts.get(a)?.type !== 'fuse.glusterfs' || mounts.get(b)?.type !== 'fuse.glusterfs') await runUpScript(a, b)
  }

  const mounts = await readMounts()
  for (const point of [a, b]) {
    const entry = mounts.get(point)
    if (!entry) throw new Error(`${point} is not a mount point (/proc/mounts); run scripts/gluster-up.sh`)
    if (entry.type !== 'fuse.glusterfs') throw new Error(`${point} is mounted ${entry.type} from ${entry.source}, not fuse.glusterfs`)
  }

  const volume = mounts.get(a)!.source
  if (mounts.get(b)!.source !== volume) throw new Error(`${a} mounts ${volume} but ${b} mounts ${mounts.get(b)!.source}: not one volume`)
  const probe = `.ccl-probe-${process.pid}-${Date.now()}`
  await writeFile(path.join(a, probe), probe)
  try {
    const seen = await readFile(path.join(b, probe), 'utf8').catch((error: NodeJS.ErrnoException) => `(${error.code})`)
    if (seen !== probe) throw new Error(`a file written through ${a} reads as ${JSON.stringify(seen)} through ${b}: not one volume`)
  } finally {
    await unlink(path.join(a, probe))
  }

  return {a, b, volume}
}

export interface FleetDir {
  /** The folder through mount A. */
  a: string
  /** The same folder through mount B. */
  b: string
  cleanup(): Promise<void>
}

/** A fresh folder on the volume, seen through both mounts; cleanup removes it. */
export async function fleetDir(mounts: GlusterMounts): Promise<FleetDir> {
  const a = await mkdtemp(path.join(mounts.a, 'ccl-test-'))
  const b = path.join(mounts.b, path.basename(a))
  await stat(b) // ENOENT here means mount B does not see what A made
  // Retried: a hook of a session just killed may still write a last line here, as rm -rf would race too.
  return {a, b, cleanup: () => rm(a, {recursive: true, force: true, maxRetries: 10, retryDelay: 100})}
}

export interface RaceAnswer {
  won?: string[]
  errors?: string[]
  data?: string
  error?: string
  fatal?: string
  ms: number
}

/** A child process (test/support/fs-racer.mjs) that works through one mount: one "host". */
export class Racer {
  private readonly child: ChildProcessWithoutNullStreams
  private readonly lines: Interface
  private readonly waiting: {resolve: (line: string) => void; reject: (error: Error) => void}[] = []
  private stderr = ''

  constructor(readonly label: string) {
    this.child = spawn(process.execPath, [RACER], {stdio: ['pipe', 'pipe', 'pipe']})
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString()
    })
    this.lines = createInterface({input: this.child.stdout})
    this.lines.on('line', (line) => this.waiting.shift()?.resolve(line))
    this.child.on('exit', (code, signal) => {
      for (const waiter of this.waiting.splice(0)) waiter.reject(new Error(`racer ${this.label} exited ${code ?? signal}: ${this.stderr}`))
    })
  }

  async send(command: Record<string, unknown>): Promise<RaceAnswer> {
    if (this.child.exitCode !== null) throw new Error(`racer ${this.label} exited ${this.child.exitCode}: ${this.stderr}`)
    const answer = new Promise<string>((resolve, reject) => this.waiting.push({resolve, reject}))
    this.child.stdin.write(`${JSON.stringify(command)}\n`)
    const parsed = JSON.parse(await answer) as RaceAnswer
    if (parsed.fatal) throw new Error(`racer ${this.label}: ${parsed.fatal}`)
    return parsed
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.stdin.end()
    await exited
  }
}
