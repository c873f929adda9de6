// Task names come from the file system, where Linux allows any byte but `/` and NUL: a name may
// hold a newline (which would split one `NAME<TAB>target<TAB>reason` line into two), a tab (an
// extra column) or ESC (a terminal escape sequence, e.g. `ESC[201~`, the end of a bracketed
// paste). Human output prints names through printable(); JSON output keeps them raw, since
// JSON escapes them itself.

import {CONTROL, hasControl} from '../control-chars.js'

// C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F).
const CONTROLS = new RegExp(CONTROL.source, 'g')

const NAMED: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001B': '\\e'}

export {hasControl} from '../control-chars.js'

/**
 * `name` with its control characters escaped C-style: `\n`, `\r`, `\t`, `\e` (ESC), `\xHH` for
 * the others. Everything else, a backslash included, is left as it is.
 */
export function printable(name: string): string {
  if (!hasControl(name)) return name
  return name.replace(CONTROLS, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)
}
