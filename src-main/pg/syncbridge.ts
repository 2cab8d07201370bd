/**
 * A synchronous bridge to PostgreSQL. The engine's DQP and DTM call a site's store synchronously (the
 * embedded sites are sql.js, in-process), while every PostgreSQL client is asynchronous. The bridge puts the
 * asynchronous part in a worker thread that owns one `pg` Client per named connection (a site's server);
 * the caller posts a request {conn, sql, params} on a MessagePort, blocks in Atomics.wait on a shared
 * counter until the worker bumps it, and takes the reply off the port with receiveMessageOnPort — so the
 * caller's event loop is never entered and the call returns like sql.js's does.
 *
 * No caller hangs:
 * - each statement runs under `statement_timeout` at the server (the session's value follows the call's
 *   limit); the server cancels it and the call throws TIMEOUT, the connection staying usable;
 * - should the server not stop it (a session whose statement_timeout was changed by hand, a wait the
 *   setting does not cover), the worker cancels it `graceMs` later with pg_cancel_backend() from a second
 *   connection, and if even that cannot reach the server it drops the connection;
 * - the caller's own Atomics.wait has a limit past all of these: a worker that does not answer at all
 *   gives TIMEOUT too.
 *
 * A connection lost while its session was inside a transaction (the server went down, the connection was
 * dropped) is not silently replaced: the server rolled that transaction back (a PREPAREd one stays
 * prepared), so one call hears of it — the statement that was running, else the next call on that
 * connection, which is then not run — with UNREACHABLE saying so, and the call after it connects afresh.
 * A connection lost between transactions reconnects on its next call.
 *
 * Values: bigint columns come back as numbers (as text beyond 2^53), numeric as numbers — the engine
 * computes in doubles, as sql.js does; everything else as the `pg` client parses it. Rows are plain objects
 * keyed by the column names the server reports.
 */
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { EngineError, type ErrorCode } from '../../engine/errors'

/** Where one named connection goes. No password: libpq's rules apply (PGPASSWORD, the pgpass file). */
export interface PgConnSpec {
  host: string
  port: number
  database: string
  user: string
  password?: string
  /** The session's application_name (the global deadlock detector names backends by it: deadlock.ts). */
  applicationName?: string
}

export interface SyncPgOptions {
  conns: Record<string, PgConnSpec>
  /** Default limit of one call, ms (statement_timeout at the server). 30 s unless given. */
  timeoutMs?: number
  /** How long the worker waits past a call's limit before cancelling it itself, and again before dropping its connection. 1 s unless given. */
  graceMs?: number
  /** Limit of opening a connection, ms. 5 s unless given. */
  connectTimeoutMs?: number
}

export type PgRow = Record<string, unknown>
/** One statement of a batch (queryMany): as query()'s arguments; `arrays`: its rows positional, as queryArrays(). */
export interface PgBatchItem { conn: string; sql: string; params?: readonly unknown[]; timeoutMs?: number; arrays?: boolean; prepare?: boolean }
/** One statement's outcome in a batch: its result (SyncPgArrays when asked with `arrays`), or the error query() would have thrown. */
export type PgBatchOutcome = ({ ok: true } & (SyncPgResult | SyncPgArrays)) | { ok: false; error: SyncPgError }
/** The bytes a statement sent on its connection and received on it (PostgreSQL's protocol messages, as the socket counted them). */
export interface WireBytes { sent: number; received: number }
export interface SyncPgResult { rows: PgRow[]; rowCount: number; wire?: WireBytes }
/** A result as positional rows with the column names the server reports (duplicate names kept apart). */
export interface SyncPgArrays {
  columns: string[]
  rows: unknown[][]
  rowCount: number
  /** The columns' type OIDs, as the server described them. */
  types?: number[]
  wire?: WireBytes
}

/** A bridge connection as its link drill sees it (SyncPg.connStates). */
export interface ConnLinkState { conn: string; open: boolean; cut: boolean; refused: number }

const wireOf = (w: [number, number] | undefined): { wire?: WireBytes } => (w ? { wire: { sent: w[0], received: w[1] } } : {})

/** An EngineError that also carries the server's SQLSTATE (absent when the error is not the server's). */
export class SyncPgError extends EngineError {
  readonly sqlstate?: string
  constructor(code: ErrorCode, message: string, opts: { site?: string; position?: number; sqlstate?: string } = {}) {
    super(code, message, opts)
    this.sqlstate = opts.sqlstate
  }
}

/** What the worker reports of a failed call (plain data: it crosses the port). */
interface WireError {
  message: string
  /** The server's SQLSTATE, when the server sent the error. */
  sqlstate?: string
  position?: number
  phase: 'connect' | 'query'
  /** The connection was lost inside a transaction earlier; this call was not run. */
  lost?: true
  /** The worker cancelled the statement itself (pg_cancel_backend) after its limit passed. */
  watchdog?: true
  /** The worker dropped the connection (it could not be cancelled, or it was lost). */
  dropped?: true
  /** The session was inside a transaction when it was lost. */
  inTxn?: true
}
type OneReply = { id: number; ok: true; rows: PgRow[]; rowCount: number; fields?: string[]; types?: number[]; wire?: [number, number] } | { id: number; ok: false; error: WireError }
/** A batch's reply carries every statement's own in `many` (in the batch's order). */
type Reply = (OneReply & { many?: OneReply[] }) | { fatal: string }

