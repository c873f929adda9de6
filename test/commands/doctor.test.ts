// ccl doctor against real sites in temp folders: real links, hooks written by `ccl hooks install`,
// a private tmux server (its global PATH is what a session gets), the fake secutools on 127.0.0.1.
// A sound site passes; each test then breaks one thing and expects exactly that FAIL line.
import {chmod, mkdir, readFile, realpath, rm, symlink, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type FakeSecutools, startFakeSecutools} from '../support/fake-secutools.js'
import {linkAll, makeSandbox, REPO, runCcl, type RunResult, type Sandbox} from '../support/sandbox.js'
import {type PrivateTmux, startPrivateTmux} from '../support/tmux.js'

let tmux: PrivateTmux
let fake: FakeSecutools
beforeAll(async () => {
  // Read only (show-environment), so one server and one fake serve every test.
  ;[tmux, fake] = await Promise.all([startPrivateTmux(), startFakeSecutools()])
})
afterAll(async () => {
  await Promise.all([tmux?.kill(), fake?.close()])
})

interface Site {
  sandbox: Sandbox
  env: NodeJS.ProcessEnv
  doctor(...args: string[]): Promise<RunResult>
  cleanup(): Promise<void>
}

interface SiteOptions {
  /** Per-account config keys over the sound ones. */
  accounts?: Record<string, Record<string, unknown>>
  delegation?: boolean
  /** failover.headroom: hooks install also sets ccl's statusLine, which the hooks check then expects. */
  headroom?: boolean
  /** A fake of the test's own, for a test that counts or scripts its requests (the shared one serves concurrent tests). */
  fake?: FakeSecutools
}

/** Trusted, onboarded, auto-mode question answered: as test/support/real-claude.ts seeds a home. */
async function seedClaudeJson(home: string, cwd: string): Promise<void> {
  const cwds = [...new Set([cwd, await realpath(cwd).catch(() => cwd)])]
  const data = {hasCompletedOnboarding: true, hasSeenAutoDefaultNudge: true, projects: Object.fromEntries(cwds.map((dir) => [dir, {hasTrustDialogAccepted: true}]))}
  await writeFile(path.join(home, '.claude.json'), JSON.stringify(data, null, 2) + '\n')
}

const PERMISSIONS = {permissions: {defaultMode: 'acceptEdits', allow: ['Bash']}}

/** A site ccl doctor should pass: everything set up the way docs/doctor.md asks. */
async function soundSite(options: SiteOptions = {}): Promise<Site> {
  const sandbox = await makeSandbox({accounts: ['alpha', 'beta'], config: {tmux: {socket: tmux.socket}}})
  const config = sandbox.config as {accounts: Record<string, unknown>[]; delegation?: unknown}
  // An assignment before the program, and a program found on the session's PATH.
  config.accounts = config.accounts.map((account) => ({...account, command: 'CCL_DOCTOR_TEST=1 sleep 600', ...options.accounts?.[account.name as string]}))
  const api = options.fake ?? fake
  if (options.delegation !== false) config.delegation = {base_url: api.url}
  if (options.headroom) Object.assign(config, {failover: {headroom: true}})
  await sandbox.writeConfig(config)
  await mkdir(path.join(sandbox.queue, 'active'))
  await linkAll(sandbox)
  for (const account of config.accounts) {
    const home = account.home as string
    await writeFile(path.join(home, 'settings.json'), JSON.stringify(PERMISSIONS, null, 2) + '\n')
    await seedClaudeJson(home, account.cwd as string)
  }

  const env: NodeJS.ProcessEnv = options.delegation === false ? {} : {SECUTOOLS_API_KEY: api.apiKey}
  const installed = await runCcl(['hooks', 'install', '--config', sandbox.configFile], {cwd: sandbox.dir})
  expect(installed.code, installed.stderr).toBe(0)
  return {
    sandbox,
    env,
    doctor: (...args) => runCcl(['doctor', '--config', sandbox.configFile, ...args], {cwd: sandbox.dir, env}),
    cleanup: () => sandbox.cleanup(),
  }
}

