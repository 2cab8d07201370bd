/**
 * Differential tests: every supported query gives, through the DQP at any site, the same result as
 * the same query on the centralized main repository (multiset; ordered when ORDER BY is total).
 */
import { describe, it, expect, beforeAll } from 'vitest'
import fc from 'fast-check'
import type { Database } from 'sql.js'
import { Cluster } from '../cluster'
import { Dqp } from './dqp'
import { centralReference, runCentral, sameResult } from './testkit'
import { EngineError } from '../errors'

let cluster: Cluster
let dqp: Dqp
let ref: Database
const SITES = ['CMB', 'MBI', 'KDY']

async function check(sql: string, site: string, ordered = /ORDER BY/i.test(sql)): Promise<void> {
  const want = runCentral(ref, sql)
  let got
  try {
    got = await dqp.run(site, sql)
  } catch (e) {
    throw new Error(`DQP failed at ${site} on: ${sql}\n${e instanceof Error ? e.message : String(e)}`)
  }
  const diff = sameResult(got.rows, want.rows, ordered)
  if (diff) throw new Error(`mismatch at ${site} (${got.plan.strategy}) on: ${sql}\n${diff}\nDQP: ${JSON.stringify(got.rows.slice(0, 5))}\nref: ${JSON.stringify(want.rows.slice(0, 5))}`)
  expect(got.columns.length).toBe(want.columns.length)
}

beforeAll(async () => {
  cluster = await Cluster.create({ seed: 11, sales: 600 })
  dqp = await Dqp.create(cluster)
  ref = await centralReference(cluster)
})

export const HAND_PICKED = [
  'SELECT COUNT(*) FROM SALES',
  'SELECT * FROM SALES ORDER BY INVNO',
  "SELECT * FROM SALES WHERE BRCODE = 'KDY' ORDER BY INVNO",
  "SELECT INVNO, AMOUNT FROM SALES WHERE BRCODE IN ('CMB', 'MBI') AND QTY >= 2 ORDER BY INVNO",
  "SELECT * FROM SALES WHERE BRCODE <> 'CMB' AND AMOUNT > 500 ORDER BY INVNO",
  'SELECT BRCODE, SUM(AMOUNT), COUNT(*), AVG(QTY), MIN(SOLD_AT), MAX(UNITPRICE) FROM SALES GROUP BY BRCODE ORDER BY BRCODE',
  'SELECT ITEMNO, SUM(QTY) AS units FROM SALES GROUP BY ITEMNO HAVING SUM(QTY) > 5 ORDER BY units DESC, ITEMNO',
  'SELECT COUNT(*), SUM(AMOUNT) FROM SALES WHERE QTY > 100',
  'SELECT AVG(AMOUNT) FROM SALES WHERE BRCODE = \'XXX\'',
  'SELECT COUNT(DISTINCT EMPNO) FROM SALES',
  'SELECT DISTINCT BRCODE, QTY FROM SALES ORDER BY BRCODE, QTY',
  'SELECT e.NAME, e.BRCODE, SUM(s.AMOUNT) AS rev FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO GROUP BY e.EMPNO, e.NAME, e.BRCODE ORDER BY rev DESC, e.EMPNO LIMIT 5',
  'SELECT s.INVNO, e.NAME FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO WHERE e.SALARY > 5000 ORDER BY s.INVNO',
  "SELECT e.EMPNO, COUNT(s.INVNO) FROM EMPLOYEES e LEFT JOIN SALES s ON s.EMPNO = e.EMPNO AND s.QTY > 3 WHERE e.BRCODE = 'MBI' GROUP BY e.EMPNO ORDER BY e.EMPNO",
  'SELECT i.CATEGORY, SUM(s.AMOUNT) FROM SALES s INNER JOIN ITEMS i ON i.ITEMNO = s.ITEMNO GROUP BY i.CATEGORY ORDER BY i.CATEGORY',
  "SELECT * FROM EMPLOYEES WHERE EMPNO IN (SELECT EMPNO FROM SALES WHERE AMOUNT > 2000) ORDER BY EMPNO",
  "SELECT NAME FROM EMPLOYEES e WHERE EXISTS (SELECT 1 FROM SALES s WHERE s.EMPNO = e.EMPNO AND s.BRCODE = 'KDY') ORDER BY NAME, EMPNO",
  "SELECT NAME FROM EMPLOYEES e WHERE NOT EXISTS (SELECT 1 FROM SALES s WHERE s.EMPNO = e.EMPNO) ORDER BY EMPNO",
  'SELECT * FROM SALES WHERE AMOUNT > (SELECT AVG(AMOUNT) FROM SALES) ORDER BY INVNO',
  'SELECT * FROM V_BRANCH_REVENUE ORDER BY BRCODE',
  "SELECT * FROM V_STAFF_DIRECTORY WHERE BRCODE = 'KDY' ORDER BY EMPNO",
  'SELECT BRCODE, COUNT(*), SUM(QTY) FROM V_ALL_STOCK GROUP BY BRCODE ORDER BY BRCODE',
  'SELECT STOCKCODE, QTY, UNITPRICE FROM STOCK_CMB ORDER BY STOCKCODE',
  'SELECT STOCKCODE, QTY FROM STOCK_CMB WHERE QTY < 20 ORDER BY STOCKCODE',
  'SELECT * FROM STOCK_MBI ORDER BY STOCKCODE',
  'SELECT * FROM STOCK_KDY ORDER BY STOCKCODE LIMIT 10 OFFSET 5',
  'SELECT k.STOCKCODE, i.DESCRIPTION FROM STOCK_KDY k JOIN ITEMS i ON i.ITEMNO = k.ITEMNO WHERE k.QTY > 10 ORDER BY k.STOCKCODE',
  "SELECT CATEGORY, COUNT(*) FROM ITEMS WHERE DESCRIPTION LIKE '%Pro%' GROUP BY CATEGORY ORDER BY CATEGORY",
  'SELECT BRCODE FROM EMPLOYEES UNION SELECT BRCODE FROM SALES ORDER BY 1',
  'SELECT x.b, x.n FROM (SELECT BRCODE AS b, COUNT(*) AS n FROM SALES GROUP BY BRCODE) x WHERE x.n > 10 ORDER BY x.b',
  "SELECT CASE WHEN QTY > 2 THEN 'bulk' ELSE 'single' END AS kind, COUNT(*) FROM SALES GROUP BY kind ORDER BY kind",
  'SELECT MAX(INVNO) FROM SALES WHERE INVNO BETWEEN 100 AND 200',
  "SELECT * FROM SALES WHERE INVNO = 77",
  "SELECT * FROM SALES WHERE BRCODE = 'CMB' OR QTY > 4 ORDER BY INVNO",
  'SELECT s1.INVNO FROM SALES s1 JOIN SALES s2 ON s1.INVNO = s2.INVNO + 1 WHERE s1.BRCODE = \'KDY\' ORDER BY 1',
  'SELECT e.DEPT, AVG(e.SALARY), COUNT(*) FROM EMPLOYEES e GROUP BY e.DEPT ORDER BY e.DEPT',
]

