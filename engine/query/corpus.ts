/**
 * The generated corpus of global SELECTs of the typed differential test (differential.test.ts): filters, joins,
 * group-bys, set operations, expressions over aggregates, NULLs, ORDER BY / LIMIT, and constructs the DQP
 * refuses. Shared with the same test over live PostgreSQL sites (src-main/pg/dqp.test.ts).
 */
import fc from 'fast-check'

export const SITES = ['CMB', 'MBI', 'KDY']

// ---- generators -------------------------------------------------------------------------------
const br = fc.constantFrom('CMB', 'MBI', 'KDY', 'XXX')
const salesPred = fc.oneof(
  br.map((b) => `s.BRCODE = '${b}'`),
  fc.tuple(br, br).map(([a, b]) => `s.BRCODE IN ('${a}', '${b}')`),
  fc.integer({ min: 0, max: 6 }).map((n) => `s.QTY > ${n}`),
  fc.integer({ min: 0, max: 3000 }).map((n) => `s.AMOUNT < ${n}`),
  fc.integer({ min: 0, max: 600 }).map((n) => `s.INVNO < ${n}`),
  fc.integer({ min: 1000, max: 1200 }).map((n) => `s.ITEMNO >= ${n}`),
  fc.tuple(br, fc.integer({ min: 1, max: 5 })).map(([b, n]) => `(s.BRCODE = '${b}' OR s.QTY = ${n})`),
  fc.integer({ min: 1, max: 4 }).map((n) => `NULLIF(s.QTY, ${n}) IS NULL`),
  fc.constantFrom("s.SOLD_AT >= '2026-05'", 's.EMPNO IN (1, 2, 50, 80, 100)', 's.UNITPRICE IS NOT NULL', 'NOT (s.QTY = 1)', "s.BRCODE <> 'CMB'"),
)
const empPred = fc.oneof(
  br.map((b) => `e.BRCODE = '${b}'`),
  fc.integer({ min: 1000, max: 6000 }).map((n) => `e.SALARY > ${n}`),
  fc.constantFrom("e.DEPT = 'Sales'", 'e.CLEARANCE >= 3', 'e.EMPNO < 40', 'e.SALARY IS NULL'),
)
const preds = (p: fc.Arbitrary<string>, max: number) => fc.array(p, { minLength: 0, maxLength: max })
const where = (ps: string[]) => (ps.length ? ` WHERE ${ps.join(' AND ')}` : '')
const limit = fc.option(fc.tuple(fc.integer({ min: 1, max: 15 }), fc.integer({ min: 0, max: 4 })), { nil: undefined }).map((l) => (l ? ` LIMIT ${l[0]} OFFSET ${l[1]}` : ''))

/** Expressions over aggregates whose results depend on SQLite's types (integer division, text of a real, typeof). */
const aggExpr = fc.constantFrom(
  'COUNT(*)', 'COUNT(*) / 7', "COUNT(*) || ' sales'", 'typeof(COUNT(*))', 'COUNT(s.UNITPRICE)', 'COUNT(NULLIF(s.QTY, 1))',
  'SUM(s.QTY)', 'SUM(s.QTY) / 3', 'typeof(SUM(s.QTY))', 'SUM(s.QTY) * 1.5', 'SUM(NULLIF(s.QTY, 1))', 'SUM(CASE WHEN s.QTY > 2 THEN 1 END)',
  'SUM(s.AMOUNT)', 'typeof(SUM(s.AMOUNT))', 'AVG(s.QTY)', 'typeof(AVG(s.QTY))', 'AVG(s.AMOUNT)',
  'MAX(s.AMOUNT) / 2', 'MIN(s.AMOUNT) / 2', "MAX(s.AMOUNT) || ''", "MIN(s.UNITPRICE) || ''", 'typeof(MAX(s.UNITPRICE))', 'MAX(s.QTY) / 2',
  'MAX(s.QTY) - MIN(s.QTY)', 'MAX(s.SOLD_AT)', 'MIN(s.BRCODE)', 'COALESCE(MIN(NULLIF(s.QTY, s.QTY)), -1)', 'TOTAL(s.QTY)', 'typeof(TOTAL(s.QTY))',
  'SUM(s.AMOUNT) / COUNT(*)', 'COUNT(DISTINCT s.EMPNO)',
)
const groupCol = fc.constantFrom('s.BRCODE', 's.QTY', 's.EMPNO', 's.ITEMNO')
const having = fc.constantFrom('', ' HAVING COUNT(*) > 1', ' HAVING SUM(s.QTY) / 2 > 3', ' HAVING MAX(s.AMOUNT) / 2 > 100')

const aggregate = fc.tuple(fc.option(groupCol, { nil: undefined }), fc.array(aggExpr, { minLength: 1, maxLength: 4 }), preds(salesPred, 2), having, limit)
  .map(([g, aggs, ps, h, lim]) => g
    ? `SELECT ${g}, ${aggs.join(', ')} FROM SALES s${where(ps)} GROUP BY ${g}${h} ORDER BY ${g}${lim}`
    : `SELECT ${aggs.join(', ')} FROM SALES s${where(ps)}`)

const rowsSales = fc.tuple(
  fc.constantFrom('s.*', 's.INVNO, s.BRCODE, s.AMOUNT / 2', "s.INVNO, s.QTY / 2, s.QTY || '', NULLIF(s.QTY, 1)", 's.INVNO, COALESCE(NULLIF(s.BRCODE, \'KDY\'), s.QTY), typeof(s.UNITPRICE)'),
  preds(salesPred, 3), fc.constantFrom('s.INVNO', 'NULLIF(s.QTY, 2), s.INVNO', 's.AMOUNT DESC, s.INVNO'), limit,
).map(([cols, ps, ord, lim]) => `SELECT ${cols} FROM SALES s${where(ps)} ORDER BY ${ord}${lim}`)

