/**
 * The DTM's view of a site's real sql.js database (engine/site): committed rows are read from the
 * site's primary; a sub-transaction's buffered after-images are applied at COMMIT in one local
 * transaction through SiteStore.withTransaction, so they are logged durably by the site, captured and
 * shipped to its backup, the Colombo repository and replicas like any other local commit.
 * Only fragments held at the site are accepted (copies refreshed from elsewhere are read-only here).
 */
import type { Cluster } from '../cluster'
import { EngineError } from '../errors'
import type { TxnWrite } from './log'
import type { Row, TxnStore } from './store'
import type { SqlValue } from '../site/sqljs'
import type { TxScope } from '../site/site'
import type { ColInfo } from './stmt'
import { localWriteRefusal } from '../site/replication'

const q = (n: string) => `"${n.replace(/"/g, '""')}"`

interface TableMeta {
  name: string
  columns: string[]
  key: string[]
  /** Upper-case column name → column name. */
  byUpper: Map<string, string>
  /** Upper-case names, in column order (the DTM's row keys). */
  upper: string[]
  getSql: string
  cols: ColInfo[]
  /** In-place UPDATE per set of changed columns as the DTM names them (joined): the table's columns set and the statement; none: upsert. */
  updates: Map<string, { cols: string[]; upper: string[]; sql: string } | null>
}

export class SiteTxnStore implements TxnStore {
  private meta = new Map<string, TableMeta>()
  private byUpper = new Map<string, string>()
  /** Statement texts per (table, column set), built once. */
  private sqlCache = new Map<string, string>()

  constructor(private cluster: Cluster, readonly code: string) {
    for (const t of cluster.siteInternals(code).tables) {
      if (t.frag.kind === 'copy') continue
      this.meta.set(t.name, {
        name: t.name, columns: t.columns, key: t.rel.key,
        byUpper: new Map(t.columns.map((c) => [c.toUpperCase(), c])), upper: t.columns.map((c) => c.toUpperCase()),
        cols: t.columns.map((c) => ({ name: c.toUpperCase(), type: t.rel.columns.find((x) => x.name === c)?.type ?? 'ANY' })),
        getSql: `SELECT ${t.columns.map(q).join(', ')} FROM ${q(t.name)} WHERE ${q(t.rel.key[0])} = ?`,
        updates: new Map(),
      })
      this.byUpper.set(t.name.toUpperCase(), t.name)
    }
  }

  private get store() { return this.cluster.siteStore(this.code) }

  resolveTable(table: string): string {
    const n = this.meta.has(table) ? table : this.byUpper.get(table.toUpperCase())
    if (!n) throw new EngineError('UNKNOWN_TABLE', `no writable fragment ${table} at ${this.code}; fragments here: ${[...this.meta.keys()].join(', ')}`, { site: this.code })
    return n
  }

  checkWrite(table: string): void {
    const name = this.resolveTable(table)
    // replica control's verdict per table (the topology is fixed for the cluster's life), as Site.checkLocalWrites keeps it
    let why = this.refusals.get(name)
    if (why === undefined) this.refusals.set(name, why = localWriteRefusal(this.cluster.topology, this.code, name) ?? '')
    if (why) throw new EngineError('UNSUPPORTED', why, { site: this.code })
  }
  private refusals = new Map<string, string>()

  /** Row-level locking needs a one-column key; other tables are locked as a whole (''). */
  keyColumn(table: string): string {
    const m = this.meta.get(this.resolveTable(table))!
    return m.key.length === 1 ? m.key[0].toUpperCase() : ''
  }

  private rows(sql: string, params: (string | number | null)[] = []): Row[] {
    const r = this.store.query(sql, params)
    const names = r.columns.map((c) => c.toUpperCase())
    return r.rows.map((vals) => {
      const row: Row = {}
      for (let i = 0; i < names.length; i++) row[names[i]] = vals[i]
      return row
    })
  }

  get(table: string, key: string): Row | undefined {
    const m = this.meta.get(this.resolveTable(table))!
    const vals = this.store.readPrepared(m.getSql, [key])[0]
    if (!vals) return undefined
    const row: Row = {}
    for (let i = 0; i < m.upper.length; i++) row[m.upper[i]] = vals[i]
    return row
  }

  scan(table: string): Row[] {
    const m = this.meta.get(this.resolveTable(table))!
    return this.rows(`SELECT * FROM ${q(m.name)}`)
  }

  columns(table: string): ColInfo[] { return this.meta.get(this.resolveTable(table))!.cols }

  private sql(kind: string, m: TableMeta, cols: string[], build: () => string): string {
    const k = `${kind}|${m.name}|${cols.join(',')}`
    let t = this.sqlCache.get(k)
    if (t === undefined) { t = build(); this.sqlCache.set(k, t) }
    return t
  }

  /**
   * One local transaction for the after-images: an UPDATE's changed columns are set in place (no index
   * churn for the rest), anything else is an upsert of the whole row or a delete by key.
   */
  apply(writes: readonly TxnWrite[]): void {
    if (!writes.length) return
    const body = (tx: TxScope) => {
      for (const w of writes) {
        const m = this.meta.get(this.resolveTable(w.table))!
        const row = w.row
        if (row && w.cols?.length && m.key.length === 1) {
          const u = this.updateOf(m, w.cols)
          if (u) {
            const vals: SqlValue[] = []
            for (let i = 0; i < u.cols.length; i++) vals.push((row[u.upper[i]] ?? row[u.cols[i]] ?? null) as SqlValue)
            vals.push(w.key)
            if (tx.run(u.sql, vals) === 1) continue
          }
        }
        if (row) {
          const cols = m.columns.filter((c) => c.toUpperCase() in row || c in row)
          const sql = this.sql('I', m, cols, () => `INSERT OR REPLACE INTO ${q(m.name)} (${cols.map(q).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`)
          tx.run(sql, cols.map((c) => (row[c.toUpperCase()] ?? row[c] ?? null) as SqlValue))
        } else {
          tx.run(this.sql('D', m, [], () => `DELETE FROM ${q(m.name)} WHERE ${q(m.key[0])} = ?`), [w.key])
        }
      }
    }
    // an eager delete's part at a replica: replica control lets exactly those deletes through (Site.checkLocalWrites)
    if (writes.some((w) => w.replica)) this.store.withReplicaDeletes(body)
    else this.store.withTransaction(body)
  }

  /** The in-place UPDATE of a write's changed columns (the table's own non-key columns among them); null: none, upsert the row. */
  private updateOf(m: TableMeta, names: readonly string[]): { cols: string[]; upper: string[]; sql: string } | null {
    const k = names.length === 1 ? names[0] : names.join(',')
    let u = m.updates.get(k)
    if (u === undefined) {
      const cols = names.map((c) => m.byUpper.get(c.toUpperCase()) ?? c).filter((c) => m.columns.includes(c) && c !== m.key[0])
      u = cols.length ? { cols, upper: cols.map((c) => c.toUpperCase()), sql: `UPDATE ${q(m.name)} SET ${cols.map((c) => `${q(c)} = ?`).join(', ')} WHERE ${q(m.key[0])} = ?` } : null
      m.updates.set(k, u)
    }
    return u
  }
}
