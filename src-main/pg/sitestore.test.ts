/**
 * The dialect translation (dialect.ts) on the statements the planner writes, and PgSiteStore's refusals; no
 * server needed. The live DQP over PostgreSQL sites is dqp.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { toPostgres } from './dialect'
import { guardTerm } from '../../engine/query/guard'
import { EngineError } from '../../engine/errors'

describe('SQLite → PostgreSQL dialect (one translation for every statement the DQP sends a live site)', () => {
  it('numbers ? parameters as $1..$n, never inside a string literal or a quoted name', () => {
    const r = toPostgres(`SELECT "A?" FROM "T" WHERE "X" = ? AND "Y" = '?' AND "Z" = ? AND "W" = 'it''s ?'`, [1, 'b'])
    expect(r.text).toBe(`SELECT "A?" FROM "T" WHERE "X" = $1 AND "Y" = '?' AND "Z" = $2 AND "W" = 'it''s ?'`)
    expect(r.values).toEqual([1, 'b'])
    expect(() => toPostgres('SELECT ? , ?', [1])).toThrow(/2 parameters but 1/)
    expect(() => toPostgres(`SELECT 'open`)).toThrow(EngineError)
  })

  it('turns the semijoin key list into a JSON array compared as JSON values, and drops the statement guard', () => {
    const sql = `SELECT "INVNO", "EMPNO" FROM "Sales_CMB" WHERE ("EMPNO" IN (SELECT value FROM json_each(?))) AND (${guardTerm()})`
    const r = toPostgres(sql, ['[19,20,21]'])
    expect(r.text).toBe('SELECT "INVNO", "EMPNO" FROM "Sales_CMB" WHERE (to_jsonb("EMPNO") IN (SELECT jsonb_array_elements($1::jsonb))) AND (TRUE)')
    const single = toPostgres('SELECT "k"."QTY" / 3 AS "k.QTY / 3" FROM "Stock_KDY" AS "k" WHERE ("k"."QTY" > 5) AND __iddb_guard("k"."rowid") UNION SELECT NULL ORDER BY 1 ASC LIMIT 3')
    expect(single.text).toBe('SELECT "k"."QTY" / 3 AS "k.QTY / 3" FROM "Stock_KDY" AS "k" WHERE ("k"."QTY" > 5) AND TRUE UNION SELECT NULL ORDER BY 1 ASC NULLS FIRST LIMIT 3')
    expect(() => toPostgres('SELECT value FROM json_each(?)', ['[1]'])).toThrow(/semijoin/)
  })

  it('quotes unquoted names as written (a live site keeps their case), not keywords, functions or casts', () => {
    expect(toPostgres('SELECT COL_NAME, "TABLE", LKEY, HKEY FROM LCAT_COLUMNS').text).toBe('SELECT "COL_NAME", "TABLE", "LKEY", "HKEY" FROM "LCAT_COLUMNS"')
    expect(toPostgres(`SELECT typeof(SUM("QTY")) = 'real' AS "__t0", COUNT(*) FROM s.T WHERE x IS NOT NULL AND y BETWEEN 1 AND 2 GROUP BY z`).text)
      .toBe(`SELECT typeof(SUM("QTY")) = 'real' AS "__t0", COUNT(*) FROM "s"."T" WHERE "x" IS NOT NULL AND "y" BETWEEN 1 AND 2 GROUP BY "z"`)
  })

  it('sorts NULLs as SQLite does: first ascending, last descending (an explicit NULLS is kept)', () => {
    expect(toPostgres('SELECT 1 FROM "T" ORDER BY "A" DESC, "B" ASC').text).toBe('SELECT 1 FROM "T" ORDER BY "A" DESC NULLS LAST, "B" ASC NULLS FIRST')
    expect(toPostgres('SELECT 1 FROM "T" ORDER BY "A" DESC NULLS FIRST').text).toBe('SELECT 1 FROM "T" ORDER BY "A" DESC NULLS FIRST')
  })

  it('applies a chain of set operations left to right, as SQLite does (PostgreSQL binds INTERSECT tighter)', () => {
    expect(toPostgres('SELECT "A" FROM "T" UNION SELECT 1 INTERSECT SELECT 2 EXCEPT SELECT 3 ORDER BY 1 ASC').text)
      .toBe('((SELECT "A" FROM "T" UNION SELECT 1 ) INTERSECT SELECT 2 ) EXCEPT SELECT 3 ORDER BY 1 ASC NULLS FIRST')
    expect(toPostgres('SELECT "E" FROM "T" WHERE "E" IN (SELECT 1 UNION SELECT 2 INTERSECT SELECT 2) AND "F" IN (SELECT 1 UNION SELECT 2)').text)
      .toBe('SELECT "E" FROM "T" WHERE "E" IN ((SELECT 1 UNION SELECT 2 ) INTERSECT SELECT 2) AND "F" IN (SELECT 1 UNION SELECT 2)')
  })

  it('passes blobs as buffers', () => {
    const v = toPostgres('SELECT ?', [new Uint8Array([1, 2])]).values[0]
    expect(Buffer.isBuffer(v)).toBe(true)
  })
})