const joins = fc.tuple(fc.constantFrom('JOIN', 'LEFT JOIN'), preds(salesPred, 2), preds(empPred, 2), fc.boolean(), limit)
  .map(([j, sp, ep, agg, lim]) => agg
    ? `SELECT e.EMPNO, COUNT(s.INVNO), COUNT(s.INVNO) / 2, SUM(s.QTY), typeof(SUM(s.QTY)), MAX(s.AMOUNT) / 2 FROM EMPLOYEES e ${j} SALES s ON s.EMPNO = e.EMPNO${sp.length ? ` AND ${sp.join(' AND ')}` : ''}${where(ep)} GROUP BY e.EMPNO ORDER BY e.EMPNO${lim}`
    : `SELECT s.INVNO, e.NAME, e.SALARY / 2, typeof(e.SALARY) FROM SALES s ${j} EMPLOYEES e ON s.EMPNO = e.EMPNO${ep.length && j === 'LEFT JOIN' ? ` AND ${ep.join(' AND ')}` : ''}${where(j === 'JOIN' ? [...sp, ...ep] : sp)} ORDER BY s.INVNO${lim}`)

const itemJoin = fc.tuple(preds(salesPred, 2), fc.constantFrom("i.CATEGORY = 'Phone'", "i.BRAND IN ('Dell', 'HP')", 'i.LISTPRICE > 500', '1 = 1'))
  .map(([sp, ip]) => `SELECT i.CATEGORY, COUNT(*), COUNT(*) / 3, SUM(s.QTY), SUM(s.AMOUNT), MAX(i.LISTPRICE) / 2 FROM SALES s JOIN ITEMS i ON i.ITEMNO = s.ITEMNO${where([...sp, ip])} GROUP BY i.CATEGORY ORDER BY i.CATEGORY`)

/** One-column branches of a set operation (mixed storage classes on purpose). */
const branch = fc.oneof(
  fc.tuple(fc.constantFrom('s.EMPNO', 's.ITEMNO', 's.QTY', 's.BRCODE', 's.QTY / 2', 'NULLIF(s.QTY, 1)'), preds(salesPred, 2)).map(([c, ps]) => `SELECT ${c} FROM SALES s${where(ps)}`),
  fc.tuple(fc.constantFrom('e.EMPNO', 'e.BRCODE', 'e.CLEARANCE', 'NULLIF(e.CLEARANCE, 2)'), preds(empPred, 1)).map(([c, ps]) => `SELECT ${c} FROM EMPLOYEES e${where(ps)}`),
  fc.tuple(fc.constantFrom('STOCK_CMB', 'STOCK_MBI', 'STOCK_KDY'), fc.constantFrom('k.ITEMNO', 'k.QTY', 'k.QTY / 3')).map(([t, c]) => `SELECT ${c} FROM ${t} k WHERE k.QTY > 5`),
  fc.constantFrom('SELECT i.ITEMNO FROM ITEMS i WHERE i.LISTPRICE > 800', 'SELECT NULL', "SELECT 'KDY'", 'SELECT 3'),
)
const setOp = fc.constantFrom('UNION', 'UNION ALL', 'INTERSECT', 'EXCEPT')
const compound = fc.tuple(branch, fc.array(fc.tuple(setOp, branch), { minLength: 1, maxLength: 2 }), fc.boolean(), limit)
  .map(([first, rest, ordered, lim]) => `${first}${rest.map(([op, b]) => ` ${op} ${b}`).join('')}${ordered ? ` ORDER BY 1${lim}` : ''}`)

const subq = fc.tuple(preds(empPred, 1), fc.oneof(compound, branch.filter((b) => b.startsWith('SELECT s.'))), fc.constantFrom('IN', 'NOT IN'))
  .map(([ep, sub, k]) => `SELECT e.EMPNO, e.NAME FROM EMPLOYEES e WHERE e.EMPNO ${k} (${sub.replace(/ ORDER BY 1.*$/, '')})${ep.length ? ` AND ${ep.join(' AND ')}` : ''} ORDER BY e.EMPNO`)

/** Constructs outside the supported subset: refused with UNSUPPORTED, never answered wrongly. */
export const refused = fc.tuple(fc.constantFrom('NULLS FIRST', 'NULLS LAST'), fc.constantFrom('s.UNITPRICE', 's.QTY DESC'))
  .map(([n, o]) => `SELECT s.INVNO FROM SALES s ORDER BY ${o} ${n}, s.INVNO`)

export const anyQuery = fc.oneof(
  { arbitrary: aggregate, weight: 4 }, { arbitrary: rowsSales, weight: 2 }, { arbitrary: joins, weight: 2 }, { arbitrary: itemJoin, weight: 1 },
  { arbitrary: compound, weight: 3 }, { arbitrary: subq, weight: 1 }, { arbitrary: refused, weight: 1 },
)

/** ORDER BY gives a total order when the generator says so (every ORDER BY above ends on a key, or sorts one column). */
export const isOrdered = (q: string) => / ORDER BY [^)]*$/.test(q)

/** The plan choices the test runs each query under. */
export const MODES = ['auto', 'auto', 'semijoin', 'ship-whole', 'no partial aggregation'] as const
export type Mode = typeof MODES[number]
