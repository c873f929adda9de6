// The yaml package is loaded only for frontmatter the simple reader does not take (frontmatter.ts):
// before anyone loads it, a synchronous parse that needs it says so, and readTask loads it itself.
// (Its own file: vitest gives each test file fresh modules, so nothing here has loaded yaml yet.)
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {YamlNotLoadedError} from '../../src/lib/tasks/frontmatter.js'
import {parseTask, readTask} from '../../src/lib/tasks/task.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-frontmatter-'))
})
afterAll(async () => rm(dir, {recursive: true, force: true}))

const FLOW = '---\npreferred_ai: gemini\nallow_delegation: [1\n---\nbody\n'

describe('frontmatter without the yaml package loaded', () => {
  it('simple frontmatter is parsed without it', () => {
    expect(parseTask('---\nallow_delegation: true\npreferred_ai: gemini\n---\nbody\n', 't.md').fields).toEqual({allow_delegation: true, preferred_ai: 'gemini'})
  })

  it('a synchronous parse that needs it throws YamlNotLoadedError; readTask loads it and parses the same text', async () => {
    expect(() => parseTask(FLOW, 't.md')).toThrow(YamlNotLoadedError)
    const file = path.join(dir, 'flow.md')
    await writeFile(file, FLOW)
    const task = await readTask(file)
    expect(task.fields).toEqual({allow_delegation: false})
    expect(task.warnings[0]).toMatch(/^flow\.md: frontmatter: YAML error at line \d+/)
    // Loaded now: the synchronous parse gives the same answer.
    expect(parseTask(FLOW, 'flow.md')).toEqual({body: task.body, fields: task.fields, warnings: task.warnings})
    const quoted = path.join(dir, 'quoted.md')
    await writeFile(quoted, '---\npreferred_ai: "gpu"\n---\nx\n')
    expect((await readTask(quoted)).fields).toEqual({preferred_ai: 'gpu'})
  })
})
