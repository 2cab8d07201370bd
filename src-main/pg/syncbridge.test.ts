/**
 * The synchronous PostgreSQL bridge against a real server this test starts in a temporary directory.
 * Skipped, with the reason, where PostgreSQL is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { EngineError } from '../../engine/errors'
import { pgUnavailableReason } from './servers'
import { SyncPg, SyncPgError } from './syncbridge'
import { startTestServer, type TestServer } from './testserver'

const why = pgUnavailableReason()

/** Runs fn and returns what it threw (fails the test when it did not throw). */
function thrown(fn: () => unknown): SyncPgError {
  try { fn() } catch (e) { return e as SyncPgError }
  throw new Error('expected an error')
}

describe.skipIf(why !== null)(`SyncPg over a live server${why ? ` (skipped: ${why})` : ''}`, () => {
  let srv: TestServer
  let b: SyncPg

  beforeAll(async () => {
    srv = await startTestServer('iddb-syncpg-')
    b = SyncPg.open({ conns: { CMB: srv.spec(), OTHER: srv.spec() }, graceMs: 300 })
  }, 120_000)

  afterAll(() => {
    b?.close()
    srv?.remove()
  }, 60_000)

  it('runs statements synchronously: rows as plain objects, bigint and numeric as numbers, params, rowCount', () => {
    const r = b.query('CMB', 'SELECT 1::int AS a, 9007199254740993::bigint AS huge, 42::bigint AS n, 2.5::numeric AS x, $1::text AS t, NULL AS z', ['hé'])
    expect(r.rows).toEqual([{ a: 1, huge: '9007199254740993', n: 42, x: 2.5, t: 'hé', z: null }])
    b.query('CMB', 'CREATE TABLE t1 (k bigint PRIMARY KEY, v text)')
    expect(b.query('CMB', 'INSERT INTO t1 VALUES ($1, $2), ($3, $4)', [1, 'a', 2, 'b']).rowCount).toBe(2)
    expect(b.query('CMB', 'SELECT k, v FROM t1 ORDER BY k').rows).toEqual([{ k: 1, v: 'a' }, { k: 2, v: 'b' }])
    // several statements without params: the last one's result
    expect(b.query('CMB', 'SELECT 1 AS one; SELECT 2 AS two').rows).toEqual([{ two: 2 }])
  })

  it('keeps one session per named connection: a transaction on one is not seen by the other until it commits', () => {
    b.query('CMB', 'BEGIN')
    b.query('CMB', 'INSERT INTO t1 VALUES (3, $1)', ['c'])
    expect(b.query('OTHER', 'SELECT COUNT(*) AS n FROM t1').rows[0].n).toBe(2)
    b.query('CMB', 'COMMIT')
    expect(b.query('OTHER', 'SELECT COUNT(*) AS n FROM t1').rows[0].n).toBe(3)
  })

  it('submit sends without waiting: statements of two connections run at once, one connection\'s in the order sent, each outcome collected once', () => {
    b.query('CMB', 'CREATE TABLE t_ahead (k int PRIMARY KEY)')
    // OTHER waits on a row CMB holds; CMB's commit, sent after, frees it: both were in flight together
    b.query('CMB', 'BEGIN; INSERT INTO t_ahead VALUES (1)')
    const waits = b.submit('OTHER', 'INSERT INTO t_ahead VALUES (1) ON CONFLICT DO NOTHING')
    const commit = b.submit('CMB', 'COMMIT')
    const later = b.submit('CMB', 'SELECT count(*)::int AS n FROM t_ahead') // behind the COMMIT on its connection
    expect(b.query('CMB', 'SELECT 7 AS x').rows).toEqual([{ x: 7 }]) // a call made meanwhile: the others' replies are kept
    expect(b.collect(later).rows).toEqual([{ n: 1 }])
    expect(b.collect(waits).rowCount).toBe(0)
    expect(b.collect(commit).rowCount).toBe(0)
    expect(thrown(() => b.collect(commit))).toMatchObject({ code: 'NOT_FOUND' })
    // a failure is collected as query() would have thrown it
    const bad = b.submit('CMB', 'INSERT INTO t_ahead VALUES (1)')
    expect(thrown(() => b.collect(bad))).toMatchObject({ code: 'CONSTRAINT_VIOLATION', sqlstate: '23505', site: 'CMB' })
  })

  it('a text that opens a transaction and fails part-way is rolled back by the worker with rollbackOnError, before the connection\'s next statement', () => {
    const fail = 'BEGIN; INSERT INTO t_ahead VALUES (2); INSERT INTO t_ahead VALUES (1)'
    const t = b.submit('CMB', fail, [], { rollbackOnError: true })
    const next = b.submit('CMB', 'SELECT count(*)::int AS n FROM t_ahead')
    expect(thrown(() => b.collect(t))).toMatchObject({ code: 'CONSTRAINT_VIOLATION' })
    expect(b.collect(next).rows).toEqual([{ n: 1 }]) // not "current transaction is aborted"; row 2 rolled back
    // without it the session stays in the failed transaction until the caller ends it (as query() always did)
    expect(thrown(() => b.query('CMB', fail))).toMatchObject({ code: 'CONSTRAINT_VIOLATION' })
    expect(thrown(() => b.query('CMB', 'SELECT 1'))).toMatchObject({ sqlstate: '25P02' })
    b.query('CMB', 'ROLLBACK')
  })

  it('bad SQL gives SQL_ERROR with the SQLSTATE and the site, and changes nothing', () => {
    const e = thrown(() => b.query('CMB', 'INSERT INTO t1 VALUES (4, $1); SELEC oops', ['d']))
    expect(e).toBeInstanceOf(EngineError)
    expect(e).toMatchObject({ code: 'SQL_ERROR', site: 'CMB', sqlstate: '42601' })
    expect(e.message).toMatch(/syntax error/)
    expect(thrown(() => b.query('CMB', 'SELECT nope FROM t1'))).toMatchObject({ code: 'SQL_ERROR', sqlstate: '42703' })
    expect(thrown(() => b.query('CMB', 'INSERT INTO t1 VALUES (1, $1)', ['dup']))).toMatchObject({ code: 'CONSTRAINT_VIOLATION', sqlstate: '23505' })
    expect(b.query('CMB', 'SELECT k FROM t1 ORDER BY k').rows.map((r) => r.k)).toEqual([1, 2, 3])
  })

  it('refuses bad calls with BAD_INPUT / UNKNOWN_SITE before anything is sent', () => {
    expect(thrown(() => b.query('XYZ', 'SELECT 1'))).toMatchObject({ code: 'UNKNOWN_SITE' })
    expect(thrown(() => b.query('CMB', '  '))).toMatchObject({ code: 'BAD_INPUT' })
    expect(thrown(() => b.query('CMB', 'SELECT 1', [], { timeoutMs: 0 }))).toMatchObject({ code: 'BAD_INPUT' })
    expect(() => SyncPg.open({ conns: {} })).toThrow(/at least one connection/)
    expect(() => SyncPg.open({ conns: { X: { ...srv.spec(), port: 70000 } } })).toThrow(/not a TCP port/)
  })

  it('a statement over its limit gives TIMEOUT (statement_timeout) in about that time, and the connection stays usable', () => {
    const t0 = performance.now()
    const e = thrown(() => b.query('CMB', 'SELECT pg_sleep(10)', [], { timeoutMs: 300 }))
    const ms = performance.now() - t0
    expect(e).toMatchObject({ code: 'TIMEOUT', site: 'CMB', sqlstate: '57014' })
    expect(e.message).toMatch(/300 ms limit; the server cancelled it/)
    expect(ms).toBeGreaterThanOrEqual(290)
    expect(ms).toBeLessThan(2_000)
    expect(b.query('CMB', 'SELECT 7 AS x').rows).toEqual([{ x: 7 }])
    // the session's limit is back to the default for the next call
    expect(b.query('CMB', 'SHOW statement_timeout').rows[0].statement_timeout).toBe('30s')
  })

  it('the watchdog cancels, with pg_cancel_backend from a second connection, a statement the server does not stop', () => {
    const lim = { timeoutMs: 1_500 }
    b.query('OTHER', 'SELECT 1', [], lim) // the session now has statement_timeout 1.5 s …
    b.query('OTHER', 'SET statement_timeout = 0', [], lim) // … and by hand none: only the watchdog can stop the next call
    const t0 = performance.now()
    const e = thrown(() => b.query('OTHER', 'SELECT pg_sleep(60)', [], lim))
    const ms = performance.now() - t0
    expect(e).toMatchObject({ code: 'TIMEOUT', site: 'OTHER', sqlstate: '57014' })
    expect(e.message).toMatch(/1500 ms limit and was cancelled \(pg_cancel_backend\)/)
    expect(ms).toBeGreaterThanOrEqual(1_500 + 300)
    expect(ms).toBeLessThan(5_000)
    expect(b.query('OTHER', 'SELECT 8 AS x').rows).toEqual([{ x: 8 }])
  })

  it('a backend that does not answer at all (SIGSTOP) is given up: TIMEOUT after the limit and two graces, the connection dropped, the next call on a new session', () => {
    const lim = { timeoutMs: 500 }
    const pid = Number(b.query('OTHER', 'SELECT pg_backend_pid() AS p', [], lim).rows[0].p)
    process.kill(pid, 'SIGSTOP')
    const t0 = performance.now()
    let e: SyncPgError
    try { e = thrown(() => b.query('OTHER', 'SELECT 1', [], lim)) } finally { process.kill(pid, 'SIGCONT') }
    const ms = performance.now() - t0
    expect(e).toMatchObject({ code: 'TIMEOUT', site: 'OTHER' })
    expect(e.message).toMatch(/did not end when cancelled .* the connection is dropped/)
    expect(ms).toBeGreaterThanOrEqual(500 + 2 * 300)
    expect(ms).toBeLessThan(4_000)
    expect(Number(b.query('OTHER', 'SELECT pg_backend_pid() AS p').rows[0].p)).not.toBe(pid)
  })

  it('a connection lost inside a transaction is reported to one call (UNREACHABLE), then reconnects; one lost between transactions reconnects silently', async () => {
    const pid = () => Number(b.query('CMB', 'SELECT pg_backend_pid() AS p').rows[0].p)
    const kill = async (p: number) => {
      const admin = new pg.Client(srv.spec()); await admin.connect()
      try { await admin.query('SELECT pg_terminate_backend($1)', [p]) } finally { await admin.end() }
      await new Promise((r) => setTimeout(r, 200)) // the worker hears the server's FATAL while idle
    }
    // lost while idle inside a transaction: the next call is refused, not run in a fresh session
    b.query('CMB', 'BEGIN')
    b.query('CMB', 'INSERT INTO t1 VALUES (10, $1)', ['lost'])
    await kill(pid())
    const e = thrown(() => b.query('CMB', 'INSERT INTO t1 VALUES (11, $1)', ['lost']))
    expect(e).toMatchObject({ code: 'UNREACHABLE', site: 'CMB' })
    expect(e.message).toMatch(/lost inside a transaction, which the server rolled back .*this statement was not run/)
    b.query('CMB', 'ROLLBACK') // a new session: nothing to roll back
    // lost while a statement runs inside a transaction: that statement's caller hears it, once
    b.query('CMB', 'BEGIN')
    b.query('CMB', 'INSERT INTO t1 VALUES (12, $1)', ['lost'])
    const e2 = thrown(() => b.query('CMB', 'SELECT pg_terminate_backend(pg_backend_pid())'))
    expect(e2).toMatchObject({ code: 'UNREACHABLE', sqlstate: '57P01' })
    expect(e2.message).toMatch(/was lost inside a transaction/)
    expect(b.query('CMB', 'SELECT COUNT(*) AS n FROM t1 WHERE k >= 10').rows[0].n).toBe(0)
    // between transactions: the next call simply opens a new session
    const before = pid()
    await kill(before)
    expect(pid()).not.toBe(before)
  })

  it('a server that is not there gives UNREACHABLE within the connect limit', () => {
    const dead = SyncPg.open({ conns: { KDY: { ...srv.spec(), port: srv.port + 1 } }, connectTimeoutMs: 1_000 })
    try {
      const t0 = performance.now()
      const e = thrown(() => dead.query('KDY', 'SELECT 1'))
      expect(e).toMatchObject({ code: 'UNREACHABLE', site: 'KDY' })
      expect(e.message).toMatch(/cannot connect to 127\.0\.0\.1/)
      expect(performance.now() - t0).toBeLessThan(2_000)
    } finally { dead.close() }
    const wrong = SyncPg.open({ conns: { CMB: { ...srv.spec(), password: 'not-the-password' } } })
    try { expect(thrown(() => wrong.query('CMB', 'SELECT 1'))).toMatchObject({ code: 'AUTH_FAILED', sqlstate: '28P01' }) } finally { wrong.close() }
  })

  it('queryMany runs a batch at once on its connections and waits once: each outcome its own, in order', () => {
    // together, not one after the other: CMB's statement (first in the batch) waits for a lock OTHER holds, and
    // OTHER's (second) lets it go — run in turn, the first would wait out its limit
    b.query('OTHER', 'SELECT pg_advisory_lock(42)')
    const [a, c] = b.queryMany([
      { conn: 'CMB', sql: 'SELECT pg_advisory_lock(42), 1 AS x', timeoutMs: 5_000 },
      { conn: 'OTHER', sql: 'SELECT pg_advisory_unlock(42), $1::int AS x', params: [2], arrays: true },
    ])
    expect(a).toMatchObject({ ok: true, rows: [{ x: 1 }], rowCount: 1 })
    expect(c).toMatchObject({ ok: true, columns: ['pg_advisory_unlock', 'x'], rows: [[true, 2]] })
    b.query('CMB', 'SELECT pg_advisory_unlock(42)')
    // statements of one connection run in the order given (the same session: the INSERT sees the CREATE)
    const t0 = performance.now()
    const same = b.queryMany([
      { conn: 'CMB', sql: 'SELECT pg_sleep(0.2)' },
      { conn: 'CMB', sql: 'CREATE TABLE t_batch (k int)' },
      { conn: 'CMB', sql: 'INSERT INTO t_batch VALUES (1), (2)' },
    ])
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190)
    expect(same.map((o) => o.ok)).toEqual([true, true, true])
    expect(same[2]).toMatchObject({ rowCount: 2 })
    // one failing (SQL_ERROR, a TIMEOUT of its own limit) does not stop the others; the connections stay usable
    const mixed = b.queryMany([
      { conn: 'CMB', sql: 'SELECT nope FROM t_batch' },
      { conn: 'OTHER', sql: 'SELECT pg_sleep(5)', timeoutMs: 300 },
      { conn: 'CMB', sql: 'SELECT COUNT(*) AS n FROM t_batch' },
    ])
    expect(mixed[0]).toMatchObject({ ok: false, error: { code: 'SQL_ERROR', site: 'CMB', sqlstate: '42703' } })
    expect(mixed[1]).toMatchObject({ ok: false, error: { code: 'TIMEOUT', site: 'OTHER', sqlstate: '57014' } })
    expect(mixed[1].ok === false && mixed[1].error).toBeInstanceOf(SyncPgError)
    expect(mixed[2]).toMatchObject({ ok: true, rows: [{ n: 2 }] })
    expect(b.query('OTHER', 'SELECT 9 AS x').rows).toEqual([{ x: 9 }])
    expect(b.queryMany([])).toEqual([])
  })

  it('queryMany refuses a malformed batch before anything of it is sent', () => {
    const e = thrown(() => b.queryMany([{ conn: 'CMB', sql: 'INSERT INTO t_batch VALUES (3)' }, { conn: 'XYZ', sql: 'SELECT 1' }]))
    expect(e).toMatchObject({ code: 'UNKNOWN_SITE' })
    expect(thrown(() => b.queryMany([{ conn: 'CMB', sql: 'INSERT INTO t_batch VALUES (3)' }, { conn: 'OTHER', sql: ' ' }]))).toMatchObject({ code: 'BAD_INPUT', site: 'OTHER' })
    expect(thrown(() => b.queryMany([{ conn: 'CMB', sql: 'INSERT INTO t_batch VALUES (3)', timeoutMs: -1 }]))).toMatchObject({ code: 'BAD_INPUT' })
    expect(thrown(() => b.queryMany('SELECT 1' as never))).toMatchObject({ code: 'BAD_INPUT' })
    expect(b.query('CMB', 'SELECT COUNT(*) AS n FROM t_batch').rows).toEqual([{ n: 2 }])
  })

  it('repoint sends a connection elsewhere from its next call (a failover); a session inside a transaction is reported lost once; bad specs are refused', () => {
    b.query('OTHER', 'CREATE DATABASE repointed')
    b.query('OTHER', 'BEGIN')
    b.query('OTHER', 'SELECT 1')
    b.repoint('OTHER', srv.spec('repointed'))
    expect(b.specOf('OTHER')).toMatchObject({ database: 'repointed', port: srv.port })
    expect(b.specOf('OTHER')).not.toHaveProperty('password')
    // the transaction at the old server is gone: one call hears of it, the next runs at the new one
    expect(thrown(() => b.query('OTHER', 'SELECT 1')).code).toBe('UNREACHABLE')
    expect(b.query('OTHER', 'SELECT current_database() AS d').rows).toEqual([{ d: 'repointed' }])
    expect(b.query('CMB', 'SELECT current_database() AS d').rows).toEqual([{ d: 'postgres' }])
    expect(thrown(() => b.repoint('NOPE', srv.spec())).code).toBe('UNKNOWN_SITE')
    expect(thrown(() => b.repoint('OTHER', { ...srv.spec(), port: 0 })).code).toBe('BAD_INPUT')
    expect(b.specOf('OTHER')).toMatchObject({ database: 'repointed' })
    b.repoint('OTHER', srv.spec())
    expect(b.query('OTHER', 'SELECT current_database() AS d').rows).toEqual([{ d: 'postgres' }])
    b.query('OTHER', 'DROP DATABASE repointed')
  })

  it('prepare: a read runs as its session\'s named statement, planned once and reused; a table whose columns changed is read again unprepared; one that does not parse is reported every time and not kept; inside a transaction it is sent unprepared', () => {
    const prepared = () => b.queryArrays('CMB', 'SELECT statement, generic_plans FROM pg_prepared_statements ORDER BY name').rows as [string, number][]
    b.query('CMB', 'DEALLOCATE ALL')
    const before = prepared().length
    b.query('CMB', 'CREATE TABLE t_prep (a int, b int)')
    b.query('CMB', 'INSERT INTO t_prep VALUES (1, 2)')
    const read = 'SELECT * FROM t_prep'
    for (let i = 0; i < 3; i++) expect(b.queryArrays('CMB', read, [], { prepare: true })).toMatchObject({ columns: ['a', 'b'], rows: [[1, 2]] })
    const p = prepared().filter(([text]) => text === read)
    expect(p).toHaveLength(1)
    expect(p[0][1]).toBe(3) // one plan, kept: every run used it
    // the columns change under the kept plan: the server refuses it (0A000), the read runs again unprepared
    b.query('CMB', 'ALTER TABLE t_prep ADD COLUMN c int')
    expect(b.queryArrays('CMB', read, [], { prepare: true })).toMatchObject({ columns: ['a', 'b', 'c'], rows: [[1, 2, null]] })
    expect(b.queryArrays('CMB', read, [], { prepare: true })).toMatchObject({ columns: ['a', 'b', 'c'] })
    // a statement that does not parse: the server's error each time (never "prepared statement does not exist")
    for (let i = 0; i < 2; i++) expect(thrown(() => b.queryArrays('CMB', 'SELEC 1', [], { prepare: true }))).toMatchObject({ code: 'SQL_ERROR', sqlstate: '42601' })
    expect(prepared().map(([text]) => text)).not.toContain('SELEC 1')
    // inside a transaction: sent as it is (a kept plan that failed there would end the transaction)
    b.query('CMB', 'BEGIN')
    expect(b.queryArrays('CMB', 'SELECT a FROM t_prep', [], { prepare: true }).rows).toEqual([[1]])
    b.query('CMB', 'COMMIT')
    expect(prepared().map(([text]) => text)).not.toContain('SELECT a FROM t_prep')
    // without prepare, or with parameters: not kept
    b.queryArrays('CMB', 'SELECT b FROM t_prep')
    b.queryArrays('CMB', 'SELECT b FROM t_prep WHERE a = $1', [1], { prepare: true })
    expect(prepared().length).toBe(before + 1)
    // past 256 texts a session's statements are all let go and kept anew
    for (let i = 0; i < 260; i++) expect(b.queryArrays('CMB', `SELECT ${i} AS x`, [], { prepare: true }).rows).toEqual([[i]])
    expect(prepared().length).toBeLessThanOrEqual(256)
    expect(b.queryArrays('CMB', read, [], { prepare: true }).rows).toEqual([[1, 2, null]])
    b.query('CMB', 'DROP TABLE t_prep')
  })

  it('setCut tears the sessions down and refuses every call as unreachable until restored: a transaction open there is rolled back at the server, a statement running there ends at once', async () => {
    b.query('CMB', 'CREATE TABLE t_cut (k int)')
    b.query('CMB', 'BEGIN')
    b.query('CMB', 'INSERT INTO t_cut VALUES (1)')
    const pid = Number(b.query('CMB', 'SELECT pg_backend_pid() AS p').rows[0].p)
    const states = b.setCut(['CMB'], true)
    expect(states.find((x) => x.conn === 'CMB')).toMatchObject({ open: false, cut: true })
    expect(states.find((x) => x.conn === 'OTHER')).toMatchObject({ cut: false })
    // the caller hears of the transaction's loss once, then of the cut
    expect(thrown(() => b.query('CMB', 'SELECT 1')).message).toMatch(/lost inside a transaction/)
    const e = thrown(() => b.query('CMB', 'SELECT 1'))
    expect(e).toMatchObject({ code: 'UNREACHABLE', site: 'CMB' })
    expect(e.message).toMatch(/link to the server is cut/)
    expect(b.connStates().find((x) => x.conn === 'CMB')!.refused).toBeGreaterThan(0)
    // the server saw its client go: the session ended, its insert rolled back
    let gone = false
    for (let i = 0; i < 100 && !gone; i++) {
      gone = Number(b.query('OTHER', 'SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid]).rows[0].n) === 0
      if (!gone) await new Promise((r) => setTimeout(r, 20))
    }
    expect(gone).toBe(true)
    expect(b.query('OTHER', 'SELECT COUNT(*)::int AS n FROM t_cut').rows[0].n).toBe(0)
    b.setCut(['CMB'], false)
    expect(b.query('CMB', 'SELECT 1 AS x').rows).toEqual([{ x: 1 }])
    // a statement running when the link is cut fails at once (not after its sleep)
    const t = b.submit('CMB', 'SELECT pg_sleep(20)')
    for (let i = 0; i < 100; i++) {
      if (Number(b.query('OTHER', "SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(20)' AND state = 'active'").rows[0].n) > 0) break
      await new Promise((r) => setTimeout(r, 20))
    }
    const t0 = performance.now()
    b.setCut(['CMB'], true)
    expect(thrown(() => b.collect(t))).toMatchObject({ code: 'UNREACHABLE' })
    expect(performance.now() - t0).toBeLessThan(5_000)
    b.setCut(['CMB'], false)
    expect(b.query('CMB', 'SELECT 2 AS x').rows).toEqual([{ x: 2 }])
    expect(thrown(() => b.setCut(['NOPE'], true)).code).toBe('UNKNOWN_SITE')
    b.query('CMB', 'DROP TABLE t_cut')
  })

  it('close ends the sessions; a closed bridge refuses calls', async () => {
    const c = SyncPg.open({ conns: { CMB: { ...srv.spec(), applicationName: 'iddb:close-test' } } })
    c.query('CMB', 'SELECT 1')
    const sessions = async () => {
      const admin = new pg.Client(srv.spec()); await admin.connect()
      try { return Number((await admin.query("SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE application_name = 'iddb:close-test'")).rows[0].n) } finally { await admin.end() }
    }
    expect(await sessions()).toBe(1)
    c.close()
    c.close()
    expect(await sessions()).toBe(0)
    expect(thrown(() => c.query('CMB', 'SELECT 1'))).toMatchObject({ code: 'NOT_READY' })
  })
})
