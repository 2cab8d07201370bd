/**
 * Catalogs as real tables in every site's primary database (spec §4).
 *
 * Replicated global catalog (same content at every site; NROWS kept current by catalog-sync messages):
 *   GLOBAL_VIEWS(VNAME, GSQL_SELECT), GLOBAL_TABLES(TBL_NAME, SITE, TYPE), GLOBAL_COLUMNS(COL_NAME, TBL_NAME, TYPE, LEN),
 *   FRAGMENT_TABLES(SITE, TBL_NAME, FNAME, NROWS, KIND, PREDICATE, PROJECTION, COPY_OF, REFRESH),
 *   FRAGMENT_COLUMNS(COL_NAME, FNAME, TYPE, LEN, SITE).
 * Local catalog (this site's tables only):
 *   LCAT_TABLES(TABLE_NAME, TYPE, NUM_ROWS), LCAT_VIEWS(VIEW_NAME, LSQL_QUERY),
 *   LCAT_COLUMNS(COL_NAME, "TABLE", TYPE, LEN, HKEY, LKEY), LCAT_INDEXES(INDEX_NAME, KEY_COLS, TYPE, PCT_UNIQUE, TABLE_NAME).
 *
 * Freshness is incremental: every committed change batch is folded in (row count deltas; LKEY/HKEY
 * widened on insert; a column is re-scanned only when a delete removes its current low or high key).
 */
import type { SiteDb, Change } from '../site/db'
import type { SqlValue } from '../site/sqljs'
import { quoteId } from '../site/sqljs'
import { fragments, globalRelations, globalViews, type FragmentDef, type RelationDef } from '../data/schema'
import type { SiteCode, TopologySpec } from '../topology/types'
import { CONSTRAINTS_DDL, installConstraints } from '../integrity/constraints'

export const CATALOG_TABLES = ['GLOBAL_VIEWS', 'GLOBAL_TABLES', 'GLOBAL_COLUMNS', 'FRAGMENT_TABLES', 'FRAGMENT_COLUMNS', 'LCAT_TABLES', 'LCAT_VIEWS', 'LCAT_COLUMNS', 'LCAT_INDEXES', 'GLOBAL_CONSTRAINTS'] as const

const DDL = `
CREATE TABLE IF NOT EXISTS GLOBAL_VIEWS (VNAME TEXT PRIMARY KEY, GSQL_SELECT TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS GLOBAL_TABLES (TBL_NAME TEXT NOT NULL, SITE TEXT NOT NULL, TYPE TEXT NOT NULL, PRIMARY KEY (TBL_NAME, SITE));
CREATE TABLE IF NOT EXISTS GLOBAL_COLUMNS (COL_NAME TEXT NOT NULL, TBL_NAME TEXT NOT NULL, TYPE TEXT NOT NULL, LEN INTEGER NOT NULL, PRIMARY KEY (TBL_NAME, COL_NAME));
CREATE TABLE IF NOT EXISTS FRAGMENT_TABLES (SITE TEXT NOT NULL, TBL_NAME TEXT NOT NULL, FNAME TEXT NOT NULL, NROWS INTEGER NOT NULL DEFAULT 0,
  KIND TEXT NOT NULL, PREDICATE TEXT, PROJECTION TEXT NOT NULL, COPY_OF TEXT, REFRESH TEXT, PRIMARY KEY (SITE, FNAME));
CREATE TABLE IF NOT EXISTS FRAGMENT_COLUMNS (COL_NAME TEXT NOT NULL, FNAME TEXT NOT NULL, TYPE TEXT NOT NULL, LEN INTEGER NOT NULL, SITE TEXT NOT NULL, PRIMARY KEY (SITE, FNAME, COL_NAME));
CREATE TABLE IF NOT EXISTS LCAT_TABLES (TABLE_NAME TEXT PRIMARY KEY, TYPE TEXT NOT NULL, NUM_ROWS INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS LCAT_VIEWS (VIEW_NAME TEXT PRIMARY KEY, LSQL_QUERY TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS LCAT_COLUMNS (COL_NAME TEXT NOT NULL, "TABLE" TEXT NOT NULL, TYPE TEXT NOT NULL, LEN INTEGER NOT NULL, HKEY, LKEY, PRIMARY KEY ("TABLE", COL_NAME));
CREATE TABLE IF NOT EXISTS LCAT_INDEXES (INDEX_NAME TEXT PRIMARY KEY, KEY_COLS TEXT NOT NULL, TYPE TEXT NOT NULL, PCT_UNIQUE REAL NOT NULL, TABLE_NAME TEXT NOT NULL);
`

