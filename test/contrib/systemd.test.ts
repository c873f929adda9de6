import {execFile} from 'node:child_process'
import {chmod, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO} from '../support/sandbox.js'

const run = promisify(execFile)
const DIR = path.join(REPO, 'contrib', 'systemd')

type Unit = Map<string, [key: string, value: string][]>

/** A unit file as systemd reads it: sections of key=value lines; comments and blank lines skipped. */
function parseUnit(text: string, file: string): Unit {
  const unit: Unit = new Map()
  let section: string | undefined
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[([A-Za-z]+)\]$/.exec(line)
    if (header) {
      section = header[1]!
      if (unit.has(section)) throw new Error(`${file}:${index + 1}: section [${section}] twice`)
      unit.set(section, [])
      continue
    }

    const pair = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (!pair || !section) throw new Error(`${file}:${index + 1}: not a key=value line in a section: ${line}`)
    unit.get(section)!.push([pair[1]!, pair[2]!])
  }

  return unit
}

function values(unit: Unit, section: string, key: string): string[] {
  return (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v)
}

function value(unit: Unit, section: string, key: string): string | undefined {
  const all = values(unit, section, key)
  expect(all.length, `${section}.${key} set more than once`).toBeLessThanOrEqual(1)
  return all[0]
}

// Every key a ccl unit may use, by section: a typo in a key would otherwise be ignored by systemd with a log line.
const KNOWN_KEYS: Record<string, Set<string>> = {
  Unit: new Set(['Description', 'Documentation', 'Wants', 'After']),
  Service: new Set([
    'Type',
    'Environment',
    'EnvironmentFile',
    'ExecStart',
    'ExecStop',
    'KillMode',
    'TimeoutStartSec',
    'Restart',
    'RestartSec',
  ]),
  Timer: new Set(['OnBootSec', 'OnUnitActiveSec', 'AccuracySec']),
  Install: new Set(['WantedBy']),
}

const EXPECTED = {
  reconcile: {every: '15s', command: 'reconcile'},
  dispatch: {every: '15s', command: 'dispatch'},
  reap: {every: '30s', command: 'reap'},
} as const

let units: Map<string, Unit>

beforeAll(async () => {
  units = new Map()
  for (const name of await readdir(DIR)) {
    units.set(name, parseUnit(await readFile(path.join(DIR, name), 'utf8'), name))
  }
})

