// Help as people type it (issue 14, part 9): `ccl help CMD`, `-h`, "did you mean", the root help's
// examples, the docs shipped in the npm package, and one run pace in every place that states it.
import {execFile} from 'node:child_process'
import {readdir, readFile} from 'node:fs/promises'
import path from 'node:path'
import {promisify} from 'node:util'
import {describe, expect, it} from 'vitest'

import {REPO, runCcl} from './support/sandbox.js'

const run = promisify(execFile)

describe('help', () => {
  it.each([[['status']], [['delegate', 'submit']], [['hooks', 'install']]])('`ccl help %s`, `--help` and `-h` print the same page, exit 0', async (words) => {
    const [viaHelp, viaFlag, viaShort] = await Promise.all([runCcl(['help', ...words]), runCcl([...words, '--help']), runCcl([...words, '-h'])])
    expect(viaHelp.code, viaHelp.stderr).toBe(0)
    expect(viaHelp.stdout).toMatch(new RegExp(`USAGE\\n  \\$ ccl ${words.join(' ')}`))
    expect(viaFlag).toEqual(viaHelp)
    expect(viaShort).toEqual(viaHelp)
  })

  it('the root help lists every command and ends with examples', async () => {
    const [bare, flag, word] = await Promise.all([runCcl([]), runCcl(['--help']), runCcl(['help'])])
    expect(bare.code).toBe(0)
    expect(flag.stdout).toBe(bare.stdout)
    expect(word.stdout).toBe(bare.stdout)
    const manifest = JSON.parse(await readFile(path.join(REPO, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {hidden?: boolean}>}
    for (const id of Object.keys(manifest.commands).filter((id) => !manifest.commands[id]!.hidden && !id.includes(':'))) {
      expect(bare.stdout).toMatch(new RegExp(`^  ${id} `, 'm'))
    }

    const examples = bare.stdout.split('\nEXAMPLES\n')[1]
    expect(examples).toBeDefined()
    expect(examples).toContain('$ ccl doctor')
    expect(examples).toContain('$ ccl help status')
  })

  it.each([
    [['stauts'], 'stauts is not a ccl command; did you mean ccl status?'],
    [['reconcle', '--dry-run'], 'reconcle is not a ccl command; did you mean ccl reconcile?'],
    [['delegate', 'sumbit', 'x.md'], 'delegate sumbit is not a ccl command; did you mean ccl delegate submit?'],
    [['help', 'stauts'], 'stauts is not a ccl command; did you mean ccl status?'],
    [['xyzzy'], 'xyzzy is not a ccl command'],
  ])('a mistyped command `ccl %s` is a usage error naming the closest command, exit 2', async (argv, message) => {
    const result = await runCcl(argv)
    expect(result).toEqual({code: 2, stdout: '', stderr: `ccl: ${message}\n  hint: ccl help lists the commands\n`})
  })

  it('a mistyped command under --json gives the usage error document', async () => {
    const result = await runCcl(['stauts', '--json'])
    expect(result.code).toBe(2)
    expect(JSON.parse(result.stdout)).toEqual({
      schemaVersion: 1,
      error: {code: 'usage', exitCode: 2, message: 'stauts is not a ccl command; did you mean ccl status?', hint: 'ccl help lists the commands'},
    })
  })

  it('a word that names no command but an extra argument stays "Unexpected argument"', async () => {
    const result = await runCcl(['validate-symlinks', 'extra'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('ccl: Unexpected argument: extra')
  })
})

describe('the npm package', () => {
  it('ships every doc the README and the commands link to', {timeout: 30_000}, async () => {
    const {stdout} = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {cwd: REPO})
    const files = new Set((JSON.parse(stdout) as [{files: {path: string}[]}])[0].files.map((f) => f.path))
    const docs = (await readdir(path.join(REPO, 'docs'))).filter((f) => f.endsWith('.md'))
    expect(docs.length).toBeGreaterThan(5)
    for (const doc of docs) expect(files, doc).toContain(`docs/${doc}`)
    expect(files).toContain('README.md')
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8')
    for (const [, link] of readme.matchAll(/\]\((docs\/[^)#]+)/g)) expect(files, link).toContain(link)
  })
})

describe('the run pace', () => {
  // The pace is the timers' (contrib/systemd): every other place that states one must agree.
  async function timerPace(name: string): Promise<string> {
    const unit = await readFile(path.join(REPO, 'contrib', 'systemd', `ccl-${name}.timer`), 'utf8')
    return /^OnUnitActiveSec=(\d+)s$/m.exec(unit)![1]!
  }

  it('is the same in the timers, the cron lines, the README and every command help', async () => {
    const pace = {reconcile: await timerPace('reconcile'), dispatch: await timerPace('dispatch'), reap: await timerPace('reap')}
    expect(pace).toEqual({reconcile: '15', dispatch: '15', reap: '30'})
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8')
    const cron = await readFile(path.join(REPO, 'contrib', 'cron', 'ccl'), 'utf8')
    for (const [command, seconds] of Object.entries(pace)) {
      expect(readme).toMatch(new RegExp(`^\\| \`ccl ${command}\` \\|[^|\\n]*every ${seconds} s`, 'm'))
      const help = await runCcl([command, '--help'])
      expect(help.stdout, `ccl ${command} --help`).toContain(`every ${seconds} s`)
      expect(help.stdout).not.toMatch(/every minute/)
      // cron: one line a minute plus one per offset
      const lines = cron.split('\n').filter((line) => line.startsWith('* * * * *') && line.includes(`ccl ${command}`))
      expect(lines, `cron lines of ${command}`).toHaveLength(60 / Number(seconds))
    }

    expect((await runCcl(['delegate', '--help'])).stdout).toContain('every 30 s')
    // no doc states another pace for these commands
    for (const doc of await readdir(path.join(REPO, 'docs'))) {
      const text = await readFile(path.join(REPO, 'docs', doc), 'utf8')
      expect(text, doc).not.toMatch(/(reconcile|dispatch|reap|dispatcher)[^.\n]*every minute/)
      expect(text, doc).not.toMatch(/every minute[^.\n]*(reconcile|dispatch|reap)/)
    }
  })
})
