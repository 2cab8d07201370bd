/**
 * Column widths for a data grid from what the columns hold: as wide as the header or the widest value in a
 * sample of the rows (dates are not truncated, a number column is not left wide and empty), within bounds.
 */
export const CHAR_PX = 7.3
export const MIN_COL_PX = 48
export const MAX_COL_PX = 420

export function cellText(v: unknown): string {
  return v === null || v === undefined ? 'NULL' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : String(Math.round(v * 1e6) / 1e6)) : String(v)
}

export function columnWidths(columns: readonly string[], rows: readonly (readonly unknown[])[], sample = 200): number[] {
  const chars = columns.map((c) => c.length + 1)
  const n = Math.min(rows.length, sample)
  for (let i = 0; i < n; i++) {
    const r = rows[i]
    for (let j = 0; j < columns.length; j++) chars[j] = Math.max(chars[j], cellText(r[j]).length)
  }
  return chars.map((c) => Math.round(Math.min(MAX_COL_PX, Math.max(MIN_COL_PX, c * CHAR_PX + 18))))
}
