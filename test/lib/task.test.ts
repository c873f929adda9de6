import fc from 'fast-check'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {TaskFileError} from '../../src/lib/errors.js'
import {MAX_FRONTMATTER_CHARS} from '../../src/lib/tasks/frontmatter.js'
import {loadYaml, parseTask, readTask} from '../../src/lib/tasks/task.js'

let dir: string
beforeAll(async () => {
  // parseTask is synchronous: the YAML parser for frontmatter beyond the simple subset is loaded first (readTask does it itself).
  await loadYaml()
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-task-'))
})
afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

async function write(name: string, content: string | Buffer): Promise<string> {
  const file = path.join(dir, name)
  await writeFile(file, content)
  return file
}

const FAIL_SAFE = 'kept local (fail-safe)'

describe('parseTask: the shapes a task file takes', () => {
  it('reads the four routing fields and keeps the body', () => {
    const task = parseTask('---\nneeds_claude_code: false\npreferred_ai: gemini\nallow_delegation: true\ncomplexity_hint: low\ntitle: other keys are ignored\n---\nThe body is the prompt.\n', 't.md')
    expect(task).toEqual({
      body: 'The body is the prompt.\n',
      fields: {needs_claude_code: false, preferred_ai: 'gemini', allow_delegation: true, complexity_hint: 'low'},
      warnings: [],
    })
  })

  it('no frontmatter: the whole text is the body, no fields, no warning', () => {
    expect(parseTask('# Fix login\n\nSteps...\n', 't.md')).toEqual({body: '# Fix login\n\nSteps...\n', fields: {}, warnings: []})
  })

  it('empty file', () => {
    expect(parseTask('', 't.md')).toEqual({body: '', fields: {}, warnings: []})
  })

  it('frontmatter only, with and without a final newline', () => {
    expect(parseTask('---\nallow_delegation: true\n---\n', 't.md')).toEqual({body: '', fields: {allow_delegation: true}, warnings: []})
    expect(parseTask('---\nallow_delegation: true\n---', 't.md')).toEqual({body: '', fields: {allow_delegation: true}, warnings: []})
  })

  it('empty and comment-only frontmatter give no fields and no warning', () => {
    expect(parseTask('---\n---\nbody', 't.md')).toEqual({body: 'body', fields: {}, warnings: []})
    expect(parseTask('---\n# just a note\n---\nbody', 't.md')).toEqual({body: 'body', fields: {}, warnings: []})
  })

  it('CRLF line ends', () => {
    expect(parseTask('---\r\npreferred_ai: gpu\r\nallow_delegation: true\r\n---\r\nline one\r\nline two\r\n', 't.md')).toEqual({
      body: 'line one\r\nline two\r\n',
      fields: {preferred_ai: 'gpu', allow_delegation: true},
      warnings: [],
    })
  })

  it('a BOM before the opening fence', () => {
    expect(parseTask('\uFEFF---\npreferred_ai: gpu\n---\nbody\n', 't.md')).toEqual({body: 'body\n', fields: {preferred_ai: 'gpu'}, warnings: []})
    expect(parseTask('\uFEFFno frontmatter', 't.md')).toEqual({body: 'no frontmatter', fields: {}, warnings: []})
  })

  it('--- lines inside the body stay body; only the first block is frontmatter', () => {
    const text = '---\nallow_delegation: true\n---\nintro\n---\nneeds_claude_code: true\n---\nmore\n'
    expect(parseTask(text, 't.md')).toEqual({body: 'intro\n---\nneeds_claude_code: true\n---\nmore\n', fields: {allow_delegation: true}, warnings: []})
  })

  it('a first line that is not exactly --- is not frontmatter (----, ---js, text)', () => {
    for (const text of ['----\nneeds_claude_code: true\n----\n', '---js\n{needs_claude_code: false}\n---\n', 'x\n---\nneeds_claude_code: true\n---\n']) {
      expect(parseTask(text, 't.md')).toEqual({body: text, fields: {}, warnings: []})
    }
  })

  it('trailing blanks on a fence line are tolerated', () => {
    expect(parseTask('--- \t\nallow_delegation: true\n---  \nbody', 't.md').fields).toEqual({allow_delegation: true})
  })

  it('null values (a blank template key) count as absent', () => {
    expect(parseTask('---\npreferred_ai:\nallow_delegation: ~\n---\n', 't.md')).toEqual({body: '', fields: {}, warnings: []})
  })
})