/** A data table held at a site, with the definition the catalogs describe. */
export interface LocalTable { name: string; frag: FragmentDef; rel: RelationDef; columns: string[] }

export function localTables(topo: TopologySpec, site: SiteCode): LocalTable[] {
  const rels = new Map(globalRelations(topo).map((r) => [r.name, r]))
  return fragments(topo).filter((f) => f.site === site).map((f) => ({ name: f.name, frag: f, rel: rels.get(f.relation)!, columns: f.columns }))
}

/** Local views created at each site (external schema level), over the site's own fragments (none where a design keeps its data elsewhere). */
export function localViews(site: SiteCode, topo?: TopologySpec): { name: string; sql: string }[] {
  const views = [
    { name: 'V_LOCAL_STAFF', table: `Employees_${site}`, sql: `SELECT EMPNO, NAME, POSITION, DEPT FROM "Employees_${site}"` },
    { name: 'V_LOCAL_ITEM_SALES', table: `Sales_${site}`, sql: `SELECT ITEMNO, COUNT(*) AS NSALES, SUM(QTY) AS UNITS, SUM(AMOUNT) AS REVENUE FROM "Sales_${site}" GROUP BY ITEMNO` },
  ]
  const held = topo ? new Set(localTables(topo, site).map((t) => t.name)) : undefined
  return views.filter((v) => !held || held.has(v.table)).map(({ name, sql }) => ({ name, sql }))
}

const typeOfFragment = (f: FragmentDef) => ({ replica: 'REPLICA', horizontal: 'HORIZONTAL FRAGMENT', vertical: 'VERTICAL FRAGMENT', copy: 'COPY', local: 'LOCAL' }[f.kind])

/** Creates and fills the replicated global catalog and the static parts of the local catalog. */
export function installCatalogs(db: SiteDb, topo: TopologySpec, site: SiteCode): void {
  // one transaction: a few hundred small writes (start-up time)
  const own = !db.inTransaction
  if (own) db.begin()
  try {
    fillCatalogs(db, topo, site)
    if (own) db.commit()
  } catch (e) {
    if (own) db.rollback()
    throw e
  }
}

function fillCatalogs(db: SiteDb, topo: TopologySpec, site: SiteCode): void {
  db.script(DDL)
  db.script(CONSTRAINTS_DDL)
  const rels = globalRelations(topo)
  const frs = fragments(topo)
  const run = (sql: string, p: SqlValue[]) => db.runPrepared(sql, p)
  installConstraints(run, topo)
  for (const v of globalViews(topo)) run('INSERT OR REPLACE INTO GLOBAL_VIEWS VALUES (?, ?)', [v.name, v.sql])
  for (const r of rels) {
    const sites = [...new Set(frs.filter((f) => f.relation === r.name).map((f) => f.site))]
    for (const s of sites) run('INSERT OR REPLACE INTO GLOBAL_TABLES VALUES (?, ?, ?)', [r.name, s, r.distribution.toUpperCase()])
    for (const c of r.columns) run('INSERT OR REPLACE INTO GLOBAL_COLUMNS VALUES (?, ?, ?, ?)', [c.name, r.name, c.type, c.len])
  }
  for (const f of frs) {
    const r = rels.find((x) => x.name === f.relation)!
    run(`INSERT INTO FRAGMENT_TABLES (SITE, TBL_NAME, FNAME, NROWS, KIND, PREDICATE, PROJECTION, COPY_OF, REFRESH) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)
         ON CONFLICT (SITE, FNAME) DO UPDATE SET KIND = excluded.KIND, PREDICATE = excluded.PREDICATE, PROJECTION = excluded.PROJECTION`,
    [f.site, f.relation, f.name, f.kind.toUpperCase(), f.predicate ?? null, f.columns.join(', '), f.copyOf ?? null, f.refresh ?? null])
    for (const cn of f.columns) {
      const c = r.columns.find((x) => x.name === cn)!
      run('INSERT OR REPLACE INTO FRAGMENT_COLUMNS VALUES (?, ?, ?, ?, ?)', [c.name, f.name, c.type, c.len, f.site])
    }
  }
  for (const t of localTables(topo, site)) {
    run('INSERT OR IGNORE INTO LCAT_TABLES VALUES (?, ?, 0)', [t.name, typeOfFragment(t.frag)])
    for (const cn of t.columns) {
      const c = t.rel.columns.find((x) => x.name === cn)!
      run('INSERT OR IGNORE INTO LCAT_COLUMNS VALUES (?, ?, ?, ?, NULL, NULL)', [c.name, t.name, c.type, c.len])
    }
  }
  for (const v of localViews(site, topo)) {
    db.script(`CREATE VIEW IF NOT EXISTS ${quoteId(v.name)} AS ${v.sql}`)
    run('INSERT OR REPLACE INTO LCAT_VIEWS VALUES (?, ?)', [v.name, v.sql])
  }
}

