/**
 * Statistics the optimizer reads from the catalogs: NROWS (FRAGMENT_TABLES / LCAT_TABLES), LKEY/HKEY
 * (LCAT_COLUMNS) and PCT_UNIQUE (LCAT_INDEXES) of each fragment at its site. Cached per site and
 * invalidated by the site's commit sequence number, so pruning never uses outdated key ranges.
 */
import type { SqlValue } from '../site/sqljs'
import type { SiteCode } from '../topology/types'
import { embeddedStoreOf, siteStoreOf } from './stores'
import type { Cluster } from '../cluster'

export interface ColStats { lkey: SqlValue; hkey: SqlValue; pctUnique?: number }
export interface TableStats { rows: number; cols: Map<string, ColStats> }

interface SiteStats { seq: number; db: unknown; gen: unknown; tables: Map<string, TableStats> }

export class StatsCache {
  private bySite = new Map<SiteCode, SiteStats>()
  constructor(private cluster: Cluster) {}

  /** Stats of a table at a site's primary, or undefined when the site cannot be read. */
  table(site: SiteCode, table: string): TableStats | undefined {
    const store = siteStoreOf(this.cluster, site)
    if (!store || !store.isUp()) return this.bySite.get(site)?.tables.get(table)
    const seq = store.seq
    const { db, gen } = this.identity(site)
    let s = this.bySite.get(site)
    if (!s || s.seq !== seq || s.db !== db || s.gen !== gen) {
      s = { seq, db, gen, tables: new Map() }
      try {
        for (const [name, n] of store.query('SELECT TABLE_NAME, NUM_ROWS FROM LCAT_TABLES').rows) s.tables.set(String(name), { rows: Number(n), cols: new Map() })
        for (const [col, tbl, lk, hk] of store.query('SELECT COL_NAME, "TABLE", LKEY, HKEY FROM LCAT_COLUMNS').rows) {
          s.tables.get(String(tbl))?.cols.set(String(col), { lkey: lk, hkey: hk })
        }
        for (const [cols, pct, tbl] of store.query('SELECT KEY_COLS, PCT_UNIQUE, TABLE_NAME FROM LCAT_INDEXES').rows) {
          const list = String(cols).split(',').map((x) => x.trim())
          if (list.length !== 1) continue
          const cs = s.tables.get(String(tbl))?.cols.get(list[0])
          if (cs) cs.pctUnique = Number(pct)
        }
      } catch {
        return this.bySite.get(site)?.tables.get(table)
      }
      this.bySite.set(site, s)
    }
    return s.tables.get(table)
  }

  /**
   * The database object and the last bulk generation: a restore (new database image) or a regeneration
   * (same commit sequence, new data) invalidates cached statistics as surely as a commit does.
   */
  private identity(site: SiteCode): { db: unknown; gen: unknown } {
    const c = this.cluster as unknown as { siteInternals?: (s: string) => { primary: { db: unknown } }; lastGenerate?: unknown }
    let db: unknown
    // an embedded site: its sql.js database object; a replaced store (a live server) is its own identity
    if (!embeddedStoreOf(this.cluster, site)) return { db: siteStoreOf(this.cluster, site), gen: c.lastGenerate }
    try { db = c.siteInternals?.(site).primary.db } catch { db = undefined }
    return { db, gen: c.lastGenerate }
  }

  /** True when the cached stats for the site are current (same commit sequence, same database, same data generation). */
  fresh(site: SiteCode): boolean {
    const store = siteStoreOf(this.cluster, site)
    const s = this.bySite.get(site)
    if (!store || !store.isUp() || !s || s.seq !== store.seq) return false
    const { db, gen } = this.identity(site)
    return s.db === db && s.gen === gen
  }
}
