import type {z} from 'zod'

import {ConfigError} from '../errors.js'
import {useConfigHost} from '../queue/holder.js'
import {type ConfigSource, keyPath, readConfigText} from './read.js'
import {parseConfigYaml} from './yaml.js'
import {type Config, completeConfig, configSchema} from './schema.js'

export {configCandidates, type ConfigSource, type DelegationState, delegationState, keyPath, requireDelegation} from './read.js'

/** The whole config, validated against the full schema (SPEC §2): what every command but the hot ones loads. */
export function loadConfig(source: ConfigSource): Config {
  const {text, file} = readConfigText(source)
  return parseConfig(text, file)
}

/** Parses and validates config text; every error names the file, the key path and what was expected. */
export function parseConfig(text: string, file: string): Config {
  const data = parseConfigYaml(text, file)
  const result = configSchema.safeParse(data, {reportInput: true})
  if (!result.success) throw new ConfigError(describeIssues(file, result.error.issues))
  const config = completeConfig(result.data, file)
  useConfigHost(config)
  return config
}

function describeIssues(file: string, issues: readonly z.core.$ZodIssue[]): string {
  const lines = issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${keyPath([...issue.path, key])}: unknown key`).join('; ')
    }

    if (issue.code === 'invalid_type' && issue.input === undefined) {
      return `${keyPath(issue.path)}: required key is missing (${issue.message.replace(/^Invalid input: /, '')})`
    }

    return `${keyPath(issue.path)}: ${issue.message.replace(/^Invalid input: /, '')}`
  })
  return `${file}: ${lines.join('; ')}`
}

