/**
 * A checker for the Prometheus text exposition format (version 0.0.4), as node_exporter's
 * textfile collector reads it, plus the house rules (every family has HELP and TYPE).
 * Returns one message per violation; an empty list means the text is valid.
 */
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const FLOAT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]?Inf)$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

function parseLabels(text: string, where: string, errors: string[]): Record<string, string> | undefined {
  const labels: Record<string, string> = {}
  let i = 0
  while (i < text.length) {
    const eq = text.indexOf('=', i)
    if (eq === -1) {
      errors.push(`${where}: label without "="`)
      return undefined
    }

    const name = text.slice(i, eq).trim()
    if (!LABEL_NAME.test(name) || name.startsWith('__')) errors.push(`${where}: bad label name "${name}"`)
    if (name in labels) errors.push(`${where}: label "${name}" twice`)
    if (text[eq + 1] !== '"') {
      errors.push(`${where}: label value not quoted`)
      return undefined
    }

    let value = ''
    let j = eq + 2
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[j + 1]
        if (next === '\\') value += '\\'
        else if (next === '"') value += '"'
        else if (next === 'n') value += '\n'
        else errors.push(`${where}: bad escape "\\${next}" in label value`)
        j++
      } else if (text[j] === '\n') {
        errors.push(`${where}: raw newline in label value`)
      } else value += text[j]
    }

    if (j >= text.length) {
      errors.push(`${where}: unterminated label value`)
      return undefined
    }

    labels[name] = value
    i = j + 1
    if (text[i] === ',') i++
    else if (i < text.length) {
      errors.push(`${where}: expected "," between labels`)
      return undefined
    }
  }

  return labels
}

export function checkExposition(text: string, options: {allowTimestamps?: boolean} = {}): {errors: string[]; samples: Sample[]} {
  const errors: string[] = []
  const samples: Sample[] = []
  if (!text.endsWith('\n')) errors.push('text does not end with a newline')
  const help = new Set<string>()
  const types = new Map<string, string>()
  const finished = new Set<string>()
  const series = new Set<string>()
  let current: string | undefined
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  for (const [index, line] of lines.entries()) {
    const where = `line ${index + 1}`
    if (line.includes('\r')) errors.push(`${where}: carriage return`)
    if (line.trim() === '') continue
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line)
      if (!m) continue // any other comment is allowed
      const [, kind, name, rest = ''] = m
      if (!NAME.test(name!)) errors.push(`${where}: bad metric name "${name}"`)
      if (kind === 'HELP') {
        if (help.has(name!)) errors.push(`${where}: second HELP for ${name}`)
        help.add(name!)
        if (/\\[^\\n]/.test(rest.replaceAll('\\\\', ''))) errors.push(`${where}: bad escape in HELP`)
      } else {
        if (types.has(name!)) errors.push(`${where}: second TYPE for ${name}`)
        if (finished.has(name!) || samples.some((s) => s.name === name)) errors.push(`${where}: TYPE for ${name} after its samples`)
        if (!TYPES.has(rest.trim())) errors.push(`${where}: unknown type "${rest}"`)
        types.set(name!, rest.trim())
      }

      continue
    }

    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(\S+))?[ \t]*$/.exec(line)
    if (!m) {
      errors.push(`${where}: not a sample line: ${line}`)
      continue
    }

    const [, name, labelText, value, timestamp] = m
    const labels = parseLabels(labelText ?? '', where, errors) ?? {}
    if (!FLOAT.test(value!)) errors.push(`${where}: bad value "${value}"`)
    if (timestamp !== undefined) {
      if (!options.allowTimestamps) errors.push(`${where}: timestamp (the textfile collector rejects them)`)
      else if (!/^-?\d+$/.test(timestamp)) errors.push(`${where}: bad timestamp "${timestamp}"`)
    }

    if (name !== current) {
      if (finished.has(name!)) errors.push(`${where}: samples of ${name} are not grouped together`)
      if (current !== undefined) finished.add(current)
      current = name
    }

    if (!help.has(name!)) errors.push(`${where}: ${name} has no HELP before it`)
    if (!types.has(name!)) errors.push(`${where}: ${name} has no TYPE before it`)
    if (types.get(name!) === 'counter' && Number(value) < 0) errors.push(`${where}: negative counter`)
    const key = `${name}{${Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`
    if (series.has(key)) errors.push(`${where}: duplicate series ${key}`)
    series.add(key)
    samples.push({name: name!, labels, value: value === 'NaN' ? Number.NaN : Number(value!.replace(/^\+?Inf$/, 'Infinity').replace(/^-Inf$/, '-Infinity'))})
  }

  return {errors, samples}
}
