/**
 * A live site's local catalog, read from the server's own statistics instead of kept by the engine: the same
 * three tables the embedded sites keep (LCAT_TABLES, LCAT_COLUMNS, LCAT_INDEXES), so the Catalog console and the
 * query processor's estimates read either kind of site alike.
 *   NUM_ROWS        pg_class.reltuples (exact for tables ANALYZE read whole, an estimate for larger ones)
 *   LKEY / HKEY     the first and last pg_stats.histogram_bounds (or the extremes of most_common_vals when
 *                   every value is common): the low and high key values ANALYZE saw
 *   LEN             pg_stats.avg_width
 *   PCT_UNIQUE      100 for a unique index; otherwise from pg_stats.n_distinct (negative: a fraction of the rows)
 */
import type pg from 'pg'

export interface LiveLocalCatalog {
  tables: { TABLE_NAME: string; TYPE: string; NUM_ROWS: number }[]
  columns: { COL_NAME: string; TABLE: string; TYPE: string; LEN: number; LKEY: string | number | null; HKEY: string | number | null }[]
  indexes: { INDEX_NAME: string; KEY_COLS: string; TYPE: string; PCT_UNIQUE: number; TABLE_NAME: string }[]
}

/** Parses a PostgreSQL array literal of scalars ({a,"b c",3}) into its elements as text. */
export function parseArrayLiteral(s: string | null): string[] {
  if (!s || s.length < 2) return []
  const out: string[] = []
  let i = 1
  while (i < s.length - 1) {
    if (s[i] === '"') {
      let v = ''
      i++
      while (i < s.length && s[i] !== '"') { if (s[i] === '\\') i++; v += s[i++] }
      out.push(v); i += 2
    } else {
      const j = s.indexOf(',', i)
      const end = j < 0 ? s.length - 1 : j
      out.push(s.slice(i, end)); i = end + 1
    }
  }
  return out
}

const numeric = (t: string) => /int|double|real|numeric/.test(t)

export async function liveLocalCatalog(c: pg.Client): Promise<LiveLocalCatalog> {
  const tables = (await c.query(`SELECT c.relname AS name, GREATEST(c.reltuples, 0)::bigint AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
    WHERE s.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname`)).rows.map((r) => ({ TABLE_NAME: String(r.name), TYPE: 'TABLE', NUM_ROWS: Number(r.n) }))
  const cols = await c.query(`SELECT k.table_name AS t, k.column_name AS col, k.data_type AS type, st.avg_width AS w,
      st.histogram_bounds::text AS hb, st.most_common_vals::text AS mcv, st.n_distinct AS nd
    FROM information_schema.columns k LEFT JOIN pg_stats st ON st.schemaname = 'public' AND st.tablename = k.table_name AND st.attname = k.column_name
    WHERE k.table_schema = 'public' ORDER BY k.table_name, k.ordinal_position`)
  const distinct = new Map<string, number>()
  const columns = cols.rows.map((r) => {
    const type = String(r.type)
    const bounds = parseArrayLiteral(r.hb)
    const common = parseArrayLiteral(r.mcv)
    let lo: string | undefined, hi: string | undefined
    if (bounds.length) { lo = bounds[0]; hi = bounds[bounds.length - 1] }
    // a value among the most common ones may lie outside the histogram (which excludes them)
    const all = [...(lo !== undefined ? [lo, hi!] : []), ...common]
    if (all.length) {
      const cmp = numeric(type) ? (a: string, b: string) => Number(a) - Number(b) : (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
      const sorted = [...all].sort(cmp)
      lo = sorted[0]; hi = sorted[sorted.length - 1]
    }
    const conv = (v: string | undefined) => (v === undefined ? null : numeric(type) ? Number(v) : v)
    if (r.nd !== null) distinct.set(`${r.t}.${r.col}`, Number(r.nd))
    return { COL_NAME: String(r.col), TABLE: String(r.t), TYPE: type.toUpperCase(), LEN: Number(r.w ?? 0), LKEY: conv(lo), HKEY: conv(hi) }
  })
  const rows = new Map(tables.map((t) => [t.TABLE_NAME, t.NUM_ROWS]))
  const idx = await c.query(`SELECT i.relname AS name, t.relname AS tbl, x.indisunique AS uniq, am.amname AS method,
      (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(x.indkey) WITH ORDINALITY AS k(att, ord) JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.att) AS cols
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace s ON s.oid = t.relnamespace JOIN pg_am am ON am.oid = i.relam
    WHERE s.nspname = 'public' ORDER BY i.relname`)
  const indexes = idx.rows.map((r) => {
    const keys = String(r.cols ?? '')
    let pct = 100
    if (!r.uniq) {
      const nd = distinct.get(`${r.tbl}.${keys.split(',')[0]}`)
      const n = rows.get(String(r.tbl)) ?? 0
      pct = nd === undefined || n === 0 ? 0 : nd < 0 ? -nd * 100 : Math.min(100, (nd / n) * 100)
    }
    return { INDEX_NAME: String(r.name), KEY_COLS: keys, TYPE: `${String(r.method).toUpperCase()}${r.uniq ? ' UNIQUE' : ''}`, PCT_UNIQUE: pct, TABLE_NAME: String(r.tbl) }
  })
  return { tables, columns, indexes }
}
