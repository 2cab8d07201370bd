/** Text output helpers shared by the CLI commands. */

/** Renders rows as an aligned text table. */
export function formatTable(columns: string[], rows: unknown[][], max = 200): string {
  const cell = (v: unknown) => (v === null ? 'NULL' : v instanceof Uint8Array ? `<blob ${v.length} bytes>` : String(v))
  const shown = rows.slice(0, max).map((r) => r.map(cell))
  const w = columns.map((c, i) => Math.min(40, Math.max(c.length, ...shown.map((r) => r[i].length))))
  const line = (cells: string[]) => cells.map((c, i) => (c.length > w[i] ? `${c.slice(0, w[i] - 1)}…` : c.padEnd(w[i]))).join(' | ').trimEnd()
  const lines = [line(columns), w.map((x) => '-'.repeat(x)).join('-+-'), ...shown.map(line)]
  lines.push(`(${rows.length} row${rows.length === 1 ? '' : 's'}${rows.length > max ? `, first ${max} shown` : ''})`)
  return `${lines.join('\n')}\n`
}

/**
 * One CORRUPT_DATA line per server that refuses service until restored (a damaged commit log), with the command
 * that restores it; '' when there is none. Printed to stderr by the commands that open a data directory.
 */
export function needsRestoreWarnings(damaged: Map<string, string>, dataDir: string): string {
  return [...damaged].map(([id, why]) => `iddb: CORRUPT_DATA: ${id} refuses service until restored: ${why}\n  restore it: iddb recover --data ${dataDir} --site ${id.split('.')[0]} --from backup\n`).join('')
}
