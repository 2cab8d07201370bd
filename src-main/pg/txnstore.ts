/**
 * The DTM's TxnStore (engine/txn/store.ts) over a live PostgreSQL site, through the synchronous bridge
 * (syncbridge.ts): committed rows are read from the server, after-images applied there in one transaction,
 * and two-phase commit runs at the server itself — PREPARE TRANSACTION makes the after-images durable with
 * their locks held and survives a crash of the server; COMMIT PREPARED / ROLLBACK PREPARED finish it, from
 * any session, after a restart too.
 *
 * The store owns its bridge connection's session: nothing else may run statements on that connection
 * (apply and prepare open and close transactions on it).
 *
 * Tables are those of one schema (`public`, where `iddb pg up` loads the design). A table's columns, their
 * types and its primary key are read once, from information_schema and pg_index, when the table is first
 * used; a table created after the store opened is found on its first use. Rows are keyed by upper-case
 * column names, as the DTM expects (the embedded store does the same); the server's names keep their case
 * in the SQL sent (`"Stock_KDY"."QTY"`).
 *
 * Knowing a transaction was committed. PostgreSQL forgets a prepared transaction once it is committed, so a
 * repeated COMMIT PREPARED (a coordinator that recovers and sends its decision again) cannot tell "committed
 * before" from "rolled back before". The store therefore inserts, inside every prepared transaction, a row
 * for its gid into `iddb_2pc.committed`: the row exists exactly when that transaction committed. Rows older
 * than a week are removed when a store opens. The same schema holds the function a prepare calls first to
 * refuse a gid used before. The schema is not `public`: catalogs, checksums and backups of the design's tables
 * do not see it.
 *
 * Round trips. The DTM calls each site's store synchronously, so every statement is a wait. A transaction the
 * store runs (apply: BEGIN … COMMIT; prepare: BEGIN, the gid check, the after-images, the marker, PREPARE
 * TRANSACTION) goes to the server as one text, the values written as literals the server reads exactly as
 * the client's parameters; only values that are not plain (dates, buffers, arrays, objects) make it go one
 * statement at a time with parameters.
 *
 * PostgreSQL's gids are per server (cluster), not per database: two stores on one server (a site's database
 * and the main repository) must not prepare the same gid.
 */
import { EngineError } from '../../engine/errors'
import type { TxnWrite } from '../../engine/txn/log'
import type { ColInfo, ColKind } from '../../engine/txn/stmt'
import type { PreparedOutcome, Row, TxnStore } from '../../engine/txn/store'
import { SyncPgError, type SyncPg } from './syncbridge'

const q = (n: string) => `"${n.replace(/"/g, '""')}"`
const MARKERS = 'iddb_2pc.committed'
/** Reads sent ahead (readAhead) a store keeps at most. */
const READS_AHEAD = 64
const KEEP_MARKERS = "interval '7 days'"

export interface PgTxnStoreOptions {
  bridge: SyncPg
  /** The bridge connection (site) this store uses; the store owns its session. */
  conn: string
  /** Schema holding the site's tables: `public` unless given. */
  schema?: string
  /** Replica control: why a table takes no write at this site (a read-only replica, a copy); undefined: it does. */
  writeRefusal?: (table: string) => string | undefined
}

interface TableMeta {
  name: string
  /** Columns in table order, their upper-case names and types. */
  columns: string[]
  upper: string[]
  byUpper: Map<string, string>
  cols: ColInfo[]
  /** Each column's type without its modifier (format_type), for the casts of a value given as a literal. */
  types: Map<string, string>
  key: string[]
  /** The key column's kind: a key that cannot be one of its values finds no row. */
  keyKind: ColKind
  qname: string
}

/** PostgreSQL's data_type → the DTM's column kind (statement checks): anything else is not checked. */
function kindOf(dataType: string): ColKind {
  if (/^(bigint|integer|smallint)$/.test(dataType)) return 'INTEGER'
  if (/^(double precision|real|numeric)$/.test(dataType)) return 'REAL'
  if (/^(text|character varying|character)$/.test(dataType)) return 'TEXT'
  return 'ANY'
}

/**
 * The gid check at the head of a one-text prepare, a function kept in the schema beside the markers (a DO
 * block would be compiled again for every prepare: half a millisecond here): refuses a gid prepared in this
 * database or committed here, before any write could wait for the locks of a transaction prepared under it.
 */
