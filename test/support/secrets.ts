// The secrets scan of the suite (issue 15, part 6): no API key a test hands to ccl may appear in any stdout,
// stderr, file or event. Keys are collected as tests use them (the fake's key, key-like variables in the env
// given to runCcl, a key mis-pasted as api_key_env); runCcl checks every output it captures, and a sandbox's
// cleanup scans every regular file under it (queue, state, events.jsonl, markers) before deleting it.
import {createReadStream} from 'node:fs'
import {lstat, readdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import {looksLikeKey} from '../../src/lib/config/schema.js'

/** A key for new tests: one shared value, registered from the start. */
export const TEST_API_KEY = 'sk_live_ccl-test-key-0123456789abcdef'

/** Shorter values ('k', 'wrong') are test placeholders that would match by accident, not keys. */
export const MIN_SECRET_LENGTH = 12

const known = new Set<string>([TEST_API_KEY])

/** Adds a value to the keys the scan looks for (ignored when too short to be one). */
export function registerSecret(value: unknown): void {
  if (typeof value === 'string' && value.length >= MIN_SECRET_LENGTH) known.add(value)
}

export function knownSecrets(): string[] {
  return [...known]
}

/** Names of variables whose value is a secret: SECUTOOLS_API_KEY, MY_KEY, ANTHROPIC_AUTH_TOKEN… */
const SECRET_VARIABLE = /(?:KEY|TOKEN|SECRET|PASSWORD)$/i

/** Registers the values of the secret-looking variables of an environment given to a child. */
export function registerSecretsOfEnv(env: NodeJS.ProcessEnv | undefined): void {
  for (const [name, value] of Object.entries(env ?? {})) if (SECRET_VARIABLE.test(name)) registerSecret(value)
}

/**
 * An `api_key_env` that is not a variable name, or that looks like a key by ccl's own rule (`sk_live_…` is a
 * valid identifier), is most likely the key itself, pasted in the wrong place.
 */
export function registerMisplacedKey(config: Record<string, unknown>): void {
  const delegation = config.delegation as {api_key_env?: unknown} | undefined
  const name = delegation?.api_key_env
  if (typeof name === 'string' && (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || looksLikeKey(name))) registerSecret(name)
}

/** How a leak is named in a failure message: the key's first characters, not the whole key. */
export function nameSecret(secret: string): string {
  return `${secret.slice(0, 6)}… (${secret.length} chars)`
}

/** The known secrets that occur in a text. */
export function secretsIn(text: string | Buffer, secrets: readonly string[] = knownSecrets()): string[] {
  const haystack = typeof text === 'string' ? text : text.toString('latin1')
  return secrets.filter((secret) => haystack.includes(typeof text === 'string' ? secret : Buffer.from(secret).toString('latin1')))
}

/** Throws when a captured output holds a known secret; `where` says which output of which run. */
export function assertNoSecrets(where: string, text: string, secrets: readonly string[] = knownSecrets()): void {
  const found = secretsIn(text, secrets)
  if (found.length > 0) throw new Error(`${where} holds the API key ${found.map((s) => nameSecret(s)).join(', ')}: secrets must never be printed`)
}

export interface SecretLeak {
  file: string
  secret: string
}

/** Files larger than this are scanned at their start and end only (where ccl writes: a log grows at its end). */
const FULL_SCAN_BYTES = 64 * 1024 * 1024

/** Whether a file holds a secret, read as a stream in chunks that overlap by the longest secret. */
async function fileHolds(file: string, size: number, secrets: readonly string[]): Promise<string[]> {
  const ranges = size <= FULL_SCAN_BYTES ? [{start: 0, end: Math.max(0, size - 1)}] : [
    {start: 0, end: FULL_SCAN_BYTES / 2 - 1},
    {start: size - FULL_SCAN_BYTES / 2, end: size - 1},
  ]
  const needles = secrets.map((secret) => Buffer.from(secret))
  const overlap = Math.max(0, ...needles.map((n) => n.length)) - 1
  const found = new Set<string>()
  for (const range of ranges) {
    let tail = Buffer.alloc(0)
    for await (const chunk of createReadStream(file, range)) {
      const window = Buffer.concat([tail, chunk as Buffer])
      needles.forEach((needle, i) => {
        if (window.includes(needle)) found.add(secrets[i]!)
      })
      tail = window.subarray(Math.max(0, window.length - overlap))
    }
  }

  return [...found]
}

/**
 * Every regular file under `dir` (symlinks not followed, FIFOs and sockets not opened) that holds a
 * known secret. Missing folders are nothing to scan.
 */
export async function scanTreeForSecrets(
  dir: string,
  secrets: readonly string[] = knownSecrets(),
  /** Files the test itself wrote (its config): skipped while they still hold exactly that content. */
  inputs: ReadonlyMap<string, string> = new Map(),
): Promise<SecretLeak[]> {
  const leaks: SecretLeak[] = []
  if (secrets.length === 0) return leaks
  const walk = async (folder: string): Promise<void> => {
    let entries
    try {
      entries = await readdir(folder, {withFileTypes: true})
    } catch {
      return // gone meanwhile, or unreadable (a test's chmod 000): nothing ccl could have left readable there
    }

    for (const entry of entries) {
      const file = path.join(folder, entry.name)
      if (entry.isDirectory()) {
        await walk(file)
        continue
      }

      if (!entry.isFile()) continue
      const stat = await lstat(file).catch(() => undefined)
      if (!stat?.isFile()) continue
      const input = inputs.get(file)
      if (input !== undefined && stat.size === Buffer.byteLength(input) && (await readFile(file, 'utf8').catch(() => '')) === input) continue
      const found = await fileHolds(file, stat.size, secrets).catch(() => [])
      for (const secret of found) leaks.push({file, secret})
    }
  }

  await walk(dir)
  return leaks
}

export function describeLeaks(leaks: readonly SecretLeak[], root: string): string {
  return leaks.map((leak) => `${path.relative(root, leak.file)} holds the API key ${nameSecret(leak.secret)}`).join('; ')
}