describe('DQP differential (hand-picked)', () => {
  it('every hand-picked query matches the centralized repository at every site', async () => {
    for (const q of HAND_PICKED) for (const s of SITES) await check(q, s)
  })

  it('transparency levels: fragment names and fragment@SITE equal the fragment contents', async () => {
    const a = await dqp.run('MBI', 'SELECT * FROM Sales_KDY ORDER BY INVNO')
    const b = await dqp.run('CMB', 'SELECT * FROM Sales_KDY@KDY ORDER BY INVNO')
    const c = runCentral(ref, "SELECT * FROM SALES WHERE BRCODE = 'KDY' ORDER BY INVNO")
    expect(sameResult(a.rows, c.rows, true)).toBeUndefined()
    expect(sameResult(b.rows, c.rows, true)).toBeUndefined()
    const f = await dqp.run('KDY', 'SELECT STOCKCODE, QTY FROM Stocks_CMB_FRG ORDER BY STOCKCODE')
    expect(sameResult(f.rows, runCentral(ref, 'SELECT STOCKCODE, QTY FROM STOCK_CMB ORDER BY STOCKCODE').rows, true)).toBeUndefined()
    await expect(dqp.run('KDY', 'SELECT * FROM Sales_KDY@MBI')).rejects.toThrow(/not allocated at MBI/)
  })

  it('EXPLAIN shows pruning, strategy and classification', async () => {
    const r = await dqp.run('KDY', "EXPLAIN SELECT * FROM EMPLOYEES WHERE BRCODE = 'KDY'")
    expect(r.explain).toMatch(/remote request/)
    expect(r.explain).toMatch(/Employees_CMB — predicate BRCODE = 'CMB' contradicts/)
    const j = await dqp.run('KDY', 'EXPLAIN SELECT s.INVNO FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO WHERE e.SALARY > 5500')
    expect(j.explain).toMatch(/distributed request/)
    expect(j.plan.joins.length).toBeGreaterThan(0)
    expect(j.explain).toMatch(/alternative/)
    expect(j.plan.joins.some((x) => x.chosen === 'semijoin')).toBe(true)
    expect(j.plan.steps.some((x) => x.kind === 'semijoin-keys')).toBe(true)
    // one join, one decision: not one per direction (the one with 0-byte estimates was a duplicate)
    const once = await dqp.run('KDY', "EXPLAIN SELECT e.NAME, s.AMOUNT FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO WHERE s.BRCODE = 'MBI'")
    expect(once.plan.joins).toHaveLength(1)
    expect(once.plan.joins[0].estBytesShipWhole).toBeGreaterThan(0)
    await expect(dqp.run('KDY', 'EXPLAIN DELETE FROM SALES')).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    const agg = await dqp.run('MBI', 'SELECT BRCODE, SUM(AMOUNT) FROM SALES GROUP BY BRCODE')
    expect(agg.plan.strategy).toBe('partial-aggregation')
  })

  it('refuses unsupported constructs and reports syntax errors with a position', async () => {
    await expect(dqp.run('CMB', 'WITH c AS (SELECT 1) SELECT * FROM c')).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    await expect(dqp.run('CMB', 'SELECT * FROM SALES s RIGHT JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO')).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    await expect(dqp.run('CMB', 'SELECT RANDOM() FROM SALES')).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    await expect(dqp.run('CMB', 'SELECT ROW_NUMBER() OVER (ORDER BY INVNO) FROM SALES')).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    await expect(dqp.run('CMB', 'CREATE TABLE x (a INT)')).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    const e = await dqp.run('CMB', 'SELECT * FROM SALES WHER INVNO = 1').catch((x) => x)
    expect(e).toBeInstanceOf(EngineError)
    expect(e.code).toBe('SQL_ERROR')
    expect(typeof e.position).toBe('number')
    const e2 = await dqp.run('CMB', 'SELECT NOPE FROM SALES').catch((x) => x)
    expect(e2.code).toBe('SQL_ERROR')
    expect(e2.position).toBe(7)
    await expect(dqp.run('CMB', 'SELECT * FROM NOPE_TABLE')).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' })
  })
})

