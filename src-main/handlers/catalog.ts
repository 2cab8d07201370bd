import { EngineError } from '../../engine/errors'
import { fragments, globalRelations } from '../../engine/data/schema'
import { replicaControl } from '../../engine/site/replication'
import type { HandlerContext, HandlerMap } from './context'
import type { SiteDb } from '../../engine/site/db'
import type { SqlValue } from '../../engine/site/sqljs'
import type { AllocationMap, BrowsePage, TableRows } from '../ipc/contract/catalog'
import { DataAccess } from '../../engine/security/access'
import { checkIntegrity } from '../../engine/integrity/check'
import { keyBlocksAt, reserveKeyBlock } from '../../engine/integrity/blocks'
import { primaryCopySite } from '../../engine/site/replication'

type CatalogCall = 'catalog/global' | 'catalog/local' | 'catalog/fragments' | 'catalog/check' | 'catalog/checkIntegrity' | 'integrity/blocks' | 'integrity/reserveBlock' | 'data/browse' | 'data/generate'

const q = (name: string) => `"${name.replace(/"/g, '""')}"`

function rows(ctx: HandlerContext, site: string, sql: string): TableRows {
  const r = ctx.cluster.siteStore(site).query(sql)
  return { columns: r.columns, rows: r.rows.map((row) => row.map((v) => (v instanceof Uint8Array ? `<blob ${v.length} bytes>` : v))) }
}

type Run = (sql: string, params?: SqlValue[]) => { columns: string[]; rows: SqlValue[][] }
type Mark = [SqlValue, number] // (sort value, rowid) of the last row before an offset

/** Browse bookmarks per database connection: cursor → content version and offset → last row before it. */
const bookmarks = new WeakMap<object, Map<string, { version: string; marks: Map<number, Mark> }>>()
const MAX_MARKS = 512
const MAX_CURSORS = 32

/**
 * One page of a table in browse order: by rowid, or by a column with rowid breaking ties. Rather than
 * LIMIT/OFFSET (which steps over every earlier row: 60–300 ms deep into 1M rows), pages continue from
 * a bookmark (keyset paging on (column, rowid)): the last row of each page served is remembered per
 * offset, so next/previous pages and revisits start from an index seek. A jump to an offset without a
 * bookmark counts forward from the nearest earlier one over the key only. Bookmarks are dropped when
 * the table's database changes (content version), so a page is always what LIMIT/OFFSET would return.
 * Views and WITHOUT ROWID tables use LIMIT/OFFSET. Only `cols` are read.
 */
