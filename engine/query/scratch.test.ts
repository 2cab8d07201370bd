/**
 * The assembly site's scratch databases are reused (execute.ts): emptied after a run that ended normally, closed
 * after one that did not; answers stay those of a fresh scratch.
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
})