/** SQLite's ordering of values: NULL < numbers < text. */
export function cmpSql(a: SqlValue, b: SqlValue): number {
  const rank = (v: SqlValue) => (v === null ? 0 : typeof v === 'number' ? 1 : typeof v === 'string' ? 2 : 3)
  const ra = rank(a), rb = rank(b)
  if (ra !== rb) return ra - rb
  if (ra === 1) return (a as number) - (b as number)
  if (ra === 2) return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0
  return 0
}

/** Statistics gathered while bulk loading a table (saves a full scan). */
export interface KnownStats { rows: number; lo: SqlValue[]; hi: SqlValue[] }

/** Folds one row into bulk-load statistics. */
export function foldStats(k: KnownStats, row: readonly SqlValue[]): void {
  k.rows++
  for (let i = 0; i < row.length; i++) {
    const v = row[i]
    if (v === null) continue
    if (k.lo[i] === undefined || k.lo[i] === null || cmpSql(v, k.lo[i]) < 0) k.lo[i] = v
    if (k.hi[i] === undefined || k.hi[i] === null || cmpSql(v, k.hi[i]) > 0) k.hi[i] = v
  }
}

interface ColStat { lo: SqlValue; hi: SqlValue; dirty: boolean; changed: boolean }
interface TableStat {
  rows: number; cols: Map<string, ColStat>; columns: string[]; changed: boolean
  /** NUM_ROWS / NROWS as last written. */
  flushedRows: number
  /** The distinct-key share of a non-unique index may have changed (rows or indexed values changed). */
  idxDirty: boolean
}
interface IndexInfo { name: string; cols: string[]; colIdx: number[]; unique: boolean }

/** Local catalog maintenance for one site's primary. */
export class LocalCatalog {
  private stats = new Map<string, TableStat>()
  /** Row count changes not yet broadcast to the other sites' global catalogs. */
  readonly fragmentRows = new Map<string, number>()
  /** Counts every change of a value in fragmentRows (a reader can tell nothing changed without reading them). */
  rowsVersion = 0
  /** Created indexes per table (PRAGMA index_list), cached until DDL runs (schemaChanged) or a rebuild/load. */
  private indexes = new Map<string, IndexInfo[]>()

  constructor(private db: SiteDb, readonly site: SiteCode, private tables: LocalTable[]) {}

  /** DDL committed or replayed: indexes may have appeared or gone. */
  schemaChanged(): void {
    this.indexes.clear()
    for (const st of this.stats.values()) { st.idxDirty = true; st.changed = true }
  }

  private indexesOf(table: string): IndexInfo[] {
    let list = this.indexes.get(table)
    if (!list) {
      const columns = this.tables.find((t) => t.name === table)?.columns ?? []
      list = this.db.query(`SELECT name, "unique" FROM pragma_index_list(?) WHERE origin = 'c'`, [table]).rows.map(([iname, unique]) => {
        const cols = this.db.query('SELECT name FROM pragma_index_info(?) ORDER BY seqno', [String(iname)]).rows.map((r) => String(r[0]))
        return { name: String(iname), cols, colIdx: cols.map((c) => columns.indexOf(c)), unique: !!unique }
      })
      this.indexes.set(table, list)
    }
    return list
  }

