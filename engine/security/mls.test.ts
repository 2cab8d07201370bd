/** The read check on its own (engine/security/mls.ts): what it refuses, and the statement it rewrites. */
import { describe, expect, it } from 'vitest'
import { defaultTopology } from '../topology/default'
import { SecurityPolicy, type NameRef } from './policy'
import { checkStatement, type MlsSubject } from './mls'
import { EngineError } from '../errors'

const policy = new SecurityPolicy(defaultTopology())
const clerk: MlsSubject = { user: 'clerk', level: 'INTERNAL', clearance: 'INTERNAL', site: 'CMB' }
const codeOf = (sql: string, p = policy): string => {
  try { checkStatement(p, clerk, sql); return 'ok' } catch (e) { return e instanceof EngineError ? e.code : String(e) }
}

describe('MLS read check', () => {
  it('refuses what it cannot resolve with certainty, naming the construct', () => {
    expect(codeOf('SELECT * FROM EMPLOYEES e JOIN SALES s USING (EMPNO)')).toBe('UNSUPPORTED')
    expect(codeOf('SELECT * FROM EMPLOYEES NATURAL JOIN SALES')).toBe('UNSUPPORTED')
    expect(codeOf('WITH t AS (SELECT * FROM EMPLOYEES) SELECT * FROM t')).toBe('UNSUPPORTED')
    expect(codeOf('SELECT * FROM SEC_USERS')).toBe('UNKNOWN_TABLE')
    expect(codeOf('SELECT NOSUCH FROM EMPLOYEES')).toBe('SQL_ERROR')
    expect(codeOf('SELECT x.SALARY FROM EMPLOYEES e')).toBe('SQL_ERROR')
    for (const t of ['LCAT_COLUMNS', 'LCAT_TABLES', 'LCAT_INDEXES', 'FRAGMENT_TABLES']) expect(codeOf(`SELECT * FROM ${t}`)).toBe('ACCESS_DENIED')
    expect(codeOf('SELECT * FROM GLOBAL_COLUMNS')).toBe('ok')
    // correlated and scalar subqueries see the outer block: an unqualified SALARY there is EMPLOYEES.SALARY
    expect(codeOf('SELECT NAME FROM EMPLOYEES WHERE EXISTS (SELECT 1 FROM SALES WHERE AMOUNT > SALARY)')).toBe('ACCESS_DENIED')
    expect(codeOf('SELECT (SELECT SALARY) FROM EMPLOYEES')).toBe('ACCESS_DENIED')
    expect(codeOf('UPDATE EMPLOYEES SET NAME = NAME WHERE SALARY > 1')).toBe('ACCESS_DENIED')
    expect(codeOf('INSERT INTO SALES SELECT * FROM STOCK_CMB')).toBe('ACCESS_DENIED')
  })

  it('rewrites a star only when it hides something, and keeps fragment@SITE and EXPLAIN', () => {
    expect(checkStatement(policy, clerk, 'SELECT * FROM SALES')).toEqual({ sql: 'SELECT * FROM SALES', hidden: [] })
    const r = checkStatement(policy, clerk, 'EXPLAIN SELECT k.* FROM Stock_KDY@KDY k WHERE k.QTY > 1')
    expect(r.hidden).toEqual(['UNITPRICE'])
    expect(r.sql).toBe('EXPLAIN SELECT k.STOCKCODE, k.ITEMNO, k.QTY, k.LASTIN, k.NEXTIN FROM Stock_KDY@KDY AS "k" WHERE k.QTY > 1')
  })

  it('a view whose own * reaches a column above the level is read through its restricted definition', () => {
    const p = new SecurityPolicy(defaultTopology())
    const resolve = p.resolve.bind(p)
    p.resolve = (name: string): NameRef => (name.toUpperCase() === 'V_EMP' ? { kind: 'view', sql: 'SELECT * FROM EMPLOYEES' } : resolve(name))
    const r = checkStatement(p, clerk, 'SELECT * FROM V_EMP ORDER BY 6')
    expect(r.hidden).toEqual(['SALARY'])
    expect(r.sql).toBe('SELECT * FROM (SELECT EMPNO, NAME, POSITION, DEPT, BRCODE, CLEARANCE FROM "EMPLOYEES") AS "V_EMP" ORDER BY 6 ASC')
    expect(codeOf('SELECT SALARY FROM V_EMP', p)).toBe('SQL_ERROR') // the view as this session sees it has no SALARY
  })

  it('INTERSECT and EXCEPT: every branch is checked, and a restricted star keeps the operator', () => {
    expect(codeOf("SELECT EMPNO FROM SALES INTERSECT SELECT EMPNO FROM EMPLOYEES WHERE SALARY > 10")).toBe('ACCESS_DENIED')
    expect(codeOf('SELECT NAME FROM EMPLOYEES EXCEPT SELECT SALARY FROM EMPLOYEES')).toBe('ACCESS_DENIED')
    expect(codeOf("SELECT EMPNO FROM SALES EXCEPT SELECT EMPNO FROM EMPLOYEES WHERE NAME <> 'x'")).toBe('ok')
    const r = checkStatement(policy, clerk, "SELECT * FROM STOCK_KDY INTERSECT SELECT * FROM STOCK_KDY WHERE QTY > 1")
    expect(r.sql).toBe('SELECT STOCKCODE, ITEMNO, QTY, LASTIN, NEXTIN FROM "STOCK_KDY" INTERSECT SELECT STOCKCODE, ITEMNO, QTY, LASTIN, NEXTIN FROM "STOCK_KDY" WHERE QTY > 1')
    expect(codeOf('SELECT NAME FROM EMPLOYEES ORDER BY NAME NULLS LAST')).toBe('UNSUPPORTED')
  })
})