/**
 * The worker's code, run with `eval: true` so that no bundler has to know about a second entry point; it
 * loads the `pg` client from the path the caller resolved. Messages in: {t:'q', id, conn, sql, params,
 * timeoutMs, arrays (rows as arrays, with the columns' names), prepare (see preparedName)}, {t:'qm', id, items: [{conn, sql, params, timeoutMs, arrays, prepare}…]} (a batch: see
 * the handler), {t:'reset', conn} (the caller gave up: drop the connection), {t:'cut', id, conns, cut} and {t:'links', id}
 * (setCut, connStates), {t:'repoint', id, conn, spec} (the
 * connection goes to another server from now on), {t:'close', id}. Every reply is
 * posted first and the shared counter bumped after, so a caller woken by the counter finds the reply queued.
 */
const WORKER_SOURCE = String.raw`
'use strict'
const { workerData } = require('node:worker_threads')
const { port, flag: sab, pgPath, conns: specs, graceMs, connectTimeoutMs } = workerData
const flag = new Int32Array(sab)
function send(m) {
  try { port.postMessage(m) } catch (e) { port.postMessage({ id: m.id, ok: false, error: { phase: 'query', message: 'the reply could not be sent back: ' + e.message } }) }
  Atomics.add(flag, 0, 1)
  Atomics.notify(flag, 0)
}
function main(pg) {
  // bigint and numeric as numbers (the engine computes in doubles); a bigint beyond 2^53 stays text
  const types = {
    getTypeParser(oid, format) {
      if (format !== 'binary' && oid === 20) return (s) => { const n = Number(s); return Number.isSafeInteger(n) ? n : s }
      if (format !== 'binary' && oid === 1700) return (s) => Number(s)
      return pg.types.getTypeParser(oid, format)
    },
  }
  const config = (spec, extra) => ({
    host: spec.host, port: spec.port, database: spec.database, user: spec.user, password: spec.password,
    application_name: spec.applicationName, connectionTimeoutMillis: connectTimeoutMs, keepAlive: true, types, ...extra,
  })
  // per connection: its client (null until opened / after a loss), the statement_timeout its session has
  // (null: not known), whether that was set inside a transaction (a rollback would undo it), and whether
  // the connection was lost inside a transaction (told to the next caller once)
  // and whether the link it goes over is cut (the drill: ConsoleLinks in links.ts), with the calls refused meanwhile
  const conns = new Map(Object.keys(specs).map((name) => [name, { spec: specs[name], client: null, timeout: null, setInTxn: false, lostInTxn: false, cut: false, refused: 0 }]))

  function drop(c, client) {
    if (c.client !== client || !client) return
    const st = client.getTransactionStatus()
    if (st === 'T' || st === 'E') c.lostInTxn = true
    c.client = null
    c.timeout = null
    try { client.connection.stream.destroy() } catch {}
  }

  async function open(c, timeoutMs) {
    const client = new pg.Client(config(c.spec, { statement_timeout: timeoutMs }))
    client.on('error', () => drop(c, client)) // the server went away while the connection was idle
    client.on('end', () => drop(c, client))
    await client.connect()
    c.client = client
    c.timeout = timeoutMs
    c.setInTxn = false
  }

  // pg_cancel_backend from a second connection; a server that cannot be reached for it loses the connection
  async function cancel(c, client) {
    const k = new pg.Client(config(c.spec, { application_name: 'iddb:bridge-cancel', connectionTimeoutMillis: graceMs }))
    k.on('error', () => {})
    try {
      await k.connect()
      await k.query('SELECT pg_cancel_backend($1)', [client.processID])
    } catch {
      drop(c, client)
    } finally { k.end().catch(() => {}) }
  }

  function describe(e, phase) {
    const server = e instanceof pg.DatabaseError
    const out = { phase, message: String(e && e.message || e) }
    if (server && e.code) out.sqlstate = e.code
    if (server && e.position) out.position = Number(e.position)
    return out
  }
  // errors after which the session is gone: not the server's (socket), connection exceptions, shutdowns
  const isLoss = (e) => !(e instanceof pg.DatabaseError) || /^08|^57P0/.test(e.code || '')

  // named prepared statements of a session (a statement sent with prepare: parsed and planned at the server once
  // per session, then only bound and executed), by text; a new session starts with none. Past PREPARED_MAX texts,
  // all are deallocated and the count starts again.
  const PREPARED_MAX = 256
  async function preparedName(client, sql) {
    let p = client.iddbPrepared
    if (!p) p = client.iddbPrepared = { names: new Map(), next: 0 }
    const had = p.names.get(sql)
    if (had) return had
    if (p.names.size >= PREPARED_MAX) {
      await client.query('DEALLOCATE ALL')
      p.names.clear()
      client.connection.parsedStatements = {}
      client.connection.submittedNamedStatements = {}
    }
    const name = 'iddb_' + (++p.next)
    p.names.set(sql, name)
    return name
  }
  // a prepared statement the session no longer has (it could not be parsed, or the server dropped it) is forgotten
  function forgetPrepared(client, sql, name) {
    const p = client.iddbPrepared
    if (p && p.names.get(sql) === name) p.names.delete(sql)
    delete client.connection.parsedStatements[name]
    delete client.connection.submittedNamedStatements[name]
  }

  // one statement on its connection, after the connection's statements sent before it have ended (a call
  // submitted ahead and one made while it runs share the session: one at a time, in the order sent); resolves
  // to its reply (never rejects)
  function run(m) {
    const c = conns.get(m.conn)
    const p = (c.tail || Promise.resolve()).then(() => runNow(c, m))
    c.tail = p
    return p
  }
  async function runNow(c, m) {
    if (c.lostInTxn) {
      c.lostInTxn = false
      return { id: m.id, ok: false, error: { phase: 'query', lost: true, message: 'the connection was lost inside a transaction, which the server rolled back (a prepared transaction stays prepared); this statement was not run' } }
    }
    if (c.cut) {
      c.refused++
      return { id: m.id, ok: false, error: { phase: 'connect', message: 'the link to the server is cut: connection reset' } }
    }
    try { if (!c.client) await open(c, m.timeoutMs) } catch (e) { return { id: m.id, ok: false, error: describe(e, 'connect') } }
    const client = c.client
    let watchdog = null
    let cancelled = false
    try {
      const st = client.getTransactionStatus()
      if (c.timeout !== m.timeoutMs && st !== 'E') {
        await client.query('SET statement_timeout = ' + Number(m.timeoutMs))
        c.timeout = m.timeoutMs
        c.setInTxn = st === 'T'
      }
      watchdog = setTimeout(() => {
        cancelled = true
        cancel(c, client)
        watchdog = setTimeout(() => drop(c, client), graceMs) // cancelled, and still not ended
      }, m.timeoutMs + graceMs)
      // the bytes this statement put on its connection and took off it (the connection carries one statement at a time)
      const sock = client.connection && client.connection.stream
      const w0 = sock ? sock.bytesWritten : 0, r0 = sock ? sock.bytesRead : 0
      // a read sent to be prepared (no parameters, the session in no transaction) goes as its session's named statement
      const name = m.prepare && m.arrays && !(m.params && m.params.length) && client.getTransactionStatus() === 'I' ? await preparedName(client, m.sql) : undefined
      let r
      if (!name) r = m.arrays ? await client.query({ text: m.sql, values: m.params, rowMode: 'array' }) : await client.query(m.sql, m.params)
      else {
        try {
          r = await client.query({ name, text: m.sql, rowMode: 'array' })
        } catch (e) {
          const parsed = client.connection.parsedStatements[name] !== undefined
          const stale = e instanceof pg.DatabaseError && (e.code === '0A000' || e.code === '26000')
          // not parsed (a syntax error, say): forgotten, the error reported. A plan the server can no longer use (a
          // table's columns changed: 0A000) or a statement it no longer has (26000): forgotten, and run once unprepared
          if (!parsed || stale) forgetPrepared(client, m.sql, name)
          if (!(parsed && stale && client.getTransactionStatus() === 'I')) throw e
          await client.query('DEALLOCATE ' + name).catch(() => {})
          r = await client.query({ text: m.sql, rowMode: 'array' })
        }
      }
      const wire = sock ? [sock.bytesWritten - w0, sock.bytesRead - r0] : undefined
      const last = Array.isArray(r) ? r[r.length - 1] : r // several statements in one text: the last one's result
      return { id: m.id, ok: true, rows: last.rows || [], rowCount: last.rowCount || 0, fields: m.arrays ? (last.fields || []).map((f) => f.name) : undefined, types: m.arrays ? (last.fields || []).map((f) => f.dataTypeID) : undefined, wire }
    } catch (e) {
      const err = describe(e, 'query')
      if (cancelled) err.watchdog = true
      if (isLoss(e)) {
        drop(c, client)
        err.dropped = true
        if (c.lostInTxn) { c.lostInTxn = false; err.inTxn = true } // this caller hears of the loss: once is enough
      } else if (m.rollbackOnError && c.client === client) {
        // a whole transaction in one text that failed part-way: ended here, before the connection's next statement
        // (always sent: the error arrives before the server's ready-for-query says whether a transaction is open;
        // outside one a ROLLBACK only warns)
        try { await client.query('ROLLBACK') } catch (e2) { if (isLoss(e2)) drop(c, client) }
      }
      return { id: m.id, ok: false, error: err }
    } finally {
      clearTimeout(watchdog)
      // a statement_timeout SET inside a transaction that has ended may have been rolled back with it
      if (c.client === client && c.setInTxn && client.getTransactionStatus() === 'I') { c.timeout = null; c.setInTxn = false }
    }
  }

  const linkRows = () => [...conns].map(([conn, c]) => ({ conn, open: !!c.client, cut: c.cut, refused: c.refused }))

  // a login check (SyncPg.authenticate): a connection of its own as the user given, asked who it is, and closed
  async function auth(m) {
    const client = new pg.Client(config(m.spec, { application_name: m.spec.applicationName || 'iddb:login' }))
    client.on('error', () => {})
    try {
      try { await client.connect() } catch (e) { return send({ id: m.id, ok: false, error: describe(e, 'connect') }) }
      try {
        const r = await client.query('SELECT current_user AS u')
        send({ id: m.id, ok: true, rows: r.rows, rowCount: r.rowCount })
      } catch (e) { send({ id: m.id, ok: false, error: describe(e, 'query') }) }
    } finally { client.end().catch(() => {}) }
  }

  port.on('message', (m) => {
    if (m.t === 'q') run(m).then(send)
    else if (m.t === 'auth') auth(m)
    else if (m.t === 'qm') {
      // a batch: the statements of one connection one after the other in the order given (run keeps each
      // connection's order), the connections at once; one reply with every statement's, in the batch's order
      Promise.all(m.items.map((it) => run({ ...it, id: m.id })))
        .then((replies) => send({ id: m.id, ok: true, many: replies, rows: [], rowCount: 0 }))
    }
    else if (m.t === 'reset') { const c = conns.get(m.conn); if (c) drop(c, c.client) }
    else if (m.t === 'cut') {
      // the link of these connections cut (their sessions torn down now: the server sees its client gone) or restored
      for (const name of m.conns) { const c = conns.get(name); if (!c) continue; c.cut = m.cut; if (m.cut) drop(c, c.client) }
      send({ id: m.id, ok: true, rows: linkRows(), rowCount: 0 })
    }
    else if (m.t === 'links') send({ id: m.id, ok: true, rows: linkRows(), rowCount: 0 })
    else if (m.t === 'repoint') {
      // the connection goes elsewhere from now on (a failover): the old session is dropped, the next call opens the new one
      const c = conns.get(m.conn)
      if (c) { drop(c, c.client); c.spec = m.spec }
      send({ id: m.id, ok: true, rows: [], rowCount: 0 })
    }
    else if (m.t === 'close') {
      const ends = [...conns.values()].filter((c) => c.client).map((c) => { const k = c.client; c.client = null; return k.end().catch(() => {}) })
      Promise.all(ends).then(() => { send({ id: m.id, ok: true, rows: [], rowCount: 0 }); port.close() })
    }
  })
}
let pg = null
try { pg = require(pgPath) } catch (e) { send({ fatal: 'cannot load the pg client from ' + pgPath + ': ' + e.message }) }
if (pg) main(pg)
`