export function browseRows(sdb: SiteDb, run: Run, table: string, cols: string[], offset: number, limit: number, orderBy: string | undefined, desc: boolean) {
  const hasRowid = run("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? AND sql NOT LIKE '%WITHOUT ROWID%'", [table]).rows.length > 0
    && !cols.some((c) => c.toLowerCase() === 'rowid')
  if (!orderBy) desc = false // unsorted browsing is in storage order
  // only the columns asked for are read (a column the reader may not see never leaves the database)
  const list = cols.map(q).join(', ')
  const dir = desc ? 'DESC' : 'ASC'
  if (!hasRowid) {
    const order = orderBy ? `ORDER BY ${q(orderBy)} ${dir}` : ''
    return run(`SELECT ${list} FROM ${q(table)} ${order} LIMIT ? OFFSET ?`, [limit, offset])
  }
  const k = orderBy ? q(orderBy) : null
  const order = k ? `ORDER BY ${k} ${dir}, rowid ${dir}` : `ORDER BY rowid ${dir}`
  // rows strictly after mark m in browse order, as segments read one after the other (each one an index
  // range: SQLite sorts NULL first ascending, last descending)
  type Seg = { where: string; params: SqlValue[]; order: string }
  const after = (m: Mark): Seg[] => {
    const [v, rid] = m
    const cmp = desc ? '<' : '>'
    if (!k) return [{ where: `rowid ${cmp} ?`, params: [rid], order }]
    const nulls = (w: string, p: SqlValue[]): Seg => ({ where: `${k} IS NULL AND ${w}`, params: p, order: `ORDER BY rowid ${dir}` })
    if (v === null) return desc ? [nulls('rowid < ?', [rid])] : [nulls('rowid > ?', [rid]), { where: `${k} IS NOT NULL`, params: [], order }]
    const main: Seg = { where: `(${k}, rowid) ${cmp} (?, ?)`, params: [v, rid], order }
    return desc ? [main, nulls('1', [])] : [main]
  }
  const start: Seg[] = [{ where: '1', params: [], order }]
  let perDb = bookmarks.get(sdb.db)
  if (!perDb) { perDb = new Map(); bookmarks.set(sdb.db, perDb) }
  const cursorKey = `${table}\u0000${orderBy ?? ''}\u0000${dir}`
  const version = sdb.contentVersion
  let cur = perDb.get(cursorKey)
  if (!cur || cur.version !== version) {
    cur = { version, marks: new Map() }
    perDb.delete(cursorKey)
    perDb.set(cursorKey, cur)
    if (perDb.size > MAX_CURSORS) perDb.delete(perDb.keys().next().value!)
  }
  const keySel = k ? `${k}, rowid` : 'NULL, rowid'
  let from: Mark | undefined
  if (offset > 0) {
    from = cur.marks.get(offset)
    if (!from) {
      // nearest earlier bookmark, then count forward over the key only
      let best = 0
      for (const o of cur.marks.keys()) if (o < offset && o > best) best = o
      let skip = offset - 1 - best
      for (const sg of best ? after(cur.marks.get(best)!) : start) {
        const row = run(`SELECT ${keySel} FROM ${q(table)} WHERE ${sg.where} ${sg.order} LIMIT 1 OFFSET ?`, [...sg.params, skip]).rows[0]
        if (row) { from = [row[0], Number(row[1])]; break }
        skip -= Number(run(`SELECT COUNT(*) FROM (SELECT 1 FROM ${q(table)} WHERE ${sg.where} LIMIT ?)`, [...sg.params, skip]).rows[0][0])
      }
      if (!from) return run(`SELECT ${list} FROM ${q(table)} LIMIT 0`) // past the end
      remember(cur.marks, offset, from)
    }
  }
  let columns: string[] = []
  const rows: SqlValue[][] = []
  for (const sg of from ? after(from) : start) {
    const r = run(`SELECT ${list}, ${keySel} FROM ${q(table)} WHERE ${sg.where} ${sg.order} LIMIT ?`, [...sg.params, limit - rows.length])
    columns = r.columns
    rows.push(...r.rows)
    if (rows.length >= limit) break
  }
  const n = cols.length
  const last = rows[rows.length - 1]
  if (last) remember(cur.marks, offset + rows.length, [last[n], Number(last[n + 1])])
  return { columns: columns.slice(0, n), rows: rows.map((row) => row.slice(0, n)) }
}

function remember(marks: Map<number, Mark>, offset: number, m: Mark): void {
  marks.delete(offset)
  marks.set(offset, m)
  if (marks.size > MAX_MARKS) marks.delete(marks.keys().next().value!)
}