// ---- generated queries ------------------------------------------------------------------------
const br = fc.constantFrom('CMB', 'MBI', 'KDY', 'XXX')
const salesPred = fc.oneof(
  br.map((b) => `s.BRCODE = '${b}'`),
  fc.tuple(br, br).map(([a, b]) => `s.BRCODE IN ('${a}', '${b}')`),
  br.map((b) => `s.BRCODE <> '${b}'`),
  fc.integer({ min: 0, max: 6 }).map((n) => `s.QTY > ${n}`),
  fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 3000 })).map(([a, b]) => `s.AMOUNT BETWEEN ${Math.min(a, b)} AND ${Math.max(a, b)}`),
  fc.integer({ min: 0, max: 700 }).map((n) => `s.INVNO < ${n}`),
  fc.integer({ min: 0, max: 700 }).map((n) => `s.INVNO = ${n}`),
  fc.integer({ min: 1000, max: 1200 }).map((n) => `s.ITEMNO >= ${n}`),
  fc.tuple(br, fc.integer({ min: 1, max: 5 })).map(([b, n]) => `(s.BRCODE = '${b}' OR s.QTY = ${n})`),
  fc.constantFrom("s.SOLD_AT >= '2026-05'", "s.SOLD_AT < '2026-02'", 's.EMPNO IN (1, 2, 50, 80, 100)', 's.UNITPRICE IS NOT NULL', 'NOT (s.QTY = 1)'),
)
const empPred = fc.oneof(
  br.map((b) => `e.BRCODE = '${b}'`),
  fc.integer({ min: 1000, max: 6000 }).map((n) => `e.SALARY > ${n}`),
  fc.constantFrom("e.DEPT = 'Sales'", "e.POSITION LIKE '%Manager%'", 'e.CLEARANCE >= 3', 'e.EMPNO < 40'),
)
const preds = (p: fc.Arbitrary<string>, max: number) => fc.array(p, { minLength: 0, maxLength: max })
const where = (ps: string[]) => (ps.length ? ` WHERE ${ps.join(' AND ')}` : '')

const singleSales = fc.tuple(fc.constantFrom('s.*', 's.INVNO, s.BRCODE, s.AMOUNT', 's.INVNO, s.QTY'), preds(salesPred, 3), fc.option(fc.tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 5 })), { nil: undefined }))
  .map(([cols, ps, lim]) => `SELECT ${cols} FROM SALES s${where(ps)} ORDER BY s.INVNO${lim ? ` LIMIT ${lim[0]} OFFSET ${lim[1]}` : ''}`)
const groupSales = fc.tuple(fc.constantFrom('s.BRCODE', 's.ITEMNO', 's.QTY', 's.EMPNO'), fc.subarray(['SUM(s.AMOUNT)', 'COUNT(*)', 'AVG(s.QTY)', 'MIN(s.UNITPRICE)', 'MAX(s.SOLD_AT)', 'COUNT(s.EMPNO)'], { minLength: 1 }), preds(salesPred, 2), fc.boolean())
  .map(([g, aggs, ps, having]) => `SELECT ${g}, ${aggs.join(', ')} FROM SALES s${where(ps)} GROUP BY ${g}${having ? ' HAVING COUNT(*) > 2' : ''} ORDER BY ${g}`)