const GID_CHECK = 'iddb_2pc.refuse_used_gid'
const GID_CHECK_DDL = `CREATE OR REPLACE FUNCTION ${GID_CHECK}(g text) RETURNS void LANGUAGE plpgsql AS $f$BEGIN
  IF EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = g AND database = current_database()) THEN RAISE EXCEPTION 'iddb-2pc: already prepared'; END IF;
  IF EXISTS (SELECT 1 FROM ${MARKERS} WHERE gid = g) THEN RAISE EXCEPTION 'iddb-2pc: already committed'; END IF;
END$f$`

/**
 * A value as a literal that the server reads exactly as it reads the `pg` client's parameter for it (text of
 * unknown type, typed by where it goes): null; a number, bigint or boolean as its text; a string quoted (E''
 * with doubled backslashes when it has any, as the client's escapeLiteral does). Undefined for anything else
 * (dates, buffers, arrays, objects: the client converts those itself) and for a string holding NUL (the
 * protocol ends a query text there): those go as parameters.
 */
export function literal(v: unknown): string | undefined {
  if (v === null || v === undefined) return 'NULL'
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `'${String(v)}'`
  if (typeof v !== 'string' || v.includes('\0')) return undefined
  const body = v.replace(/'/g, "''")
  return v.includes('\\') ? ` E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`
}

/** A gid PREPARE TRANSACTION takes as a literal: printable ASCII without quote or backslash, under 200 bytes. */
function checkGid(gid: string): string {
  if (typeof gid !== 'string' || !/^[\x20-\x7e]{1,199}$/.test(gid) || /['\\]/.test(gid)) {
    throw new EngineError('BAD_INPUT', `gid ${JSON.stringify(gid)} is not usable as a PostgreSQL transaction id (1–199 printable ASCII characters, no quote or backslash)`)
  }
  return `'${gid}'`
}

export class PgTxnStore implements TxnStore {
  readonly conn: string
  private bridge: SyncPg
  private schema: string
  private writeRefusal?: (table: string) => string | undefined
  private names = new Map<string, string>()
  private byUpper = new Map<string, string>()
  private meta = new Map<string, TableMeta>()
  private markers = false
  /** Statements run (tests and the benchmarks count round trips), and the wall time spent waiting for their answers. */
  statements = 0
  serverMs = 0
  /** Statements sent ahead (prepareAhead / commitAhead) and not yet claimed, by gid. */
  private readonly aheadOf = new Map<string, { kind: 'prepare' | 'commit'; text: string; ticket: number }>()
  /** Reads sent ahead (readAhead) by table and key: the ticket, and how many writes the store had sent before it. */
  private readonly readsAhead = new Map<string, { ticket: number; writes: number }>()
  /** Statements sent that may change the rows a read sees (applies, prepares, commits, rollbacks): a read sent before the last one is stale. */
  private writes = 0

  constructor(o: PgTxnStoreOptions) {
    this.bridge = o.bridge
    this.conn = o.conn
    this.schema = o.schema ?? 'public'
    this.writeRefusal = o.writeRefusal
    this.loadNames()
    // old commit markers go (their transactions' coordinators have long finished)
    const there = this.run(`SELECT to_regclass('${MARKERS}') IS NOT NULL AS x, to_regprocedure('${GID_CHECK}(text)') IS NOT NULL AS f`).rows[0]
    if (there.x) this.run(`DELETE FROM ${MARKERS} WHERE at < now() - ${KEEP_MARKERS}`)
    this.markers = there.x === true && there.f === true
  }

  private run(sql: string, params: readonly unknown[] = []) {
    this.statements++
    const t0 = performance.now()
    try { return this.bridge.query(this.conn, sql, params) } finally { this.serverMs += performance.now() - t0 }
  }

  private loadNames(): void {
    const r = this.run("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1", [this.schema])
    this.names.clear()
    this.byUpper.clear()
    for (const { t } of r.rows as { t: string }[]) {
      this.names.set(t, t)
      if (!this.byUpper.has(t.toUpperCase())) this.byUpper.set(t.toUpperCase(), t)
    }
  }

  resolveTable(table: string): string {
    const find = () => this.names.get(table) ?? this.byUpper.get(String(table).toUpperCase())
    let n = find()
    if (!n) { this.loadNames(); n = find() } // created since the store opened?
    if (!n) throw new EngineError('UNKNOWN_TABLE', `no table ${table} at ${this.conn} (schema ${this.schema})`, { site: this.conn })
    return n
  }

  private t(table: string): TableMeta {
    const name = this.resolveTable(table)
    const hit = this.meta.get(name)
    if (hit) return hit
    const cols = this.run(`SELECT c.column_name AS c, c.data_type AS d, format_type(a.atttypid, NULL) AS t FROM information_schema.columns c
      JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass AND a.attname = c.column_name
      WHERE c.table_schema = $1 AND c.table_name = $2 ORDER BY c.ordinal_position`, [this.schema, name]).rows as { c: string; d: string; t: string }[]
    const key = (this.run(`SELECT a.attname AS k FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`, [this.schema, name]).rows as { k: string }[]).map((r) => r.k)
    const byUpper = new Map<string, string>()
    for (const { c } of cols) {
      if (byUpper.has(c.toUpperCase())) throw new EngineError('UNSUPPORTED', `${name} at ${this.conn} has columns ${byUpper.get(c.toUpperCase())} and ${c}, which differ only in case`, { site: this.conn })
      byUpper.set(c.toUpperCase(), c)
    }
    const m: TableMeta = {
      name, columns: cols.map((c) => c.c), upper: cols.map((c) => c.c.toUpperCase()), byUpper,
      cols: cols.map((c) => ({ name: c.c.toUpperCase(), type: kindOf(c.d) })), types: new Map(cols.map((c) => [c.c, c.t])), key,
      keyKind: key.length === 1 ? kindOf(cols.find((c) => c.c === key[0])?.d ?? '') : 'ANY',
      qname: `${q(this.schema)}.${q(name)}`,
    }
    this.meta.set(name, m)
    return m
  }

  /** Row-level locking needs a one-column key; other tables are locked as a whole (''). */
  keyColumn(table: string): string {
    const m = this.t(table)
    return m.key.length === 1 ? m.key[0].toUpperCase() : ''
  }

  checkWrite(table: string): void {
    const why = this.writeRefusal?.(this.resolveTable(table))
    if (why) throw new EngineError('UNSUPPORTED', why, { site: this.conn })
  }

  columns(table: string): ColInfo[] { return this.t(table).cols }

  private keyed(m: TableMeta): string {
    if (m.key.length !== 1) throw new EngineError('UNSUPPORTED', `${m.name} at ${this.conn} has no one-column primary key: the store reads and writes its rows by key`, { site: this.conn })
    return m.key[0]
  }

  private upperRow(m: TableMeta, r: Row): Row {
    const out: Row = {}
    for (let i = 0; i < m.columns.length; i++) out[m.upper[i]] = r[m.columns[i]]
    return out
  }

  private select(m: TableMeta): string { return `SELECT ${m.columns.map(q).join(', ')} FROM ${m.qname}` }

  /** A key that is not a value of the key column's type matches no row (as in the embedded store), not an error. */
  private keyFits(m: TableMeta, key: string): boolean {
    if (m.keyKind === 'INTEGER') return /^[+-]?\d+$/.test(key)
    if (m.keyKind === 'REAL') return Number.isFinite(Number(key))
    return true
  }

  get(table: string, key: string): Row | undefined {
    const m = this.t(table)
    const k = this.keyed(m)
    if (!this.keyFits(m, key)) return undefined
    const ahead = this.readsAhead.get(`${m.name}\0${key}`)
    if (ahead) {
      this.readsAhead.delete(`${m.name}\0${key}`)
      if (ahead.writes === this.writes) {
        const t0 = performance.now()
        try {
          const r = this.bridge.collect(ahead.ticket).rows[0]
          return r ? this.upperRow(m, r) : undefined
        } catch { /* read again below: that read's error, if any, is the one to report */ } finally { this.serverMs += performance.now() - t0 }
      } else this.drain(ahead.ticket)
    }
    const r = this.run(`${this.select(m)} WHERE ${q(k)} = $1`, [key]).rows[0]
    return r ? this.upperRow(m, r) : undefined
  }

  /**
   * The rows of `keys` read at once, not waited for: get() takes the answer if nothing was written through the
   * store in between (a write sent after the read may have changed what it saw: then get() reads again). A read
   * runs on the store's connection in order, so what it sees is what a get() at that point would have seen;
   * what another session commits meanwhile it may miss, as a get() may miss what is committed after it.
   * At most READS_AHEAD are kept; one that is stale or not taken is collected and dropped.
   */
  readAhead(table: string, keys: readonly string[]): void {
    let m: TableMeta, k: string
    try { m = this.t(table); k = this.keyed(m) } catch { return } // said by get()
    this.dropStaleReads()
    for (const key of keys) {
      const id = `${m.name}\0${key}`
      if (this.readsAhead.has(id) || !this.keyFits(m, key)) continue
      if (this.readsAhead.size >= READS_AHEAD) break
      this.statements++
      this.readsAhead.set(id, { ticket: this.bridge.submit(this.conn, `${this.select(m)} WHERE ${q(k)} = $1`, [key]), writes: this.writes })
    }
  }

  private drain(ticket: number): void {
    const t0 = performance.now()
    try { this.bridge.collect(ticket) } catch { /* a read: nothing of it to undo */ } finally { this.serverMs += performance.now() - t0 }
  }

  private dropStaleReads(): void {
    for (const [id, a] of this.readsAhead) if (a.writes !== this.writes) { this.readsAhead.delete(id); this.drain(a.ticket) }
  }

  scan(table: string): Row[] {
    const m = this.t(table)
    const order = m.key.length ? ` ORDER BY ${m.key.map(q).join(', ')}` : ''
    return this.run(`${this.select(m)}${order}`).rows.map((r) => this.upperRow(m, r))
  }

  /**
   * One after-image as a statement: a delete by key; an UPDATE's image (`cols`) sets its changed columns in
   * place and writes the whole row only if the row is not there any more; any other image upserts the whole
   * row. Each is idempotent, so redoing them is safe. `v` renders a value (a parameter, or a literal); a column
   * the table does not have is refused here, before anything is sent.
   */
  private writeSql(w: TxnWrite, v: (x: unknown, cast?: string) => string): string {
    const m = this.t(w.table)
    const k = this.keyed(m)
    const row = w.row
    if (!row) return `DELETE FROM ${m.qname} WHERE ${q(k)} = ${v(w.key)}`
    const colOf = (c: string) => {
      const n = m.byUpper.get(c.toUpperCase())
      if (!n) throw new EngineError('SQL_ERROR', `${m.name} at ${this.conn} has no column ${c}`, { site: this.conn })
      return n
    }
    const val = (c: string) => { const x = row[c.toUpperCase()] ?? row[c]; return x === undefined ? null : x }
    const set = w.cols?.length ? [...new Set(w.cols.map(colOf))].filter((c) => c !== k) : []
    const cols = [...new Set(Object.keys(row).map(colOf))]
    if (!cols.includes(k)) cols.push(k)
    const rest = cols.filter((c) => c !== k)
    const onConflict = `ON CONFLICT (${q(k)}) ${rest.length ? `DO UPDATE SET ${rest.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}` : 'DO NOTHING'}`
    const whole = (c: string) => (c === k && val(c) === null ? w.key : val(c))
    const names = cols.map(q).join(', ')
    if (!set.length) return `INSERT INTO ${m.qname} (${names}) VALUES (${cols.map((c) => v(whole(c))).join(', ')}) ${onConflict}`
    // a SELECT list gives its values no type from the columns they go to: cast to each column's type
    return `WITH u AS (UPDATE ${m.qname} SET ${set.map((c) => `${q(c)} = ${v(val(c))}`).join(', ')} WHERE ${q(k)} = ${v(w.key)} RETURNING 1) `
      + `INSERT INTO ${m.qname} (${names}) SELECT ${cols.map((c) => v(whole(c), m.types.get(c))).join(', ')} WHERE NOT EXISTS (SELECT 1 FROM u) ${onConflict}`
  }

  /** The after-images as statements with parameters, run one by one on the open transaction. */
  private write(writes: readonly TxnWrite[]): void {
    const stmts = writes.map((w) => {
      const params: unknown[] = []
      const sql = this.writeSql(w, (x, cast) => { params.push(x); return cast ? `$${params.length}::${cast}` : `$${params.length}` })
      return { sql, params }
    })
    for (const st of stmts) this.run(st.sql, st.params)
  }

  /**
   * The after-images as one text, their values written as literals, to be sent with the statements around
   * them in one round trip; undefined when a value is not one a literal says exactly as a parameter does (the
   * caller sends the statements one by one then).
   */
  private inlined(writes: readonly TxnWrite[]): string | undefined {
    const out: string[] = []
    for (const w of writes) {
      let plain = true
      const sql = this.writeSql(w, (x, cast) => {
        const l = literal(x)
        if (l === undefined) { plain = false; return 'NULL' }
        return cast && l !== 'NULL' ? `${l}::${cast}` : cast ? `NULL::${cast}` : l
      })
      if (!plain) return undefined
      out.push(sql)
    }
    return out.join('; ')
  }

  /** Runs fn inside BEGIN … and ends the transaction with `end` (COMMIT, PREPARE TRANSACTION); on failure rolls back and rethrows. */
  private inTransaction(fn: () => void, end: string): void {
    this.run('BEGIN')
    try {
      fn()
      this.run(end)
    } catch (e) {
      try { this.run('ROLLBACK') } catch { /* the session is gone: the server rolled it back */ }
      throw e
    }
  }

  /**
   * One text holding a whole transaction (`BEGIN; …; COMMIT` or `…; PREPARE TRANSACTION`), one round trip. The
   * server stops at the first statement that fails, leaving the transaction open and failed: it is rolled back.
   */
  private batch(sql: string): void {
    try {
      this.run(sql)
    } catch (e) {
      try { this.run('ROLLBACK') } catch { /* the session is gone: the server rolled it back */ }
      throw e
    }
  }

  apply(writes: readonly TxnWrite[]): void {
    if (!writes.length) return
    this.applyWith(writes, undefined)
  }

  /** The after-images and `also` (plain statements) in one server transaction, committed; `first` runs before the after-images. */
  applyWith(writes: readonly TxnWrite[], also: string | undefined, first?: string): void {
    this.writes++
    const text = this.inlined(writes)
    if (text !== undefined) this.batch(`BEGIN; ${[first, text, also].filter(Boolean).join('; ')}; COMMIT`)
    else this.inTransaction(() => { if (first) this.run(first); this.write(writes); if (also) this.run(also) }, 'COMMIT')
  }

  /** The schema iddb_2pc: the commit markers and the gid check a prepare calls. */
  private ensureMarkers(): void {
    if (this.markers) return
    for (let attempt = 0; ; attempt++) {
      try {
        this.run(`CREATE SCHEMA IF NOT EXISTS iddb_2pc; CREATE TABLE IF NOT EXISTS ${MARKERS} (gid text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now()); ${GID_CHECK_DDL}`)
        break
      } catch (e) {
        // another session created them at the same moment (the text is one transaction: nothing of it stayed): again
        if (attempt < 2 && e instanceof SyncPgError && ['23505', '42P07', '42P06', 'XX000'].includes(e.sqlstate ?? '')) continue
        throw e
      }
    }
    this.markers = true
  }

  /** Whether `gid` is prepared in this database, and whether a transaction of that gid committed here. */
  private state(gid: string): { prepared: boolean; committed: boolean } {
    this.ensureMarkers()
    const r = this.run(`SELECT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database()) AS p,
      EXISTS (SELECT 1 FROM ${MARKERS} WHERE gid = $1) AS c`, [gid]).rows[0]
    return { prepared: r.p === true, committed: r.c === true }
  }

  /** The whole prepare of `gid` as one text (BEGIN … PREPARE TRANSACTION); undefined when a value must go as a parameter. */
  private prepareText(gid: string, writes: readonly TxnWrite[]): string | undefined {
    const lit = checkGid(gid)
    const text = this.inlined(writes)
    if (text === undefined) return undefined
    return `BEGIN; SELECT ${GID_CHECK}(${lit}); ${text ? `${text}; ` : ''}INSERT INTO ${MARKERS} (gid) VALUES (${lit}); PREPARE TRANSACTION ${lit}`
  }

  /**
   * prepare() sent ahead: the same one text, not waited for (a failure part-way is rolled back by the bridge before
   * the connection's next statement). Only for plain values (the one-text form); the claim compares the text.
   */
  prepareAhead(gid: string, writes: readonly TxnWrite[]): void {
    if (this.aheadOf.has(gid)) return
    this.ensureMarkers()
    let text: string | undefined
    try { text = this.prepareText(gid, writes) } catch { return } // refused when prepare() is called: said there
    if (text === undefined) return
    this.statements++
    this.writes++
    this.aheadOf.set(gid, { kind: 'prepare', text, ticket: this.bridge.submit(this.conn, text, [], { rollbackOnError: true }) })
  }

  commitAhead(gid: string): void {
    if (this.aheadOf.has(gid)) return
    const lit = checkGid(gid)
    this.statements++
    this.writes++
    this.aheadOf.set(gid, { kind: 'commit', text: `COMMIT PREPARED ${lit}`, ticket: this.bridge.submit(this.conn, `COMMIT PREPARED ${lit}`) })
  }

  /** Waits for what was sent ahead of `kind` for `gid`; false when nothing was. Throws what the statement threw. */
  private claim(gid: string, kind: 'prepare' | 'commit'): boolean {
    const a = this.aheadOf.get(gid)
    if (!a || a.kind !== kind) return false
    this.aheadOf.delete(gid)
    const t0 = performance.now()
    try { this.bridge.collect(a.ticket) } finally { this.serverMs += performance.now() - t0 }
    return true
  }

  /**
   * A prepare sent ahead is waited for and rolled back (ROLLBACK PREPARED: whether it went through or not — a
   * connection lost on the way leaves that unknown); throws when the server cannot be reached for the rollback (the
   * caller tries again). A COMMIT PREPARED sent ahead carried out a durable decision: it is waited for and stays.
   */
  dropAhead(gid: string): void {
    const a = this.aheadOf.get(gid)
    if (!a) return
    try { this.claim(gid, a.kind) } catch { /* what it left is found by the rollback */ }
    if (a.kind === 'prepare') this.finish(gid, 'ROLLBACK')
  }

  /**
   * BEGIN, the gid check, the after-images, this gid's commit marker, PREPARE TRANSACTION. With plain values all
   * of it is one text (one round trip), or what prepareAhead sent of it; otherwise the same steps one statement at a time.
   */
  prepare(gid: string, writes: readonly TxnWrite[]): void {
    const lit = checkGid(gid)
    this.ensureMarkers()
    this.writes++
    const text = this.prepareText(gid, writes)
    try {
      const ahead = this.aheadOf.get(gid)
      if (ahead?.kind === 'prepare' && ahead.text !== text) this.dropAhead(gid) // not what is asked now: undone, then done as asked
      if (this.claim(gid, 'prepare')) return
      if (text !== undefined) {
        this.batch(text)
        return
      }
      const st = this.state(gid)
      if (st.prepared || st.committed) throw new EngineError('CONFLICT', `${gid} is already ${st.prepared ? 'prepared' : 'committed'} at ${this.conn}: a gid is prepared once`, { site: this.conn })
      this.inTransaction(() => {
        this.write(writes)
        this.run(`INSERT INTO ${MARKERS} (gid) VALUES ($1)`, [gid])
      }, `PREPARE TRANSACTION ${lit}`)
    } catch (e) {
      if (e instanceof SyncPgError && e.sqlstate === 'P0001') {
        const st = /iddb-2pc: already (prepared|committed)/.exec(e.message)?.[1]
        if (st) throw new EngineError('CONFLICT', `${gid} is already ${st} at ${this.conn}: a gid is prepared once`, { site: this.conn })
      }
      // the gid is prepared in another database of the same server (gids are per server)
      if (e instanceof SyncPgError && e.sqlstate === '42710') throw new EngineError('CONFLICT', `${gid} is already in use at ${this.conn}'s server (another database): a gid is prepared once`, { site: this.conn })
      if (e instanceof SyncPgError && e.sqlstate === '55000' && /prepared transactions are disabled/.test(e.message)) {
        throw new EngineError('UNSUPPORTED', `${this.conn}: the server does not allow two-phase commit (set max_prepared_transactions above 0 and restart it)`, { site: this.conn })
      }
      throw e
    }
  }

  /** COMMIT / ROLLBACK PREPARED; PostgreSQL's "does not exist" is answered from the commit marker. */
  private finish(gid: string, verb: 'COMMIT' | 'ROLLBACK'): PreparedOutcome {
    const lit = checkGid(gid)
    this.writes++
    try {
      if (verb === 'COMMIT' && this.claim(gid, 'commit')) return 'committed'
      // anything else sent ahead for it ends first (a ROLLBACK of a prepare sent ahead finds it prepared)
      if (this.aheadOf.has(gid)) try { this.claim(gid, this.aheadOf.get(gid)!.kind) } catch { /* its outcome is read below */ }
      this.run(`${verb} PREPARED ${lit}`)
      return verb === 'COMMIT' ? 'committed' : 'rolled-back'
    } catch (e) {
      if (!(e instanceof SyncPgError && e.sqlstate === '42704')) throw e
    }
    return this.state(gid).committed ? 'already-committed' : 'absent'
  }

  commitPrepared(gid: string): PreparedOutcome { return this.finish(gid, 'COMMIT') }
  rollbackPrepared(gid: string): PreparedOutcome { return this.finish(gid, 'ROLLBACK') }

  prepared(): string[] {
    return (this.run('SELECT gid FROM pg_prepared_xacts WHERE database = current_database() ORDER BY prepared, gid').rows as { gid: string }[]).map((r) => r.gid)
  }
}
