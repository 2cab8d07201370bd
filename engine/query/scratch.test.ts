/**
 * The assembly site's scratch databases are reused (execute.ts): emptied after a run that ended normally (their
 * tables kept, empty, for the next query of the same shape), closed after one that did not; answers stay those of
 * a fresh scratch.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { Cluster } from '../cluster'
import { Dqp } from './dqp'
import { scratchPooled } from './execute'
import { centralReference, runCentral, sameResult } from './testkit'
import type { Database } from 'sql.js'

const JOIN = 'SELECT s.INVNO, e.NAME FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO WHERE s.QTY > 5'
const GROUP_BY = 'SELECT ITEMNO, COUNT(*) AS N, SUM(QTY) AS Q FROM SALES GROUP BY ITEMNO'
const STOPPED = 'SELECT COUNT(*) FROM SALES a JOIN SALES b ON a.QTY = b.QTY'
// the same table names as JOIN's (s, e) with other columns
const JOIN_OTHER = 'SELECT s.ITEMNO, s.AMOUNT, e.POSITION FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO WHERE s.QTY > 3'
const VIEW = 'SELECT d.NAME, d.BRCODE FROM V_STAFF_DIRECTORY d WHERE d.EMPNO > 3'
// other partial aggregates into __P: other group columns and types
const GROUP_BY_OTHER = 'SELECT BRCODE, MAX(AMOUNT) AS M, AVG(QTY) AS Q FROM SALES GROUP BY BRCODE'

describe('scratch databases of the assembly site', () => {
  let cluster: Cluster
  let dqp: Dqp
  let ref: Database
  beforeAll(async () => {
    cluster = await Cluster.create({ seed: 11, sales: 300 })
    dqp = await Dqp.create(cluster)
    ref = await centralReference(cluster)
  })

  it('are emptied and reused after a normal run, closed after a failed one; the answers are unchanged', () => {
    const check = (sql: string) => expect(sameResult(dqp.runSync('CMB', sql, { strategy: 'ship-whole' }).rows, runCentral(ref, sql).rows, false)).toBeUndefined()
    check(JOIN)
    expect(scratchPooled(dqp.planner)).toBe(1)
    // the same tables again in the reused scratch (CREATE TABLE would fail had they stayed), then other ones
    check(JOIN)
    check(GROUP_BY)
    expect(scratchPooled(dqp.planner)).toBe(1)
    // stopped by the statement guard while assembling: that scratch is not handed back
    expect(() => dqp.runSync('CMB', STOPPED, { budget: { maxRows: 1_000, maxMs: 600_000 } })).toThrow(/examined more than 1,000 rows/)
    expect(scratchPooled(dqp.planner)).toBe(0)
    check(JOIN)
    check(GROUP_BY)
    expect(scratchPooled(dqp.planner)).toBe(1)
  })

  it('keeps its tables between runs, rebuilds one another query needs with other columns, and answers as a fresh one', () => {
    const check = (sql: string) => expect(sameResult(dqp.runSync('CMB', sql, { strategy: 'ship-whole' }).rows, runCentral(ref, sql).rows, false), sql).toBeUndefined()
    for (const sql of [JOIN, JOIN_OTHER, JOIN, VIEW, GROUP_BY, GROUP_BY_OTHER, GROUP_BY, VIEW, JOIN_OTHER]) check(sql)
    expect(scratchPooled(dqp.planner)).toBe(1)
    // more rows than one multi-row INSERT takes (256): several chunks, the same answer
    check('SELECT s.INVNO, s.QTY FROM SALES s JOIN ITEMS i ON s.ITEMNO = i.ITEMNO')
  })
})
