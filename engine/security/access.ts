/**
 * Multi-level security for the calls that return stored data outside SQL (issue 13, break 5): browsing a
 * table at a site, the local and global catalogs, the allocation map, the fragmentation checks' failing rows.
 * The IPC handlers, the CLI and scenarios use the same check: `DataAccess.of(cluster, session)`.
 *  - A reader is a session (its level applies; no read up) or, with no session, the trusted operator.
 *  - Statistics are labelled like what they describe: LKEY/HKEY of a column like the column (those of SALARY
 *    are SECRET), a table's row count like its relation, an index's uniqueness like its key columns.
 *  - The security tables (SEC_*: users, salts, hashes) are returned to nobody, not even the operator, and their
 *    rows are never listed in a catalog page.
 */
import { EngineError } from '../errors'
import { levelRank, type Level } from '../api/security'
import type { Cluster } from '../cluster'
import type { CellValue, FragmentationReport } from '../api/checks'
import { CATALOG_TABLES } from '../catalog/catalog'
import type { IntegrityReport } from '../api/integrity'
import { SecurityManager, TOP_LEVEL, type ReaderIdentity } from './dsm'
import { USERS_TABLE } from './schema'
import type { SecurityPolicy } from './policy'

/** Security-internal tables: never shown through a data or catalog call. */
export function isSecurityTable(name: string): boolean {
  const n = name.toUpperCase()
  return n === USERS_TABLE || n.startsWith('SEC_')
}

/** Site tables that hold metadata only (PUBLIC): the catalogs and the copies' refresh log. */
const METADATA_TABLES = new Set<string>([...CATALOG_TABLES, 'COPY_REFRESH'])

interface Rows { columns: string[]; rows: CellValue[][] }

export class DataAccess {
  private constructor(private policy: SecurityPolicy, readonly user: string | null, readonly level: Level | null) {}

  /** The reader of a call: a session (checked: live, its level), or the trusted operator when `session` is undefined. */
  static of(cluster: Cluster, session: string | undefined, actor?: ReaderIdentity | null): DataAccess {
    const dsm = SecurityManager.of(cluster)
    if (session === undefined) {
      // No session: the console's acting identity at its own level (a SECRET identity reads as the trusted operator).
      if (!actor || actor.level === TOP_LEVEL) return new DataAccess(dsm.policy, null, null)
      return new DataAccess(dsm.policy, actor.user, actor.level)
    }
    const s = dsm.sessionOf(session)
    return new DataAccess(dsm.policy, s.user, s.level)
  }

  get trusted(): boolean { return this.level === null }

  private mayRead(l: Level): boolean { return this.level === null || levelRank(l) <= levelRank(this.level) }

  private who(): string { return `${this.user}'s ${this.level} session` }

  /** The relation a site table belongs to (a fragment, a copy or the relation itself), if any. */
  private relationOf(table: string): { relation: string; columns: string[] } | undefined {
    const r = this.policy.resolve(table)
    return r.kind === 'relation' ? { relation: r.relation, columns: r.columns } : undefined
  }

  /** May the reader see a statistic of `column` of site table `table` (an unlabelled table: the operator only)? */
  columnStatVisible(table: string, column: string): boolean {
    if (isSecurityTable(table)) return false
    if (this.trusted) return true
    const r = this.relationOf(table)
    if (r) return this.mayRead(this.policy.columnLevel(r.relation, column))
    return METADATA_TABLES.has(table.toUpperCase())
  }

  /** May the reader see a table's row count? */
  tableStatVisible(table: string): boolean {
    if (isSecurityTable(table)) return false
    if (this.trusted) return true
    const r = this.relationOf(table)
    if (r) return this.mayRead(this.policy.relationLevel(r.relation))
    return METADATA_TABLES.has(table.toUpperCase())
  }

  /**
   * The columns of site table `table` the reader may browse, in order (those above the level are not read);
   * `orderBy` must be one of them. Refuses a security table (anyone), a relation above the level, and a table
   * with no label (a session).
   */
  browseColumns(site: string, table: string, columns: string[], orderBy?: string): { columns: string[]; hidden: string[] } {
    if (isSecurityTable(table)) throw new EngineError('ACCESS_DENIED', `${table} is a security table: its contents (salts, hashes) are never shown`, { site })
    if (this.trusted) return { columns, hidden: [] }
    const r = this.relationOf(table)
    if (!r) {
      if (METADATA_TABLES.has(table.toUpperCase())) return { columns, hidden: [] }
      throw new EngineError('ACCESS_DENIED', `${table} at ${site} carries no security label: only the operator may browse it`, { site })
    }
    const label = this.policy.relationLevel(r.relation)
    if (!this.mayRead(label)) throw new EngineError('ACCESS_DENIED', `no read up: ${r.relation} is ${label}; ${this.who()} cannot browse ${table}`, { site })
    const keep = columns.filter((c) => this.mayRead(this.policy.columnLevel(r.relation, c)))
    const hidden = columns.filter((c) => !keep.includes(c))
    if (orderBy && !keep.includes(orderBy)) throw new EngineError('ACCESS_DENIED', `no read up: ${r.relation}.${orderBy} is ${this.policy.columnLevel(r.relation, orderBy)}; ${this.who()} cannot sort by it`, { site })
    return { columns: keep, hidden }
  }

