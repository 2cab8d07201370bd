/**
 * A site's database servers and the public SITE API the other layers (DQP, DTM, tickets, CLI, IPC) use.
 *
 *   const store = cluster.siteStore('CMB')        // SiteStore for the site's primary database server
 *   store.query(sql, params?)      → { columns, rows }            read (SELECT / PRAGMA / EXPLAIN; anything else takes the write path)
 *   store.exec(sql, params?)       → { columns, rows, changes }   any statement; writes auto-commit durably
 *   store.withTransaction(tx => {  tx.exec(...); tx.query(...) }) → the function's result; atomic; must be synchronous
 *   store.count(table), store.tables(), store.isUp(), store.seq   (last committed local sequence number)
 *   store.backup.query(...) / store.repository?.query(...)        read-only access to the backup / main repository (CMB)
 *
 * Every call throws EngineError SITE_DOWN when the server it needs is down. A write is acknowledged
 * (the call returns) only after its change batch is in the site's durable log (persistent clusters).
 * After commit the batch is shipped through the network model to the site's backup (LAN), to the main
 * repository at Colombo (WAN), and to replicas (ITEMS everywhere; Stock_CMB → Stocks_CMB_FRG at MBI).
 */
import type { SqlJsStatic } from 'sql.js'
import { SiteDb, changesLength, type Change } from './db'
import type { SqlValue } from './sqljs'
import type { Params, QueryResult } from './sqljs'
import { EngineError } from '../errors'
import { LocalCatalog, installCatalogs, localTables, type LocalTable } from '../catalog/catalog'
import { createTableSql, fragments } from '../data/schema'
import type { SiteCode, TopologySpec } from '../topology/types'
import type { DurableLog } from '../storage/files'
import { globalRelations } from '../data/schema'
import { quoteId } from './sqljs'
import { localWriteRefusal } from './replication'
import { ROLES_COLUMNS, ROLES_DDL, ROLES_KEY, ROLES_TABLE, USERS_COLUMNS, USERS_DDL, USERS_KEY, USERS_TABLE } from '../security/schema'

export interface ExecResult extends QueryResult { changes: number }
export interface LogBody { at: number; c: Change[]; ddl?: string[] }

/** What a site needs from the cluster around it. */
export interface SiteHost {
  /** The site's own clock (the virtual clock plus the site's skew, engine/cluster/nemesis.ts). */
  now(site?: SiteCode): number
  isServerUp(id: string): boolean
  /** Called after a local commit is durable (seq assigned), to ship it. */
  committed(site: SiteCode, seq: number, body: LogBody, bytes: number): void
  /** Called when this site's fragment row counts changed (global catalog sync). */
  catalogChanged(site: SiteCode): void
  /** Called inside an open local transaction with its captured changes, before it is logged: throwing refuses the commit (engine/integrity). */
  beforeCommit?(site: SiteCode, changes: readonly Change[]): void
  /** Why a server refuses service although it was not failed (a damaged log waiting for a restore). */
  problem?(id: string): string | undefined
  /** Called on every access to a server's database before it is served: a damaged medium is found here (media failure). */
  access?(id: string): void
}

export interface TxScope {
  exec(sql: string, params?: Params): ExecResult
  query(sql: string, params?: Params): QueryResult
  /** Engine-internal DML with positional parameters through a cached prepared statement; returns the rows changed. */
  run(sql: string, params: SqlValue[]): number
}

/** Statements that cannot change tracked tables (WITH … may be a DML statement: it takes the write path). */
const READ_RE = /^\s*(SELECT|PRAGMA|EXPLAIN|VALUES)\b/i
const DDL_RE = /^\s*(CREATE|DROP|ALTER)\b/i
const TEMP_RE = /^\s*CREATE\s+(TEMP|TEMPORARY)\b/i

/** Repository tables at Colombo: the global relations. */
export function repositoryTables(topo: TopologySpec): { name: string; columns: string[]; key: string[]; sql: string }[] {
  return globalRelations(topo).map((r) => ({ name: r.name, columns: r.columns.map((c) => c.name), key: r.key, sql: createTableSql(r.name, r) }))
}

