// The secrets scan itself (test/support/secrets.ts, used by runCcl and every sandbox's cleanup): it must
// catch a key in a child's output and in any file under a sandbox, or the suite-wide guarantee means nothing.
import {execFileSync} from 'node:child_process'
import {chmod, mkdir, readFile, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {startFakeSecutools} from '../support/fake-secutools.js'
import {makeSandbox, runCcl} from '../support/sandbox.js'
import {assertNoSecrets, knownSecrets, registerSecret, scanTreeForSecrets, secretsIn, TEST_API_KEY} from '../support/secrets.js'

describe('the secrets scan', () => {
  it('knows the shared test key, the keys of fakes and of the env given to ccl, and ignores placeholders', async () => {
    expect(knownSecrets()).toContain(TEST_API_KEY)
    const fake = await startFakeSecutools()
    await fake.close()
    expect(knownSecrets()).toContain(fake.apiKey)
    await runCcl(['--version'], {env: {MY_PLATFORM_TOKEN: 'tok-0123456789abcdef-env', OTHER: 'not-a-secret-value-at-all'}})
    expect(knownSecrets()).toContain('tok-0123456789abcdef-env')
    expect(knownSecrets()).not.toContain('not-a-secret-value-at-all')
    registerSecret('k')
    expect(knownSecrets()).not.toContain('k')
  })

  it('finds a key in a text, and says which without printing it whole', () => {
    expect(secretsIn(`error: Bearer ${TEST_API_KEY} refused`)).toEqual([TEST_API_KEY])
    expect(secretsIn('error: Bearer *** refused')).toEqual([])
    expect(() => assertNoSecrets('the stderr of x', `$${TEST_API_KEY} is not set`)).toThrow(/^the stderr of x holds the API key sk_liv… \(\d+ chars\)/)
    expect(() => assertNoSecrets('the stderr of x', `$${TEST_API_KEY} is not set`)).not.toThrow(TEST_API_KEY)
  })

  it('registers a key mis-pasted as api_key_env, so the message that would echo it is caught', async () => {
    const pasted = 'sk_live_pasted-into-api-key-env-0123456789'
    const sandbox = await makeSandbox({config: {delegation: {base_url: 'http://127.0.0.1:9/api/v1', api_key_env: pasted}}})
    expect(knownSecrets()).toContain(pasted)
    // The config as the test wrote it is input, not a leak; the same key in a file ccl writes is one.
    expect(await scanTreeForSecrets(sandbox.dir, undefined, new Map([[sandbox.configFile, await readFile(sandbox.configFile, 'utf8')]]))).toEqual([])
    expect(await scanTreeForSecrets(sandbox.dir)).toEqual([{file: sandbox.configFile, secret: pasted}])
    await writeFile(path.join(sandbox.queue, 'failed', 'x.md'), `error: $${pasted} is not set\n`)
    await expect(sandbox.cleanup()).rejects.toThrow(/queue\/failed\/x\.md holds the API key sk_liv…/)
    // The echo issue 15 found ("$sk_live_… is not set or empty") would fail any test that printed it.
    expect(() => assertNoSecrets('the stderr of ccl status', `delegation is off: $${pasted} is not set or empty`)).toThrow(/holds the API key/)
    // A key that is also a valid identifier (the sk_live_… case) is known by ccl's own looksLikeKey rule.
    const identifier = 'sk_live_51HxYzAbCdEf0123456789'
    const asName = await makeSandbox({config: {delegation: {base_url: 'http://127.0.0.1:9/api/v1', api_key_env: identifier}}})
    await asName.cleanup()
    expect(knownSecrets()).toContain(identifier)
    // A proper variable name is not a key.
    const named = await makeSandbox({config: {delegation: {base_url: 'http://127.0.0.1:9/api/v1', api_key_env: 'MY_SECUTOOLS_KEY_VARIABLE'}}})
    await named.cleanup()
    expect(knownSecrets()).not.toContain('MY_SECUTOOLS_KEY_VARIABLE')
  })

  it('rejects a run whose child prints a key on stdout or stderr', async () => {
    const sandbox = await makeSandbox()
    try {
      // A stand-in for a leaking ccl: runCcl runs `<node> bin/run.js …`; this "node" prints the key it was given.
      const leaky = path.join(sandbox.dir, 'leaky-node')
      await writeFile(leaky, '#!/bin/sh\necho "using $SECUTOOLS_API_KEY" >&2\n')
      await chmod(leaky, 0o755)
      await expect(runCcl(['status'], {node: leaky, env: {SECUTOOLS_API_KEY: TEST_API_KEY}})).rejects.toThrow(/^the stderr of ccl status holds the API key/)
      await writeFile(leaky, '#!/bin/sh\necho "$SECUTOOLS_API_KEY"\n')
      await expect(runCcl(['status'], {node: leaky, env: {SECUTOOLS_API_KEY: TEST_API_KEY}})).rejects.toThrow(/^the stdout of ccl status holds the API key/)
      await writeFile(leaky, '#!/bin/sh\necho "key: ***"\n')
      expect(await runCcl(['status'], {node: leaky, env: {SECUTOOLS_API_KEY: TEST_API_KEY}})).toMatchObject({code: 0, stdout: 'key: ***\n'})
    } finally {
      await sandbox.cleanup()
    }
  })

  it('fails a sandbox\'s cleanup when a child left the key in any file under it, and still deletes it', async () => {
    const sandbox = await makeSandbox()
    const state = path.join(sandbox.queue, '.ccl')
    await mkdir(state, {recursive: true})
    // A child process writes the key into the event log, as a leaking ccl would.
    execFileSync('/bin/sh', ['-c', 'printf \'{"event":"x","detail":"%s"}\\n\' "$K" >> "$TARGET"'], {
      env: {K: TEST_API_KEY, TARGET: path.join(state, 'events.jsonl')},
    })
    expect(await scanTreeForSecrets(sandbox.dir)).toEqual([{file: path.join(state, 'events.jsonl'), secret: TEST_API_KEY}])
    await expect(sandbox.cleanup()).rejects.toThrow(/^secrets scan of the sandbox .*: queue\/\.ccl\/events\.jsonl holds the API key sk_liv…/)
    await expect(stat(sandbox.dir)).rejects.toThrow(/ENOENT/)
  })

  it('finds a key split across read chunks and at the end of a large file, and opens no FIFO', async () => {
    const sandbox = await makeSandbox()
    try {
      const big = path.join(sandbox.queue, 'done', 'big.md')
      // 64 KiB is the stream's chunk: the key straddles the boundary.
      await writeFile(big, Buffer.concat([Buffer.alloc(65_536 - 10, 'a'), Buffer.from(TEST_API_KEY), Buffer.alloc(100, 'b')]))
      execFileSync('mkfifo', [path.join(sandbox.queue, 'pending', 'x.md.delegated')])
      expect(await scanTreeForSecrets(sandbox.dir)).toEqual([{file: big, secret: TEST_API_KEY}])
      await writeFile(big, 'clean\n')
      expect(await scanTreeForSecrets(sandbox.dir)).toEqual([])
    } finally {
      await sandbox.cleanup()
    }
  })
})
