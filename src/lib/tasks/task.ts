import {isUtf8} from 'node:buffer'
import path from 'node:path'

import {TaskFileError} from '../errors.js'
import {NotRegularFileError, readRegularFile} from '../regular-file.js'
import {describeValue, loadYaml, parseFrontmatterYaml, splitFrontmatter, YamlNotLoadedError} from './frontmatter.js'

export {loadYaml} from './frontmatter.js'

/** The routing fields (SPEC §3.1) as parsed, after fail-safe validation. */
export interface RoutingFields {
  needs_claude_code?: boolean
  preferred_ai?: string
  allow_delegation?: boolean
  complexity_hint?: 'low' | 'medium' | 'high'
}

export interface Task {
  /** Base name, e.g. "fix-login.md". */
  name: string
  /** Absolute path. */
  path: string
  /** The whole raw file text as read (UTF-8, BOM included). */
  content: string
  /** The markdown body without frontmatter: the prompt sent to secutools. */
  body: string
  fields: RoutingFields
  /** "<file>: <field>: ..." one per problem found. */
  warnings: string[]
}

/**
 * Each field alone, so one bad field is reported by name and the others still count. Checked by hand:
 * four fields do not need a schema library, and route runs once per task (docs/route.md).
 * `null` (a key written with no value, as in a template) counts as absent.
 */
const FIELD_CHECKS: Record<keyof RoutingFields, (value: unknown) => boolean> = {
  needs_claude_code: (value) => typeof value === 'boolean',
  preferred_ai: (value) => typeof value === 'string' && value.length > 0,
  allow_delegation: (value) => typeof value === 'boolean',
  complexity_hint: (value) => value === 'low' || value === 'medium' || value === 'high',
}

const EXPECTED: Record<keyof RoutingFields, string> = {
  needs_claude_code: 'true or false',
  preferred_ai: 'a provider name such as gemini',
  allow_delegation: 'true or false',
  complexity_hint: 'low, medium or high',
}

const FAIL_SAFE = 'kept local (fail-safe)'

/**
 * Validates the routing fields of parsed frontmatter; never throws. A field with a wrong type or an
 * unknown value is dropped and makes the task fail safe: `allow_delegation` is read as false, so the
 * router keeps the task in Claude Code (SPEC §4.1 rule 3). Other keys are ignored.
 */
export function routingFields(data: Record<string, unknown>, name: string): {fields: RoutingFields; warnings: string[]} {
  const fields: RoutingFields = {}
  const warnings: string[] = []
  for (const key of Object.keys(FIELD_CHECKS) as (keyof RoutingFields)[]) {
    if (!Object.hasOwn(data, key)) continue
    const value = data[key]
    if (value === null || value === undefined) continue
    if (!FIELD_CHECKS[key](value)) {
      warnings.push(`${name}: ${key}: expected ${EXPECTED[key]}, got ${describeValue(value)}; ${FAIL_SAFE}`)
      continue
    }

    ;(fields as Record<string, unknown>)[key] = value
  }

  if (warnings.length > 0) fields.allow_delegation = false
  return {fields, warnings}
}

/** Parses a task file's text (no I/O). Never throws for anything a user can write. */
export function parseTask(text: string, name: string): Pick<Task, 'body' | 'fields' | 'warnings'> {
  const split = splitFrontmatter(text)
  if (split.problem) {
    return {body: split.body, fields: {allow_delegation: false}, warnings: [`${name}: frontmatter: ${split.problem}; ${FAIL_SAFE}`]}
  }

  if (split.yaml === undefined) return {body: split.body, fields: {}, warnings: []}
  const parsed = parseFrontmatterYaml(split.yaml)
  if (!parsed.ok) {
    return {body: split.body, fields: {allow_delegation: false}, warnings: [`${name}: frontmatter: ${parsed.problem}; ${FAIL_SAFE}`]}
  }

  return {body: split.body, ...routingFields(parsed.data, name)}
}

/**
 * Reads and parses one task file. Throws TaskFileError (exit 2) only when the file is missing,
 * unreadable or not a regular file; everything inside the file becomes fields and warnings.
 */
export async function readTask(file: string, options: {noFollow?: boolean} = {}): Promise<Task> {
  const absolute = path.resolve(file)
  let bytes: Buffer
  try {
    // Synchronous on purpose: four thread-pool round trips per file made batch routing 10x slower
    // (measured: 10,000 files 2.3-3.2 s async vs 0.24-0.6 s sync), and route does nothing meanwhile.
    // readRegularFile opens O_NONBLOCK: a FIFO passed by mistake must not hang the dispatcher.
    // noFollow (O_NOFOLLOW): a task picked from pending/ that is a symlink is never read (it may point anywhere).
    bytes = readRegularFile(absolute, {noFollow: options.noFollow})
  } catch (error) {
    if (error instanceof NotRegularFileError) {
      throw new TaskFileError(`${file}: ${error.kind === 'a folder' ? 'is a directory' : 'is not a regular file'}, not a task file`)
    }

    throw new TaskFileError(describeReadError(file, error as NodeJS.ErrnoException), {cause: error})
  }

  try {
    return taskFromBytes(absolute, bytes)
  } catch (error) {
    // The first file whose frontmatter needs the full parser loads it; the files after it find it loaded.
    if (!(error instanceof YamlNotLoadedError)) throw error
    await loadYaml()
    return taskFromBytes(absolute, bytes)
  }
}

/** A task from the bytes of its file (read by the caller, e.g. under a claim); the caller has awaited loadYaml() (frontmatter.ts). */
export function taskFromBytes(file: string, bytes: Buffer): Task {
  const absolute = path.resolve(file)
  const name = path.basename(absolute)
  const warnings: string[] = []
  // toString keeps a BOM and turns bad bytes into U+FFFD; the content stays the file as written.
  const content = bytes.toString('utf8')
  if (!isUtf8(bytes)) {
    warnings.push(`${name}: encoding: the file is not valid UTF-8 (bad bytes read as U+FFFD); ${FAIL_SAFE}`)
  }

  const parsed = parseTask(content, name)
  const fields = warnings.length > 0 ? {...parsed.fields, allow_delegation: false} : parsed.fields
  return {name, path: absolute, content, body: parsed.body, fields, warnings: [...warnings, ...parsed.warnings]}
}

function describeReadError(file: string, error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT': {
      return `${file}: task file not found`
    }

    case 'EACCES':
    case 'EPERM': {
      return `${file}: cannot read task file: permission denied`
    }

    case 'EISDIR': {
      return `${file}: is a directory, not a task file`
    }

    case 'ENOTDIR': {
      return `${file}: task file not found (a parent is not a directory)`
    }

    case 'ELOOP': {
      return `${file}: is a symbolic link: a task picked from pending/ is never followed`
    }

    default: {
      return `${file}: cannot read task file: ${error.message}`
    }
  }
}
