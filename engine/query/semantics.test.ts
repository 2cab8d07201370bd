/**
 * Answers with SQLite's own semantics (issue 17).
 * Bug 6: combined partial aggregates keep SQLite's storage classes: COUNT integer, SUM integer when every
 * input is, MIN/MAX the class of the value, AVG real (compared through typeof() and through expressions whose
 * result depends on the class: integer division, concatenation).
 * Bug 7: INTERSECT and EXCEPT are set operations over localized inputs (each branch's fragments are shipped,
 * SQLite combines them at the assembly site); NULLS FIRST / LAST is refused by name, not with the parser's
 * "syntax error near N".
 */
import { describe, it, expect, beforeAll } from 'vitest'
import type { Database } from 'sql.js'
import { Cluster } from '../cluster'
import { Dqp } from './dqp'
import { centralReference, runCentral } from './testkit'
import { parseSql } from './parse'

let dqp: Dqp
let ref: Database

beforeAll(async () => {
  const cluster = await Cluster.create({ seed: 11, sales: 600 })
  dqp = await Dqp.create(cluster)
  ref = await centralReference(cluster)
})

/** The DQP's answer at every site equals the centralized one, values and storage classes. */
async function atEverySite(q: string, central = q): Promise<void> {
  const want = runCentral(ref, central).rows
  for (const site of ['CMB', 'MBI', 'KDY']) {
    const got = await dqp.run(site, q)
    expect({ q, site, rows: got.rows }).toEqual({ q, site, rows: want })
  }
}

const AGG_QUERIES = [
  'SELECT COUNT(*) / 9 FROM SALES WHERE QTY > 1',
  "SELECT COUNT(*) || ' sales' FROM SALES",
  'SELECT MAX(AMOUNT) / 2, MIN(AMOUNT) / 2, typeof(MAX(AMOUNT)) FROM SALES WHERE AMOUNT = 21 OR INVNO < 3',
  'SELECT typeof(COUNT(*)), typeof(SUM(QTY)), typeof(SUM(AMOUNT)), typeof(AVG(QTY)), typeof(MIN(QTY)), typeof(MAX(UNITPRICE)) FROM SALES',
  "SELECT BRCODE, COUNT(*) / 7, SUM(QTY) / 7, typeof(SUM(QTY)), MAX(QTY) || '' FROM SALES GROUP BY BRCODE ORDER BY BRCODE",
  "SELECT COUNT(*), typeof(COUNT(*)), SUM(QTY), AVG(QTY) FROM SALES WHERE BRCODE = 'XXX'",
  "SELECT SUM(UNITPRICE * 0 + 4) || '', MAX(UNITPRICE) || '' FROM SALES",
  // TOTAL is read as a plain function by the grammar: over a GROUP BY column it once passed for a scalar
  'SELECT QTY, TOTAL(QTY), typeof(TOTAL(QTY)), json_group_array(QTY) FROM SALES GROUP BY QTY ORDER BY QTY',
]

describe('partial aggregates keep SQLite types', () => {
  it('values and storage classes equal the centralized ones at every site', async () => {
    for (const q of AGG_QUERIES) await atEverySite(q)
  })
  it('the issue\'s example: COUNT(*) / 9 is an integer division', async () => {
    const r = await dqp.run('KDY', 'SELECT COUNT(*) / 9, COUNT(*) FROM SALES')
    expect(r.plan.strategy).toBe('partial-aggregation')
    expect(r.rows[0][0]).toBe(Math.floor((r.rows[0][1] as number) / 9))
  })
})

const SET_QUERIES = [
  'SELECT BRCODE FROM EMPLOYEES INTERSECT SELECT BRCODE FROM SALES WHERE QTY > 3 ORDER BY 1',
  "SELECT EMPNO FROM EMPLOYEES EXCEPT SELECT EMPNO FROM SALES WHERE BRCODE = 'KDY' ORDER BY 1 LIMIT 5",
  'SELECT EMPNO FROM EMPLOYEES WHERE EMPNO IN (SELECT EMPNO FROM SALES INTERSECT SELECT EMPNO FROM Sales_KDY) UNION SELECT 9999 ORDER BY 1 DESC LIMIT 3',
  'SELECT ITEMNO FROM SALES WHERE QTY > 2 EXCEPT SELECT ITEMNO FROM STOCK_KDY WHERE QTY > 10 INTERSECT SELECT ITEMNO FROM ITEMS ORDER BY 1',
  "SELECT INVNO FROM Sales_KDY@KDY EXCEPT /* INTERSECT */ SELECT INVNO FROM Sales_KDY@KDY WHERE QTY = 1 ORDER BY 1 -- EXCEPT",
]

describe('INTERSECT / EXCEPT', () => {
  it('equal the centralized answer at every site', async () => {
    for (const q of SET_QUERIES) await atEverySite(q, q.replace(/Sales_KDY@KDY/g, 'Sales_KDY'))
  })
  it('keeps the operator on the AST; words in literals and quoted names are left alone', () => {
    const a = parseSql("SELECT 'a EXCEPT b' AS \"INTERSECT\" FROM SALES EXCEPT SELECT BRCODE FROM SALES").statements[0]
    expect(a.set_op).toBe('except')
    expect(a.columns[0].expr.value).toBe('a EXCEPT b')
  })
  it('NULLS FIRST / LAST and INTERSECT ALL are refused naming the construct', async () => {
    const e = await dqp.run('CMB', 'SELECT INVNO FROM SALES ORDER BY UNITPRICE NULLS FIRST').catch((x) => x)
    expect(e).toMatchObject({ code: 'UNSUPPORTED', position: 43 })
    expect(e.message).toMatch(/NULLS FIRST/)
    await expect(dqp.run('CMB', 'SELECT INVNO FROM SALES ORDER BY 1 DESC NULLS LAST')).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    await expect(dqp.run('CMB', 'SELECT INVNO FROM SALES INTERSECT ALL SELECT INVNO FROM SALES')).rejects.toMatchObject({ code: 'SQL_ERROR' })
  })
})