const joinEmp = fc.tuple(fc.constantFrom('JOIN', 'LEFT JOIN'), preds(salesPred, 2), preds(empPred, 2), fc.boolean())
  .map(([j, sp, ep, agg]) => agg
    ? `SELECT e.EMPNO, COUNT(s.INVNO), SUM(s.AMOUNT) FROM EMPLOYEES e ${j} SALES s ON s.EMPNO = e.EMPNO${sp.length ? ` AND ${sp.join(' AND ')}` : ''}${where(ep)} GROUP BY e.EMPNO ORDER BY e.EMPNO`
    : `SELECT s.INVNO, e.NAME, e.SALARY FROM SALES s ${j} EMPLOYEES e ON s.EMPNO = e.EMPNO${ep.length && j === 'LEFT JOIN' ? ` AND ${ep.join(' AND ')}` : ''}${where(j === 'JOIN' ? [...sp, ...ep] : sp)} ORDER BY s.INVNO`)
const joinItems = fc.tuple(preds(salesPred, 2), fc.constantFrom("i.CATEGORY = 'Phone'", "i.BRAND IN ('Dell', 'HP')", 'i.LISTPRICE > 500', '1 = 1'))
  .map(([sp, ip]) => `SELECT i.CATEGORY, COUNT(*), SUM(s.QTY) FROM SALES s JOIN ITEMS i ON i.ITEMNO = s.ITEMNO${where([...sp, ip])} GROUP BY i.CATEGORY ORDER BY i.CATEGORY`)
const subq = fc.tuple(preds(empPred, 2), preds(salesPred, 2), fc.constantFrom('IN', 'NOT IN', 'EXISTS', 'NOT EXISTS'))
  .map(([ep, sp, k]) => k.endsWith('IN')
    ? `SELECT e.EMPNO, e.NAME FROM EMPLOYEES e WHERE e.EMPNO ${k} (SELECT s.EMPNO FROM SALES s${where(sp)})${ep.length ? ` AND ${ep.join(' AND ')}` : ''} ORDER BY e.EMPNO`
    : `SELECT e.EMPNO FROM EMPLOYEES e WHERE ${k} (SELECT 1 FROM SALES s WHERE s.EMPNO = e.EMPNO${sp.length ? ` AND ${sp.join(' AND ')}` : ''})${ep.length ? ` AND ${ep.join(' AND ')}` : ''} ORDER BY e.EMPNO`)
const stock = fc.tuple(fc.constantFrom('STOCK_CMB', 'STOCK_MBI', 'STOCK_KDY', 'Stocks_CMB_FRG', 'Stock_MBI_LCL'), fc.constantFrom('k.QTY > 10', 'k.ITEMNO < 1100', "k.NEXTIN >= '2026-12'", '1 = 1'), fc.boolean())
  .map(([t, p, j]) => j
    ? `SELECT k.STOCKCODE, i.CATEGORY, k.QTY FROM ${t} k JOIN ITEMS i ON i.ITEMNO = k.ITEMNO WHERE ${p} ORDER BY k.STOCKCODE`
    : `SELECT COUNT(*), SUM(k.QTY), MIN(k.LASTIN) FROM ${t} k WHERE ${p}`)
const views = fc.tuple(fc.constantFrom('V_BRANCH_REVENUE', 'V_STAFF_DIRECTORY', 'V_ALL_STOCK'), br)
  .map(([v, b]) => `SELECT * FROM ${v} WHERE BRCODE <> '${b}' ORDER BY 1, 2`)

const anyQuery = fc.oneof(singleSales, groupSales, joinEmp, joinItems, subq, stock, views)

describe('DQP differential (property-based, fast-check)', () => {
  it('generated queries match the centralized repository at a random site', async () => {
    await fc.assert(fc.asyncProperty(anyQuery, fc.constantFrom(...SITES), async (q, site) => { await check(q, site) }), { numRuns: 1500, seed: 4242 })
  })
  it('generated queries without partial aggregation or with forced semijoins still match', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(groupSales, joinEmp, joinItems), fc.constantFrom(...SITES), fc.constantFrom('semijoin', 'ship-whole') as fc.Arbitrary<'semijoin' | 'ship-whole'>, async (q, site, strategy) => {
      const want = runCentral(ref, q)
      const got = await dqp.run(site, q, { strategy, noPartialAggregation: strategy === 'semijoin' })
      const diff = sameResult(got.rows, want.rows, true)
      if (diff) throw new Error(`${strategy} mismatch on ${q}: ${diff}`)
    }), { numRuns: 500, seed: 99 })
  })
})