describe('parseTask: malformed frontmatter fails safe with a warning naming file and field', () => {
  it.each([
    ['allow_delegation: no (YAML 1.2: a string, not false)', 'allow_delegation: no', 'allow_delegation: expected true or false, got "no" (a string)'],
    ['allow_delegation: yes', 'allow_delegation: yes', 'allow_delegation: expected true or false, got "yes" (a string)'],
    ['allow_delegation: 1', 'allow_delegation: 1', 'allow_delegation: expected true or false, got 1 (a number)'],
    ['allow_delegation: "true" (quoted)', 'allow_delegation: "true"', 'allow_delegation: expected true or false, got "true" (a string)'],
    ['needs_claude_code: yes', 'needs_claude_code: yes', 'needs_claude_code: expected true or false, got "yes" (a string)'],
    ['preferred_ai as a list', 'preferred_ai: [gemini, gpu]', 'preferred_ai: expected a provider name such as gemini, got a list'],
    ['preferred_ai as a number', 'preferred_ai: 5', 'preferred_ai: expected a provider name such as gemini, got 5 (a number)'],
    ['preferred_ai empty string', 'preferred_ai: ""', 'preferred_ai: expected a provider name such as gemini, got "" (a string)'],
    ['complexity_hint unknown', 'complexity_hint: extreme', 'complexity_hint: expected low, medium or high, got "extreme" (a string)'],
    ['complexity_hint as a mapping', 'complexity_hint: {level: high}', 'complexity_hint: expected low, medium or high, got a mapping'],
  ])('%s', (_label, line, warning) => {
    // allow_delegation: true and a configured provider elsewhere would send it remote: the bad field must stop that.
    const extra = line.startsWith('allow_delegation') ? 'preferred_ai: gemini' : 'allow_delegation: true'
    const task = parseTask(`---\n${extra}\n${line}\n---\nbody\n`, 't.md')
    expect(task.warnings).toEqual([`t.md: ${warning}; ${FAIL_SAFE}`])
    expect(task.fields.allow_delegation).toBe(false)
    expect(task.body).toBe('body\n')
  })

  it.each([
    ['a YAML syntax error, with the file line', '---\nallow_delegation: true\npreferred_ai: [gemini\n---\nbody', /^t\.md: frontmatter: YAML error at line 4, column \d+: .+; kept local \(fail-safe\)$/],
    ['a duplicate key', '---\nallow_delegation: false\nallow_delegation: true\n---\nbody', /^t\.md: frontmatter: YAML error at line 3, column 1: Map keys must be unique; kept local/],
    ['a list instead of key: value lines', '---\n- allow_delegation: true\n---\nbody', /^t\.md: frontmatter: expected "key: value" lines, got a list; kept local/],
    ['a bare scalar', '---\njust some words\n---\nbody', /^t\.md: frontmatter: expected "key: value" lines, got "just some words" \(a string\); kept local/],
    ['an opening fence that never closes', '---\nallow_delegation: true\nbody', /^t\.md: frontmatter: the opening --- line has no closing --- line; kept local/],
    ['an alias bomb', `---\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\nallow_delegation: true\n---\nbody`, /^t\.md: frontmatter: YAML error: .*alias/i],
  ])('%s', (_label, text, warning) => {
    const task = parseTask(text, 't.md')
    expect(task.warnings).toHaveLength(1)
    expect(task.warnings[0]).toMatch(warning)
    expect(task.fields).toEqual({allow_delegation: false})
  })

  it('an unclosed block keeps the whole text as the body', () => {
    expect(parseTask('---\nnot frontmatter after all\n', 't.md').body).toBe('---\nnot frontmatter after all\n')
  })

  it('frontmatter over the size limit is not parsed', () => {
    const text = `---\nallow_delegation: true\n${'x: y\n'.repeat(MAX_FRONTMATTER_CHARS / 4)}---\nbody`
    const task = parseTask(text, 't.md')
    expect(task.warnings).toEqual([`t.md: frontmatter: frontmatter is longer than 64 KiB; not parsed; ${FAIL_SAFE}`])
    expect(task.fields).toEqual({allow_delegation: false})
  })

  it('reports every bad field, and the good ones still count', () => {
    const task = parseTask('---\nneeds_claude_code: maybe\npreferred_ai: gpu\ncomplexity_hint: 3\n---\n', 't.md')
    expect(task.warnings).toHaveLength(2)
    expect(task.warnings[0]).toMatch(/^t\.md: needs_claude_code: /)
    expect(task.warnings[1]).toMatch(/^t\.md: complexity_hint: /)
    expect(task.fields).toEqual({preferred_ai: 'gpu', allow_delegation: false})
  })

  it('never throws and never leaves a bad field in, for any text (property)', () => {
    const routingValue = fc.oneof(fc.boolean(), fc.string(), fc.integer(), fc.constantFrom('low', 'medium', 'high', 'gpu', 'no', 'yes', '~', '[a]', '{a: 1}', '"'))
    const frontmatter = fc
      .array(fc.tuple(fc.constantFrom('needs_claude_code', 'preferred_ai', 'allow_delegation', 'complexity_hint', 'x'), routingValue))
      .map((pairs) => `---\n${pairs.map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n')}\n---\n`)
    fc.assert(
      fc.property(fc.oneof(frontmatter, fc.string(), fc.string().map((s) => `---\n${s}`)), fc.string(), (head, tail) => {
        const task = parseTask(head + tail, 't.md')
        const f = task.fields
        expect(f.needs_claude_code === undefined || typeof f.needs_claude_code === 'boolean').toBe(true)
        expect(f.allow_delegation === undefined || typeof f.allow_delegation === 'boolean').toBe(true)
        expect(f.preferred_ai === undefined || (typeof f.preferred_ai === 'string' && f.preferred_ai.length > 0)).toBe(true)
        expect([undefined, 'low', 'medium', 'high']).toContain(f.complexity_hint)
        expect(Object.keys(f).every((k) => ['needs_claude_code', 'preferred_ai', 'allow_delegation', 'complexity_hint'].includes(k))).toBe(true)
        // Any warning from the file makes it fail safe.
        if (task.warnings.length > 0) expect(f.allow_delegation).toBe(false)
      }),
      {numRuns: 1500},
    )
  })
})

