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

const q = (n: string) => `"${n.replace(/"/g, '""')}"`

export class SiteTxnStore implements TxnStore {
  private meta = new Map<string, { name: string; columns: string[]; key: string[] }>()
  private byUpper = new Map<string, string>()

  constructor(private cluster: Cluster, readonly code: string) {
    for (const t of cluster.siteInternals(code).tables) {
      if (t.frag.kind === 'copy') continue
      this.meta.set(t.name, { name: t.name, columns: t.columns, key: t.rel.key })
      this.byUpper.set(t.name.toUpperCase(), t.name)
    }
  }

  private get store() { return this.cluster.siteStore(this.code) }

  resolveTable(table: string): string {
    const n = this.meta.has(table) ? table : this.byUpper.get(table.toUpperCase())
    if (!n) throw new EngineError('UNKNOWN_TABLE', `no writable fragment ${table} at ${this.code}; fragments here: ${[...this.meta.keys()].join(', ')}`, { site: this.code })
    return n
  }

  /** Row-level locking needs a one-column key; other tables are locked as a whole (''). */
  keyColumn(table: string): string {
    const m = this.meta.get(this.resolveTable(table))!
    return m.key.length === 1 ? m.key[0].toUpperCase() : ''
  }

  private rows(sql: string, params: (string | number | null)[] = []): Row[] {
    const r = this.store.query(sql, params)
    return r.rows.map((vals) => Object.fromEntries(r.columns.map((c, i) => [c.toUpperCase(), vals[i]])))
  }

  get(table: string, key: string): Row | undefined {
    const m = this.meta.get(this.resolveTable(table))!
    return this.rows(`SELECT * FROM ${q(m.name)} WHERE ${q(m.key[0])} = ?`, [key])[0]
  }

  scan(table: string): Row[] {
    const m = this.meta.get(this.resolveTable(table))!
    return this.rows(`SELECT * FROM ${q(m.name)}`)
  }

  apply(writes: readonly TxnWrite[]): void {
    if (!writes.length) return
    this.store.withTransaction((tx) => {
      for (const w of writes) {
        const m = this.meta.get(this.resolveTable(w.table))!
        if (w.row) {
          const cols = m.columns.filter((c) => c.toUpperCase() in w.row! || c in w.row!)
          const vals = cols.map((c) => (w.row![c.toUpperCase()] ?? w.row![c] ?? null) as string | number | null)
          tx.exec(`INSERT OR REPLACE INTO ${q(m.name)} (${cols.map(q).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, vals)
        } else {
          tx.exec(`DELETE FROM ${q(m.name)} WHERE ${q(m.key[0])} = ?`, [w.key])
        }
      }
    })
  }
}