async function withSite(options: SiteOptions, test: (site: Site) => Promise<void>): Promise<void> {
  const site = await soundSite(options)
  try {
    await test(site)
  } finally {
    await site.cleanup()
  }
}

const failLines = (stdout: string) => stdout.split('\n').filter((line) => line.startsWith('FAIL '))

describe.concurrent('ccl doctor', () => {
  it('passes a sound site: exit 0, no FAIL line, each check says what it found', async () => {
    await withSite({}, async (site) => {
      const result = await site.doctor()
      expect(failLines(result.stdout)).toEqual([])
      expect(result.code, result.stdout + result.stderr).toBe(0)
      const {sandbox} = site
      const lines = result.stdout.split('\n')
      expect(lines).toContain(`ok   config: ${sandbox.configFile} (2 accounts)`)
      expect(lines).toContain(`ok   queue: pending/, active/, done/, failed/ in ${sandbox.queue}`)
      expect(lines).toContain(`ok   alpha: hooks: ccl's 6 hooks in ${path.join(sandbox.homes.alpha!, 'settings.json')}`)
      // The program after the assignment, looked up on the tmux server's global PATH.
      expect(result.stdout).toMatch(new RegExp(`^ok   beta: command: sleep is /\\S+/sleep \\(on the PATH of the tmux server on socket ${tmux.socket}\\)$`, 'm'))
      expect(lines).toContain(`ok   alpha: first run: onboarding, folder trust for ${sandbox.dir} and the auto-mode question answered`)
      expect(lines).toContain('ok   alpha: permissions: acceptEdits (permissions.defaultMode in ' + path.join(sandbox.homes.alpha!, 'settings.json') + '), allowed: Bash')
      expect(lines).toContain('ok   delegation: on ($SECUTOOLS_API_KEY is set; providers gpu, gemini, claude-api)')
      expect(lines).toContain(`ok   secutools: ${fake.url} reachable, key accepted (GET /jobs/<unknown id> answered 404)`)
      expect(lines.at(-2)).toMatch(/^doctor: \d+ checks, (all ok|\d+ ok, \d+ warnings?, none failed)$/)
      expect(result.stdout + result.stderr).not.toContain(fake.apiKey)
    })
  })

  it('--json: one document, schemaVersion 1, a check per line with id, account, ok, severity, message, fix', async () => {
    await withSite({headroom: true}, async (site) => {
      const result = await site.doctor('--json')
      expect(result.code, result.stderr).toBe(0)
      const report = JSON.parse(result.stdout) as {schemaVersion: number; ok: boolean; config: string; checks: Record<string, unknown>[]}
      expect(report).toMatchObject({schemaVersion: 1, ok: true, config: site.sandbox.configFile, configLoaded: true})
      for (const check of report.checks) {
        expect(Object.keys(check).filter((key) => key !== 'account').sort()).toEqual(['fix', 'id', 'message', 'ok', 'severity'])
        expect(check.ok).toBe(check.severity !== 'fail')
        if (check.severity === 'ok') expect(check.fix).toBeNull()
      }

      const ids = report.checks.map((check) => (check.account ? `${check.account as string}:${check.id as string}` : check.id))
      expect(ids).toEqual([
        'config', 'queue.folders', 'queue.filesystem', 'state.writable', 'queue.fsck', 'tmux', 'shared.root',
        ...['alpha', 'beta'].flatMap((a) => ['account.home', 'account.links', 'account.hooks', 'account.command', 'account.cwd', 'account.first-run', 'account.permissions'].map((id) => `${a}:${id}`)),
        'failover.cwd', 'delegation', 'delegation.api', 'timers',
      ])
      // failover.headroom: ccl's statusLine, written by hooks install, is part of "installed"
      expect(report.checks.filter((check) => check.id === 'account.hooks').map((check) => check.severity)).toEqual(['ok', 'ok'])
      expect(result.stdout).not.toContain(fake.apiKey)
    })
  })

  it('a delegation block with its key variable unset: FAIL, delegation off and why, no request made', async () => {
    const own = await startFakeSecutools()
    try {
      await withSite({fake: own}, async (site) => {
        const result = await runCcl(['doctor', '--config', site.sandbox.configFile], {cwd: site.sandbox.dir})
        expect(result.code).toBe(1)
        expect(failLines(result.stdout)).toEqual([
          `FAIL delegation: off: ${site.sandbox.configFile} has a delegation block but $SECUTOOLS_API_KEY is not set or empty here, so every task stays local and ccl delegate exits 3; fix: set SECUTOOLS_API_KEY in the environment ccl runs with (systemd: ~/.config/ccl/env; cron: the cron file), or remove the delegation block`,
        ])
        expect(result.stdout).not.toMatch(/secutools:/)
        expect(own.requests).toEqual([])
      })
    } finally {
      await own.close()
    }
  })

  it('a key the platform refuses (401): FAIL, and the key is never printed', async () => {
    await withSite({}, async (site) => {
      const wrong = 'sk-wrong-0123456789abcdef'
      const result = await runCcl(['doctor', '--config', site.sandbox.configFile], {cwd: site.sandbox.dir, env: {SECUTOOLS_API_KEY: wrong}})
      expect(result.code).toBe(1)
      expect(failLines(result.stdout)).toEqual([
        `FAIL secutools: ${fake.url} refused the key in $SECUTOOLS_API_KEY (HTTP 401); fix: check the key in $SECUTOOLS_API_KEY (ccl never prints it)`,
      ])
      const json = await runCcl(['doctor', '--json', '--config', site.sandbox.configFile], {cwd: site.sandbox.dir, env: {SECUTOOLS_API_KEY: wrong}})
      expect(json.code).toBe(1)
      expect(JSON.parse(json.stdout).checks).toContainEqual(expect.objectContaining({id: 'delegation.api', ok: false, severity: 'fail'}))
      for (const output of [result.stdout, result.stderr, json.stdout, json.stderr]) expect(output).not.toContain(wrong)
    })
  })

  it('a base_url that answers 404 even to a wrong key: only a warning, the key could not be checked', async () => {
    const own = await startFakeSecutools()
    try {
      await withSite({fake: own}, async (site) => {
        // Both requests (the key, and the wrong key beside it) get a 404, as a wrong base_url would answer.
        own.answerNext(2, {status: 404, body: {error: 'no such route'}})
        const result = await site.doctor()
        expect(result.code, result.stdout).toBe(0)
        expect(result.stdout).toMatch(new RegExp(`^warn secutools: ${own.url} answered GET /jobs/ccl-doctor-[0-9a-f]+ with 404 even with a wrong key: reachable, but the key could not be checked; fix: is delegation.base_url right\\?`, 'm'))
        expect(own.requests.map((request) => request.authOk).sort()).toEqual([false, true])
      })
    } finally {
      await own.close()
    }
  })

  it("an account's command whose program is not on the session's PATH: FAIL for that account", async () => {
    await withSite({accounts: {beta: {command: 'env FOO=1 ccl-no-such-claude --resume'}}}, async (site) => {
      const result = await site.doctor()
      expect(result.code).toBe(1)
      const lines = failLines(result.stdout)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(new RegExp(`^FAIL beta: command: ccl-no-such-claude not found on the PATH of the tmux server on socket ${tmux.socket} \\(.+\\); fix: install it, or give its absolute path`))
    })
  })

  it("hooks not installed (alpha), or installed for another ccl or config (beta): FAIL naming the file and the events, fix ccl hooks install", async () => {
    await withSite({}, async (site) => {
      const settings = path.join(site.sandbox.homes.alpha!, 'settings.json')
      await writeFile(settings, JSON.stringify(PERMISSIONS) + '\n')
      // beta's Stop hook as an install from another checkout and config left it
      const beta = path.join(site.sandbox.homes.beta!, 'settings.json')
      const old = "'/old/node' '/old/ccl/bin/run.js' hook --config '/old/ccl.yaml' # ccl-hook"
      const data = JSON.parse(await readFile(beta, 'utf8')) as {hooks: {Stop: {hooks: {command: string}[]}[]}}
      data.hooks.Stop[0]!.hooks[0]!.command = old
      await writeFile(beta, JSON.stringify(data))
      const result = await site.doctor()
      expect(result.code).toBe(1)
      expect(failLines(result.stdout)).toEqual([
        `FAIL alpha: hooks: ${settings}: not installed on SessionStart, UserPromptSubmit, Stop, StopFailure, Notification, SessionEnd; fix: ccl hooks install`,
        `FAIL beta: hooks: ${beta}: installed for another ccl, Node or config on Stop (${old}); fix: ccl hooks install`,
      ])

      // Reinstalled, then beta's Stop hook run by another Node that exists, with this ccl and this
      // config: the hooks still run, so only a warning.
      expect((await runCcl(['hooks', 'install', '--config', site.sandbox.configFile], {cwd: site.sandbox.dir})).code).toBe(0)
      const otherNode = path.join(site.sandbox.dir, 'other-node')
      await symlink(process.execPath, otherNode)
      const q = (word: string) => `'${word.replaceAll("'", "'\\''")}'`
      const runnable = `${q(otherNode)} ${q(path.join(REPO, 'bin', 'run.js'))} hook --config ${q(site.sandbox.configFile)} # ccl-hook`
      const fixed = JSON.parse(await readFile(beta, 'utf8')) as typeof data
      fixed.hooks.Stop[0]!.hooks[0]!.command = runnable
      await writeFile(beta, JSON.stringify(fixed))
      const warned = await site.doctor()
      expect(failLines(warned.stdout)).toEqual([])
      expect(warned.code).toBe(0)
      expect(warned.stdout).toContain(`warn beta: hooks: ${beta}: Stop: installed by another Node or ccl, which still run (${runnable}); fix: ccl hooks install (from the environment the timers run in: it writes its own Node and ccl)`)
    })
  })

  it('a broken shared link (a real folder where the link should be): FAIL for that account', async () => {
    await withSite({}, async (site) => {
      const link = path.join(site.sandbox.homes.beta!, 'projects')
      await rm(link)
      await mkdir(link)
      const result = await site.doctor()
      expect(result.code).toBe(1)
      expect(failLines(result.stdout)).toEqual([
        `FAIL beta: links: projects: not-a-symlink: ${link} is a real directory (divergent state), not a symlink to ${path.join(site.sandbox.shared, 'projects')}; fix: ccl validate-symlinks names each; move what a folder or wrong link holds into ${site.sandbox.shared}/<dir> and make it a link there (--create-missing makes absent links only)`,
      ])
    })
  })

  it('a queue folder missing: FAIL naming it', async () => {
    await withSite({}, async (site) => {
      const failed = path.join(site.sandbox.queue, 'failed')
      await rm(failed, {recursive: true})
      const result = await site.doctor()
      expect(result.code).toBe(1)
      expect(failLines(result.stdout)).toEqual([
        `FAIL queue: ${failed} is missing; fix: mkdir -p ${failed} (or ccl init); if ${site.sandbox.queue} is a mount, check that it is mounted`,
      ])
    })
  })

  it("a first-run screen not passed (the cwd's folder trust not accepted): FAIL, a pasted prompt would be lost", async () => {
    await withSite({}, async (site) => {
      const file = path.join(site.sandbox.homes.alpha!, '.claude.json')
      await writeFile(file, JSON.stringify({hasCompletedOnboarding: true, hasSeenAutoDefaultNudge: true, projects: {'/elsewhere': {hasTrustDialogAccepted: true}}}))
      const result = await site.doctor()
      expect(result.code).toBe(1)
      const dir = site.sandbox.dir
      expect(failLines(result.stdout)).toEqual([
        `FAIL alpha: first run: not past folder trust for ${dir} (projects["${dir}"].hasTrustDialogAccepted) in ${file}: a prompt pasted into that screen is lost; fix: start it once and answer the screen: CLAUDE_CONFIG_DIR=${site.sandbox.homes.alpha} claude (in ${dir}); or set those keys to true in ${file}`,
      ])
    })
  })

  it("an account's cwd missing: FAIL for that account (and the cwds' failover rule only warns)", async () => {
    const missing = '/nonexistent-ccl-doctor-cwd'
    await withSite({accounts: {alpha: {cwd: missing}}}, async (site) => {
      const result = await site.doctor()
      expect(result.code).toBe(1)
      expect(failLines(result.stdout)).toEqual([`FAIL alpha: cwd: ${missing} does not exist: tmux cannot start the session there; fix: mkdir -p ${missing}, or fix accounts[].cwd`])
      expect(result.stdout).toMatch(/^warn failover: accounts run in different cwds \(alpha in \/nonexistent-ccl-doctor-cwd; beta in .+\)/m)
    })
  })

  it('a config that cannot be loaded: a FAIL line and exit 3; what needs no config still runs, the timers seen in a crontab', async () => {
    const sandbox = await makeSandbox({config: {frobnicate: true}})
    try {
      // A crontab holding contrib/cron's lines, and a systemctl that knows no ccl unit.
      const bin = path.join(sandbox.dir, 'bin')
      await mkdir(bin)
      const cron = '* * * * * flock -n /tmp/r.lock ccl reconcile >/dev/null\n* * * * * ccl dispatch\n# * * * * * ccl reap\n* * * * * sleep 30; ccl reap\n'
      await writeFile(path.join(bin, 'crontab'), `#!/bin/sh\nprintf '%s' '${cron}'\n`)
      await writeFile(path.join(bin, 'systemctl'), '#!/bin/sh\necho disabled; echo disabled; echo disabled; exit 1\n')
      await Promise.all(['crontab', 'systemctl'].map((name) => chmod(path.join(bin, name), 0o755)))
      const result = await runCcl(['doctor', '--config', sandbox.configFile], {cwd: sandbox.dir, env: {PATH: `${bin}:${process.env.PATH}`}})
      expect(result.code).toBe(3)
      const lines = result.stdout.split('\n')
      expect(lines[0]).toBe(`FAIL config: ${sandbox.configFile}: frobnicate: unknown key; fix: fix what the message names (file, key path, what was expected)`)
      expect(lines[1]).toMatch(/^ok {3}tmux: tmux \d/)
      expect(lines[2]).toBe('ok   timers: cron lines run ccl reconcile, dispatch, reap (crontab -l)')
      const json = await runCcl(['doctor', '--json', '--config', sandbox.configFile], {cwd: sandbox.dir})
      expect(json.code).toBe(3)
      expect(JSON.parse(json.stdout)).toMatchObject({schemaVersion: 1, ok: false, configLoaded: false, config: null, checks: [{id: 'config', ok: false, severity: 'fail'}, {id: 'tmux'}, {id: 'timers'}]})
    } finally {
      await sandbox.cleanup()
    }
  })

  it('a symlinked cwd counts as trusted under either spelling', async () => {
    // Not a mistake: guards the check against false FAILs on a cwd reached through a link.
    await withSite({}, async (site) => {
      const link = path.join(site.sandbox.dir, 'work-link')
      await symlink(site.sandbox.dir, link)
      site.sandbox.config = {...site.sandbox.config, accounts: (site.sandbox.config.accounts as Record<string, unknown>[]).map((a) => ({...a, cwd: link}))}
      await site.sandbox.writeConfig()
      await seedClaudeJson(site.sandbox.homes.alpha!, site.sandbox.dir)
      const result = await site.doctor()
      expect(result.stdout).toContain(`ok   alpha: first run: onboarding, folder trust for ${link} and the auto-mode question answered`)
    })
  })
})
