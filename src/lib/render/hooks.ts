import type {AccountInstall, InstallReport} from '../hooks/install.js'

/**
 * One line per account. Under --dry-run also the command, and per file a diff-like summary:
 * `+ EVENTS` gain ccl's entry, `- EVENTS: COMMAND` lose an old ccl entry with that command.
 */
export function renderHooksReport(report: InstallReport): string {
  const lines: string[] = []
  if (report.dryRun) lines.push(`command: ${report.command}`)
  for (const result of report.accounts) {
    lines.push(accountLine(result, report.dryRun))
    if (!report.dryRun || result.sharedWith || result.status === 'refused') continue
    lines.push(...changeLines(result))
  }

  if (report.dryRun) lines.push('dry run: nothing written')
  return lines.join('\n')
}

function accountLine(result: AccountInstall, dryRun: boolean): string {
  if (result.status === 'refused') {
    return `${result.account}: refused${result.sharedWith ? ` (the same file as ${result.sharedWith})` : ''}: ${result.error}; left as it was`
  }

  const shared = result.sharedWith ? ` (the same file as ${result.sharedWith}, written once)` : ''
  const where = result.target ? `${result.file} -> ${result.target}` : result.file
  return `${result.account}: ${where}${shared}: ${changes(result, dryRun)}${result.created ? ' (new file)' : ''}`
}

function changes(result: AccountInstall, dryRun: boolean): string {
  const count = (change: string) => result.events.filter((event) => event.change === change).length
  const hooks = (n: number) => `${n} hook${n === 1 ? '' : 's'}`
  const parts: string[] = []
  const added = count('added')
  const replaced = count('replaced')
  if (added > 0) parts.push(`${dryRun ? 'would add' : 'added'} ${hooks(added)}`)
  if (replaced > 0) parts.push(`${dryRun ? 'would replace' : 'replaced'} ${hooks(replaced)}`)
  const line = statusLineChange(result, dryRun)
  if (line) parts.push(line)
  if (parts.length === 0 || (parts.length === 1 && result.statusLine?.change === 'skipped')) parts.unshift('unchanged')
  return parts.join(', ')
}

/** "set the statusLine (chaining: ~/bin/status)", "would restore the operator's statusLine (…)", … */
function statusLineChange(result: AccountInstall, dryRun: boolean): string | null {
  const line = result.statusLine
  if (!line) return null
  if (line.change === 'skipped') return line.note ?? 'statusLine left alone'
  const chaining = line.chained ? ` (chaining: ${line.chained})` : ''
  const said: Partial<Record<typeof line.change, {done: string; would: string; what: string}>> = {
    added: {done: 'set', would: 'would set', what: `the statusLine${chaining}`},
    replaced: {done: 'replaced', would: 'would replace', what: `the statusLine${chaining}`},
    restored: {done: 'restored', would: 'would restore', what: `the operator's statusLine (${line.chained})`},
    removed: {done: 'removed', would: 'would remove', what: "ccl's statusLine"},
  }
  const words = said[line.change]
  return words ? `${dryRun ? words.would : words.done} ${words.what}` : null
}

function changeLines(result: AccountInstall): string[] {
  const gained = result.events.filter((event) => event.change !== 'unchanged').map((event) => event.event)
  const lost = new Map<string, string[]>()
  for (const event of result.events) for (const old of event.removed) lost.set(old, [...(lost.get(old) ?? []), event.event])
  const line = result.statusLine
  const lineChanged = line !== undefined && ['added', 'replaced', 'restored', 'removed'].includes(line.change)
  return [
    ...[...lost].map(([old, events]) => `  - ${events.join(', ')}: ${old}`),
    ...(gained.length > 0 ? [`  + ${gained.join(', ')}`] : []),
    ...(lineChanged && line.removed ? [`  - statusLine: ${line.removed}`] : []),
    ...(lineChanged && (line.change === 'added' || line.change === 'replaced') ? ['  + statusLine'] : []),
    ...(lineChanged && line.change === 'restored' ? [`  + statusLine: ${line.chained}`] : []),
  ]
}
