// Which account a process Claude Code started belongs to. Its own module: `ccl hook` and
// `ccl statusline` both need it, and the status line must not load the hook's queue code.
import {realpathSync} from 'node:fs'
import path from 'node:path'

import type {HotConfig} from '../config/hot.js'

/** The account whose session runs this hook: its CLAUDE_CONFIG_DIR, which reconcile sets, matched against the homes. */
export function accountOf(config: Pick<HotConfig, 'accounts'>, env: NodeJS.ProcessEnv): string | null {
  const dir = env.CLAUDE_CONFIG_DIR
  if (!dir) return null
  const resolve = (p: string) => {
    try {
      return realpathSync(p)
    } catch {
      return path.resolve(p)
    }
  }

  const wanted = resolve(dir)
  return config.accounts.find((a) => a.home === dir || resolve(a.home) === wanted)?.name ?? null
}