  /** Full recompute (after bulk load, reopen or restore). Scans every column once. */
  rebuild(known?: Map<string, KnownStats>): void {
    this.stats.clear()
    this.indexes.clear()
    for (const t of this.tables) {
      if (!this.db.hasTable(t.name)) continue
      const k = known?.get(t.name)
      if (k) {
        const cols = new Map<string, ColStat>()
        t.columns.forEach((c, i) => cols.set(c, { lo: k.lo[i] ?? null, hi: k.hi[i] ?? null, dirty: false, changed: true }))
        this.stats.set(t.name, { rows: k.rows, cols, columns: t.columns, changed: true, flushedRows: -1, idxDirty: true })
        continue
      }
      const sel = t.columns.map((c) => `MIN(${quoteId(c)}), MAX(${quoteId(c)})`).join(', ')
      const r = this.db.query(`SELECT COUNT(*), ${sel} FROM ${quoteId(t.name)}`).rows[0]
      const cols = new Map<string, ColStat>()
      t.columns.forEach((c, i) => cols.set(c, { lo: r[1 + 2 * i], hi: r[2 + 2 * i], dirty: false, changed: true }))
      this.stats.set(t.name, { rows: Number(r[0]), cols, columns: t.columns, changed: true, flushedRows: -1, idxDirty: true })
    }
    this.flush(true)
  }

  /** Loads the statistics persisted in LCAT_TABLES / LCAT_COLUMNS (reopen: no scan). */
  load(): void {
    this.stats.clear()
    this.indexes.clear()
    const rows = new Map(this.db.query('SELECT TABLE_NAME, NUM_ROWS FROM LCAT_TABLES').rows.map((r) => [String(r[0]), Number(r[1])]))
    const cols = this.db.query('SELECT "TABLE", COL_NAME, LKEY, HKEY FROM LCAT_COLUMNS').rows
    for (const t of this.tables) {
      const m = new Map<string, ColStat>()
      for (const c of t.columns) {
        const r = cols.find((x) => x[0] === t.name && x[1] === c)
        m.set(c, { lo: r ? r[2] : null, hi: r ? r[3] : null, dirty: false, changed: false })
      }
      const n = rows.get(t.name) ?? 0
      this.stats.set(t.name, { rows: n, cols: m, columns: t.columns, changed: false, flushedRows: n, idxDirty: true })
      this.setFragmentRows(t.name, n)
    }
  }

  /**
   * Folds a committed (or replicated) change batch in; O(changed rows): row counts move by the batch's
   * net effect, LKEY/HKEY widen from inserted values, and a column is re-scanned (MIN/MAX) only when a
   * delete removed its current low or high value and no other row still holds it.
   */
  apply(changes: readonly Change[]): void {
    if (!changes.length) return
    // per table and non-unique index: net count of each indexed value tuple (all zero ⇒ distinct count unchanged)
    let idxDelta: Map<TableStat, Map<string, number>[]> | undefined
    // the new image of an update whose old image left every non-unique index's values as they were (see below)
    let sameIdx = -1
    for (let n = 0; n < changes.length; n++) {
      const c = changes[n]
      // an update's old image followed by its new one: a value both hold is still present
      const nx = c.op === 'D' && n + 1 < changes.length && changes[n + 1].op === 'I' && changes[n + 1].t === c.t ? changes[n + 1].r : undefined
      const st = this.stats.get(c.t)
      if (!st) continue
      st.changed = true
      const ins = c.op === 'I'
      if (ins) st.rows++
      else st.rows--
      if (!st.idxDirty && n !== sameIdx) {
        const idx = this.indexesOf(c.t)
        // an update that keeps every indexed value (the common case: the indexed columns are not set) moves no
        // value tuple's count: its old image's -1 and its new image's +1 cancel, so neither is counted
        if (nx && idx.every((ix) => ix.unique || ix.colIdx.every((i) => (c.r[i] ?? null) === (nx[i] ?? null)))) sameIdx = n + 1
        else if (idx.length) {
          idxDelta ??= new Map()
          let per = idxDelta.get(st)
          if (!per) { per = idx.map(() => new Map()); idxDelta.set(st, per) }
          for (let k = 0; k < idx.length; k++) {
            const ix = idx[k]
            if (ix.unique) continue
            const key = JSON.stringify(ix.colIdx.map((i) => c.r[i] ?? null))
            per[k].set(key, (per[k].get(key) ?? 0) + (ins ? 1 : -1))
          }
        }
      }
      const cols = st.columns
      for (let i = 0; i < cols.length; i++) {
        const v = c.r[i]
        if (v === null || v === undefined || (nx && nx[i] === v)) continue
        const cs = st.cols.get(cols[i])!
        if (ins) {
          if (cs.lo === null || cmpSql(v, cs.lo) < 0) { cs.lo = v; cs.changed = true }
          if (cs.hi === null || cmpSql(v, cs.hi) > 0) { cs.hi = v; cs.changed = true }
        } else if (!cs.dirty && (cmpSql(v, cs.lo) === 0 || cmpSql(v, cs.hi) === 0)) {
          // still held by another row? (stops at the first match; common values answer at once)
          const other = this.db.queryPrepared(`SELECT 1 FROM ${quoteId(c.t)} WHERE ${quoteId(cols[i])} = ? LIMIT 1`, [v]).length
          if (!other) cs.dirty = true
        }
      }
    }
    if (idxDelta) {
      for (const [st, per] of idxDelta) if (per.some((m) => [...m.values()].some((n) => n !== 0))) st.idxDirty = true
    }
    this.flush(false)
  }

