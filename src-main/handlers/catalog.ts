import { EngineError } from '../../engine/errors'
import { fragments, globalRelations } from '../../engine/data/schema'
import type { HandlerContext, HandlerMap } from './context'
import type { AllocationMap, BrowsePage, TableRows } from '../ipc/contract/catalog'

type CatalogCall = 'catalog/global' | 'catalog/local' | 'catalog/fragments' | 'catalog/check' | 'data/browse' | 'data/generate'

const q = (name: string) => `"${name.replace(/"/g, '""')}"`

function rows(ctx: HandlerContext, site: string, sql: string): TableRows {
  const r = ctx.cluster.siteStore(site).query(sql)
  return { columns: r.columns, rows: r.rows.map((row) => row.map((v) => (v instanceof Uint8Array ? `<blob ${v.length} bytes>` : v))) }
}

export const catalogHandlers: HandlerMap<CatalogCall> = {
  'catalog/global': async (ctx, { site }) => {
    const c = ctx.cluster
    const at = site ?? c.siteCodes.find((s) => c.siteStore(s).isUp())
    if (!at) throw new EngineError('SITE_DOWN', 'every site is down')
    c.site(at)
    return {
      site: at,
      views: rows(ctx, at, 'SELECT VNAME, GSQL_SELECT FROM GLOBAL_VIEWS ORDER BY VNAME'),
      tables: rows(ctx, at, 'SELECT TBL_NAME, SITE, TYPE FROM GLOBAL_TABLES ORDER BY TBL_NAME, SITE'),
      columns: rows(ctx, at, 'SELECT COL_NAME, TBL_NAME, TYPE, LEN FROM GLOBAL_COLUMNS ORDER BY TBL_NAME, rowid'),
      fragments: rows(ctx, at, 'SELECT SITE, TBL_NAME, FNAME, NROWS, KIND, PREDICATE, PROJECTION, COPY_OF, REFRESH FROM FRAGMENT_TABLES ORDER BY TBL_NAME, SITE, FNAME'),
      fragmentColumns: rows(ctx, at, 'SELECT COL_NAME, FNAME, TYPE, LEN, SITE FROM FRAGMENT_COLUMNS ORDER BY SITE, FNAME, rowid'),
    }
  },
  'catalog/local': async (ctx, { site }) => {
    ctx.cluster.site(site)
    return {
      site,
      tables: rows(ctx, site, 'SELECT TABLE_NAME, TYPE, NUM_ROWS FROM LCAT_TABLES ORDER BY TABLE_NAME'),
      views: rows(ctx, site, 'SELECT VIEW_NAME, LSQL_QUERY FROM LCAT_VIEWS ORDER BY VIEW_NAME'),
      columns: rows(ctx, site, 'SELECT COL_NAME, "TABLE", TYPE, LEN, HKEY, LKEY FROM LCAT_COLUMNS ORDER BY "TABLE", rowid'),
      indexes: rows(ctx, site, 'SELECT INDEX_NAME, KEY_COLS, TYPE, PCT_UNIQUE, TABLE_NAME FROM LCAT_INDEXES ORDER BY TABLE_NAME, INDEX_NAME'),
    }
  },
  'catalog/fragments': async (ctx) => {
    const c = ctx.cluster
    const topo = c.topology
    const frs = fragments(topo)
    const nrows = (site: string, name: string): number | null => {
      if (!c.siteStore(site).isUp()) return null
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
      copies: frs.filter((f) => f.kind === 'copy').flatMap((f) => { try { return [c.copyStatus(f.name)] } catch { return [] } }),
      replication: c.replicationView(),
      repositorySite: topo.sites.find((s) => s.repository)!.code,
    }
    return map
  },
  'catalog/check': async (ctx, { relation }) => ({ ...(await ctx.cluster.checkFragmentationAsync(relation)), checkedAt: ctx.cluster.sim.now }),
  'data/browse': async (ctx, { site, table, server, offset, limit, orderBy, desc }) => {
    const c = ctx.cluster
    c.site(site)
    const st = c.siteStore(site)
    const db = server === 'primary' ? st : server === 'backup' ? st.backup : st.repository
    if (!db) throw new EngineError('NOT_FOUND', `${site} has no ${server} server`, { site })
    const exists = db.query("SELECT name FROM sqlite_master WHERE type IN ('table','view') AND name = ? AND name NOT LIKE '\\_\\_%' ESCAPE '\\'", [table]).rows.length
    if (!exists) throw new EngineError('UNKNOWN_TABLE', `no table ${table} at ${site}.${server}`, { site })
    const cols = db.query(`SELECT name FROM pragma_table_info(?)`, [table]).rows.map((r) => String(r[0]))
    if (orderBy && !cols.includes(orderBy)) throw new EngineError('BAD_INPUT', `${table} has no column ${orderBy}`, { site })
    const known = server === 'primary' ? c.siteInternals(site).catalog.rowCount(table) : undefined
    const total = known ?? Number(db.query(`SELECT COUNT(*) FROM ${q(table)}`).rows[0][0])
    const order = orderBy ? `ORDER BY ${q(orderBy)} ${desc ? 'DESC' : 'ASC'}` : ''
    const r = db.query(`SELECT * FROM ${q(table)} ${order} LIMIT ? OFFSET ?`, [limit, offset])
    const page: BrowsePage = { site, table, server, offset, total, columns: r.columns, rows: r.rows.map((row) => row.map((v) => (v instanceof Uint8Array ? `<blob ${v.length} bytes>` : v))) }
    return page
  },
  'data/generate': async (ctx, { sales, seed }) => ctx.jobs.start('data/generate', `generate ${sales.toLocaleString('en')} sales`, async (job) => {
    const summary = await ctx.cluster.generate({ sales, seed, onProgress: (p, d) => job.progress(p, d), isCancelled: () => job.cancelled })
    ctx.emit('catalog/changed', { reason: 'data generated' })
    return summary
  }),
}