describe('contrib/systemd units (parsed)', () => {
  it('holds exactly the three service+timer pairs and the tmux server unit', () => {
    expect([...units.keys()].sort()).toEqual([
      'ccl-dispatch.service',
      'ccl-dispatch.timer',
      'ccl-reap.service',
      'ccl-reap.timer',
      'ccl-reconcile.service',
      'ccl-reconcile.timer',
      'ccl-tmux.service',
    ])
  })

  it('uses only known sections and keys', () => {
    for (const [name, unit] of units) {
      for (const [section, pairs] of unit) {
        expect(KNOWN_KEYS[section], `${name}: unknown section [${section}]`).toBeDefined()
        for (const [key] of pairs) expect(KNOWN_KEYS[section]!.has(key), `${name}: unknown key ${section}.${key}`).toBe(true)
      }
    }
  })

  for (const [name, {every, command}] of Object.entries(EXPECTED)) {
    it(`ccl-${name}.service is a oneshot running "ccl ${command}" with the config from CCL_CONFIG`, () => {
      const unit = units.get(`ccl-${name}.service`)!
      expect(value(unit, 'Service', 'Type')).toBe('oneshot')
      expect(value(unit, 'Service', 'ExecStart')).toBe(`/usr/local/bin/ccl ${command}`)
      expect(values(unit, 'Service', 'Environment')).toContain('CCL_CONFIG=%h/.config/ccl/config.yaml')
      // optional ("-"): the API key lives there, never in the unit
      expect(value(unit, 'Service', 'EnvironmentFile')).toBe('-%h/.config/ccl/env')
      expect(value(unit, 'Service', 'TimeoutStartSec')).toMatch(/^\d+min$/)
      expect(unit.get('Unit')?.some(([k]) => k === 'Description')).toBe(true)
      // a oneshot started by a timer is not enabled itself: the timer is
      expect(unit.has('Install')).toBe(false)
    })

    it(`ccl-${name}.timer starts it at boot and every ${every} after each start, to the second`, () => {
      const timer = units.get(`ccl-${name}.timer`)!
      expect(value(timer, 'Timer', 'OnBootSec')).toMatch(/^\d+s$/)
      expect(value(timer, 'Timer', 'OnUnitActiveSec')).toBe(every)
      expect(value(timer, 'Timer', 'AccuracySec')).toBe('1s')
      expect(value(timer, 'Install', 'WantedBy')).toBe('timers.target')
    })
  }

  it('boots in order: reconcile first, then dispatch, then reap', () => {
    const boot = (name: string) => Number.parseInt(value(units.get(`ccl-${name}.timer`)!, 'Timer', 'OnBootSec')!, 10)
    expect(boot('reconcile')).toBeLessThan(boot('dispatch'))
    expect(boot('dispatch')).toBeLessThan(boot('reap'))
  })

  it('keeps the tmux sessions out of the oneshot control groups', () => {
    const reconcile = units.get('ccl-reconcile.service')!
    // Without these, systemd would kill a tmux server started by reconcile when the oneshot ends.
    expect(value(reconcile, 'Service', 'KillMode')).toBe('process')
    expect(value(reconcile, 'Unit', 'Wants')).toBe('ccl-tmux.service')
    expect(value(reconcile, 'Unit', 'After')).toBe('ccl-tmux.service')
    const tmux = units.get('ccl-tmux.service')!
    expect(value(tmux, 'Service', 'Type')).toBe('forking')
    expect(value(tmux, 'Service', 'ExecStart')).toBe(
      String.raw`/usr/bin/tmux -L ${'$'}{CCL_TMUX_SOCKET} start-server \; set-option -g exit-empty off`,
    )
    expect(values(tmux, 'Service', 'Environment')).toContain('CCL_TMUX_SOCKET=ccl')
  })

  it('rejects a unit with a misspelt key (the parser check is not vacuous)', () => {
    const bad = parseUnit('[Timer]\nOnUnitActivSec=15s\n', 'bad.timer')
    expect(KNOWN_KEYS.Timer!.has(bad.get('Timer')![0]![0])).toBe(false)
    expect(() => parseUnit('OnBootSec=1s\n', 'bad.timer')).toThrow(/not a key=value line in a section/)
  })
})

describe('contrib/systemd units (systemd-analyze verify)', () => {
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ccl-units-'))
  })

  afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  /** Copies the units with ExecStart pointing at an executable that exists here (verify checks it). */
  async function stage(patch: (name: string, text: string) => string = (_n, t) => t): Promise<string[]> {
    const ccl = path.join(dir, 'ccl')
    await writeFile(ccl, '#!/bin/sh\n')
    await chmod(ccl, 0o755)
    const files: string[] = []
    for (const name of await readdir(DIR)) {
      const text = (await readFile(path.join(DIR, name), 'utf8')).replaceAll('/usr/local/bin/ccl', ccl)
      await writeFile(path.join(dir, name), patch(name, text))
      files.push(path.join(dir, name))
    }

    return files
  }

  async function verify(files: string[]): Promise<{code: number; stderr: string}> {
    try {
      const {stderr} = await run('systemd-analyze', ['verify', '--man=no', ...files], {env: {...process.env, SYSTEMD_LOG_COLOR: '0'}})
      return {code: 0, stderr}
    } catch (error) {
      const failure = error as {code?: number | string; stderr?: string}
      if (failure.code === 'ENOENT') {
        throw new Error('systemd-analyze not found: install Debian\'s systemd (apt-get install -y systemd); CI must have it')
      }

      return {code: typeof failure.code === 'number' ? failure.code : 1, stderr: failure.stderr ?? ''}
    }
  }

  it('verifies every unit without a single complaint', async () => {
    const result = await verify(await stage())
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
  })

  it('would report a broken timer value (verify is really looking)', async () => {
    const result = await verify(await stage((name, text) => (name === 'ccl-reap.timer' ? text.replace('OnUnitActiveSec=30s', 'OnUnitActiveSec=30 parsecs') : text)))
    expect(result.stderr).toMatch(/ccl-reap\.timer:\d+: Failed to parse timer value/)
  })
})
