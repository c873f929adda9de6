// Task names come from the file system, where Linux allows any byte but `/` and NUL: a name may
// hold a newline (which would split one `NAME<TAB>target<TAB>reason` line into two), a tab (an
// extra column) or ESC (a terminal escape sequence, e.g. `ESC[201~`, the end of a bracketed
// paste), or U+2028/U+2029 (a line break to a JavaScript reader or an editor). Every line of human
// output built from such a value goes through printable(), the one escaper; JSON output keeps
// them raw, since JSON escapes them itself.

import {CONTROL, LINE_SEPARATORS, hasControl} from '../control-chars.js'

// C0 (U+0000–U+001F), DEL (U+007F), C1 (U+0080–U+009F), U+2028 and U+2029.
const ESCAPED = new RegExp(`${CONTROL.source}|${LINE_SEPARATORS.source}`, 'g')

const NAMED: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001B': '\\e'}

export {hasControl} from '../control-chars.js'

/**
 * `name` with its control characters escaped C-style: `\n`, `\r`, `\t`, `\e` (ESC), `\xHH` for
 * the other controls, `\u2028` and `\u2029` for the line separators. Everything else, a backslash
 * included, is left as it is.
 */
export function printable(name: string): string {
  if (!hasControl(name) && !LINE_SEPARATORS.test(name)) return name
  return name.replace(ESCAPED, (c) => NAMED[c] ?? (c > '\u00ff' ? `\\u${c.charCodeAt(0).toString(16)}` : `\\x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`))
}