  private flush(all: boolean): void {
    for (const [name, st] of this.stats) {
      if (!st.changed && !all) continue
      let anyDirty = false
      for (const cs of st.cols.values()) if (cs.dirty) { anyDirty = true; break }
      const dirty = anyDirty ? [...st.cols.entries()].filter(([, cs]) => cs.dirty) : []
      if (dirty.length) {
        const r = this.db.query(`SELECT ${dirty.map(([c]) => `MIN(${quoteId(c)}), MAX(${quoteId(c)})`).join(', ')} FROM ${quoteId(name)}`).rows[0]
        dirty.forEach(([, cs], i) => { cs.lo = r[2 * i]; cs.hi = r[2 * i + 1]; cs.dirty = false; cs.changed = true })
      }
      const rowsChanged = st.rows !== st.flushedRows
      if (all || rowsChanged) {
        this.db.runPrepared('UPDATE LCAT_TABLES SET NUM_ROWS = ? WHERE TABLE_NAME = ?', [st.rows, name])
        this.db.runPrepared('UPDATE FRAGMENT_TABLES SET NROWS = ? WHERE SITE = ? AND FNAME = ?', [st.rows, this.site, name])
        st.flushedRows = st.rows
        st.idxDirty = true
      }
      this.setFragmentRows(name, st.rows)
      for (const [col, cs] of st.cols) {
        if (!cs.changed && !all) continue
        this.db.runPrepared('UPDATE LCAT_COLUMNS SET LKEY = ?, HKEY = ? WHERE "TABLE" = ? AND COL_NAME = ?', [cs.lo, cs.hi, name, col])
        cs.changed = false
      }
      if (all || st.idxDirty) this.refreshIndexes(name, st.rows, all)
      st.idxDirty = false
      st.changed = false
    }
  }

  /** LCAT_INDEXES: unique indexes are 100 %; non-unique ones are measured (small tables when their keys change, big ones on rebuild). */
  private refreshIndexes(table: string, rows: number, all: boolean): void {
    const info = this.tables.find((t) => t.name === table)
    if (!info) return
    const key = info.rel.key
    if (all) {
      this.db.run('DELETE FROM LCAT_INDEXES WHERE TABLE_NAME = ?', [table])
      this.db.run('INSERT OR REPLACE INTO LCAT_INDEXES VALUES (?, ?, ?, 100, ?)', [`PK_${table}`, key.join(', '), 'PRIMARY KEY', table])
    }
    for (const ix of this.indexesOf(table)) {
      if (!all && rows > 20_000) continue
      let pct = 100
      if (!ix.unique) {
        const distinct = Number(this.db.queryPrepared(`SELECT COUNT(*) FROM (SELECT DISTINCT ${ix.cols.map(quoteId).join(', ')} FROM ${quoteId(table)})`)[0][0])
        pct = rows ? Math.round((distinct / rows) * 10000) / 100 : 100
      }
      this.db.runPrepared('INSERT OR REPLACE INTO LCAT_INDEXES VALUES (?, ?, ?, ?, ?)', [ix.name, ix.cols.join(', '), ix.unique ? 'UNIQUE' : 'NONUNIQUE', pct, table])
    }
  }

  private setFragmentRows(name: string, n: number): void {
    if (this.fragmentRows.get(name) === n) return
    this.fragmentRows.set(name, n)
    this.rowsVersion++
  }

  rowCount(table: string): number | undefined { return this.stats.get(table)?.rows }
  counts(): Record<string, number> { return Object.fromEntries([...this.stats].map(([k, v]) => [k, v.rows])) }
}

/** Applies another site's fragment row counts to this site's copy of the global catalog. */
export function applyRemoteCounts(db: SiteDb, site: SiteCode, counts: Record<string, number>): void {
  for (const [fname, n] of Object.entries(counts)) db.runPrepared('UPDATE FRAGMENT_TABLES SET NROWS = ? WHERE SITE = ? AND FNAME = ?', [n, site, fname])
}
