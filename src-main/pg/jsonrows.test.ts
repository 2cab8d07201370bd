/**
 * A live site's rows as one JSON text (sitestore.ts LiveServer): a statement answered before, whose columns are
 * all of types JSON carries exactly, comes back wrapped in json_agg and parsed once — with the same values and
 * types as row by row; anything else (a bytea column, an ORDER BY, an integer past 2^53) row by row. Against a
 * real server this test starts in a temporary directory; skipped, with the reason, where PostgreSQL is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pgUnavailableReason } from './servers'
import { SyncPg } from './syncbridge'
import { startTestServer, type TestServer } from './testserver'
import { PgSiteStore } from './sitestore'

const why = pgUnavailableReason()
const DB = 'site'

describe.skipIf(why !== null)(`a live site's rows as one JSON text${why ? ` (skipped: ${why})` : ''}`, () => {
  let srv: TestServer
  let b: SyncPg
  let store: PgSiteStore
  const sent: string[] = []

  beforeAll(async () => {
    srv = await startTestServer('iddb-jsonrows-')
    const setup = SyncPg.open({ conns: { PG: srv.spec() } })
    try { setup.query('PG', `CREATE DATABASE ${DB}`) } finally { setup.close() }
    b = SyncPg.open({ conns: { KDY: srv.spec(DB) } })
    b.query('KDY', `CREATE TABLE "T" ("ID" bigint PRIMARY KEY, "N" integer, "R" double precision, "M" numeric, "S" text, "C" char(4), "B" boolean, "X" bytea)`)
    b.query('KDY', `INSERT INTO "T" VALUES
      (1, 7, 1.5, 10.25, 'plain', 'ab', true, '\\x0102'),
      (2, NULL, 'NaN', 'NaN', E'quote '' and "double" and \\\\ backslash', NULL, false, NULL),
      (3, -4, 'Infinity', 3, 'unicode ☃ ü 𝄞', 'x', NULL, NULL),
      (4, 0, 0.30000000000000004, 12345678901.5, '', 'abcd', true, NULL),
      (5, 2147483647, -1e300, -0.5, 'line
break', NULL, false, NULL)`)
    store = new PgSiteStore(b, 'KDY', 'KDY')
    const { queryArrays } = b
    b.queryArrays = function (this: SyncPg, conn, sql, params, opts) { sent.push(sql); return queryArrays.call(this, conn, sql, params, opts) }
  }, 120_000)

  afterAll(() => {
    b?.close()
    srv?.remove()
  }, 60_000)

  /** The store's answer the first time (row by row) and the second (as one JSON text when it may), and what was sent the second time. */
  const twice = (sql: string, params: (string | number | null)[] = []) => {
    const first = store.query(sql, params)
    sent.length = 0
    const second = store.query(sql, params)
    return { first, second, sent: [...sent] }
  }

  it('a statement answered before comes back as one JSON text, with the same values and types (NaN, infinities, quotes, unicode, NULLs)', () => {
    const { first, second, sent: s } = twice('SELECT "ID", "N", "R", "M", "S", "C", "B" FROM "T" WHERE "ID" > ?', [0])
    expect(s).toHaveLength(1)
    expect(s[0]).toMatch(/^SELECT json_agg\(json_build_array\(/)
    expect(second.columns).toEqual(first.columns)
    expect(second.rows).toEqual(first.rows)
    expect(first.rows.length).toBe(5)
    // the values as the bridge's parsers give them: numbers (NaN and infinities as numbers), text, booleans as 1/0
    const byId = new Map(second.rows.map((r) => [r[0], r]))
    expect(byId.get(2)![2]).toBeNaN()
    expect(byId.get(2)![3]).toBeNaN()
    expect(byId.get(3)![2]).toBe(Infinity)
    expect(byId.get(4)![2]).toBe(0.30000000000000004)
    expect(byId.get(1)![6]).toBe(1)
    expect(byId.get(3)![6]).toBe(null)
    expect(byId.get(1)![5]).toBe('ab  ')
    // the answer is counted by what crossed the connection
    expect(second.wire!.received).toBeGreaterThan(0)
  })

  it('no rows: an empty answer either way; a statement with a bytea column or an ORDER BY stays row by row', () => {
    const none = twice('SELECT "ID", "S" FROM "T" WHERE "ID" < 0')
    expect(none.sent[0]).toMatch(/^SELECT json_agg/)
    expect([none.first.rows, none.second.rows]).toEqual([[], []])
    const blob = twice('SELECT "ID", "X" FROM "T"')
    expect(blob.sent[0]).not.toMatch(/json_agg/)
    expect(blob.second.rows).toEqual(blob.first.rows)
    const ordered = twice('SELECT "ID", "S" FROM "T" ORDER BY "ID" DESC')
    expect(ordered.sent[0]).not.toMatch(/json_agg/)
    expect(ordered.second.rows.map((r) => r[0])).toEqual([5, 4, 3, 2, 1])
  })

  it('an integer that may be past 2^53 is read again row by row: kept exact, as text', () => {
    b.query('KDY', `INSERT INTO "T" ("ID", "N", "S") VALUES (9007199254740993, 1, 'big')`)
    try {
      const big = twice('SELECT "ID", "S" FROM "T" WHERE "N" = 1')
      expect(big.sent).toHaveLength(2)
      expect(big.sent[0]).toMatch(/^SELECT json_agg/)
      expect(big.sent[1]).not.toMatch(/json_agg/)
      expect(big.second.rows).toEqual(big.first.rows)
      expect(big.second.rows).toContainEqual(['9007199254740993', 'big'])
    } finally { b.query('KDY', `DELETE FROM "T" WHERE "ID" = 9007199254740993`) }
  })
})