  /**
   * A page of catalog rows as the reader may see them: rows about security tables dropped, statistics the reader
   * may not see nulled. `table`: the column naming the described table; `stats`: statistic column → the columns
   * (or, for a row count, the table) it describes.
   */
  catalogRows<T extends Rows>(page: T, table: string, stats: Record<string, string | null>, dropRows = true): T {
    const ti = page.columns.indexOf(table)
    if (ti < 0) return page
    const idx = Object.entries(stats).map(([stat, col]) => ({ i: page.columns.indexOf(stat), ci: col === null ? -1 : page.columns.indexOf(col) })).filter((x) => x.i >= 0)
    const rows: CellValue[][] = []
    for (const row of page.rows) {
      const t = String(row[ti] ?? '')
      if (isSecurityTable(t) && dropRows) continue
      const out = [...row]
      for (const { i, ci } of idx) {
        const ok = ci < 0 ? this.tableStatVisible(t) : String(row[ci] ?? '').split(/\s*,\s*/).every((c) => this.columnStatVisible(t, c))
        if (!ok) out[i] = null
      }
      rows.push(out)
    }
    return { ...page, rows }
  }

  /** LCAT_* rows (also when browsed as a table): key ranges, row counts and index statistics labelled. */
  localCatalog<T extends Rows>(name: string, page: T, dropRows = true): T {
    switch (name.toUpperCase()) {
      case 'LCAT_TABLES': return this.catalogRows(page, 'TABLE_NAME', { NUM_ROWS: null }, dropRows)
      case 'LCAT_COLUMNS': return this.catalogRows(page, 'TABLE', { HKEY: 'COL_NAME', LKEY: 'COL_NAME' }, dropRows)
      case 'LCAT_INDEXES': return this.catalogRows(page, 'TABLE_NAME', { PCT_UNIQUE: 'KEY_COLS' }, dropRows)
      case 'FRAGMENT_TABLES': return this.catalogRows(page, 'FNAME', { NROWS: null }, dropRows)
      default: return page
    }
  }

  /** The fragmentation report without what the reader may not read: failing rows of a relation above its level go, values above it are blanked. */
  checkReport(report: FragmentationReport): FragmentationReport {
    if (this.trusted) return report
    return {
      ...report,
      results: report.results.map((r) => {
        if (!this.mayRead(this.policy.relationLevel(r.relation))) return { ...r, failing: [], detail: r.ok ? r.detail : `${r.failingCount} failing tuple(s) (above ${this.who()})` }
        const cols = this.relationOf(r.relation)?.columns ?? []
        const hiddenAt = cols.map((c, i) => (this.mayRead(this.policy.columnLevel(r.relation, c)) ? -1 : i)).filter((i) => i >= 0)
        if (!hiddenAt.length) return r
        // a failing row's values and its reason (which may quote them) are shown only when nothing in it is above the level
        return { ...r, failing: r.failing.map((f) => ({ ...(f.fragment ? { fragment: f.fragment } : {}), ...(f.site ? { site: f.site } : {}), key: f.key, reason: `failing tuple (its values include columns above ${this.who()})` })) }
      }),
    }
  }

  /** `check integrity` as this session may see it: a violating row's columns above its level are left out (and said so). */
  integrityReport<R extends IntegrityReport>(report: R): R {
    if (this.trusted) return report
    return {
      ...report,
      violations: report.violations.map((v) => {
        if (!this.mayRead(this.policy.relationLevel(v.relation))) return { ...v, row: {}, detail: `a row of ${v.fragment} (above ${this.who()})` }
        const row = Object.fromEntries(Object.entries(v.row).filter(([c]) => this.mayRead(this.policy.columnLevel(v.relation, c))))
        return Object.keys(row).length === Object.keys(v.row).length ? v : { ...v, row, detail: `${v.constraint} violated (some of the row's columns are above ${this.who()})` }
      }),
    }
  }
}
