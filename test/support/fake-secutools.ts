// The fake secutools API for tests (SPEC §5). The implementation is JavaScript so the demo can run it as
// a plain process (fake-secutools-server.mjs); this module is the typed entry point tests import.
import {type FakeOptions, type FakeSecutools, startFakeSecutools as startCore} from './fake-secutools-core.mjs'
import {registerSecret} from './secrets.js'

/** The fake on 127.0.0.1; its key joins the keys the secrets scan looks for (test/support/secrets.ts). */
export async function startFakeSecutools(options?: FakeOptions): Promise<FakeSecutools> {
  const fake = await startCore(options)
  registerSecret(fake.apiKey)
  return fake
}

export type {AutoCompleteRule, FakeJob, FakeOptions, FakeRequest, FakeSecutools, Flakiness} from './fake-secutools-core.mjs'
