import {printable} from './names.js'

/**
 * Aligned plain-text columns: a header row, then one row per record, two spaces between columns.
 * No colour and no box drawing, so cron mail and `grep` read it as well as a terminal does.
 * Cells are made printable: task names and provider names may carry terminal escapes.
 */
export function renderTable(headers: readonly string[], rawRows: readonly (readonly string[])[]): string {
  const rows = rawRows.map((row) => row.map((cell) => printable(cell)))
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map((r) => line(r))].join('\n')
}