/** SITE_DOWN for a failed server; CORRUPT_DATA with the reason for one that waits for a restore. */
function downError(site: Site, id: string): EngineError {
  const why = site.host.problem?.(id)
  return why ? new EngineError('CORRUPT_DATA', why, { site: site.code }) : new EngineError('SITE_DOWN', `${id} is down`, { site: site.code })
}

export class ReadOnlyDb {
  constructor(protected site: Site, readonly db: SiteDb, private serverId: string) {}
  get id(): string { return this.db.id }
  isUp(): boolean { return this.site.host.isServerUp(this.serverId) }
  protected ensureUp(): void {
    this.site.host.access?.(this.serverId)
    if (!this.isUp()) throw downError(this.site, this.serverId)
  }
  query(sql: string, params?: Params): QueryResult { this.ensureUp(); return this.db.query(sql, params) }
  count(table: string): number { this.ensureUp(); return this.db.count(table) }
}

/** The public API of a site's primary database server. */
export class SiteStore {
  readonly backup: ReadOnlyDb
  readonly repository?: ReadOnlyDb
  private ddl: string[] = []
  /** The primary server's id (every statement checks it is up). */
  private readonly primaryId: string
  constructor(private site: Site) {
    this.primaryId = `${site.code}.primary`
    this.backup = new ReadOnlyDb(site, site.backup, `${site.code}.backup`)
    if (site.repository) this.repository = new ReadOnlyDb(site, site.repository, `${site.code}.repository`)
  }
  get code(): SiteCode { return this.site.code }
  get seq(): number { return this.site.seq }
  isUp(): boolean { return this.site.host.isServerUp(this.primaryId) }
  /** Throws when the primary cannot serve: down, or waiting for a restore (a damaged medium is found on this access). For readers that step its statements themselves. */
  available(): void { this.ensureUp() }
  private ensureUp(): void {
    this.site.host.access?.(this.primaryId)
    if (!this.isUp()) throw downError(this.site, this.primaryId)
  }

  query(sql: string, params?: Params): QueryResult {
    this.ensureUp()
    if (!READ_RE.test(sql) && !this.site.primary.inTransaction) return this.exec(sql, params)
    const hasParams = params && (Array.isArray(params) ? params.length : Object.keys(params).length)
    return hasParams && !DDL_RE.test(sql) ? this.site.primary.queryReusable(sql, params) : this.site.primary.query(sql, params)
  }

  exec(sql: string, params?: Params): ExecResult {
    this.ensureUp()
    if (READ_RE.test(sql) && !/;\s*\S/.test(sql)) return { ...this.site.primary.query(sql, params), changes: 0 }
    return this.withTransaction((tx) => tx.exec(sql, params))
  }

  /**
   * Like withTransaction, for a DTM participant's commit that holds its part of an eager delete of a replicated
   * relation (engine/txn/global.ts): deletes of rows of a read-only replica are allowed in it, nothing else is.
   */
  withReplicaDeletes<T>(fn: (tx: TxScope) => T): T {
    this.site.replicaDeletes++
    try { return this.withTransaction(fn) } finally { this.site.replicaDeletes-- }
  }

  /**
   * Like withTransaction, for the engine's own maintenance of derived and replicated copies (a scheduled
   * copy's refresh, a restore from the main repository): exempt from replica control's local-write rule.
   */
  maintain<T>(fn: (tx: TxScope) => T): T {
    this.site.maintaining++
    try { return this.withTransaction(fn) } finally { this.site.maintaining-- }
  }

  /** Runs fn atomically: all its statements commit together (durably) or none do. fn must be synchronous. */
  withTransaction<T>(fn: (tx: TxScope) => T): T {
    this.ensureUp()
    const db = this.site.primary
    const scope: TxScope = {
      exec: (sql, params) => {
        this.ensureUp()
        const ddl = DDL_RE.test(sql)
        if (ddl && !TEMP_RE.test(sql)) this.ddl.push(sql)
        const hasParams = params && (Array.isArray(params) ? params.length : Object.keys(params).length)
        const res = hasParams && !ddl ? db.queryReusable(sql, params) : hasParams || !/;\s*\S/.test(sql) ? db.query(sql, params) : db.script(sql)
        return { ...res, changes: db.db.getRowsModified() }
      },
      query: (sql, params) => { this.ensureUp(); return db.query(sql, params) },
      run: (sql, params) => { this.ensureUp(); return db.runPrepared(sql, params) },
    }
    if (db.inTransaction) return fn(scope) // joins the enclosing transaction
    db.begin()
    this.ddl = []
    try {
      const out = fn(scope)
      if (out && typeof (out as { then?: unknown }).then === 'function') {
        throw new EngineError('BAD_INPUT', 'withTransaction takes a synchronous function (sql.js has one connection per server)')
      }
      this.site.commitLocal(this.ddl)
      return out
    } catch (e) {
      db.rollback()
      throw e
    } finally {
      this.ddl = []
    }
  }