/** Where the `pg` package is, for the worker: from this module, a CommonJS bundle's require, or the working directory. */
function resolvePg(): string {
  const tries: (() => string)[] = [
    () => createRequire(import.meta.url).resolve('pg'),
    () => require.resolve('pg'),
    () => createRequire(join(process.cwd(), 'package.json')).resolve('pg'),
  ]
  for (const t of tries) { try { return t() } catch { /* not resolvable from there */ } }
  throw new EngineError('UNSUPPORTED', 'the pg client package cannot be found (npm install)')
}

const excerpt = (sql: string) => { const s = sql.replace(/\s+/g, ' ').trim(); return s.length > 80 ? `${s.slice(0, 77)}...` : s }

/** A statement sent to the worker and not yet answered to its caller. */
interface Submitted { id: number; conn: string; spec: PgConnSpec; sql: string; timeoutMs: number; deadline: number; limit: number }

export class SyncPg {
  private seq = 0
  /** Statements sent and not yet collected, and the replies that came for them while another was waited for. */
  private readonly outstanding = new Map<number, Submitted>()
  private readonly early = new Map<number, Extract<Reply, { id: number }>>()
  private closed = false
  /** Why the worker stopped, once it has. */
  private dead: string | undefined

  private constructor(
    private worker: Worker,
    private port: MessagePort,
    private flag: Int32Array,
    private specs: Record<string, PgConnSpec>,
    readonly timeoutMs: number,
    readonly graceMs: number,
    readonly connectTimeoutMs: number,
  ) {
    worker.on('error', (e) => { this.dead = e.message })
    worker.on('exit', (code) => { this.dead ??= `the bridge's worker exited (code ${code})` })
  }

