// Whether a delegation marker still has its task: shared by fsck, status and doctor (one reading).
import {lstatSync} from 'node:fs'
import path from 'node:path'

import type {MarkerEntry} from '../delegation/marker.js'
import type {QueueLayout} from '../queue/layout.js'
import {findPreparedResult, whereIs} from '../queue/transitions.js'

/** A marker whose task left pending/ without a prepared result: nothing will ever finish or remove it. */
export interface OrphanedMarker {
  task: string
  path: string
  /** Where a task of that name is now (`done/`, `failed/`, `active/alpha/`), or null when nowhere. */
  where: string | null
}

/** Two stats and a readdir of active/ at most: cheap enough for every `ccl status`. */
export function orphanOf(layout: QueueLayout, task: string, markerFile: string, key: string | null): OrphanedMarker | null {
  try {
    lstatSync(path.join(layout.pending, task))
    return null
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return null
  }

  // A finish killed after the task went but before the marker did: the next reap completes it.
  if (key !== null && findPreparedResult(layout, key)) return null
  return {task, path: markerFile, where: whereIs(layout, task)}
}

/**
 * The orphaned ones among `markers`. `listed` (pending/'s names, listed as the markers were read: status)
 * spares a stat of each task seen there; only a task missing from the listing is looked at again. A task
 * that left pending/ in the moment between the two is judged by the next run.
 */
export function orphanedMarkers(layout: QueueLayout, markers: readonly MarkerEntry[], listed?: ReadonlySet<string>): OrphanedMarker[] {
  return markers.flatMap((m) => (listed?.has(m.task) ? [] : (orphanOf(layout, m.task, m.path, m.marker.idempotency_key) ?? [])))
}

/** The line status, reap and fsck print for one. */
export function describeOrphan(orphan: OrphanedMarker): string {
  const where = orphan.where ? `a task of that name is in ${orphan.where}` : 'no task of that name is anywhere in the queue'
  return `orphaned marker ${orphan.path}: its task left pending/ (${where}) and no result of its job was prepared, so nothing will finish it; run: ccl fsck --repair (moves it to lost+found/)`
}