  count(table: string): number { this.ensureUp(); return this.site.primary.count(table) }
  /** Engine-internal read through a cached prepared statement (positional parameters); rows as value arrays. */
  readPrepared(sql: string, params: SqlValue[]): SqlValue[][] { this.ensureUp(); return this.site.primary.queryPrepared(sql, params) }
  /** Data tables (fragments) held at this site. */
  tables(): string[] { return this.site.tables.map((t) => t.name) }
}

export class Site {
  primary: SiteDb
  backup: SiteDb
  repository?: SiteDb
  catalog: LocalCatalog
  readonly tables: LocalTable[]
  /** Last committed local sequence number (origin seq of this site's change batches). */
  seq = 0
  log?: DurableLog<LogBody>
  /** The backup server's copy of the commit log (persisted clusters): written and forced with `log`. */
  backupLog?: DurableLog<LogBody>
  /** Committed batches still needed by some replication channel (or not yet checkpointed). */
  retained: { seq: number; body: LogBody; bytes: number }[] = []
  readonly store: SiteStore
  /** Inside SiteStore.maintain (copy refresh, restore): replica control's local-write rule does not apply. */
  maintaining = 0
  /** Inside SiteStore.withReplicaDeletes: deletes at a read-only replica (an eager delete's part) are allowed. */
  replicaDeletes = 0

  constructor(readonly SQL: SqlJsStatic, readonly code: SiteCode, readonly topo: TopologySpec, readonly host: SiteHost,
    images?: { primary: Uint8Array; backup: Uint8Array; repository?: Uint8Array }) {
    const spec = topo.sites.find((s) => s.code === code)!
    this.tables = localTables(topo, code)
    this.primary = new SiteDb(SQL, code, 'primary', images?.primary)
    this.backup = new SiteDb(SQL, code, 'backup', images?.backup)
    if (spec.repository) this.repository = new SiteDb(SQL, code, 'repository', images?.repository)
    for (const db of [this.primary, this.backup]) {
      this.checkIdentity(db, !!images)
      for (const t of this.tables) {
        db.script(createTableSql(t.name, t.rel, t.columns))
        db.track(t.name, t.columns, t.rel.key)
      }
      // the site's own users (spec §8: authentication at the local site)
      db.script(USERS_DDL)
      db.track(USERS_TABLE, USERS_COLUMNS, USERS_KEY)
      db.script(ROLES_DDL) // console identities' roles (identities.ts)
      db.track(ROLES_TABLE, ROLES_COLUMNS, ROLES_KEY)
      this.createIndexes(db)
      if (this.tables.some((t) => t.frag.kind === 'copy')) {
        db.script('CREATE TABLE IF NOT EXISTS COPY_REFRESH (COPY_NAME TEXT PRIMARY KEY, SOURCE TEXT NOT NULL, REFRESHED_AT INTEGER, NROWS INTEGER)')
        db.track('COPY_REFRESH', ['COPY_NAME', 'SOURCE', 'REFRESHED_AT', 'NROWS'], ['COPY_NAME'])
      }
    }
    installCatalogs(this.primary, topo, code)
    if (this.repository) {
      this.checkIdentity(this.repository, !!images)
      for (const t of repositoryTables(topo)) {
        this.repository.script(t.sql)
        this.repository.track(t.name, t.columns, t.key)
      }
    }
    this.catalog = new LocalCatalog(this.primary, code, this.tables)
    this.seq = this.primary.getMetaNum('seq')
    this.store = new SiteStore(this)
  }