  /** Starts the worker; connections open on their first call. Bad options throw BAD_INPUT, starting nothing. */
  static open(o: SyncPgOptions): SyncPg {
    const names = Object.keys(o?.conns ?? {})
    if (!names.length) throw new EngineError('BAD_INPUT', 'SyncPg.open needs at least one connection')
    for (const n of names) {
      const s = o.conns[n]
      if (!s || typeof s.host !== 'string' || !s.host) throw new EngineError('BAD_INPUT', `connection ${n}: no host`)
      if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) throw new EngineError('BAD_INPUT', `connection ${n}: port ${String(s.port)} is not a TCP port`)
      if (typeof s.database !== 'string' || !s.database) throw new EngineError('BAD_INPUT', `connection ${n}: no database`)
      if (typeof s.user !== 'string' || !s.user) throw new EngineError('BAD_INPUT', `connection ${n}: no user`)
    }
    const ms = (v: number | undefined, dflt: number, what: string) => {
      if (v === undefined) return dflt
      if (!Number.isInteger(v) || v < 1) throw new EngineError('BAD_INPUT', `${what} must be a whole number of milliseconds ≥ 1 (got ${String(v)})`)
      return v
    }
    const timeoutMs = ms(o.timeoutMs, 30_000, 'timeoutMs')
    const graceMs = ms(o.graceMs, 1_000, 'graceMs')
    const connectTimeoutMs = ms(o.connectTimeoutMs, 5_000, 'connectTimeoutMs')
    const sab = new SharedArrayBuffer(4)
    const { port1, port2 } = new MessageChannel()
    const conns = Object.fromEntries(names.map((n) => [n, { ...o.conns[n] }]))
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { port: port2, flag: sab, pgPath: resolvePg(), conns, graceMs, connectTimeoutMs },
      transferList: [port2],
    })
    worker.unref() // an unclosed bridge does not keep the process alive
    return new SyncPg(worker, port1, new Int32Array(sab), conns, timeoutMs, graceMs, connectTimeoutMs)
  }

  /** The connections' names. */
  get names(): string[] { return Object.keys(this.specs) }

  /**
   * Runs one statement (or, without params, several separated by `;`: the last one's result) on a named
   * connection and returns its rows. Throws a SyncPgError carrying the connection's name as its site:
   * SQL_ERROR (the server refused the statement; nothing it did remains, unless it ran inside a transaction
   * the caller then commits), CONSTRAINT_VIOLATION (SQLSTATE class 23), ABORTED (class 40: a serialization
   * failure or a deadlock the server found), TIMEOUT (over its limit: cancelled), CANCELLED (cancelled by
   * someone else, e.g. the global deadlock detector), AUTH_FAILED, UNREACHABLE (no connection, or it was
   * lost).
   */
  query(conn: string, sql: string, params: readonly unknown[] = [], opts: { timeoutMs?: number } = {}): SyncPgResult {
    const r = this.call(conn, sql, params, opts, false)
    return { rows: r.rows as PgRow[], rowCount: r.rowCount, ...wireOf(r.wire) }
  }

  /**
   * Like query(), one statement's rows as arrays in the order of its columns, with the columns' names. With
   * `prepare`, a statement without parameters sent while its session is in no transaction runs as a named prepared
   * statement of that session: the server parses and plans its text once (the first time), and every later call
   * with the same text only binds and executes it. For reads repeated as they are (the DQP's sub-queries): a plan
   * the server can no longer use (a table's columns changed) is dropped and the statement run once unprepared.
   */
  queryArrays(conn: string, sql: string, params: readonly unknown[] = [], opts: { timeoutMs?: number; prepare?: boolean } = {}): SyncPgArrays {
    const r = this.call(conn, sql, params, opts, true)
    return { columns: r.fields ?? [], rows: r.rows as unknown as unknown[][], rowCount: r.rowCount, ...(r.types ? { types: r.types } : {}), ...wireOf(r.wire) }
  }

  /**
   * Runs a batch of statements at once and waits once: the worker starts every connection's first statement
   * together (statements of one connection run one after the other, in the order given) and answers when all
   * have ended. Each statement's outcome is its own — its rows (positional with `arrays`, as queryArrays) or the
   * SyncPgError query() would have thrown — in the batch's order; one failing does not stop the others. A
   * malformed batch (an unknown connection, no SQL, bad params or limit) is refused with BAD_INPUT /
   * UNKNOWN_SITE before anything is sent. A worker that does not answer within the longest connection's limit
   * (its statements' limits added up) gives every statement of the batch TIMEOUT and drops their connections.
   */
  queryMany(items: readonly PgBatchItem[]): PgBatchOutcome[] {
    if (!Array.isArray(items)) throw new EngineError('BAD_INPUT', 'queryMany takes an array of statements')
    const checked = items.map((it) => this.check(it?.conn, it?.sql, it?.params ?? [], it?.timeoutMs))
    if (!checked.length) return []
    const perConn = new Map<string, number>()
    for (const c of checked) perConn.set(c.conn, (perConn.get(c.conn) ?? 0) + c.timeoutMs)
    const id = ++this.seq
    this.port.postMessage({ t: 'qm', id, items: checked.map((c, i) => ({ conn: c.conn, sql: c.sql, params: c.params, timeoutMs: c.timeoutMs, arrays: !!items[i].arrays, prepare: !!items[i].prepare })) })
    const limit = this.connectTimeoutMs + Math.max(...perConn.values()) + 3 * this.graceMs + 1_000
    const r = this.wait(id, limit)
    if (!r) {
      for (const conn of perConn.keys()) this.port.postMessage({ t: 'reset', conn })
      return checked.map((c) => ({ ok: false as const, error: new SyncPgError('TIMEOUT', `${c.conn}: no answer within ${limit} ms (a batch of ${checked.length}); the connection is dropped (${excerpt(c.sql)})`, { site: c.conn }) }))
    }
    // a batch whose reply could not be sent back reports that for each of its statements
    const replies = r.ok && r.many ? r.many : checked.map(() => r)
    return checked.map((c, i) => {
      const x = replies[i]
      if (!x.ok) return { ok: false as const, error: this.error(c.conn, c.spec, x.error, c.timeoutMs, c.sql) }
      return items[i].arrays
        ? { ok: true as const, columns: x.fields ?? [], rows: x.rows as unknown as unknown[][], rowCount: x.rowCount, ...(x.types ? { types: x.types } : {}), ...wireOf(x.wire) }
        : { ok: true as const, rows: x.rows, rowCount: x.rowCount, ...wireOf(x.wire) }
    })
  }

  /** A call's arguments checked (BAD_INPUT, UNKNOWN_SITE, NOT_READY, INTERNAL before anything is sent), its limit resolved. */
  private check(conn: string, sql: string, params: readonly unknown[], timeout: number | undefined): { conn: string; spec: PgConnSpec; sql: string; params: readonly unknown[]; timeoutMs: number } {
    if (this.closed) throw new EngineError('NOT_READY', 'the PostgreSQL bridge is closed')
    const spec = this.specs[conn]
    if (!spec) throw new EngineError('UNKNOWN_SITE', `no connection ${conn} (connections: ${this.names.join(', ')})`)
    if (typeof sql !== 'string' || !sql.trim()) throw new EngineError('BAD_INPUT', 'no SQL to run', { site: conn })
    if (!Array.isArray(params)) throw new EngineError('BAD_INPUT', 'params must be an array', { site: conn })
    const timeoutMs = timeout ?? this.timeoutMs
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new EngineError('BAD_INPUT', `timeoutMs must be a whole number of milliseconds ≥ 1 (got ${String(timeoutMs)})`, { site: conn })
    if (this.dead) throw new EngineError('INTERNAL', `the PostgreSQL bridge stopped: ${this.dead}`, { site: conn })
    return { conn, spec, sql, params, timeoutMs }
  }

  private call(conn: string, sql: string, params: readonly unknown[], opts: { timeoutMs?: number; prepare?: boolean }, arrays: boolean): Extract<OneReply, { ok: true }> {
    return this.finish(this.post(conn, sql, params, opts.timeoutMs, arrays, false, !!opts.prepare))
  }

  private post(conn: string, sql: string, params: readonly unknown[], timeout: number | undefined, arrays: boolean, rollbackOnError: boolean, prepare = false): Submitted {
    const { spec, timeoutMs } = this.check(conn, sql, params, timeout)
    const id = ++this.seq
    this.port.postMessage({ t: 'q', id, conn, sql, params, timeoutMs, arrays, rollbackOnError, prepare })
    // past the connect, the statement's limit, the worker's cancel and its drop: the worker itself is stuck;
    // a statement sent behind others of its connection waits for them too
    const limit = this.connectTimeoutMs + timeoutMs + 3 * this.graceMs + 1_000
    const s: Submitted = { id, conn, spec, sql, timeoutMs, deadline: performance.now() + limit + this.aheadMs(conn), limit }
    this.outstanding.set(id, s)
    return s
  }

  /** The limits of the statements still outstanding on `conn` (submitted ahead, not yet collected). */
  private aheadMs(conn: string): number {
    let ms = 0
    for (const o of this.outstanding.values()) if (o.conn === conn) ms += o.limit
    return ms
  }

  private finish(s: Submitted): Extract<OneReply, { ok: true }> {
    let r: Extract<Reply, { id: number }> | undefined
    try {
      r = this.early.get(s.id) ?? this.wait(s.id, Math.max(0, s.deadline - performance.now()))
    } finally {
      this.early.delete(s.id)
      this.outstanding.delete(s.id)
    }
    if (!r) {
      this.port.postMessage({ t: 'reset', conn: s.conn })
      throw new SyncPgError('TIMEOUT', `${s.conn}: no answer within ${s.limit} ms; the connection is dropped (${excerpt(s.sql)})`, { site: s.conn })
    }
    if (r.ok) return r as Extract<OneReply, { ok: true }>
    throw this.error(s.conn, s.spec, (r as { error: WireError }).error, s.timeoutMs, s.sql)
  }

  /**
   * Sends one statement (or one text of several) without waiting for it: it runs on its connection behind what
   * was sent there before, and anything sent there after runs behind it. `collect(ticket)` waits for its outcome
   * (what query() would have returned or thrown). With `rollbackOnError`, a text that fails inside a transaction it
   * opened is rolled back by the worker at once, before the connection's next statement. A ticket must be
   * collected (its reply is kept until it is). Bad arguments throw as query() does, sending nothing.
   */
  submit(conn: string, sql: string, params: readonly unknown[] = [], opts: { timeoutMs?: number; rollbackOnError?: boolean } = {}): number {
    return this.post(conn, sql, params, opts.timeoutMs, false, !!opts.rollbackOnError).id
  }

  /** The outcome of a statement sent with submit(): its rows, or the SyncPgError query() would have thrown. */
  collect(ticket: number): SyncPgResult {
    const s = this.outstanding.get(ticket)
    if (!s) throw new EngineError('NOT_FOUND', `no statement ${ticket} is outstanding on the bridge (collected already, or never sent)`)
    const r = this.finish(s)
    return { rows: r.rows as PgRow[], rowCount: r.rowCount, ...wireOf(r.wire) }
  }

  /** Waits for the reply `id` (stale replies of calls given up are dropped); undefined after `ms`. */
  private wait(id: number, ms: number): Extract<Reply, { id: number }> | undefined {
    const deadline = performance.now() + ms
    for (;;) {
      const seen = Atomics.load(this.flag, 0)
      for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
        const r = m.message as Reply
        if ('fatal' in r) { this.dead = r.fatal; throw new EngineError('INTERNAL', `the PostgreSQL bridge could not start: ${r.fatal}`) }
        if (r.id === id) return r
        // a reply to a statement sent ahead (submit), waited for later: kept for its collect()
        if (this.outstanding.has(r.id)) this.early.set(r.id, r)
      }
      const left = deadline - performance.now()
      if (left <= 0) return undefined
      if (this.dead) throw new EngineError('INTERNAL', `the PostgreSQL bridge stopped: ${this.dead}`)
      Atomics.wait(this.flag, 0, seen, Math.min(left, 1_000)) // wakes each second to notice a dead worker
    }
  }

  private error(conn: string, spec: PgConnSpec, e: WireError, timeoutMs: number, sql: string): SyncPgError {
    const o = { site: conn, sqlstate: e.sqlstate, position: e.position }
    const st = e.sqlstate ?? ''
    if (e.lost) return new SyncPgError('UNREACHABLE', `${conn}: ${e.message}`, o)
    if (e.phase === 'connect') {
      if (st.startsWith('28')) return new SyncPgError('AUTH_FAILED', `${conn}: ${spec.user} cannot log in to ${spec.host}:${spec.port}/${spec.database}: ${e.message}`, o)
      return new SyncPgError('UNREACHABLE', `${conn}: cannot connect to ${spec.host}:${spec.port}/${spec.database}: ${e.message}`, o)
    }
    if (e.watchdog) {
      return new SyncPgError('TIMEOUT', e.dropped
        ? `${conn}: the statement ran past its ${timeoutMs} ms limit and did not end when cancelled (or the server could not be reached to cancel it); the connection is dropped (${excerpt(sql)})`
        : `${conn}: the statement ran past its ${timeoutMs} ms limit and was cancelled (pg_cancel_backend) (${excerpt(sql)})`, o)
    }
    if (st === '57014') {
      return /statement timeout/.test(e.message)
        ? new SyncPgError('TIMEOUT', `${conn}: the statement ran past its ${timeoutMs} ms limit; the server cancelled it (statement_timeout) (${excerpt(sql)})`, o)
        : new SyncPgError('CANCELLED', `${conn}: ${e.message}`, o)
    }
    if (e.dropped) return new SyncPgError('UNREACHABLE', `${conn}: the connection to ${spec.host}:${spec.port} was lost${e.inTxn ? ' inside a transaction, which the server rolled back (a prepared transaction stays prepared)' : ''}: ${e.message}`, o)
    if (st.startsWith('23')) return new SyncPgError('CONSTRAINT_VIOLATION', `${conn}: ${e.message}`, o)
    if (st.startsWith('40')) return new SyncPgError('ABORTED', `${conn}: ${e.message}`, o)
    if (st.startsWith('28') || st === '42501') return new SyncPgError(st.startsWith('28') ? 'AUTH_FAILED' : 'ACCESS_DENIED', `${conn}: ${e.message}`, o)
    return new SyncPgError('SQL_ERROR', `${conn}: ${e.message}${st ? ` (SQLSTATE ${st})` : ''}`, o)
  }

  /**
   * Whether `spec`'s user logs in to its server with its password: the worker opens a connection of its own with
   * it (the server's authentication decides, e.g. SCRAM-SHA-256), asks `SELECT current_user` and closes it; no
   * named connection is touched. Returns the user the server says the session is; AUTH_FAILED when the server
   * refuses the login, UNREACHABLE when it cannot be reached, TIMEOUT past the connect limit.
   */
  authenticate(spec: PgConnSpec): string {
    if (this.closed) throw new EngineError('NOT_READY', 'the PostgreSQL bridge is closed')
    if (!spec || typeof spec.host !== 'string' || !spec.host || !Number.isInteger(spec.port) || typeof spec.user !== 'string' || !spec.user || typeof spec.database !== 'string' || !spec.database) {
      throw new EngineError('BAD_INPUT', 'authenticate needs a host, port, database and user')
    }
    if (this.dead) throw new EngineError('INTERNAL', `the PostgreSQL bridge stopped: ${this.dead}`)
    const id = ++this.seq
    this.port.postMessage({ t: 'auth', id, spec: { ...spec } })
    const limit = this.connectTimeoutMs + 2 * this.graceMs + 1_000
    const r = this.wait(id, limit)
    if (!r) throw new SyncPgError('TIMEOUT', `login: no answer from ${spec.host}:${spec.port} within ${limit} ms`)
    if (!r.ok) throw this.error('login', spec, r.error, this.connectTimeoutMs, 'SELECT current_user')
    return String((r.rows[0] as { u?: unknown } | undefined)?.u ?? '')
  }

  /**
   * Points a named connection at another server from now on (a failover promoted the site's standby): its
   * session at the old server is dropped — inside a transaction, the next call hears of that as UNREACHABLE,
   * as for any lost connection — and the next call connects to `spec`. The connection's name stays.
   */
  repoint(conn: string, spec: PgConnSpec): void {
    if (this.closed) throw new EngineError('NOT_READY', 'the PostgreSQL bridge is closed')
    if (!this.specs[conn]) throw new EngineError('UNKNOWN_SITE', `no connection ${conn} (connections: ${this.names.join(', ')})`)
    if (!spec || typeof spec.host !== 'string' || !spec.host || !Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535 || typeof spec.database !== 'string' || !spec.database || typeof spec.user !== 'string' || !spec.user) {
      throw new EngineError('BAD_INPUT', `connection ${conn}: a host, a TCP port, a database and a user are needed to repoint it`)
    }
    if (this.dead) throw new EngineError('INTERNAL', `the PostgreSQL bridge stopped: ${this.dead}`, { site: conn })
    const id = ++this.seq
    this.port.postMessage({ t: 'repoint', id, conn, spec: { ...spec } })
    if (!this.wait(id, this.connectTimeoutMs + 1_000)) throw new EngineError('TIMEOUT', `${conn}: the bridge's worker did not take the new server within ${this.connectTimeoutMs + 1_000} ms`, { site: conn })
    this.specs[conn] = { ...spec }
  }

  /**
   * Cuts the link of some connections (the drill: links.ts) or restores it. Cut: each one's session is torn down at
   * once (its socket destroyed — a statement running on it fails as a lost connection, UNREACHABLE; the server
   * sees its client gone, so a transaction open there is rolled back and a prepared one stays prepared), and every
   * call on it is refused as unreachable until it is restored. Restored: the next call opens a new session. Returns
   * every connection's state.
   */
  setCut(conns: readonly string[], cut: boolean): ConnLinkState[] {
    for (const c of conns) if (!this.specs[c]) throw new EngineError('UNKNOWN_SITE', `no connection ${c} (connections: ${this.names.join(', ')})`)
    return this.control({ t: 'cut', conns: [...conns], cut })
  }

  /** Every connection: whether a session is open on it, whether its link is cut, and the calls refused while it was. */
  connStates(): ConnLinkState[] { return this.control({ t: 'links' }) }

  private control(m: Record<string, unknown>): ConnLinkState[] {
    if (this.closed) throw new EngineError('NOT_READY', 'the PostgreSQL bridge is closed')
    if (this.dead) throw new EngineError('INTERNAL', `the PostgreSQL bridge stopped: ${this.dead}`)
    const id = ++this.seq
    this.port.postMessage({ ...m, id })
    const r = this.wait(id, this.connectTimeoutMs + 1_000)
    if (!r || !r.ok) throw new EngineError('TIMEOUT', `the bridge's worker did not answer within ${this.connectTimeoutMs + 1_000} ms`)
    return r.rows as unknown as ConnLinkState[]
  }

  /** The server a named connection goes to now (no password). */
  specOf(conn: string): Omit<PgConnSpec, 'password'> | undefined {
    const s = this.specs[conn]
    if (!s) return undefined
    const { password: _pw, ...rest } = s
    return rest
  }

  /** Ends every connection and the worker. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (!this.dead) {
      const id = ++this.seq
      this.port.postMessage({ t: 'close', id })
      try { this.wait(id, this.connectTimeoutMs) } catch { /* the worker is gone already */ }
    }
    this.port.close()
    void this.worker.terminate()
  }
}
