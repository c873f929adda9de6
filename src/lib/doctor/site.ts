// The doctor's checks of the machine as a whole: queue folders, state folder, tmux.
import {randomBytes} from 'node:crypto'
import {open, unlink} from 'node:fs/promises'
import path from 'node:path'

import {errorMessage} from '../errors.js'
import {activeDir, type QueueLayout} from '../queue/layout.js'
import type {Tmux} from '../tmux/tmux.js'
import {findOnPath, whatIs} from './files.js'
import {type DoctorCheck, fail, pass} from './report.js'

const FOLDERS = ['pending', 'active', 'done', 'failed'] as const

/** pending/, active/, done/ and failed/ exist as folders, all on one filesystem (a task moves by rename(2)). */
export async function checkQueue(layout: QueueLayout, accounts: readonly string[]): Promise<DoctorCheck[]> {
  const folders = FOLDERS.map((name) => ({name: `${name}/`, dir: layout[name]}))
  const found = await Promise.all(folders.map(async (folder) => ({...folder, is: await whatIs(folder.dir)})))
  const bad = found.filter((folder) => folder.is.kind !== 'dir')
  const folderCheck = bad.length === 0
    ? pass({id: 'queue.folders'}, `queue: ${folders.map((f) => f.name).join(', ')} in ${layout.root}`)
    : fail(
        {id: 'queue.folders'},
        `queue: ${bad.map((f) => `${f.dir} ${f.is.kind === 'missing' ? 'is missing' : f.is.kind === 'other' ? 'is not a folder' : `cannot be read (${(f.is as {error: string}).error})`}`).join('; ')}`,
        `mkdir -p ${bad.map((f) => f.dir).join(' ')} (or ccl init); if ${layout.root} is a mount, check that it is mounted`,
      )

  // active/<account>/ too: a task moves pending/ → active/<account>/ → done/ by rename.
  const accountDirs = await Promise.all(accounts.map(async (account) => ({name: `active/${account}/`, dir: activeDir(layout, account), is: await whatIs(activeDir(layout, account))})))
  const dirs = [...found, ...accountDirs].filter((folder) => folder.is.kind === 'dir') as {name: string; dir: string; is: {kind: 'dir'; dev: number}}[]
  const first = dirs[0]
  const apart = first ? dirs.filter((folder) => folder.is.dev !== first.is.dev) : []
  const fsCheck = apart.length === 0
    ? pass({id: 'queue.filesystem'}, dirs.length < 2 ? 'queue: no two folders to compare yet' : `queue: ${dirs.length} folders on one filesystem (tasks move by rename)`)
    : fail(
        {id: 'queue.filesystem'},
        `queue: ${apart.map((f) => f.name).join(', ')} on another filesystem than ${first!.name}: a task cannot be moved between them by rename(2)`,
        `keep every folder of ${layout.root} on one filesystem (no separate mount inside it)`,
      )
  return [folderCheck, fsCheck]
}

/** The state folder (or, before its first use, the folder it will be made in) takes a new file. */
export async function checkState(layout: QueueLayout): Promise<DoctorCheck> {
  const at = {id: 'state.writable'}
  let dir = layout.state
  let exists = true
  for (;;) {
    const is = await whatIs(dir)
    if (is.kind === 'dir') break
    if (is.kind !== 'missing') return fail(at, `state: ${dir} is not a folder`, `move it away; ccl keeps its state in ${layout.state}`)
    exists = false
    const parent = path.dirname(dir)
    if (parent === dir) break
    dir = parent
  }

  // A real file, created and removed: access(2) says yes to root even on a read-only mount.
  const probe = path.join(dir, `.ccl-tmp-doctor-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    const handle = await open(probe, 'wx')
    await handle.close()
    await unlink(probe)
  } catch (error) {
    return fail(at, `state: cannot write in ${dir}: ${errorMessage(error)}`, `make ${dir} writable by the user ccl runs as, or set "state:" in the config elsewhere`)
  }

  return pass(at, exists ? `state: ${layout.state} is writable` : `state: ${layout.state} does not exist yet; ${dir} is writable, so ccl can make it`)
}

/**
 * tmux runs, and whether its server on ccl's socket is up. Without a config (`server: false`) the
 * socket is unknown, and the server is not asked: it could be someone's own default server.
 */
export async function checkTmux(tmux: Tmux, options: {socket: string | undefined; searchPath: string; cwd: string; server: boolean}): Promise<DoctorCheck> {
  const {socket, server} = options
  const at = {id: 'tmux'}
  const where = await findOnPath('tmux', options.searchPath, options.cwd)
  let version: string
  try {
    version = await tmux.version()
  } catch (error) {
    return fail(at, `tmux: ${errorMessage(error)}`, 'install tmux (e.g. apt-get install tmux) and put it on the PATH the timers use')
  }

  const found = `tmux: ${version}${where ? ` (${where})` : ''}`
  if (!server) return pass(at, found)
  const named = socket ? `socket ${socket}` : 'the default socket'
  let running: string
  try {
    running = (await tmux.globalEnvironment('PATH')) === undefined ? `no server running on ${named} yet (reconcile starts one)` : `server running on ${named}`
  } catch (error) {
    running = `server on ${named}: ${errorMessage(error)}`
  }

  return pass(at, `${found}; ${running}`)
}
