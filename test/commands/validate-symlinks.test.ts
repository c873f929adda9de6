import {lstat, mkdir, readlink, symlink, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {linkAll, makeSandbox, runCcl, type Sandbox} from '../support/sandbox.js'

let sandbox: Sandbox
beforeEach(async () => {
  sandbox = await makeSandbox({accounts: ['alpha', 'beta', 'gamma']})
})
afterEach(async () => {
  await sandbox.cleanup()
})

const run = (...args: string[]) => runCcl(['validate-symlinks', '--config', sandbox.configFile, ...args])

/** One of every problem kind, each in a place of its own. */
async function breakEverything() {
  const {shared, homes} = sandbox
  await mkdir(path.join(shared, 'projects'), {recursive: true})
  await mkdir(path.join(shared, 'file-history'), {recursive: true})
  await mkdir(path.join(sandbox.dir, 'elsewhere'))
  // alpha: projects fine, file-history dangling, session-env a real directory
  await symlink(path.join(shared, 'projects'), path.join(homes.alpha!, 'projects'))
  await symlink(path.join(sandbox.dir, 'gone'), path.join(homes.alpha!, 'file-history'))
  await mkdir(path.join(homes.alpha!, 'session-env'))
  // beta: projects wrong target, file-history a link to a link, session-env missing
  await symlink(path.join(sandbox.dir, 'elsewhere'), path.join(homes.beta!, 'projects'))
  await symlink(path.join(homes.alpha!, 'projects'), path.join(homes.beta!, 'file-history'))
  // gamma: projects missing, file-history fine, session-env a relative link to the canonical (fine but canonical missing)
  await symlink(path.join(shared, 'file-history'), path.join(homes.gamma!, 'file-history'))
  await symlink(path.relative(homes.gamma!, path.join(shared, 'session-env')), path.join(homes.gamma!, 'session-env'))
}

describe('ccl validate-symlinks', () => {
  it('exits 0 on a valid layout, relative links included', async () => {
    await linkAll(sandbox)
    const result = await run()
    expect(result.stdout.trim()).toBe('symlinks valid: 9 links checked')
    expect(result.code).toBe(0)
  })

  it('reports every problem kind in one run, one line each naming account and dir', async () => {
    await breakEverything()
    const {shared, homes, dir} = sandbox
    const result = await run()
    expect(result.code).toBe(1)
    const lines = result.stdout.trim().split('\n')
    expect(lines).toEqual([
      `alpha file-history: dangling: ${homes.alpha}/file-history -> ${dir}/gone, which does not exist (want ${shared}/file-history)`,
      `beta file-history: chain: ${homes.beta}/file-history -> ${homes.alpha}/projects is a link to a link; Claude Code's atomic writes follow one hop, so point it at ${shared}/file-history directly`,
      `beta projects: wrong-target: ${homes.beta}/projects -> ${dir}/elsewhere, want ${shared}/projects`,
      `gamma projects: missing: ${homes.gamma}/projects does not exist (want a symlink to ${shared}/projects)`,
      `(shared) session-env: canonical-missing: ${shared}/session-env is not a directory; every account's session-env link needs it`,
      `alpha session-env: not-a-symlink: ${homes.alpha}/session-env is a real directory (divergent state), not a symlink to ${shared}/session-env`,
      `beta session-env: missing: ${homes.beta}/session-env does not exist (want a symlink to ${shared}/session-env)`,
      'symlinks INVALID: 7 problems in 9 links checked',
    ].sort((a, b) => lines.indexOf(a) - lines.indexOf(b)))
    expect(lines).toHaveLength(8)
  })

  it('lists the problems under --json with kinds, and keeps exit 1', async () => {
    await breakEverything()
    const result = await run('--json')
    expect(result.code).toBe(1)
    const report = JSON.parse(result.stdout)
    expect(report.schemaVersion).toBe(1)
    expect(report.valid).toBe(false)
    expect(report.problems.map((p: {kind: string; account: string | null; dir: string}) => `${p.account}/${p.dir}/${p.kind}`).sort()).toEqual([
      'alpha/file-history/dangling',
      'alpha/session-env/not-a-symlink',
      'beta/file-history/chain',
      'beta/projects/wrong-target',
      'beta/session-env/missing',
      'gamma/projects/missing',
      'null/session-env/canonical-missing',
    ])
    const wrong = report.problems.find((p: {kind: string}) => p.kind === 'wrong-target')
    expect(wrong.actual).toBe(path.join(sandbox.dir, 'elsewhere'))
    expect(wrong.expected).toBe(path.join(sandbox.shared, 'projects'))
  })

  it('reports a regular file standing where a link should be', async () => {
    await linkAll(sandbox)
    const {rm} = await import('node:fs/promises')
    await rm(path.join(sandbox.homes.beta!, 'projects'))
    await writeFile(path.join(sandbox.homes.beta!, 'projects'), '')
    const result = await run()
    expect(result.stdout).toContain(`beta projects: not-a-symlink: ${sandbox.homes.beta}/projects is a regular file`)
    expect(result.code).toBe(1)
  })

  it('--create-missing creates only absent links and never replaces a directory or a wrong link', async () => {
    await breakEverything()
    await mkdir(path.join(sandbox.shared, 'session-env'))
    const result = await run('--create-missing')
    expect(result.stdout).toContain(`created: gamma projects: ${sandbox.homes.gamma}/projects -> ${sandbox.shared}/projects`)
    expect(result.stdout).toContain(`created: beta session-env: ${sandbox.homes.beta}/session-env -> ${sandbox.shared}/session-env`)
    expect(await readlink(path.join(sandbox.homes.gamma!, 'projects'))).toBe(path.join(sandbox.shared, 'projects'))
    // the divergent directory and the wrong link are still there, still reported
    expect((await lstat(path.join(sandbox.homes.alpha!, 'session-env'))).isDirectory()).toBe(true)
    expect(await readlink(path.join(sandbox.homes.beta!, 'projects'))).toBe(path.join(sandbox.dir, 'elsewhere'))
    expect(result.stdout).toContain('beta projects: wrong-target')
    expect(result.stdout).toContain('alpha session-env: not-a-symlink')
    expect(result.code).toBe(1)
  })

  it('--create-missing --dry-run changes nothing', async () => {
    await breakEverything()
    const result = await run('--create-missing', '--dry-run')
    expect(result.stdout).toContain(`would create: gamma projects: ${sandbox.homes.gamma}/projects -> ${sandbox.shared}/projects`)
    await expect(lstat(path.join(sandbox.homes.gamma!, 'projects'))).rejects.toMatchObject({code: 'ENOENT'})
    expect(result.code).toBe(1)
  })

  it('--create-missing on a fresh machine makes the layout valid', async () => {
    for (const d of ['projects', 'file-history', 'session-env']) await mkdir(path.join(sandbox.shared, d), {recursive: true})
    expect((await run('--create-missing')).code).toBe(0)
    expect((await run()).stdout.trim()).toBe('symlinks valid: 9 links checked')
  })

  it('--create-missing with the shared root absent creates the shared folders first, then links to them, and reports nothing missing', async () => {
    const {rm, stat} = await import('node:fs/promises')
    await rm(sandbox.shared, {recursive: true, force: true})
    const result = await run('--create-missing')
    expect(result.code, result.stdout).toBe(0)
    const lines = result.stdout.trim().split('\n')
    expect(lines.slice(0, 3)).toEqual(['projects', 'file-history', 'session-env'].map((d) => `created: ${sandbox.shared}/${d}/ (the shared folder the links point at)`))
    expect(lines.filter((l) => l.startsWith('created: ') && l.includes(' -> '))).toHaveLength(9)
    expect(result.stdout).not.toMatch(/missing|dangling/)
    expect(lines.at(-1)).toBe('symlinks valid: 9 links checked')
    for (const d of ['projects', 'file-history', 'session-env']) {
      expect((await stat(path.join(sandbox.homes.alpha!, d))).isDirectory()).toBe(true) // the link resolves
    }
    expect((await run()).stdout.trim()).toBe('symlinks valid: 9 links checked')
  })

  it('--create-missing --dry-run with the shared root absent says it would create the folders and creates nothing', async () => {
    const {rm} = await import('node:fs/promises')
    await rm(sandbox.shared, {recursive: true, force: true})
    const result = await run('--create-missing', '--dry-run', '--json')
    expect(result.code).toBe(1)
    const report = JSON.parse(result.stdout)
    expect(report.createdDirs).toEqual(['projects', 'file-history', 'session-env'].map((d) => path.join(sandbox.shared, d)))
    expect(report.created).toHaveLength(9)
    await expect(lstat(sandbox.shared)).rejects.toMatchObject({code: 'ENOENT'})
    await expect(lstat(path.join(sandbox.homes.alpha!, 'projects'))).rejects.toMatchObject({code: 'ENOENT'})
  })

  it('--create-missing makes no link to a shared path that is not a folder, and says so', async () => {
    await mkdir(sandbox.shared, {recursive: true})
    await writeFile(path.join(sandbox.shared, 'projects'), 'not a folder\n')
    const result = await run('--create-missing')
    expect(result.code).toBe(1)
    expect(result.stdout).toContain(`(shared) projects: canonical-missing: ${sandbox.shared}/projects is not a directory`)
    expect(result.stdout).toContain(`gamma projects: missing: ${sandbox.homes.gamma}/projects does not exist`)
    expect(result.stdout).not.toContain(`created: gamma projects`)
    await expect(lstat(path.join(sandbox.homes.gamma!, 'projects'))).rejects.toMatchObject({code: 'ENOENT'})
    // the other folders were fine to create and link
    expect(await readlink(path.join(sandbox.homes.gamma!, 'session-env'))).toBe(path.join(sandbox.shared, 'session-env'))
  })

  it('exits 3 with a one-line error naming file and key for a bad config', async () => {
    await writeFile(sandbox.configFile, `queue: relative/queue\nshared: {root: ${sandbox.shared}}\naccounts: [{name: a, home: /h}]\n`)
    const result = await run()
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
    expect(result.stderr.trim()).toBe(`ccl: ${sandbox.configFile}: queue: expected an absolute path, got "relative/queue"`)
  })

  it('keeps exit 3 under --json and prints one JSON error document', async () => {
    await writeFile(sandbox.configFile, 'queue: [oops\n')
    const result = await run('--json')
    expect(result.code).toBe(3)
    const doc = JSON.parse(result.stdout)
    expect(doc).toMatchObject({schemaVersion: 1, error: {code: 'config', exitCode: 3}})
    expect(doc.error.message).toMatch(/YAML syntax error at line \d+, column \d+: Flow sequence/)
  })

  it('shows examples in --help and is listed by ccl --help', async () => {
    const help = await runCcl(['validate-symlinks', '--help'])
    expect(help.stdout).toContain('EXAMPLES')
    expect(help.stdout).toContain('--create-missing --dry-run')
    expect((await runCcl(['--help'])).stdout).toMatch(/validate-symlinks\s+Check that every account/)
  })
})
