// Control characters, in one place. A task name or path holding one cannot travel through a paste
// into a session (ESC could end the bracketed paste) or through a line of output intact.
/* eslint-disable no-control-regex -- matching control characters is the point of this module */

/** C0 controls, DEL and C1 controls. */
export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** The same, but tab and newline, which a prompt template may hold. */
export const CONTROL_BUT_TAB_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/

/**
 * U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: not controls (a paste carries them), but a
 * reader of lines in JavaScript, an editor or a log viewer may break a line at them.
 */
export const LINE_SEPARATORS = /[\u2028\u2029]/

export function hasControl(text: string): boolean {
  return CONTROL.test(text)
}