describe('readTask', () => {
  it('returns name, absolute path, raw content (BOM kept), body and fields', async () => {
    const file = await write('fix-login.md', '\uFEFF---\npreferred_ai: gpu\n---\nDo it.\n')
    const task = await readTask(path.relative(process.cwd(), file))
    expect(task).toEqual({
      name: 'fix-login.md',
      path: file,
      content: '\uFEFF---\npreferred_ai: gpu\n---\nDo it.\n',
      body: 'Do it.\n',
      fields: {preferred_ai: 'gpu'},
      warnings: [],
    })
  })

  it('a 10 MB body', async () => {
    const body = 'lorem ipsum dolor sit amet\n'.repeat(400_000)
    const file = await write('big.md', `---\nallow_delegation: true\ncomplexity_hint: high\n---\n${body}`)
    const task = await readTask(file)
    expect(task.body.length).toBe(body.length)
    expect(task.body === body).toBe(true)
    expect(task.fields).toEqual({allow_delegation: true, complexity_hint: 'high'})
  })

  it('a 10 MB file that opens a fence and never closes it: parsed no further than the limit', async () => {
    const file = await write('unclosed.md', `---\nallow_delegation: true\n${'- item\n'.repeat(1_500_000)}`)
    const task = await readTask(file)
    expect(task.fields).toEqual({allow_delegation: false})
    expect(task.warnings).toEqual([`unclosed.md: frontmatter: frontmatter is longer than 64 KiB; not parsed; ${FAIL_SAFE}`])
  })

  it('a file whose size stat does not know (/proc) is still read to its end', async () => {
    const {readFileSync} = await import('node:fs')
    const task = await readTask('/proc/self/cmdline')
    expect(task.content.length).toBeGreaterThan(10)
    expect(task.content).toBe(readFileSync('/proc/self/cmdline', 'utf8'))
  })

  it('a byte that is not UTF-8: warned about, read as U+FFFD, kept local', async () => {
    const file = await write('latin1.md', Buffer.concat([Buffer.from('---\npreferred_ai: gemini\nallow_delegation: true\n---\ncaf'), Buffer.from([0xe9]), Buffer.from('\n')]))
    const task = await readTask(file)
    expect(task.warnings).toEqual([`latin1.md: encoding: the file is not valid UTF-8 (bad bytes read as U+FFFD); ${FAIL_SAFE}`])
    expect(task.fields).toEqual({preferred_ai: 'gemini', allow_delegation: false})
    expect(task.body).toBe('caf\uFFFD\n')
  })

  it('a missing file: TaskFileError (exit 2) naming the file', async () => {
    const missing = path.join(dir, 'nope.md')
    await expect(readTask(missing)).rejects.toThrow(new TaskFileError(`${missing}: task file not found`))
    await expect(readTask(missing)).rejects.toMatchObject({exitCode: 2})
  })

  it('a directory passed as the task', async () => {
    const sub = path.join(dir, 'folder.md')
    await mkdir(sub)
    await expect(readTask(sub)).rejects.toThrow(new TaskFileError(`${sub}: is a directory, not a task file`))
  })

  it('a FIFO does not hang the reader', async () => {
    const {execFileSync} = await import('node:child_process')
    const fifo = path.join(dir, 'pipe.md')
    execFileSync('mkfifo', [fifo])
    await expect(readTask(fifo)).rejects.toThrow(new TaskFileError(`${fifo}: is not a regular file, not a task file`))
  })

  it('a path through a file (ENOTDIR) is "not found", not a crash', async () => {
    const file = await write('plain.md', 'x')
    await expect(readTask(path.join(file, 'inner.md'))).rejects.toThrow(
      new TaskFileError(`${path.join(file, 'inner.md')}: task file not found (a parent is not a directory)`),
    )
  })
})

