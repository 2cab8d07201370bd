/**
 * The DTM's TxnStore over a live PostgreSQL server (PgTxnStore on SyncPg), against a real server this test
 * starts in a temporary directory: reads and after-images, refusals that change nothing, and two-phase
 * commit at the server — PREPARE TRANSACTION, COMMIT / ROLLBACK PREPARED, and a server killed with SIGKILL
 * between PREPARE and COMMIT PREPARED. Skipped, with the reason, where PostgreSQL is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TxnWrite } from '../../engine/txn/log'
import { pgUnavailableReason } from './servers'
import { SyncPg, type SyncPgError } from './syncbridge'
import { startTestServer, type TestServer } from './testserver'
import { PgTxnStore } from './txnstore'

const why = pgUnavailableReason()
const DB = 'site'

function thrown(fn: () => unknown): SyncPgError {
  try { fn() } catch (e) { return e as SyncPgError }
  throw new Error('expected an error')
}

describe.skipIf(why !== null)(`PgTxnStore over a live server${why ? ` (skipped: ${why})` : ''}`, () => {
  let srv: TestServer
  let b: SyncPg
  let store: PgTxnStore
  /** What another session sees: committed rows only. */
  const other = (sql: string, params: unknown[] = []) => b.query('ADMIN', sql, params).rows
  const qty = (code: number) => other('SELECT "QTY" AS q FROM "Stock_KDY" WHERE "STOCKCODE" = $1', [code])[0]?.q as number
  const inDoubt = () => other('SELECT gid FROM pg_prepared_xacts ORDER BY gid').map((r) => r.gid)
  const upd = (code: number, q: number): TxnWrite => ({ table: 'Stock_KDY', key: String(code), row: { STOCKCODE: code, QTY: q, ITEM: `item ${code}`, PRICE: 1.5 }, cols: ['QTY'] })

  beforeAll(async () => {
    srv = await startTestServer('iddb-txnstore-')
    const setup = SyncPg.open({ conns: { PG: srv.spec() } })
    try { setup.query('PG', `CREATE DATABASE ${DB}`) } finally { setup.close() }
    b = SyncPg.open({ conns: { KDY: srv.spec(DB), ADMIN: srv.spec(DB) }, graceMs: 300 })
    other('CREATE TABLE "Stock_KDY" ("STOCKCODE" bigint PRIMARY KEY, "QTY" bigint NOT NULL, "ITEM" text, "PRICE" double precision)')
    other('CREATE TABLE "Pairs" ("A" bigint, "B" bigint, "V" text, PRIMARY KEY ("A", "B"))')
    other('INSERT INTO "Stock_KDY" SELECT g, 100, \'item \' || g, 1.5 FROM generate_series(1, 5) g')
    store = new PgTxnStore({ bridge: b, conn: 'KDY', writeRefusal: (t) => (t === 'Pairs' ? 'Pairs is a read-only replica at KDY' : undefined) })
  }, 120_000)

  afterAll(() => {
    b?.close()
    srv?.remove()
  }, 60_000)

  it('the servers allow two-phase commit (max_prepared_transactions set by servers.ts)', () => {
    expect(Number(other('SHOW max_prepared_transactions')[0].max_prepared_transactions)).toBe(64)
  })

  it('reads the key column and column types from the server; resolves names case-insensitively; finds a table created later', () => {
    expect(store.resolveTable('stock_kdy')).toBe('Stock_KDY')
    expect(store.keyColumn('Stock_KDY')).toBe('STOCKCODE')
    expect(store.columns('Stock_KDY')).toEqual([
      { name: 'STOCKCODE', type: 'INTEGER' }, { name: 'QTY', type: 'INTEGER' }, { name: 'ITEM', type: 'TEXT' }, { name: 'PRICE', type: 'REAL' },
    ])
    expect(store.keyColumn('Pairs')).toBe('') // a two-column key: locked as a whole
    expect(thrown(() => store.resolveTable('Nope'))).toMatchObject({ code: 'UNKNOWN_TABLE', site: 'KDY' })
    other('CREATE TABLE "Later" ("ID" bigint PRIMARY KEY)')
    expect(store.keyColumn('later')).toBe('ID')
  })

  it('round trip: apply inserts, updates in place and deletes; get and scan read them back (upper-case keys); applying again changes nothing', () => {
    const writes: TxnWrite[] = [
      { table: 'Stock_KDY', key: '6', row: { STOCKCODE: 6, QTY: 60, ITEM: 'new', PRICE: 2.25 } },
      upd(1, 99),
      { table: 'stock_kdy', key: '5', row: null },
    ]
    store.apply(writes)
    expect(store.get('Stock_KDY', '6')).toEqual({ STOCKCODE: 6, QTY: 60, ITEM: 'new', PRICE: 2.25 })
    expect(store.get('Stock_KDY', '1')).toEqual({ STOCKCODE: 1, QTY: 99, ITEM: 'item 1', PRICE: 1.5 })
    expect(store.get('Stock_KDY', '5')).toBeUndefined()
    expect(store.get('Stock_KDY', 'not-a-number')).toBeUndefined()
    expect(store.scan('Stock_KDY').map((r) => [r.STOCKCODE, r.QTY])).toEqual([[1, 99], [2, 100], [3, 100], [4, 100], [6, 60]])
    store.apply(writes) // redo: idempotent
    expect(store.scan('Stock_KDY').map((r) => [r.STOCKCODE, r.QTY])).toEqual([[1, 99], [2, 100], [3, 100], [4, 100], [6, 60]])
    // an UPDATE image of a row that is not there any more is written whole
    store.apply([{ ...upd(5, 55) }])
    expect(store.get('Stock_KDY', '5')).toEqual({ STOCKCODE: 5, QTY: 55, ITEM: 'item 5', PRICE: 1.5 })
  })

  it('refuses bad writes with a clear error and changes nothing: unknown column, bad value, no one-column key, a read-only replica', () => {
    const before = store.scan('Stock_KDY')
    const e = thrown(() => store.apply([upd(2, 1), { table: 'Stock_KDY', key: '3', row: { STOCKCODE: 3, QTY: 1, COLOUR: 'red' } }]))
    expect(e).toMatchObject({ code: 'SQL_ERROR', site: 'KDY' })
    expect(e.message).toMatch(/no column COLOUR/)
    expect(thrown(() => store.apply([upd(2, 1), { table: 'Stock_KDY', key: '3', row: { STOCKCODE: 3, QTY: 'lots' } }]))).toMatchObject({ code: 'SQL_ERROR', sqlstate: '22P02' })
    expect(thrown(() => store.apply([upd(2, 1), { table: 'Stock_KDY', key: '3', row: { STOCKCODE: 3, QTY: null } }]))).toMatchObject({ code: 'CONSTRAINT_VIOLATION', sqlstate: '23502' })
    expect(thrown(() => store.apply([upd(2, 1), { table: 'Pairs', key: '1', row: { A: 1, B: 2, V: 'x' } }]))).toMatchObject({ code: 'UNSUPPORTED' })
    expect(thrown(() => store.apply([upd(2, 1), { table: 'Nope', key: '1', row: null }]))).toMatchObject({ code: 'UNKNOWN_TABLE' })
    expect(store.scan('Stock_KDY')).toEqual(before)
    expect(thrown(() => store.checkWrite('pairs'))).toMatchObject({ code: 'UNSUPPORTED', message: 'Pairs is a read-only replica at KDY' })
    store.checkWrite('Stock_KDY')
    // the session is usable afterwards (no transaction left open)
    expect(other("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'")[0].n).toBe(0)
  })

  it('prepare: in pg_prepared_xacts, not visible to reads, its locks held; commitPrepared makes it visible; a repeated decision is reported, not applied twice', () => {
    const q2 = qty(2)
    store.prepare('KDY-1', [upd(2, q2 + 10), { table: 'Stock_KDY', key: '7', row: { STOCKCODE: 7, QTY: 7, ITEM: 'seven', PRICE: 7 } }])
    expect(store.prepared()).toEqual(['KDY-1'])
    expect(inDoubt()).toEqual(['KDY-1'])
    expect(qty(2)).toBe(q2)
    expect(store.get('Stock_KDY', '7')).toBeUndefined()
    // the prepared transaction keeps its row locks: another writer waits (here: until its limit)
    expect(thrown(() => b.query('ADMIN', 'UPDATE "Stock_KDY" SET "QTY" = 0 WHERE "STOCKCODE" = 2', [], { timeoutMs: 300 }))).toMatchObject({ code: 'TIMEOUT' })
    // a gid is prepared once
    expect(thrown(() => store.prepare('KDY-1', [upd(3, 1)]))).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/already prepared/) })
    expect(store.commitPrepared('KDY-1')).toBe('committed')
    expect(qty(2)).toBe(q2 + 10)
    expect(store.get('Stock_KDY', '7')).toMatchObject({ QTY: 7, ITEM: 'seven' })
    expect(store.prepared()).toEqual([])
    expect(store.commitPrepared('KDY-1')).toBe('already-committed')
    expect(store.rollbackPrepared('KDY-1')).toBe('already-committed')
    expect(qty(2)).toBe(q2 + 10)
    expect(thrown(() => store.prepare('KDY-1', [upd(3, 1)]))).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/already committed/) })
    expect(qty(3)).toBe(100)
  })

  it('a read sent ahead answers the get() it anticipates in one wait; after any write through the store since, get() reads again and sees the write', () => {
    const q4 = qty(4)
    const st0 = store.statements
    store.readAhead('stock_kdy', ['4', '3', 'not-a-number'])
    expect(store.statements - st0).toBe(2) // one read a key that can be one
    expect(store.get('Stock_KDY', '4')).toMatchObject({ QTY: q4 })
    expect(store.statements - st0).toBe(2) // answered by the read sent ahead
    // sent ahead, then a write through the store: the read's answer is stale, get() reads again
    store.readAhead('Stock_KDY', ['4'])
    store.apply([upd(4, q4 + 1)])
    expect(store.get('Stock_KDY', '4')).toMatchObject({ QTY: q4 + 1 })
    // ... and a commit of a prepared transaction
    store.prepare('KDY-RA', [upd(4, q4 + 2)])
    store.readAhead('Stock_KDY', ['4'])
    expect(store.commitPrepared('KDY-RA')).toBe('committed')
    expect(store.get('Stock_KDY', '4')).toMatchObject({ QTY: q4 + 2 })
    // a read of a table the store does not have, or without a one-column key, is left to get()
    store.readAhead('Nope', ['1'])
    store.readAhead('Pairs', ['1'])
    expect(store.get('Stock_KDY', '3')).toMatchObject({ QTY: qty(3) }) // the stale one for 3 collected, read again
  })

  it('rollbackPrepared leaves nothing; finishing a gid that is not there says absent', () => {
    const before = store.scan('Stock_KDY')
    store.prepare('KDY-2', [upd(3, 3), { table: 'Stock_KDY', key: '1', row: null }])
    expect(inDoubt()).toEqual(['KDY-2'])
    expect(store.rollbackPrepared('KDY-2')).toBe('rolled-back')
    expect(inDoubt()).toEqual([])
    expect(store.scan('Stock_KDY')).toEqual(before)
    expect(store.rollbackPrepared('KDY-2')).toBe('absent')
    expect(store.commitPrepared('KDY-2')).toBe('absent')
    expect(store.commitPrepared('never-prepared')).toBe('absent')
    expect(store.scan('Stock_KDY')).toEqual(before)
  })

  it('a prepare whose writes fail prepares nothing and changes nothing; a gid PostgreSQL cannot take is refused', () => {
    const before = store.scan('Stock_KDY')
    expect(thrown(() => store.prepare('KDY-3', [upd(3, 33), { table: 'Stock_KDY', key: '4', row: { STOCKCODE: 4, QTY: 'x' } }]))).toMatchObject({ code: 'SQL_ERROR' })
    expect(inDoubt()).toEqual([])
    expect(store.scan('Stock_KDY')).toEqual(before)
    // the failed gid was not used up
    store.prepare('KDY-3', [upd(3, 33)])
    expect(store.commitPrepared('KDY-3')).toBe('committed')
    expect(qty(3)).toBe(33)
    for (const gid of ["it's", 'back\\slash', '', 'x'.repeat(200), 'naïve']) expect(thrown(() => store.prepare(gid, [upd(3, 1)]))).toMatchObject({ code: 'BAD_INPUT' })
    expect(qty(3)).toBe(33)
  })

  it('one round trip for an apply and for a prepare; values of any text arrive exactly as written (quotes, backslashes, dollar quotes, SQL); a gid with $ in it prepares', () => {
    const tricky = ["it's", 'back\\slash \\n', "x'); DROP TABLE \"Stock_KDY\"; --", '$iddb$ END$iddb$; $$', 'naïve ☃', '']
    // also in a session that reads backslashes in '…' as escapes (standard_conforming_strings off)
    for (const [round, conforming] of [[0, 'on'], [1, 'off']] as const) {
      b.query('KDY', `SET standard_conforming_strings = ${conforming}`)
      tricky.forEach((t, i) => {
        const n = 20 + 10 * round + i
        const before = store.statements
        store.apply([{ table: 'Stock_KDY', key: String(n), row: { STOCKCODE: n, QTY: n, ITEM: t, PRICE: 0.1 } }])
        expect(store.statements - before).toBe(1)
        expect(other('SELECT "ITEM" AS t, "PRICE" AS p FROM "Stock_KDY" WHERE "STOCKCODE" = $1', [n])[0]).toEqual({ t, p: 0.1 })
        const gid = `KDY-lit-${round}-${i}-$iddb$`
        const b2 = store.statements
        store.prepare(gid, [{ table: 'Stock_KDY', key: String(n), row: { STOCKCODE: n, QTY: n + 1, ITEM: `${t}!`, PRICE: 0.1 }, cols: ['ITEM'] }])
        expect(store.statements - b2).toBe(1)
        expect(store.commitPrepared(gid)).toBe('committed')
        expect(other('SELECT "ITEM" AS t, "QTY" AS q FROM "Stock_KDY" WHERE "STOCKCODE" = $1', [n])[0]).toEqual({ t: `${t}!`, q: n }) // only ITEM changed
      })
    }
    b.query('KDY', 'SET standard_conforming_strings = on')
    expect(other('SELECT COUNT(*) AS n FROM "Stock_KDY"')[0].n).toBeGreaterThan(5) // the table is still there
  })

  it('an UPDATE image sets only its changed columns (a change made beside the DTM to another column stays); values of other kinds go as parameters; a value too long for its column is refused, not cut', () => {
    other('UPDATE "Stock_KDY" SET "ITEM" = \'renamed beside\' WHERE "STOCKCODE" = 2')
    store.apply([upd(2, 222)])
    expect(other('SELECT "ITEM" AS t, "QTY" AS q FROM "Stock_KDY" WHERE "STOCKCODE" = 2')[0]).toEqual({ t: 'renamed beside', q: 222 })
    other('CREATE TABLE "Events" ("ID" bigint PRIMARY KEY, "AT" timestamptz, "DOC" jsonb, "CODE" varchar(3))')
    const at = new Date('2024-05-06T07:08:09.123Z')
    store.apply([{ table: 'Events', key: '1', row: { ID: 1, AT: at, DOC: { a: [1, 'two'] }, CODE: 'abc' } }])
    store.prepare('KDY-ev', [{ table: 'Events', key: '1', row: { ID: 1, AT: new Date(at.getTime() + 1000), DOC: { a: 3 }, CODE: 'xyz' }, cols: ['AT', 'DOC', 'CODE'] }])
    expect(store.commitPrepared('KDY-ev')).toBe('committed')
    expect(other('SELECT "AT" AS at, "DOC" AS doc, "CODE" AS code FROM "Events"')).toEqual([{ at: new Date(at.getTime() + 1000), doc: { a: 3 }, code: 'xyz' }])
    const before = other('SELECT * FROM "Events"')
    // in place (an UPDATE) and as a whole row for a row that is gone (cast to the column's type, then assigned)
    expect(thrown(() => store.apply([{ table: 'Events', key: '1', row: { ID: 1, CODE: 'long' }, cols: ['CODE'] }]))).toMatchObject({ code: 'SQL_ERROR', sqlstate: '22001' })
    expect(thrown(() => store.prepare('KDY-ev2', [{ table: 'Events', key: '2', row: { ID: 2, CODE: 'long' }, cols: ['CODE'] }]))).toMatchObject({ code: 'SQL_ERROR', sqlstate: '22001' })
    expect(other('SELECT * FROM "Events"')).toEqual(before)
    expect(inDoubt()).toEqual([])
    store.prepare('KDY-ev2', [{ table: 'Events', key: '2', row: { ID: 2, CODE: 'ok' }, cols: ['CODE'] }])
    expect(store.commitPrepared('KDY-ev2')).toBe('committed')
    expect(other('SELECT "ID" AS id, "CODE" AS c FROM "Events" ORDER BY 1')).toEqual([{ id: 1, c: 'xyz' }, { id: 2, c: 'ok' }])
  })

  it('a database whose iddb_2pc schema predates the gid check gets it at the first prepare; the check still refuses a gid used before', () => {
    other('DROP FUNCTION iddb_2pc.refuse_used_gid(text)')
    const s2 = new PgTxnStore({ bridge: b, conn: 'KDY' })
    s2.prepare('KDY-up', [upd(3, 303)])
    expect(s2.commitPrepared('KDY-up')).toBe('committed')
    expect(other("SELECT to_regprocedure('iddb_2pc.refuse_used_gid(text)') IS NOT NULL AS f")[0].f).toBe(true)
    expect(thrown(() => s2.prepare('KDY-up', [upd(3, 1)]))).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/already committed/) })
    expect(qty(3)).toBe(303)
  })

  it('a server killed with SIGKILL after PREPARE still lists the gid after restart; commitPrepared then applies it exactly once', async () => {
    const q4 = qty(4)
    store.prepare('KDY-crash', [upd(4, q4 + 1), { table: 'Stock_KDY', key: '8', row: { STOCKCODE: 8, QTY: 8, ITEM: 'eight', PRICE: 8 } }])
    const pids = await srv.kill9()
    expect(pids.length).toBeGreaterThan(1) // the postmaster and its backends
    expect(srv.running()).toBe(false)
    expect(thrown(() => store.get('Stock_KDY', '4'))).toMatchObject({ code: 'UNREACHABLE', site: 'KDY' })
    srv.start()
    // a recovering coordinator: a new bridge and store, as after a restart of the console
    const b2 = SyncPg.open({ conns: { KDY: srv.spec(DB) } })
    try {
      const s2 = new PgTxnStore({ bridge: b2, conn: 'KDY' })
      expect(s2.prepared()).toEqual(['KDY-crash'])
      expect(s2.get('Stock_KDY', '4')?.QTY).toBe(q4) // still in doubt: not visible
      expect(s2.get('Stock_KDY', '8')).toBeUndefined()
      expect(s2.commitPrepared('KDY-crash')).toBe('committed')
      expect(s2.commitPrepared('KDY-crash')).toBe('already-committed') // the decision sent again
      expect(s2.prepared()).toEqual([])
    } finally { b2.close() }
    // the first store's connections come back by themselves (they were between transactions)
    expect(store.get('Stock_KDY', '4')?.QTY).toBe(q4 + 1)
    expect(store.get('Stock_KDY', '8')).toMatchObject({ QTY: 8, ITEM: 'eight' })
    expect(store.commitPrepared('KDY-crash')).toBe('already-committed')
    expect(qty(4)).toBe(q4 + 1)
  }, 120_000)

  it('through the store\'s bridge: a statement over its limit gives TIMEOUT and the connection stays usable; bad SQL gives SQL_ERROR and changes nothing', () => {
    const t0 = performance.now()
    expect(thrown(() => b.query('KDY', 'SELECT pg_sleep(10)', [], { timeoutMs: 300 }))).toMatchObject({ code: 'TIMEOUT', site: 'KDY' })
    expect(performance.now() - t0).toBeLessThan(2_000)
    expect(store.get('Stock_KDY', '8')?.QTY).toBe(8)
    const before = store.scan('Stock_KDY')
    expect(thrown(() => b.query('KDY', 'UPDATE "Stock_KDY" SET "QTY" = 0; UPDATE "Stock_KDY" SET "NOPE" = 1'))).toMatchObject({ code: 'SQL_ERROR', sqlstate: '42703' })
    expect(store.scan('Stock_KDY')).toEqual(before)
  })
})
