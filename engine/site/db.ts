/**
 * One sql.js database server (a site's primary, its backup, or Colombo's main repository) with
 * row-level change capture: AFTER triggers on every tracked table append to __cdc inside the same
 * transaction; the engine drains __cdc at commit time and turns it into a change batch that is logged
 * durably, shipped to the backup / repository / replicas, and folded into the catalogs.
 */
import type { Database, SqlJsStatic } from 'sql.js'
import { execScript, queryDb, quoteId, scalar, sqlError, type Params, type QueryResult, type SqlValue } from './sqljs'
import { EngineError } from '../errors'

export type DbRole = 'primary' | 'backup' | 'repository'

/** A row change: I = row now present (insert or new image of an update), D = row removed (old image). */
export interface Change { t: string; op: 'I' | 'D'; r: SqlValue[] }

export interface TableInfo { name: string; columns: string[]; key: string[]; keyIdx: number[] }

const PRAGMAS = 'PRAGMA recursive_triggers = ON; PRAGMA foreign_keys = OFF;'

export class SiteDb {
  db: Database
  readonly tables = new Map<string, TableInfo>()
  private inTx = false
  private applyStmts = new Map<string, ReturnType<Database['prepare']>>()

  constructor(private SQL: SqlJsStatic, readonly site: string, readonly role: DbRole, bytes?: Uint8Array) {
    try {
      this.db = bytes ? new SQL.Database(bytes) : new SQL.Database()
      this.db.exec(PRAGMAS)
      this.db.exec('CREATE TABLE IF NOT EXISTS __meta (k TEXT PRIMARY KEY, v)')
      this.db.exec('CREATE TABLE IF NOT EXISTS __cdc (seq INTEGER PRIMARY KEY, t TEXT NOT NULL, op TEXT NOT NULL, r TEXT NOT NULL)')
    } catch (e) {
      throw new EngineError('CORRUPT_DATA', `${this.id}: not a valid SQLite database (${e instanceof Error ? e.message : String(e)})`, { site })
    }
  }

  get id(): string { return `${this.site}.${this.role}` }
  get inTransaction(): boolean { return this.inTx }

  // ---- plain access ------------------------------------------------------------------------
  query(sql: string, params?: Params): QueryResult { return queryDb(this.db, sql, params) }
  run(sql: string, params?: Params): number {
    queryDb(this.db, sql, params)
    return this.db.getRowsModified()
  }
  script(sql: string): QueryResult { return execScript(this.db, sql) }
  scalar(sql: string, params?: Params): SqlValue { return scalar(this.db, sql, params) }
  count(table: string): number { return Number(this.scalar(`SELECT COUNT(*) FROM ${quoteId(table)}`)) }
  hasTable(name: string): boolean {
    return this.scalar("SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?", [name]) === 1
  }

  getMeta(k: string): SqlValue { return this.scalar('SELECT v FROM __meta WHERE k = ?', [k]) }
  getMetaNum(k: string, dflt = 0): number { const v = this.getMeta(k); return v === null ? dflt : Number(v) }
  setMeta(k: string, v: SqlValue): void { queryDb(this.db, 'INSERT OR REPLACE INTO __meta (k, v) VALUES (?, ?)', [k, v]) }

  // ---- transactions ------------------------------------------------------------------------
  begin(): void {
    if (this.inTx) throw new EngineError('INTERNAL', `${this.id}: nested transaction`)
    this.db.exec('BEGIN')
    this.inTx = true
  }
  commit(): void { this.db.exec('COMMIT'); this.inTx = false }
  rollback(): void {
    if (!this.inTx) return
    this.inTx = false
    try { this.db.exec('ROLLBACK') } catch { /* already rolled back by SQLite after an error */ }
  }

  // ---- change capture ----------------------------------------------------------------------
  /** Registers a table for capture and replication (creates its triggers). */
  track(name: string, columns: string[], key: string[]): TableInfo {
    const info: TableInfo = { name, columns, key, keyIdx: key.map((k) => columns.indexOf(k)) }
    this.tables.set(name, info)
    this.installTriggers(info)
    return info
  }