describe('parseSimpleYaml: the fast path agrees with the yaml package', () => {
  it('on generated simple and not-so-simple frontmatter (property)', async () => {
    const {parse} = await import('yaml')
    const {parseSimpleYaml} = await import('../../src/lib/tasks/frontmatter.js')
    const key = fc.oneof(fc.constantFrom('allow_delegation', 'preferred_ai', 'title', 'true', 'null', '__proto__', 'a-b', '_x', 'K9'), fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/))
    const value = fc.oneof(
      fc.constantFrom('', 'true', 'True', 'TRUE', 'tRUE', 'false', 'no', 'yes', 'null', 'NULL', '~', 'gemini', 'claude-api', 'a b', 'a  b  ', '.inf', '0x1f', '1e3', 'e3', 'x: y', 'x #c', "'q'", '"q"', '[a]', '{a: 1}', '- a', 'a/b.c', 'Infinity', 'NaN', 'on', 'off'),
      fc.stringMatching(/^[A-Za-z0-9 ._/#:'"-]{0,10}$/),
    )
    const line = fc.oneof(
      {weight: 6, arbitrary: fc.tuple(key, value).map(([k, v]) => (v === '' ? `${k}:` : `${k}: ${v}`))},
      fc.constantFrom('', '   ', '# note', '  # indented note', '  continued', '- item', '\tkey: v', 'k:v', '...', '%YAML 1.2'),
    )
    fc.assert(
      fc.property(fc.array(line, {maxLength: 8}), fc.boolean(), (lines, crlf) => {
        const source = lines.join(crlf ? '\r\n' : '\n') + (lines.length > 0 ? '\n' : '')
        const fast = parseSimpleYaml(source)
        if (fast === undefined) return
        let slow: unknown
        try {
          slow = parse(source, {uniqueKeys: true, logLevel: 'error'}) ?? {}
        } catch {
          throw new Error(`fast path accepted what yaml rejects: ${JSON.stringify(source)}`)
        }

        expect(fast).toEqual(slow)
      }),
      {numRuns: 3000},
    )
  })

  it('takes the common case and leaves the rest to yaml', async () => {
    const {parseSimpleYaml} = await import('../../src/lib/tasks/frontmatter.js')
    expect(parseSimpleYaml('needs_claude_code: false\r\npreferred_ai: claude-api\n# c\n\nallow_delegation: no\ncomplexity_hint:\n')).toEqual({
      needs_claude_code: false,
      preferred_ai: 'claude-api',
      allow_delegation: 'no',
      complexity_hint: null,
    })
    for (const source of ['a: 1', 'a: "x"', 'a: [x]', 'a: x\na: y', 'a:\n  - x', 'a: x # c', 'a: x: y']) expect(parseSimpleYaml(source)).toBeUndefined()
  })
})
