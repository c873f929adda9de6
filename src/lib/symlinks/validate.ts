import {lstat, mkdir, readlink, realpath, stat, symlink} from 'node:fs/promises'
import path from 'node:path'

import type {Config} from '../config/schema.js'

export type ProblemKind = 'missing' | 'not-a-symlink' | 'wrong-target' | 'dangling' | 'chain' | 'canonical-missing'

export interface SymlinkProblem {
  kind: ProblemKind
  /** null for a problem of the shared root itself (canonical-missing). */
  account: string | null
  dir: string
  path: string
  expected: string
  /** What the link points to, where there is a link. */
  actual?: string
  message: string
}

export interface LinkAction {
  account: string
  dir: string
  path: string
  target: string
}

export interface SymlinkReport {
  valid: boolean
  checked: number
  problems: SymlinkProblem[]
  /** Links created by `--create-missing` (or that would be, under `--dry-run`). */
  created: LinkAction[]
  /** Canonical folders `<shared.root>/<dir>` created by `--create-missing` because nothing stood there (or that would be). */
  createdDirs: string[]
  dryRun: boolean
}

export interface ValidateOptions {
  createMissing?: boolean
  dryRun?: boolean
}

type Check = {ok: true} | {ok: false; problem: Omit<SymlinkProblem, 'account' | 'dir' | 'path' | 'expected'>}

async function lstatOrUndefined(file: string) {
  try {
    return await lstat(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined
    throw error
  }
}

async function checkLink(link: string, canonical: string, canonicalReal: string | undefined): Promise<Check> {
  const info = await lstatOrUndefined(link)
  if (!info) {
    return {ok: false, problem: {kind: 'missing', message: `missing: ${link} does not exist (want a symlink to ${canonical})`}}
  }

  if (!info.isSymbolicLink()) {
    const what = info.isDirectory() ? 'a real directory (divergent state)' : 'a regular file'
    return {ok: false, problem: {kind: 'not-a-symlink', message: `not-a-symlink: ${link} is ${what}, not a symlink to ${canonical}`}}
  }

  const raw = await readlink(link)
  const target = path.resolve(path.dirname(link), raw)
  const targetInfo = await lstatOrUndefined(target)
  if (targetInfo?.isSymbolicLink()) {
    return {
      ok: false,
      problem: {
        kind: 'chain',
        actual: raw,
        message: `chain: ${link} -> ${raw} is a link to a link; Claude Code's atomic writes follow one hop, so point it at ${canonical} directly`,
      },
    }
  }

  let resolved: string | undefined
  try {
    resolved = await realpath(link)
  } catch {
    resolved = undefined
  }

  if (resolved === undefined) {
    // A link to the canonical path while the canonical dir is missing is reported once, as canonical-missing.
    if (target === canonical && canonicalReal === undefined) return {ok: true}
    return {ok: false, problem: {kind: 'dangling', actual: raw, message: `dangling: ${link} -> ${raw}, which does not exist (want ${canonical})`}}
  }

  if (resolved !== canonicalReal) {
    return {ok: false, problem: {kind: 'wrong-target', actual: raw, message: `wrong-target: ${link} -> ${raw}, want ${canonical}`}}
  }

  return {ok: true}
}

async function canonicalDir(dir: string): Promise<string | undefined> {
  try {
    const info = await stat(dir)
    return info.isDirectory() ? await realpath(dir) : undefined
  } catch {
    return undefined
  }
}

/**
 * Checks that every account's `<home>/<dir>` is a symlink straight to `<shared.root>/<dir>`.
 * Changes nothing, except `createMissing`, which only creates links that are absent: it never
 * replaces a directory or a wrong link, because that would throw away an account's state.
 */
export async function validateSymlinks(
  config: Pick<Config, 'accounts' | 'shared'>,
  options: ValidateOptions = {},
): Promise<SymlinkReport> {
  const problems: SymlinkProblem[] = []
  const created: LinkAction[] = []
  const createdDirs: string[] = []
  let checked = 0
  for (const dir of config.shared.dirs) {
    const canonical = path.join(config.shared.root, dir)
    let canonicalReal = await canonicalDir(canonical)
    // --create-missing with nothing at <shared.root>/<dir> (a new machine, the root itself absent):
    // the folder first, so the links made next point at a directory. Something else standing there
    // (a file, a dangling link) is left for a person, and no link is made to it.
    if (canonicalReal === undefined && options.createMissing && (await lstatOrUndefined(canonical)) === undefined) {
      if (!options.dryRun) {
        await mkdir(canonical, {recursive: true})
        canonicalReal = await canonicalDir(canonical)
      }

      createdDirs.push(canonical)
    }

    const usable = canonicalReal !== undefined || createdDirs.includes(canonical)
    if (canonicalReal === undefined) {
      problems.push({
        kind: 'canonical-missing',
        account: null,
        dir,
        path: canonical,
        expected: canonical,
        message: `canonical-missing: ${canonical} is not a directory; every account's ${dir} link needs it`,
      })
    }

    for (const account of config.accounts) {
      checked++
      const link = path.join(account.home, dir)
      const check = await checkLink(link, canonical, canonicalReal)
      if (check.ok) continue
      // never a link to nothing: only to a canonical folder that is there (or, under --dry-run, would be)
      if (check.problem.kind === 'missing' && options.createMissing && usable) {
        const action = {account: account.name, dir, path: link, target: canonical}
        if (!options.dryRun) {
          await mkdir(account.home, {recursive: true})
          await symlink(canonical, link)
        }

        created.push(action)
        if (!options.dryRun) continue
      }

      problems.push({account: account.name, dir, path: link, expected: canonical, ...check.problem})
    }
  }

  return {valid: problems.length === 0, checked, problems, created, createdDirs, dryRun: Boolean(options.dryRun)}
}

/** One line per problem, naming account and dir: what `validate-symlinks` and `reconcile` print. */
export function formatProblem(problem: SymlinkProblem): string {
  return `${problem.account ?? '(shared)'} ${problem.dir}: ${problem.message}`
}
