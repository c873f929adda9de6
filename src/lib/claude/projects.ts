// Where Claude Code keeps a conversation: <CLAUDE_CONFIG_DIR>/projects/<encoded cwd>/<session id>.jsonl.
// The folder name is the cwd with every character but [a-zA-Z0-9] turned into '-', cut at 200
// characters with a hash of the whole path after it (Claude Code's sanitizePath; the stand-in,
// scripts/stand-in-claude.mjs, does the same).
import path from 'node:path'

const MAX = 200

export function projectDirName(cwd: string): string {
  const safe = cwd.replace(/[^a-zA-Z0-9]/g, '-')
  if (safe.length <= MAX) return safe
  let hash = 0
  for (let i = 0; i < cwd.length; i++) hash = ((hash << 5) - hash + cwd.charCodeAt(i)) | 0
  return `${safe.slice(0, MAX)}-${Math.abs(hash).toString(36)}`
}

/** The transcript an account's Claude Code reads for `--resume <id>` started in `cwd`. */
export function transcriptPath(home: string, cwd: string, sessionId: string): string {
  return path.join(home, 'projects', projectDirName(cwd), `${sessionId}.jsonl`)
}

/** Session ids are UUIDs; anything else is never put on a command line. */
export function isSessionId(id: string | null | undefined): id is string {
  return typeof id === 'string' && /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(id)
}