  private checkIdentity(db: SiteDb, existing: boolean): void {
    const who = db.getMeta('iddb.db')
    if (existing && who !== db.id) {
      throw new EngineError('CORRUPT_DATA', `database image for ${db.id} belongs to ${who === null ? 'no Infinity DDB cluster' : String(who)}`, { site: this.code })
    }
    if (!existing) db.setMeta('iddb.db', db.id)
  }

  createIndexes(db: SiteDb): void {
    for (const t of this.tables) {
      if (t.rel.name === 'EMPLOYEES') db.script(`CREATE INDEX IF NOT EXISTS ${quoteId(`IX_${t.name}_DEPT`)} ON ${quoteId(t.name)} (DEPT)`)
      if (t.rel.name.startsWith('STOCK_')) db.script(`CREATE INDEX IF NOT EXISTS ${quoteId(`IX_${t.name}_ITEMNO`)} ON ${quoteId(t.name)} (ITEMNO)`)
    }
  }

  /** Inside an open primary transaction: drain captured changes, fold into the catalog, log durably, commit. */
  commitLocal(ddl: string[]): number {
    const db = this.primary
    const changes = db.drainChanges()
    if (!this.maintaining) this.checkLocalWrites(changes)
    if (!changes.length && !ddl.length) { db.commit(); return this.seq }
    this.host.beforeCommit?.(this.code, changes)
    const seq = this.seq + 1
    if (ddl.length) this.catalog.schemaChanged()
    this.catalog.apply(changes)
    db.setMeta('seq', seq)
    const body: LogBody = { at: this.host.now(this.code), c: changes, ...(ddl.length ? { ddl } : {}) }
    const bytes = changesLength(changes)
    // durable in both copies (primary's log, then the backup server's) before the commit is acknowledged
    for (const l of this.logs()) l.append(seq, body, false)
    for (const l of this.logs()) l.flush()
    db.commit()
    this.seq = seq
    this.retained.push({ seq, body, bytes })
    this.host.committed(this.code, seq, body, bytes)
    if (changes.length) this.host.catalogChanged(this.code)
    return seq
  }

  /**
   * Replica control (engine/site/replication.ts, docs/REPLICATION.md): a read-only replica of a replicated
   * relation (every copy but the primary one) and a derived fragment (vertical fragment, scheduled copy) take
   * no local write. Checked on the captured changes at commit, so no statement form (triggers, CTEs, scripts)
   * gets round it; the caller rolls the transaction back.
   */
  private checkLocalWrites(changes: readonly Change[]): void {
    let last: string | undefined
    for (const c of changes) {
      if (c.t === last) continue
      let why = this.refusals.get(c.t)
      if (why === undefined) this.refusals.set(c.t, why = localWriteRefusal(this.topo, this.code, c.t) ?? '')
      // an eager delete's part at a replica: its deletes pass (an update's D image comes with an I image, which does not)
      if (why && this.replicaDeletes > 0 && c.op === 'D' && this.tables.some((t) => t.name === c.t && t.frag.kind === 'replica')) continue
      last = c.t
      if (why) throw new EngineError('UNSUPPORTED', why, { site: this.code })
    }
  }
  private refusals = new Map<string, string>()

  /** Replays a logged batch into the primary on reopen (no shipping: channels are rebuilt from the log). */
  replay(seq: number, body: LogBody): void {
    const db = this.primary
    db.begin()
    try {
      for (const d of body.ddl ?? []) db.script(d)
      if (body.ddl?.length) this.catalog.schemaChanged()
      db.applyChanges(body.c)
      this.catalog.apply(db.drainChanges())
      db.setMeta('seq', seq)
      db.commit()
    } catch (e) {
      db.rollback()
      throw e
    }
    this.seq = seq
  }

  logs(): DurableLog<LogBody>[] { return this.log ? (this.backupLog ? [this.log, this.backupLog] : [this.log]) : [] }

  fragmentNames(): string[] { return fragments(this.topo).filter((f) => f.site === this.code).map((f) => f.name) }

  close(): void {
    for (const l of this.logs()) l.close()
    this.primary.close(); this.backup.close(); this.repository?.close()
  }
}
