/*
 * The fast entry of the hot commands: `ccl route FILE…` (a dispatcher calls it once per task) and
 * `ccl hook` (Claude Code runs it at every turn of every session). bin/run.js comes to
 * src/fast/route.ts or hook.ts first for them (each built into one self-contained file, so a start
 * loads two modules rather than fifteen: scripts/build.mjs); they read the command line here, by
 * hand, and run the same code as the oclif command (src/runs/), without loading oclif, its parser or
 * its plugins, or the full config schema (src/lib/config/hot.ts).
 *
 * It takes only command lines it understands completely: the known flags, each once, in their plain
 * spellings, with at least one file for route. Anything else (--help, -h, an unknown or repeated flag,
 * a flag without its value, no file, --json to a terminal (oclif colours it), DEBUG or
 * CCL_CONTENT_TYPE set) returns false, and bin/run.js hands the same argv to oclif, which answers it
 * as it always has. So every usage error, help page and exit code is oclif's own; a test runs a table
 * of command lines through both paths and compares stdout, stderr and exit codes (test/fast.test.ts).
 */
import {loadHotConfigCached} from '../lib/config/cached.js'
import type {HotConfig} from '../lib/config/hot.js'

export interface Parsed {
  config?: string
  /** Boolean flags given (`--json`, `--explain`, `--dry-run`). */
  booleans: Set<string>
  /** Flags with a value other than --config (`--release NAME`). */
  values: Map<string, string>
  operands: string[]
  json: boolean
}

export interface Spec {
  booleans: readonly string[]
  values?: readonly string[]
  operands: 'none' | 'one or more'
}

/** Whether the fast entry may run at all: DEBUG and CCL_CONTENT_TYPE change what oclif prints. */
export function fastAllowed(): boolean {
  return !process.env.DEBUG && !process.env.CCL_CONTENT_TYPE
}

/** The command line by `spec`; undefined when it needs oclif (anything not understood whole). */
export function parse(argv: readonly string[], spec: Spec): Parsed | undefined {
  const parsed: Parsed = {booleans: new Set(), values: new Map(), operands: [], json: false}
  const valued = ['--config', ...(spec.values ?? [])]
  const seen = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!
    if (token === '--') {
      parsed.operands.push(...argv.slice(i + 1))
      break
    }

    if (!token.startsWith('-') || token === '-') {
      parsed.operands.push(token)
      continue
    }

    const eq = token.indexOf('=')
    const name = eq === -1 ? token : token.slice(0, eq)
    if (seen.has(name)) return undefined
    seen.add(name)
    if (valued.includes(name)) {
      const value = eq === -1 ? argv[++i] : token.slice(eq + 1)
      // Missing, empty, or a flag where its value should be: oclif's message.
      if (value === undefined || value === '' || value.startsWith('-')) return undefined
      if (name === '--config') parsed.config = value
      else parsed.values.set(name, value)
    } else if (eq === -1 && spec.booleans.includes(name)) {
      parsed.booleans.add(name)
    } else {
      return undefined
    }
  }

  if (spec.operands === 'none' ? parsed.operands.length > 0 : parsed.operands.length === 0) return undefined
  parsed.json = parsed.booleans.has('--json')
  // oclif colours JSON for a terminal: that look is oclif's.
  if (parsed.json && process.stdout.isTTY) return undefined
  return parsed
}

export function configSource(parsed: Parsed): {flag: string | undefined; env: NodeJS.ProcessEnv; cwd: string} {
  return {flag: parsed.config, env: process.env, cwd: process.cwd()}
}

export async function hotConfigOf(parsed: Parsed): Promise<HotConfig> {
  return loadHotConfigCached(configSource(parsed))
}
