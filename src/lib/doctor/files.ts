// Small read-only probes of the file system for the doctor's checks.
import {constants} from 'node:fs'
import {access, stat} from 'node:fs/promises'
import path from 'node:path'

import {parseJson} from '../hooks/json.js'
import {readRegularText} from '../regular-file.js'

export type JsonFile =
  | {kind: 'ok'; value: unknown}
  | {kind: 'missing'}
  | {kind: 'invalid'; error: string}

/** A JSON file as Claude Code would read it: absent, unreadable or not JSON are told apart. */
export async function readJsonFile(file: string): Promise<JsonFile> {
  let text: string
  try {
    text = readRegularText(file, {maxBytes: 16 * 1024 * 1024})
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return {kind: 'missing'}
    return {kind: 'invalid', error: `${file}: cannot read: ${(error as Error).message}`}
  }

  const body = text.replace(/^\uFEFF/, '')
  if (body.trim() === '') return {kind: 'ok', value: {}}
  const parsed = parseJson(body)
  if (!parsed.ok) return {kind: 'invalid', error: `${file}:${parsed.line}:${parsed.column}: not valid JSON: ${parsed.message}`}
  return {kind: 'ok', value: parsed.value}
}

/** What stands at a path: a directory, something else, or nothing (with the system's reason). */
export async function whatIs(file: string): Promise<{kind: 'dir'; dev: number} | {kind: 'other'} | {kind: 'missing'} | {kind: 'error'; error: string}> {
  try {
    const info = await stat(file)
    return info.isDirectory() ? {kind: 'dir', dev: info.dev} : {kind: 'other'}
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return {kind: 'missing'}
    return {kind: 'error', error: (error as Error).message}
  }
}

export async function isExecutableFile(file: string): Promise<boolean> {
  try {
    if (!(await stat(file)).isFile()) return false
    await access(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Where a shell finds `program` on `searchPath` (an empty entry is the cwd), or undefined. */
export async function findOnPath(program: string, searchPath: string, cwd: string): Promise<string | undefined> {
  if (program.includes('/')) {
    const file = path.resolve(cwd, program)
    return (await isExecutableFile(file)) ? file : undefined
  }

  for (const dir of searchPath.split(':')) {
    const file = path.resolve(cwd, dir === '' ? '.' : dir, program)
    if (await isExecutableFile(file)) return file
  }

  return undefined
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