  installTriggers(info: TableInfo): void {
    const q = quoteId(info.name)
    const img = (p: string) => `json_array(${info.columns.map((c) => `${p}.${quoteId(c)}`).join(', ')})`
    const t = info.name.replace(/'/g, "''")
    this.db.exec(`
      CREATE TRIGGER IF NOT EXISTS ${quoteId(`__cdc_i_${info.name}`)} AFTER INSERT ON ${q} BEGIN INSERT INTO __cdc (t, op, r) VALUES ('${t}', 'I', ${img('NEW')}); END;
      CREATE TRIGGER IF NOT EXISTS ${quoteId(`__cdc_d_${info.name}`)} AFTER DELETE ON ${q} BEGIN INSERT INTO __cdc (t, op, r) VALUES ('${t}', 'D', ${img('OLD')}); END;
      CREATE TRIGGER IF NOT EXISTS ${quoteId(`__cdc_u_${info.name}`)} AFTER UPDATE ON ${q} BEGIN
        INSERT INTO __cdc (t, op, r) VALUES ('${t}', 'D', ${img('OLD')});
        INSERT INTO __cdc (t, op, r) VALUES ('${t}', 'I', ${img('NEW')});
      END;`)
  }

  dropTriggers(): void {
    for (const info of this.tables.values()) {
      for (const k of ['i', 'd', 'u']) this.db.exec(`DROP TRIGGER IF EXISTS ${quoteId(`__cdc_${k}_${info.name}`)}`)
    }
  }

  installAllTriggers(): void { for (const info of this.tables.values()) this.installTriggers(info) }

  /** Drains the captured changes of the current transaction. */
  drainChanges(): Change[] {
    const res = queryDb(this.db, 'SELECT t, op, r FROM __cdc ORDER BY seq')
    if (!res.rows.length) return []
    this.db.exec('DELETE FROM __cdc')
    return res.rows.map(([t, op, r]) => ({ t: String(t), op: op as 'I' | 'D', r: JSON.parse(String(r)) as SqlValue[] }))
  }

  /**
   * Applies a change batch (idempotent: I = upsert of the full row, D = delete by key). Tables must be
   * tracked here; the triggers capture the effect again so the caller can fold it into the catalog.
   */
  applyChanges(changes: readonly Change[]): void {
    for (const c of changes) {
      const info = this.tables.get(c.t)
      if (!info) throw new EngineError('INTERNAL', `${this.id}: change for untracked table ${c.t}`, { site: this.site })
      const stmt = this.stmtFor(info, c.op)
      try {
        stmt.bind(c.op === 'I' ? c.r : info.keyIdx.map((i) => c.r[i]))
        stmt.step()
      } catch (e) {
        throw sqlError(e)
      } finally {
        stmt.reset()
      }
    }
  }

  private stmtFor(info: TableInfo, op: 'I' | 'D') {
    const k = `${op}:${info.name}`
    let s = this.applyStmts.get(k)
    if (!s) {
      const q = quoteId(info.name)
      s = op === 'I'
        ? this.db.prepare(`INSERT OR REPLACE INTO ${q} (${info.columns.map(quoteId).join(', ')}) VALUES (${info.columns.map(() => '?').join(', ')})`)
        : this.db.prepare(`DELETE FROM ${q} WHERE ${info.key.map((c) => `${quoteId(c)} = ?`).join(' AND ')}`)
      this.applyStmts.set(k, s)
    }
    return s
  }

  private freeStmts(): void {
    for (const s of this.applyStmts.values()) s.free()
    this.applyStmts.clear()
  }

  // ---- bytes -------------------------------------------------------------------------------
  /** A consistent byte image (standard SQLite file). export() closes/reopens: re-apply PRAGMAs. */
  export(): Uint8Array {
    if (this.inTx) throw new EngineError('INTERNAL', `${this.id}: export inside a transaction`)
    this.freeStmts()
    const bytes = this.db.export()
    this.db.exec(PRAGMAS)
    return bytes
  }

  /** Replaces the whole content with a byte image (restore from backup / repository). */
  load(bytes: Uint8Array): void {
    this.freeStmts()
    this.db.close()
    this.db = new this.SQL.Database(bytes)
    this.db.exec(PRAGMAS)
    this.inTx = false
  }

  close(): void {
    this.freeStmts()
    this.db.close()
  }
}