export const catalogHandlers: HandlerMap<CatalogCall> = {
  'catalog/global': async (ctx, { site, session }) => {
    const c = ctx.cluster
    const reader = DataAccess.of(c, session, ctx.actor)
    const at = site ?? c.siteCodes.find((s) => c.siteStore(s).isUp())
    if (!at) throw new EngineError('SITE_DOWN', 'every site is down')
    c.site(at)
    return {
      site: at,
      views: rows(ctx, at, 'SELECT VNAME, GSQL_SELECT FROM GLOBAL_VIEWS ORDER BY VNAME'),
      tables: rows(ctx, at, 'SELECT TBL_NAME, SITE, TYPE FROM GLOBAL_TABLES ORDER BY TBL_NAME, SITE'),
      columns: rows(ctx, at, 'SELECT COL_NAME, TBL_NAME, TYPE, LEN FROM GLOBAL_COLUMNS ORDER BY TBL_NAME, rowid'),
      fragments: reader.localCatalog('FRAGMENT_TABLES', rows(ctx, at, 'SELECT SITE, TBL_NAME, FNAME, NROWS, KIND, PREDICATE, PROJECTION, COPY_OF, REFRESH FROM FRAGMENT_TABLES ORDER BY TBL_NAME, SITE, FNAME')),
      fragmentColumns: rows(ctx, at, 'SELECT COL_NAME, FNAME, TYPE, LEN, SITE FROM FRAGMENT_COLUMNS ORDER BY SITE, FNAME, rowid'),
      constraints: rows(ctx, at, 'SELECT CNAME, TBL_NAME, TYPE, COLUMNS, REF_TABLE, REF_COLUMNS, FNAME, SITE, PREDICATE, ENFORCEMENT FROM GLOBAL_CONSTRAINTS ORDER BY TBL_NAME, TYPE, CNAME'),
    }
  },
  'catalog/local': async (ctx, { site, session }) => {
    ctx.cluster.site(site)
    const reader = DataAccess.of(ctx.cluster, session, ctx.actor)
    return {
      site,
      tables: reader.localCatalog('LCAT_TABLES', rows(ctx, site, 'SELECT TABLE_NAME, TYPE, NUM_ROWS FROM LCAT_TABLES ORDER BY TABLE_NAME')),
      views: rows(ctx, site, 'SELECT VIEW_NAME, LSQL_QUERY FROM LCAT_VIEWS ORDER BY VIEW_NAME'),
      columns: reader.localCatalog('LCAT_COLUMNS', rows(ctx, site, 'SELECT COL_NAME, "TABLE", TYPE, LEN, HKEY, LKEY FROM LCAT_COLUMNS ORDER BY "TABLE", rowid')),
      indexes: reader.localCatalog('LCAT_INDEXES', rows(ctx, site, 'SELECT INDEX_NAME, KEY_COLS, TYPE, PCT_UNIQUE, TABLE_NAME FROM LCAT_INDEXES ORDER BY TABLE_NAME, INDEX_NAME')),
    }
  },
  'catalog/fragments': async (ctx, { session }) => {
    const c = ctx.cluster
    const reader = DataAccess.of(c, session, ctx.actor)
    const topo = c.topology
    const frs = fragments(topo)
    const nrows = (site: string, name: string): number | null => {
      if (!c.siteStore(site).isUp() || !reader.tableStatVisible(name)) return null
      return c.siteInternals(site).catalog.rowCount(name) ?? null
    }
    const map: AllocationMap = {
      sites: topo.sites.map((s) => ({ code: s.code, name: s.name, up: c.siteStore(s.code).isUp(), repository: s.repository })),
      relations: globalRelations(topo).map((r) => ({
        name: r.name, distribution: r.distribution, key: r.key, columns: r.columns.map(({ name, type, len }) => ({ name, type, len })),
        fragments: frs.filter((f) => f.relation === r.name).map((f) => ({
          name: f.name, site: f.site, kind: f.kind, predicate: f.predicate ?? null, columns: f.columns, copyOf: f.copyOf ?? null, refresh: f.refresh ?? null, nrows: nrows(f.site, f.name),
        })),
      })),
      copies: frs.filter((f) => f.kind === 'copy').flatMap((f) => { try { return [c.copyStatus(f.name)] } catch { return [] } })
        .map((x) => (reader.tableStatVisible(x.copy) ? x : { ...x, rows: 0 })),
      replication: c.replicationView(),
      repositorySite: topo.sites.find((s) => s.repository)!.code,
      replicaControl: replicaControl(topo),
    }
    return map
  },
  'catalog/check': async (ctx, { relation, session }) => {
    const reader = DataAccess.of(ctx.cluster, session, ctx.actor)
    return reader.checkReport({ ...(await ctx.cluster.checkFragmentationAsync(relation)), checkedAt: ctx.cluster.sim.now })
  },
  'catalog/checkIntegrity': async (ctx, { limit, session }) => {
    const reader = DataAccess.of(ctx.cluster, session, ctx.actor)
    return { ...reader.integrityReport(checkIntegrity(ctx.cluster, { limit })), checkedAt: ctx.cluster.sim.now }
  },
  'integrity/blocks': async (ctx, { site }) => {
    const c = ctx.cluster
    if (site) c.site(site)
    const prim = primaryCopySite(c.topology)
    const at = site ?? (c.isServerUp(`${prim}.primary`) ? prim : c.siteCodes.find((s) => c.isServerUp(`${s}.primary`)))
    if (!at) throw new EngineError('SITE_DOWN', 'no site is up to read the invoice-number blocks from')
    if (!c.isServerUp(`${at}.primary`)) throw new EngineError('SITE_DOWN', `${at}.primary is down`, { site: at })
    return { site: at, blocks: keyBlocksAt(c, at) }
  },
  'integrity/reserveBlock': async (ctx, { site, size }) => {
    const c = ctx.cluster
    c.site(site)
    const b = reserveKeyBlock(c, site, { size })
    ctx.emit('catalog/changed', { reason: `invoice numbers ${b.lo}–${b.hi} reserved for ${site}` })
    return b
  },
  'data/browse': async (ctx, { site, table, server, offset, limit, orderBy, desc, session }) => {
    const c = ctx.cluster
    c.site(site)
    const reader = DataAccess.of(c, session, ctx.actor)
    const st = c.siteStore(site)
    const db = server === 'primary' ? st : server === 'backup' ? st.backup : st.repository
    if (!db) throw new EngineError('NOT_FOUND', `${site} has no ${server} server`, { site })
    const exists = db.query("SELECT name FROM sqlite_master WHERE type IN ('table','view') AND name = ? AND name NOT LIKE '\\_\\_%' ESCAPE '\\'", [table]).rows.length
    if (!exists) throw new EngineError('UNKNOWN_TABLE', `no table ${table} at ${site}.${server}`, { site })
    const all = db.query(`SELECT name FROM pragma_table_info(?)`, [table]).rows.map((r) => String(r[0]))
    if (orderBy && !all.includes(orderBy)) throw new EngineError('BAD_INPUT', `${table} has no column ${orderBy}`, { site })
    const { columns: cols, hidden } = reader.browseColumns(site, table, all, orderBy)
    const known = server === 'primary' ? c.siteInternals(site).catalog.rowCount(table) : undefined
    const total = known ?? Number(db.query(`SELECT COUNT(*) FROM ${q(table)}`).rows[0][0])
    const sdb = c.siteInternals(site)[server]!
    const r = browseRows(sdb, (sql, p) => db.query(sql, p), table, cols, offset, limit, orderBy, desc)
    const page: BrowsePage = { site, table, server, offset, total, hiddenColumns: hidden, columns: r.columns, rows: r.rows.map((row) => row.map((v) => (v instanceof Uint8Array ? `<blob ${v.length} bytes>` : v))) }
    // a catalog table browsed as a table: its statistics labelled as in catalog/local (rows kept: paging stays exact)
    return reader.localCatalog(table, page, false)
  },
  'data/generate': async (ctx, { sales, seed }) => ctx.jobs.start('data/generate', `generate ${sales.toLocaleString('en')} sales`, async (job) => {
    const summary = await ctx.cluster.generate({ sales, seed, onProgress: (p, d) => job.progress(p, d), isCancelled: () => job.cancelled })
    ctx.emit('catalog/changed', { reason: 'data generated' })
    return summary
  }),
}
