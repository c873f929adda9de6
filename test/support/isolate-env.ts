// A setup file of every vitest config: ccl's caches (the validated config, src/lib/config/cached.ts)
// go to a temp folder of this test file, never under the user's home. Set on process.env, so it also
// reaches what tests start without an env of their own: tmux servers, the sessions in them and the
// hooks the stand-in (or the real CLI) runs there. runCcl points HOME into the sandbox besides.
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll} from 'vitest'

const cache = mkdtempSync(path.join(os.tmpdir(), 'ccl-test-cache-'))
process.env.XDG_CACHE_HOME = cache
afterAll(() => rmSync(cache, {recursive: true, force: true}))
