import {execFile} from 'node:child_process'
import {mkdir, readFile, readdir, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {limitedFields, needsLoginFields, writeAccountRecord} from '../support/accounts.js'
import {loadedPackages} from '../support/loaded-packages.js'
import {BIN, makeSandbox, REPO, runCcl, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
const KEY = {SECUTOOLS_API_KEY: 'test-key-123'}
beforeEach(async () => {
  sandbox = await makeSandbox({config: {delegation: {base_url: 'https://secutools.example/api/v1', complexity_map: {low: 'gemini', medium: 'gemini', high: 'claude-api'}}}})
})
afterEach(async () => {
  await sandbox.cleanup()
})

const pending = (name: string) => path.join(sandbox.queue, 'pending', name)
async function task(name: string, content: string | Buffer): Promise<string> {
  await writeFile(pending(name), content)
  return pending(name)
}

const route = (args: string[], env: NodeJS.ProcessEnv = KEY) => runCcl(['route', '--config', sandbox.configFile, ...args], {env})

describe('ccl route', () => {
  it('one task: prints the target alone, exit 0, nothing on stderr', async () => {
    const file = await task('big-job.md', '---\nallow_delegation: true\ncomplexity_hint: high\n---\nDo it.\n')
    const result = await route([file])
    expect(result).toEqual({code: 0, stdout: 'claude-api\n', stderr: ''})
  })

  it('several tasks: NAME<TAB>target<TAB>reason in argument order; warnings on stderr; files untouched', async () => {
    const files = [
      await task('b-local.md', '---\nneeds_claude_code: true\npreferred_ai: gpu\n---\nx'),
      await task('a-gpu.md', '---\npreferred_ai: gpu\n---\nx'),
      await task('c-no.md', '---\npreferred_ai: gemini\nallow_delegation: no\n---\nx'),
      await task('d-plain.md', 'just a prompt\n'),
      await task('e-unknown.md', '---\npreferred_ai: llama\n---\nx'),
    ]
    const before = await Promise.all(files.map(async (f) => [await readFile(f, 'utf8'), (await stat(f)).mtimeMs]))
    const result = await route(files)
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(
      [
        'b-local.md\tclaude-code\trule 1: needs_claude_code=true',
        'a-gpu.md\tgpu\trule 5: preferred_ai=gpu',
        'c-no.md\tclaude-code\trule 3: allow_delegation=false',
        'd-plain.md\tclaude-code\trule 8: no routing field sends the task elsewhere',
        'e-unknown.md\tclaude-code\trule 6: preferred_ai=llama is not a configured provider',
        '',
      ].join('\n'),
    )
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([
      'ccl: warning: c-no.md: allow_delegation: expected true or false, got "no" (a string); kept local (fail-safe)',
      'ccl: warning: e-unknown.md: preferred_ai: "llama" is not a configured provider (gpu, gemini, claude-api); kept local (fail-safe)',
    ])
    // Routing only reads: every task is still where it was, unchanged.
    expect(await Promise.all(files.map(async (f) => [await readFile(f, 'utf8'), (await stat(f)).mtimeMs]))).toEqual(before)
    expect((await readdir(path.join(sandbox.queue, 'pending'))).sort()).toEqual(files.map((f) => path.basename(f)).sort())
  })

  it('--json: exactly one document with schemaVersion and the decisions', async () => {
    const files = [await task('one.md', '---\nallow_delegation: true\n---\n'), await task('two.md', '---\ncomplexity_hint: [high]\nallow_delegation: true\n---\n')]
    const result = await route(['--json', ...files])
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({
      schemaVersion: 1,
      decisions: [
        {task: 'one.md', target: 'gemini', remote: true, rule: 7, reason: 'rule 7: allow_delegation=true, no complexity_hint -> default_provider=gemini', warnings: []},
        {
          task: 'two.md',
          target: 'claude-code',
          remote: false,
          rule: 3,
          reason: 'rule 3: allow_delegation=false',
          warnings: ['two.md: complexity_hint: expected low, medium or high, got a list; kept local (fail-safe)'],
        },
      ],
    })
    expect(result.stderr).toBe('ccl: warning: two.md: complexity_hint: expected low, medium or high, got a list; kept local (fail-safe)\n')
  })

  it('a missing file among others: error on stderr, exit 2, the others still decided and printed', async () => {
    const good = await task('good.md', '---\npreferred_ai: gemini\n---\n')
    const missing = pending('gone.md')
    const dir = path.join(sandbox.dir, 'folder.md')
    await mkdir(dir)
    const human = await route([good, missing, dir])
    expect(human.code).toBe(2)
    expect(human.stdout).toBe('good.md\tgemini\trule 5: preferred_ai=gemini\n')
    expect(human.stderr).toBe(`ccl: ${missing}: task file not found\nccl: ${dir}: is a directory, not a task file\n`)

    const json = await route(['--json', missing, good])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toEqual({
      schemaVersion: 1,
      decisions: [expect.objectContaining({task: 'good.md', target: 'gemini'})],
      errors: [{task: 'gone.md', file: missing, message: `${missing}: task file not found`}],
    })
  })

  it('one missing task: nothing on stdout, one clear line on stderr, exit 2', async () => {
    const result = await route([pending('nope.md')])
    expect(result).toEqual({code: 2, stdout: '', stderr: `ccl: ${pending('nope.md')}: task file not found\n`})
  })

  it('malformed frontmatter routes claude-code with a one-line warning, no stack trace', async () => {
    const file = await task('broken.md', '---\npreferred_ai: gemini\nallow_delegation: [true\n---\nbody')
    const result = await route([file])
    expect(result.code).toBe(0)
    expect(result.stdout).toBe('claude-code\n')
    expect(result.stderr).toMatch(/^ccl: warning: broken\.md: frontmatter: YAML error at line \d+, column \d+: [^\n]+; kept local \(fail-safe\)\n$/)
  })

  it('a non-UTF-8 byte: kept local with a warning', async () => {
    const file = await task('bytes.md', Buffer.concat([Buffer.from('---\npreferred_ai: gemini\n---\n'), Buffer.from([0xff, 0xfe, 0x0a])]))
    const result = await route([file])
    expect(result).toEqual({code: 0, stdout: 'claude-code\n', stderr: 'ccl: warning: bytes.md: encoding: the file is not valid UTF-8 (bad bytes read as U+FFFD); kept local (fail-safe)\n'})
  })

  it('delegation off routes everything to claude-code and says why (no block, key unset, key empty)', async () => {
    const file = await task('remote.md', '---\npreferred_ai: gpu\nallow_delegation: true\n---\n')
    const unset = await route(['--json', file], {})
    expect(JSON.parse(unset.stdout).decisions[0]).toMatchObject({target: 'claude-code', rule: 4, reason: 'rule 4: delegation is off: $SECUTOOLS_API_KEY is not set or empty'})
    const empty = await route([file, file], {SECUTOOLS_API_KEY: ''})
    expect(empty.stdout).toBe('remote.md\tclaude-code\trule 4: delegation is off: $SECUTOOLS_API_KEY is not set or empty\n'.repeat(2))

    const {delegation: _omit, ...noBlock} = sandbox.config
    await sandbox.writeConfig(noBlock)
    const off = await route([file])
    expect(off).toEqual({code: 0, stdout: 'claude-code\n', stderr: ''})
    const explained = await route(['--explain', file])
    expect(explained.stdout.split('\n')[0]).toBe(`remote.md -> claude-code (rule 4: delegation is off: ${sandbox.configFile} has no "delegation" block)`)
  })

  it('--explain lists every rule, which one won and why the others did not', async () => {
    const file = await task('why.md', '---\npreferred_ai: gpu\nallow_delegation: true\ncomplexity_hint: low\n---\n')
    const result = await route(['--explain', file])
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(
      [
        'why.md -> gpu (rule 5: preferred_ai=gpu)',
        '  rule 1  no        needs_claude_code: true -> claude-code: needs_claude_code is not set',
        '  rule 2  no        preferred_ai: claude-code -> claude-code: preferred_ai is gpu',
        '  rule 3  no        allow_delegation: false -> claude-code: allow_delegation is true',
        '  rule 4  no        delegation off -> claude-code: delegation is on',
        '  rule 5  WINS      preferred_ai is a configured provider -> that provider: preferred_ai=gpu',
        '  rule 6  no        preferred_ai set but unknown -> claude-code (fail-safe, warning): preferred_ai=gpu is known',
        '  rule 7  shadowed  allow_delegation: true -> complexity_map[complexity_hint], else default_provider: allow_delegation=true, complexity_hint=low -> complexity_map.low=gemini',
        '  spill   no        failover.spill_to_remote and every account limited or needing login -> complexity_map[complexity_hint], else default_provider: failover.spill_to_remote is off',
        '  rule 8  shadowed  otherwise -> claude-code: no routing field sends the task elsewhere',
        '',
      ].join('\n'),
    )
    const json = JSON.parse((await route(['--explain', '--json', file])).stdout)
    expect(json.decisions[0].rules.map((r: {rule: number; matched: boolean}) => [r.rule, r.matched])).toEqual([
      [1, false], [2, false], [3, false], [4, false], [5, true], [6, false], [7, true], ['spill', false], [8, true],
    ])
  })

  it('names and values with a newline, a tab or ESC: one line per task, escaped; --json keeps them raw', async () => {
    const files = [
      await task('line\nbreak.md', '---\npreferred_ai: llama\n---\nx'),
      await task('tab\there.md', 'plain\n'),
      await task('paste\u001B[201~end.md', '---\npreferred_ai: "x\\ny"\n---\nx'),
    ]
    const result = await route(files)
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(
      [
        'line\\nbreak.md\tclaude-code\trule 6: preferred_ai=llama is not a configured provider',
        'tab\\there.md\tclaude-code\trule 8: no routing field sends the task elsewhere',
        'paste\\e[201~end.md\tclaude-code\trule 6: preferred_ai=x\\ny is not a configured provider',
        '',
      ].join('\n'),
    )
    expect(result.stderr).toBe(
      [
        'ccl: warning: line\\nbreak.md: preferred_ai: "llama" is not a configured provider (gpu, gemini, claude-api); kept local (fail-safe)',
        'ccl: warning: paste\\e[201~end.md: preferred_ai: "x\\ny" is not a configured provider (gpu, gemini, claude-api); kept local (fail-safe)',
        '',
      ].join('\n'),
    )

    const explained = await route(['--explain', files[2]!])
    expect(explained.stdout).not.toContain('\u001B')
    const lines = explained.stdout.split('\n')
    expect(lines).toHaveLength(11) // the decision, eight rules and the spill rule, and the final newline
    expect(lines[0]).toBe('paste\\e[201~end.md -> claude-code (rule 6: preferred_ai=x\\ny is not a configured provider)')
    expect(lines[5]).toMatch(/^ {2}rule 5 .*: preferred_ai=x\\ny is not in providers \[gpu, gemini, claude-api\]$/)

    const json = JSON.parse((await route(['--json', ...files])).stdout)
    expect(json.decisions.map((d: {task: string}) => d.task)).toEqual(['line\nbreak.md', 'tab\there.md', 'paste\u001B[201~end.md'])
  })

  it('a missing file whose name holds a newline: one escaped line on stderr', async () => {
    const result = await route([pending('gone\nfake.md')])
    expect(result).toEqual({code: 2, stdout: '', stderr: `ccl: ${pending('gone\\nfake.md')}: task file not found\n`})
  })

  it('many files in one call, flags anywhere, -- ends the flags, --help still works', async () => {
    const files = []
    for (let i = 0; i < 300; i++) files.push(await task(`t${String(i).padStart(3, '0')}.md`, i % 2 ? '---\nallow_delegation: true\n---\n' : 'local\n'))
    const result = await route([...files.slice(0, 150), '--json', ...files.slice(150), '--', '--explain'])
    expect(result.code).toBe(2) // the operand after -- is a file named --explain, which does not exist
    const out = JSON.parse(result.stdout)
    expect(out.decisions.map((d: {task: string; target: string}) => `${d.task}:${d.target}`)).toEqual(
      files.map((f, i) => `${path.basename(f)}:${i % 2 ? 'gemini' : 'claude-code'}`),
    )
    expect(out.errors).toEqual([{task: '--explain', file: '--explain', message: '--explain: task file not found'}])
    const help = await runCcl(['route', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('USAGE')
    expect(help.stdout).toContain('--explain')
  })

  it('usage and config errors keep their exit codes', async () => {
    expect((await runCcl(['route', '--config', sandbox.configFile])).code).toBe(2)
    const bogus = await route(['--bogus', pending('x.md')])
    expect(bogus.code).toBe(2)
    expect(bogus.stderr).toContain('Nonexistent flag: --bogus')
    const noConfig = await runCcl(['route', pending('x.md')])
    expect(noConfig.code).toBe(3)
    expect(noConfig.stderr).toMatch(/^ccl: no config file found/)
  })

  it('runs without oclif, zod, got, listr2 or execa (and the recorder does see what it loads)', async () => {
    const file = await task('fast.md', '---\nallow_delegation: true\n---\n')
    const log = path.join(sandbox.dir, 'imports.log')
    const hook = fileURLToPath(new URL('../support/record-imports.mjs', import.meta.url))
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', hook, BIN, 'route', '--config', sandbox.configFile, file],
        {env: {PATH: process.env.PATH, HOME: sandbox.dir, CCL_IMPORT_LOG: log, ...KEY}},
        (error, out) => (error ? reject(error) : resolve(out)),
      )
    })
    expect(stdout).toBe('gemini\n')
    const loaded = loadedPackages((await readFile(log, 'utf8')).split('\n'))
    // Positive control: the recorder sees the code route does use (yaml is bundled into its fast entry).
    expect(loaded).toContain('yaml')
    expect(loaded).toContain('ccl:dist/fast/route.js')
    for (const heavy of ['@oclif/core', 'zod', 'got', 'listr2', 'execa', 'gray-matter', 'js-yaml']) expect(loaded).not.toContain(heavy)
  })
})

describe('ccl route: the spill rule (failover.spill_to_remote)', () => {
  const state = () => path.join(sandbox.queue, '.ccl')
  const inAnHour = () => new Date(Date.now() + 3_600_000)
  /** Turns spill on; alpha limited for an hour, beta needing login. */
  async function everyAccountOut(spill = true) {
    await sandbox.writeConfig({...sandbox.config, failover: {spill_to_remote: spill}})
    await writeAccountRecord(state(), 'alpha', limitedFields(inAnHour()))
    await writeAccountRecord(state(), 'beta', needsLoginFields(new Date(Date.now() - 600_000)))
  }

  const untilOf = (until: Date) => new Date(until.getTime() + 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z')

  it('every account limited or needing login: a delegable task goes remote; the three exclusions and an unknown preferred_ai stay local', async () => {
    const until = inAnHour()
    await sandbox.writeConfig({...sandbox.config, failover: {spill_to_remote: true}})
    await writeAccountRecord(state(), 'alpha', limitedFields(until))
    await writeAccountRecord(state(), 'beta', needsLoginFields(new Date(Date.now() - 600_000)))
    const files = [
      await task('plain.md', 'Just a prompt.\n'),
      await task('hinted.md', '---\ncomplexity_hint: high\n---\nx'),
      await task('needs-cc.md', '---\nneeds_claude_code: true\n---\nx'),
      await task('no-remote.md', '---\nallow_delegation: false\n---\nx'),
      await task('wants-cc.md', '---\npreferred_ai: claude-code\n---\nx'),
      await task('unknown.md', '---\npreferred_ai: llama\n---\nx'),
    ]
    const result = await route(['--json', ...files])
    expect(result.code).toBe(0)
    const why = `every account is limited or needs login (alpha limited until ${untilOf(until)}, beta needs login)`
    expect(JSON.parse(result.stdout).decisions.map((d: {task: string; target: string; rule: unknown; reason: string}) => [d.task, d.target, d.rule, d.reason])).toEqual([
      ['plain.md', 'gemini', 'spill', `spill: ${why} -> default_provider=gemini`],
      ['hinted.md', 'claude-api', 'spill', `spill: ${why} -> complexity_map.high=claude-api`],
      ['needs-cc.md', 'claude-code', 1, 'rule 1: needs_claude_code=true'],
      ['no-remote.md', 'claude-code', 3, 'rule 3: allow_delegation=false'],
      ['wants-cc.md', 'claude-code', 2, 'rule 2: preferred_ai=claude-code'],
      ['unknown.md', 'claude-code', 6, 'rule 6: preferred_ai=llama is not a configured provider'],
    ])
    // The one-task form, as a bash dispatcher calls it.
    expect(await route([files[0]!])).toEqual({code: 0, stdout: 'gemini\n', stderr: ''})
  })

  it('one account free: local; a limit already over (reset plus margin passed) counts as free', async () => {
    await everyAccountOut()
    await writeAccountRecord(state(), 'beta', {})
    const file = await task('plain.md', 'x\n')
    expect((await route([file, file])).stdout).toBe('plain.md\tclaude-code\trule 8: no routing field sends the task elsewhere\n'.repeat(2))
    await writeAccountRecord(state(), 'beta', limitedFields(new Date(Date.now() - 120_000)))
    expect(await route([file])).toEqual({code: 0, stdout: 'claude-code\n', stderr: ''})
    await writeAccountRecord(state(), 'beta', limitedFields(new Date(Date.now() + 600_000)))
    expect(await route([file])).toEqual({code: 0, stdout: 'gemini\n', stderr: ''})
  })

  it('spill off in config (the default), or delegation off: local even when every account is out', async () => {
    await everyAccountOut(false)
    const file = await task('plain.md', 'x\n')
    expect(await route([file])).toEqual({code: 0, stdout: 'claude-code\n', stderr: ''})
    await everyAccountOut(true)
    expect(await route([file], {})).toEqual({code: 0, stdout: 'claude-code\n', stderr: ''})
    expect(await route([file])).toEqual({code: 0, stdout: 'gemini\n', stderr: ''})
  })

  it('--explain shows the spill rule: wins and why; not applying, naming the free account; the task excluded; spill off', async () => {
    await everyAccountOut()
    const plain = await task('plain.md', 'x\n')
    const local = await task('local.md', '---\nneeds_claude_code: true\n---\nx')
    const spillLine = (out: string) => out.split('\n').find((l) => l.startsWith('  spill '))
    const wins = await route(['--explain', plain])
    expect(wins.stdout.split('\n')[0]).toMatch(/^plain\.md -> gemini \(spill: every account is limited or needs login \(alpha limited until \S+Z, beta needs login\) -> default_provider=gemini\)$/)
    expect(spillLine(wins.stdout)).toMatch(/^ {2}spill {3}WINS {6}failover\.spill_to_remote and every account limited or needing login -> .*: every account is limited or needs login \(alpha limited until/)
    expect(wins.stdout).toContain('  rule 8  shadowed  otherwise -> claude-code')
    expect(spillLine((await route(['--explain', local])).stdout)).toBe(
      '  spill   no        failover.spill_to_remote and every account limited or needing login -> complexity_map[complexity_hint], else default_provider: the task must stay local (rule 1: needs_claude_code=true)',
    )

    await writeAccountRecord(state(), 'beta', {})
    const free = await route(['--explain', plain])
    expect(free.stdout.split('\n')[0]).toBe('plain.md -> claude-code (rule 8: no routing field sends the task elsewhere)')
    expect(spillLine(free.stdout)).toMatch(/: not every account is limited or needs login: beta is neither limited nor needing login$/)

    await sandbox.writeConfig({...sandbox.config, failover: {spill_to_remote: false}})
    expect(spillLine((await route(['--explain', plain])).stdout)).toMatch(/ {2}spill {3}no {8}.*: failover\.spill_to_remote is off$/)
  })

  it('reads the account records (and loads their code) only when spill is on', async () => {
    const file = await task('fast.md', 'x\n')
    const meta = JSON.parse(await readFile(path.join(REPO, 'dist/meta.json'), 'utf8')) as {outputs: Record<string, {inputs: Record<string, unknown>}>}
    /** The sources of every dist file one `ccl route` ran. */
    const sourcesRun = async () => {
      const log = path.join(sandbox.dir, `imports-${Math.random().toString(36).slice(2)}.log`)
      const hook = fileURLToPath(new URL('../support/record-imports.mjs', import.meta.url))
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, ['--import', hook, BIN, 'route', '--config', sandbox.configFile, file], {env: {PATH: process.env.PATH, HOME: sandbox.dir, CCL_IMPORT_LOG: log, ...KEY}}, (error, out) =>
          error ? reject(error) : resolve(out),
        )
      })
      const urls = (await readFile(log, 'utf8')).split('\n').filter((u) => u.startsWith('file:'))
      const sources = urls.flatMap((u) => Object.keys(meta.outputs[path.relative(REPO, fileURLToPath(u))]?.inputs ?? {}))
      return {stdout, sources}
    }

    await everyAccountOut(false)
    const off = await sourcesRun()
    expect(off.stdout).toBe('claude-code\n')
    expect(off.sources).toContain('src/lib/tasks/decide.ts')
    expect(off.sources).not.toContain('src/lib/accounts/state.ts')
    await everyAccountOut(true)
    const on = await sourcesRun()
    expect(on.stdout).toBe('gemini\n')
    expect(on.sources).toContain('src/lib/accounts/state.ts')
  })
})
