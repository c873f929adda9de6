// Debug lines (`DEBUG=ccl:queue`, `ccl:lock`, `ccl:tmux`, `ccl:secutools`) through the debug package,
// loaded only when DEBUG is set: without it a trace is a no-op and the package (with supports-color,
// ms and their probing of the terminal) is never evaluated. The hot commands (hook, route, status,
// reconcile) start in a few tens of milliseconds, and this was ~3 ms of it (docs/performance.md).
// debug reads DEBUG once, when it is loaded; so does this module.
import type {Debugger} from 'debug'

export type Trace = (format: string, ...args: unknown[]) => void

const createDebug = process.env.DEBUG ? (await import('debug')).default : undefined

const off: Trace = () => {}

/** The tracer of `namespace` (e.g. `ccl:queue`): debug's when DEBUG is set, else a no-op. */
export function trace(namespace: string): Trace {
  if (!createDebug) return off
  const debug: Debugger = createDebug(namespace)
  return (format, ...args) => debug(format, ...args)
}
