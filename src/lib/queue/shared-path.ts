// Paths stored in shared files (SPEC §8): hosts may mount the queue at different paths, so a path
// inside the queue is written relative to the queue root and resolved against this host's root when
// read. A record an older ccl wrote with an absolute path is still read as it stands.
import path from 'node:path'

import type {QueueLayout} from './layout.js'

/** `active/alpha` for `<queue>/active/alpha`: what a shared record stores for a path inside the queue. */
export function toQueuePath(layout: Pick<QueueLayout, 'root'>, file: string): string {
  return path.relative(layout.root, file)
}

/**
 * The path a shared record names, on this host: a relative one under this host's queue root; an
 * absolute one (an older ccl's record) as it stands. Null for a relative path that leaves the queue
 * (`../x`): no record ccl writes holds one.
 */
export function fromQueuePath(layout: Pick<QueueLayout, 'root'>, stored: string): string | null {
  if (path.isAbsolute(stored)) return path.normalize(stored)
  const resolved = path.join(layout.root, stored)
  const inside = path.relative(layout.root, resolved)
  return inside === '' || (!inside.startsWith('..') && !path.isAbsolute(inside)) ? resolved : null
}
