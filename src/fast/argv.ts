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
import {type HotConfig, loadHotConfig} from '../lib/config/hot.js'

export interface Parsed {
  config?: string
  explain: boolean
  json: boolean
  operands: string[]
}

/** Whether the fast entry may run at all: DEBUG and CCL_CONTENT_TYPE change what oclif prints. */
export function fastAllowed(): boolean {
  return !process.env.DEBUG && !process.env.CCL_CONTENT_TYPE
}

/** The flags a command takes (boolean or with a value); undefined when the line needs oclif. */
export function parse(argv: readonly string[], booleans: readonly string[], takesOperands: boolean): Parsed | undefined {
  const parsed: Parsed = {explain: false, json: false, operands: []}
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

    let name = token
    let value: string | undefined
    if (token.startsWith('--config=')) {
      name = '--config'
      value = token.slice('--config='.length)
    } else if (token === '--config') {
      value = argv[++i]
      // Missing, or a flag where its value should be: oclif's message.
      if (value === undefined || value.startsWith('-')) return undefined
    } else if (!booleans.includes(token)) {
      return undefined
    }

    if (seen.has(name)) return undefined
    seen.add(name)
    if (name === '--config') {
      if (value === '') return undefined
      parsed.config = value
    } else if (name === '--explain') parsed.explain = true
    else if (name === '--json') parsed.json = true
  }

  if (takesOperands ? parsed.operands.length === 0 : parsed.operands.length > 0) return undefined
  return parsed
}

export function configOf(parsed: Parsed): HotConfig {
  return loadHotConfig({flag: parsed.config, env: process.env, cwd: process.cwd()})
}

