/**
 * One sql.js database server (a site's primary, its backup, or Colombo's main repository). A primary
 * captures row-level changes: TEMP AFTER triggers on every tracked table hand each row image to the
 * engine through a connection function (so capture never touches the database file or its byte image);
 * the engine drains the captured changes at commit time and turns them into a change batch that is
 * logged durably, shipped to the backup / repository / replicas, and folded into the catalogs. What a
 * failed statement or a rolled-back transaction captured is dropped with it. Backups and the repository
 * only apply batches: they capture nothing (no triggers fire there).
 */
import type { Database, SqlJsStatic } from 'sql.js'
import { queryDb, quoteId, sqlError, type Params, type QueryResult, type SqlValue } from './sqljs'
import { EngineError } from '../errors'
import { installGuard } from '../query/guard'

export type DbRole = 'primary' | 'backup' | 'repository'

/** A row change: I = row now present (insert or new image of an update), D = row removed (old image). */
export interface Change { t: string; op: 'I' | 'D'; r: SqlValue[] }

// eslint-disable-next-line no-control-regex
const JSON_ESCAPE_RE = /[\u0000-\u001f"\\\ud800-\udfff]/
/**
 * JSON.stringify(v).length without building the string (wire size of change batches; the exact same
 * number): plain arrays, plain objects, strings, numbers, booleans and null are measured directly,
 * anything else (typed arrays, toJSON) falls back to JSON.stringify.
 */
/**
 * jsonLength of a change batch: each change is a plain { t, op, r } object, so only its table name, op and row
 * image need measuring (the same number JSON.stringify gives).
 */
export function changesLength(changes: readonly Change[]): number {
  let n = 1 + Math.max(0, changes.length - 1) + 1
  // {"t": … ,"op": … ,"r": … }
  for (const c of changes) n += 5 + jsonLength(c.t) + 6 + jsonLength(c.op) + 5 + jsonLength(c.r) + 1
  return n
}

/** String(v).length for a finite number, without building the string for integers (the common case). */
function numberLength(v: number): number {
  if (!Number.isSafeInteger(v)) return String(v).length
  const a = Math.abs(v)
  let n = v < 0 ? 2 : 1
  if (a >= 1e8) { n += 8; for (let x = Math.floor(a / 1e8); x >= 10; x = Math.floor(x / 10)) n++ } else if (a >= 10) n += a < 100 ? 1 : a < 1e3 ? 2 : a < 1e4 ? 3 : a < 1e5 ? 4 : a < 1e6 ? 5 : a < 1e7 ? 6 : 7
  return n
}

export function jsonLength(v: unknown): number {
  switch (typeof v) {
    case 'string': return JSON_ESCAPE_RE.test(v) ? JSON.stringify(v).length : v.length + 2
    case 'number': return Number.isFinite(v) ? numberLength(v) : 4
    case 'boolean': return v ? 4 : 5
    case 'object': {
      if (v === null) return 4
      if (Array.isArray(v)) {
        let n = 1 + Math.max(0, v.length - 1) + 1
        for (const x of v) n += x === undefined || typeof x === 'function' || typeof x === 'symbol' ? 4 : jsonLength(x)
        return n
      }
      const proto = Object.getPrototypeOf(v)
      if (proto !== Object.prototype && proto !== null) return JSON.stringify(v)?.length ?? 0
      let n = 2, k = 0
      for (const key of Object.keys(v)) {
        const x = (v as Record<string, unknown>)[key]
        if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue
        n += (k++ ? 1 : 0) + jsonLength(key) + 1 + jsonLength(x)
      }
      return n
    }
    default: return JSON.stringify(v)?.length ?? 0
  }
}

export interface TableInfo { name: string; columns: string[]; key: string[]; keyIdx: number[] }

/**
 * Per-connection settings, re-applied after export()/load() (sql.js reopens the database).
 * The database lives in sql.js's in-memory file system: durability comes from the engine's own fsync'd
 * commit log and atomic checkpoint images, so SQLite's rollback journal is kept in memory (rollback still
 * works), there is nothing to sync, and the single connection holds the lock for its lifetime.
 */
const PRAGMAS = 'PRAGMA recursive_triggers = ON; PRAGMA foreign_keys = OFF; PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE; PRAGMA temp_store = MEMORY;'

type Stmt = ReturnType<Database['prepare']>

/** Runs a cached write statement once with these parameters (and leaves it ready for the next use). */
function stepOnce(stmt: Stmt, params: SqlValue[]): void {
  try {
    stmt.bind(params)
    stmt.step()
  } catch (e) {
    throw sqlError(e)
  } finally {
    stmt.reset()
  }
}

/** JSON.stringify of a row's key values (the repository's version key), without the array for a one-column key of text or a number. */
function keyJson(info: TableInfo, r: readonly SqlValue[]): string {
  if (info.keyIdx.length === 1) {
    const v = r[info.keyIdx[0]]
    if (typeof v === 'string' && !JSON_ESCAPE_RE.test(v)) return `["${v}"]`
    if (typeof v === 'number' && Number.isFinite(v)) return `[${v}]`
  }
  return JSON.stringify(info.keyIdx.map((i) => r[i] ?? null))
}

function sameKey(info: TableInfo, a: readonly SqlValue[], b: readonly SqlValue[]): boolean {
  for (const i of info.keyIdx) if (a[i] !== b[i]) return false
  return true
}

/**
 * The repository's version rule as one upsert: a key without a version takes the change; otherwise the
 * change wins if it is newer (origin commit time), or at the same time if it is the same origin's later
 * change, an insert over another origin's delete (a row moved between branches), or the same operation
 * from the greater origin (a deterministic tie-break). A delete from an origin that no longer holds the key
 * (another origin inserted it since: the row moved between branches in one 2PC transaction, whose parts
 * commit at the sites in either order) is stale and never wins. changes() = 1 ⇔ the change is to be applied.
 */
const VERSION_UPSERT = `INSERT INTO __ver (t, k, at, origin, op) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (t, k) DO UPDATE SET at = excluded.at, origin = excluded.origin, op = excluded.op
  WHERE (excluded.at > __ver.at OR (excluded.at = __ver.at AND (__ver.origin = excluded.origin
    OR (excluded.op = 'I' AND __ver.op = 'D') OR (excluded.op = __ver.op AND excluded.origin > __ver.origin))))
    AND NOT (excluded.op = 'D' AND __ver.op = 'I' AND __ver.origin <> excluded.origin)`

export class SiteDb {
  db: Database
  readonly tables = new Map<string, TableInfo>()
  private inTx = false
  private applyStmts = new Map<string, Stmt>()
  /** In-place UPDATE statements per table, by the bit mask of the columns they set. */
  private updateStmts = new Map<string, Map<number, Stmt>>()
  /** Prepared statements of the engine's hot paths (commit, replication, catalog); freed before export()/load(). */
  private cache = new Map<string, Stmt>()
  private reuse = new Map<string, Stmt>()
  private verReady = false

  /** Only a primary captures its changes (a backup or the repository just applies batches). */
  readonly capture: boolean
  /** Capture triggers are on (off during a bulk load). */
  private triggersOn = true
  /** Changes captured since the last drain, in execution order. */
  private captured: Change[] = []
  /** captured.length when the open transaction began (a rollback drops what came after). */
  private txMark = 0

  constructor(private SQL: SqlJsStatic, readonly site: string, readonly role: DbRole, bytes?: Uint8Array) {
    this.capture = role === 'primary'
    try {
      this.db = bytes ? new SQL.Database(bytes) : new SQL.Database()
      this.db.exec(PRAGMAS)
      this.db.exec('CREATE TABLE IF NOT EXISTS __meta (k TEXT PRIMARY KEY, v)')
      this.dropLegacyCapture()
      this.session()
    } catch (e) {
      throw new EngineError('CORRUPT_DATA', `${this.id}: not a valid SQLite database (${e instanceof Error ? e.message : String(e)})`, { site })
    }
  }

  get id(): string { return `${this.site}.${this.role}` }
  /** Times the connection was reopened (export/load): SQLite's total_changes() restarts from 0 then. */
  private reopened = 0
  /** Changes whenever the content may have changed (cheap; for caches such as browse bookmarks). */
  get contentVersion(): string { return `${this.reopened}:${Number(this.queryPrepared('SELECT total_changes()')[0][0])}` }
  get inTransaction(): boolean { return this.inTx }

  // ---- plain access ------------------------------------------------------------------------
  // Every statement runs through here: what a failing statement captured is dropped (SQLite undid it).
  query(sql: string, params?: Params): QueryResult {
    const mark = this.captured.length
    try { return queryDb(this.db, sql, params) } catch (e) { this.captured.length = mark; throw e }
  }
  run(sql: string, params?: Params): number {
    this.query(sql, params)
    return this.db.getRowsModified()
  }
  /** Several statements without parameters; returns the last result that had columns. */
  script(sql: string): QueryResult {
    let last: QueryResult = { columns: [], rows: [] }
    try {
      for (const stmt of this.db.iterateStatements(sql)) {
        const mark = this.captured.length
        try {
          const rows: SqlValue[][] = []
          while (stmt.step()) rows.push(stmt.get())
          const columns = stmt.getColumnNames()
          if (columns.length) last = { columns, rows }
        } catch (e) {
          this.captured.length = mark
          throw e
        } finally {
          stmt.free()
        }
      }
    } catch (e) {
      throw sqlError(e)
    }
    return last
  }
  scalar(sql: string, params?: Params): SqlValue { return this.query(sql, params).rows[0]?.[0] ?? null }
  count(table: string): number { return Number(this.scalar(`SELECT COUNT(*) FROM ${quoteId(table)}`)) }
  hasTable(name: string): boolean {
    return this.scalar("SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?", [name]) === 1
  }

  /** A cached prepared statement (engine-internal SQL only: the text is the cache key). */
  prepared(sql: string): Stmt {
    let s = this.cache.get(sql)
    if (!s) {
      try { s = this.db.prepare(sql) } catch (e) { throw sqlError(e) }
      this.cache.set(sql, s)
    }
    return s
  }
  /**
   * Runs one parameterized statement through a small LRU of prepared statements (callers such as the
   * DTM and DML repeat the same text with different parameters); same result as query().
   */
  queryReusable(sql: string, params: Params): QueryResult {
    let s = this.reuse.get(sql)
    if (s) this.reuse.delete(sql)
    else {
      try { s = this.db.prepare(sql) } catch (e) { throw sqlError(e) }
      if (this.reuse.size >= 64) { const [k, old] = this.reuse.entries().next().value!; this.reuse.delete(k); old.free() }
    }
    this.reuse.set(sql, s)
    const mark = this.captured.length
    try {
      s.bind(params as never)
      const rows: SqlValue[][] = []
      while (s.step()) rows.push(s.get())
      return { columns: s.getColumnNames(), rows }
    } catch (e) {
      this.captured.length = mark
      throw sqlError(e)
    } finally {
      s.reset()
    }
  }

  /** Runs a cached statement; returns its rows (engine-internal SQL). */
  queryPrepared(sql: string, params?: SqlValue[]): SqlValue[][] {
    const s = this.prepared(sql)
    const mark = this.captured.length
    try {
      if (params && params.length) s.bind(params)
      const rows: SqlValue[][] = []
      while (s.step()) rows.push(s.get())
      return rows
    } catch (e) {
      this.captured.length = mark
      throw sqlError(e)
    } finally {
      s.reset()
    }
  }
  /** Runs a cached write statement; returns the number of rows it changed. */
  runPrepared(sql: string, params?: SqlValue[]): number {
    this.queryPrepared(sql, params)
    return this.db.getRowsModified()
  }

  getMeta(k: string): SqlValue { return this.queryPrepared('SELECT v FROM __meta WHERE k = ?', [k])[0]?.[0] ?? null }
  getMetaNum(k: string, dflt = 0): number { const v = this.getMeta(k); return v === null ? dflt : Number(v) }
  setMeta(k: string, v: SqlValue): void { this.queryPrepared('INSERT OR REPLACE INTO __meta (k, v) VALUES (?, ?)', [k, v]) }

  // ---- transactions ------------------------------------------------------------------------
  begin(): void {
    if (this.inTx) throw new EngineError('INTERNAL', `${this.id}: nested transaction`)
    this.queryPrepared('BEGIN')
    this.inTx = true
    this.txMark = this.captured.length
  }
  commit(): void { this.queryPrepared('COMMIT'); this.inTx = false }
  rollback(): void {
    if (!this.inTx) return
    this.inTx = false
    this.captured.length = Math.min(this.captured.length, this.txMark)
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

  /**
   * Images written before capture moved to the connection's TEMP schema carry persistent triggers and a
   * __cdc table in the file: remove them (capture is re-created per connection by session()).
   */
  private dropLegacyCapture(): void {
    const old = this.db.exec("SELECT type, name FROM main.sqlite_master WHERE (type = 'trigger' AND substr(name, 1, 6) = '__cdc_') OR (type = 'table' AND name = '__cdc')")
    for (const [type, name] of old[0]?.values ?? []) this.db.exec(`DROP ${type === 'trigger' ? 'TRIGGER' : 'TABLE'} IF EXISTS main.${quoteId(String(name))}`)
  }

  /** Per-connection state (re-applied after export()/load()): settings, and for a primary the capture table and triggers. */
  private session(): void {
    this.db.exec(PRAGMAS)
    installGuard(this.SQL, this.db) // the DQP's statements call it (engine/query/guard.ts)
    if (!this.capture) return
    this.registeredArity.clear()
    if (this.triggersOn) for (const info of this.tables.values()) this.installTriggers(info)
  }

  /** Capture functions registered on this connection, by number of row columns. */
  private registeredArity = new Set<number>()
  /** __cdc<n>(table, op, c1..cn): called by the capture triggers with a row image. */
  private captureFunction(n: number): string {
    const name = `__cdc${n}`
    if (!this.registeredArity.has(n)) {
      const out = this.captured
      const fn = (t: SqlValue, op: SqlValue, ...r: SqlValue[]) => { out.push({ t: t as string, op: op as 'I' | 'D', r }) }
      // sql.js registers a function with fn.length arguments
      Object.defineProperty(fn, 'length', { value: n + 2 })
      this.db.create_function(name, fn)
      this.registeredArity.add(n)
    }
    return name
  }

  installTriggers(info: TableInfo): void {
    if (!this.capture || !this.triggersOn) return
    const q = quoteId(info.name)
    const f = this.captureFunction(info.columns.length)
    const t = info.name.replace(/'/g, "''")
    const img = (p: string, op: 'I' | 'D') => `SELECT ${f}('${t}', '${op}', ${info.columns.map((c) => `${p}.${quoteId(c)}`).join(', ')});`
    this.db.exec(`
      CREATE TEMP TRIGGER IF NOT EXISTS ${quoteId(`__cdc_i_${info.name}`)} AFTER INSERT ON ${q} BEGIN ${img('NEW', 'I')} END;
      CREATE TEMP TRIGGER IF NOT EXISTS ${quoteId(`__cdc_d_${info.name}`)} AFTER DELETE ON ${q} BEGIN ${img('OLD', 'D')} END;
      CREATE TEMP TRIGGER IF NOT EXISTS ${quoteId(`__cdc_u_${info.name}`)} AFTER UPDATE ON ${q} BEGIN ${img('OLD', 'D')} ${img('NEW', 'I')} END;`)
  }

  /** Capture off (bulk loads): nothing is captured until installAllTriggers(). */
  dropTriggers(): void {
    this.triggersOn = false
    if (!this.capture) return
    for (const info of this.tables.values()) {
      for (const k of ['i', 'd', 'u']) this.db.exec(`DROP TRIGGER IF EXISTS temp.${quoteId(`__cdc_${k}_${info.name}`)}`)
    }
  }

  installAllTriggers(): void {
    this.triggersOn = true
    for (const info of this.tables.values()) this.installTriggers(info)
  }

  /** Drains the captured changes of the current transaction. */
  drainChanges(): Change[] {
    if (!this.captured.length) return []
    const out = this.captured.splice(0)
    this.txMark = 0
    return out
  }

  /** Discards the captured changes of the current transaction; returns how many there were. */
  discardChanges(): number {
    const n = this.captured.length
    this.captured.length = 0
    this.txMark = 0
    return n
  }

  /**
   * Applies a change batch (idempotent: I = upsert of the full row, D = delete by key). Tables must be
   * tracked here; the triggers capture the effect again so the caller can fold it into the catalog.
   */
  applyChanges(changes: readonly Change[]): void {
    for (let n = 0; n < changes.length; n++) {
      const c = changes[n]
      const info = this.tables.get(c.t)
      if (!info) throw new EngineError('INTERNAL', `${this.id}: change for untracked table ${c.t}`, { site: this.site })
      const nx = changes[n + 1]
      if (c.op === 'D' && nx && nx.op === 'I' && nx.t === c.t && sameKey(info, c.r, nx.r)) {
        // an update's old image (D) directly followed by its new image (I) under the same key: set the changed
        // columns in place (no index churn for the others); where the row is missing, the upsert below adds it
        if (this.updateInPlace(info, c.r, nx.r)) n++
        continue
      }
      this.runChange(info, c.op === 'I' ? 'I' : 'D', c.op === 'I' ? c.r : info.keyIdx.map((i) => c.r[i]))
    }
  }

  /** UPDATE of the columns that differ between two images of one key; false if the row is not there. */
  private updateInPlace(info: TableInfo, before: readonly SqlValue[], after: readonly SqlValue[]): boolean {
    // the changed non-key columns as a bit mask (tables have far fewer than 31 columns)
    let mask = 0, keys = 0
    for (const i of info.keyIdx) keys |= 1 << i
    for (let i = 0; i < info.columns.length && i < 31; i++) if (before[i] !== after[i]) mask |= 1 << i
    mask &= ~keys
    if (!mask || info.columns.length > 31) return false
    let perTable = this.updateStmts.get(info.name)
    if (!perTable) { perTable = new Map(); this.updateStmts.set(info.name, perTable) }
    let stmt = perTable.get(mask)
    const idx: number[] = []
    for (let i = 0; i < info.columns.length; i++) if (mask & (1 << i)) idx.push(i)
    if (!stmt) {
      stmt = this.db.prepare(`UPDATE ${quoteId(info.name)} SET ${idx.map((i) => `${quoteId(info.columns[i])} = ?`).join(', ')} WHERE ${info.key.map((c) => `${quoteId(c)} = ?`).join(' AND ')}`)
      perTable.set(mask, stmt)
    }
    const params: SqlValue[] = []
    for (const i of idx) params.push(after[i])
    for (const i of info.keyIdx) params.push(after[i])
    stepOnce(stmt, params)
    return this.db.getRowsModified() === 1
  }

  private runChange(info: TableInfo, op: 'I' | 'D', params: SqlValue[]): void {
    stepOnce(this.stmtFor(info, op), params)
  }

  /**
   * Applies another site's change batch where changes from several origins meet (the main repository):
   * each key remembers the version (origin commit time, origin, op) of the last change applied to it in
   * __ver, and a change older than that is skipped, so batches from different sites may arrive in any
   * order. A row moved KDY→CMB (delete at KDY, insert at CMB, one distributed transaction) survives
   * even when the KDY delete arrives after the CMB insert. Strict 2PL makes commit times increase along
   * conflicting transactions; at equal times an insert beats another origin's delete (a move), and one
   * origin's own changes apply in their order. Keys never changed by replication carry no version.
   */
  applyVersioned(changes: readonly Change[], origin: string, at: number): void {
    if (!this.verReady) {
      this.db.exec('CREATE TABLE IF NOT EXISTS __ver (t TEXT NOT NULL, k TEXT NOT NULL, at INTEGER NOT NULL, origin TEXT NOT NULL, op TEXT NOT NULL, PRIMARY KEY (t, k)) WITHOUT ROWID')
      this.verReady = true
    }
    const keep: Change[] = []
    for (let n = 0; n < changes.length; n++) {
      const c = changes[n]
      const info = this.tables.get(c.t)
      if (!info) throw new EngineError('INTERNAL', `${this.id}: change for untracked table ${c.t}`, { site: this.site })
      const k = keyJson(info, c.r)
      // an update's old and new images (D then I, same key) are one change of that key
      const nx = changes[n + 1]
      const pair = c.op === 'D' && nx && nx.op === 'I' && nx.t === c.t && info.keyIdx.every((i) => nx.r[i] === c.r[i])
      const op = pair ? 'I' : c.op
      if (pair) n++
      // one statement records the key's new version only if this change is newer than the one it holds
      if (!this.runPrepared(VERSION_UPSERT, [c.t, k, at, origin, op])) continue
      if (pair) keep.push(c, nx)
      else keep.push(c)
    }
    this.applyChanges(keep)
  }

  /** Forgets the per-key versions (the content became a new baseline). */
  clearVersions(): void {
    this.freeStmts() // a cached statement on __ver would keep the dropped table's schema
    this.db.exec('DROP TABLE IF EXISTS __ver')
    this.verReady = false
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
    for (const m of this.updateStmts.values()) for (const s of m.values()) s.free()
    this.updateStmts.clear()
    for (const s of this.cache.values()) s.free()
    this.cache.clear()
    for (const s of this.reuse.values()) s.free()
    this.reuse.clear()
  }

  // ---- bytes -------------------------------------------------------------------------------
  /** A consistent byte image (standard SQLite file). export() closes/reopens: re-apply PRAGMAs. */
  export(): Uint8Array {
    if (this.inTx) throw new EngineError('INTERNAL', `${this.id}: export inside a transaction`)
    this.reopened++
    this.freeStmts()
    const bytes = this.db.export()
    this.session()
    return bytes
  }

  /** Replaces the whole content with a byte image (restore from backup / repository). */
  load(bytes: Uint8Array): void {
    this.reopened++
    this.freeStmts()
    this.db.close()
    this.db = new this.SQL.Database(bytes)
    this.verReady = false
    this.captured.length = 0 // a new connection: nothing captured on the old one carries over
    this.txMark = 0
    this.dropLegacyCapture()
    this.session()
    this.inTx = false
  }

  close(): void {
    this.freeStmts()
    this.db.close()
  }
}
