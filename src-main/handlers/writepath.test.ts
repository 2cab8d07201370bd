/**
 * Global SQL inside transactions and the one write path, through the handlers the consoles call (txn/*,
 * query/run): repeatable reads under 2PL, the write forms, refusals, and the request class of every transaction.
 */
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { JobRunner } from '../engine-host/jobs'
import { calls, type CallInput, type CallName, type CallOutput } from '../ipc/contract'
import { handlers } from './index'
import type { HandlerContext } from './context'
import { localAdmin } from '../../engine/security/identities'
import { Dtm } from '../../engine/txn/dtm'

async function makeCtx() {
  const cluster = new Cluster({ seed: 8 })
  await cluster.init()
  cluster.siteStore('CMB').exec("INSERT INTO ITEMS (ITEMNO, DESCRIPTION, CATEGORY, BRAND, LISTPRICE) VALUES (1001, 'Mouse', 'Accessory', 'Anker', 9.5), (1002, 'Cable', 'Accessory', 'Anker', 3), (1003, 'Hub', 'Accessory', 'Anker', 20)")
  cluster.siteStore('KDY').exec("INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, SOLD_AT, EMPNO) VALUES (7001, 'KDY', 1001, 2, 9.5, 19, '2026-11-23 09:00:00', NULL), (7002, 'KDY', 1002, 1, 3, 3, '2026-11-23 09:05:00', NULL)")
  for (const [site, t] of [['CMB', 'Stock_CMB'], ['KDY', 'Stock_KDY']]) {
    cluster.siteStore(site).exec(`INSERT INTO ${t} (STOCKCODE, ITEMNO, QTY, UNITPRICE) VALUES ('${site}-1', 1001, 40, 2.5), ('${site}-2', 1002, 10, 4), ('${site}-3', 1003, 7, 1)`)
  }
  cluster.sim.runUntilIdle(100_000)
  const ctx: HandlerContext = {
    cluster, jobs: new JobRunner(() => {}), host: 'cli', dataDir: null, actor: localAdmin('test'),
    emit: () => {}, clock: { speed: 0, setSpeed: () => {} },
  }
  const run = <N extends CallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> =>
    (handlers[name] as (c: HandlerContext, i: unknown) => Promise<CallOutput<N>>)(ctx, calls[name].input.parse(input))
  const q = (site: string, sql: string) => cluster.siteStore(site).query(sql).rows
  return { ctx, run, q }
}

describe('global SQL in transactions, through the Transactions console calls', () => {
  it('a join/aggregate read is repeatable: a writer waits for T1, and T1 reads the same value again', async () => {
    const { run, q, ctx } = await makeCtx()
    const read = 'SELECT I.CATEGORY, SUM(K.QTY) AS TOTAL FROM STOCK_KDY K JOIN ITEMS I ON I.ITEMNO = K.ITEMNO WHERE K.QTY > (SELECT MIN(QTY) FROM STOCK_KDY) GROUP BY I.CATEGORY ORDER BY 2 DESC'
    const t1 = (await run('txn/begin', { site: 'CMB' })).gid
    const first = await run('txn/exec', { gid: t1, sql: read })
    expect(first, first.error ?? '').toMatchObject({ ok: true, rows: [{ CATEGORY: 'Accessory', TOTAL: 50 }] })
    expect(first.localized!.map((o) => o.fragment).sort()).toEqual(['ITEMS', 'Stock_KDY'])
    const t2 = (await run('txn/begin', { site: 'MBI' })).gid
    const w = await run('txn/exec', { gid: t2, sql: "UPDATE STOCK_KDY SET QTY = QTY + 100 WHERE STOCKCODE = 'KDY-1'", waitMs: 1000 })
    expect(w.pending).toBe(true) // it waits for T1's S lock
    const again = await run('txn/exec', { gid: t1, sql: read })
    expect(again.rows).toEqual(first.rows)
    expect((await run('txn/commit', { gid: t1 })).outcome).toBe('COMMIT')
    const list = (await run('txn/list', {})).transactions
    expect(list.find((t) => t.gid === t1)?.requestClass).toBe('distributed request') // one statement over CMB (ITEMS) and KDY
    // T1's locks are gone: T2's statement goes on (the console's clock moves the simulation on)
    const d = Dtm.of(ctx.cluster)
    ctx.cluster.sim.runUntilTrue(() => d.info.get(t2)!.statements.every((x) => x.ok !== undefined), 1_000_000)
    expect((await run('txn/commit', { gid: t2 })).outcome).toBe('COMMIT')
    expect(q('KDY', "SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'KDY-1'")).toEqual([[140]])
    expect((await run('txn/list', {})).transactions.find((t) => t.gid === t2)?.requestClass).toBe('remote transaction')
  })

  it('writes: IN lists, OR, ranges, expressions in SET, INSERT … SELECT, UPDATE with a subquery, a row moved between fragments', async () => {
    const { run, q } = await makeCtx()
    const gid = (await run('txn/begin', { site: 'MBI' })).gid
    const ok = async (sql: string, affected: number) => expect(await run('txn/exec', { gid, sql })).toMatchObject({ ok: true, affected })
    await ok("UPDATE STOCK_KDY SET QTY = QTY - 5 WHERE STOCKCODE IN ('KDY-1', 'KDY-2')", 2)
    await ok("UPDATE STOCK_KDY SET QTY = QTY WHERE QTY BETWEEN 5 AND 6 OR STOCKCODE = 'KDY-3'", 2)
    await ok("UPDATE STOCK_CMB SET QTY = QTY * 2 + 1, UNITPRICE = UNITPRICE / 2 WHERE QTY >= 10 AND NOT (STOCKCODE LIKE '%-3')", 2)
    await ok('UPDATE STOCK_KDY SET QTY = (SELECT MAX(QTY) FROM STOCK_CMB) WHERE ITEMNO IN (SELECT ITEMNO FROM STOCK_CMB WHERE QTY > 30)', 1)
    await ok("INSERT INTO STOCK_KDY (STOCKCODE, ITEMNO, QTY, UNITPRICE) SELECT 'K' || STOCKCODE, ITEMNO, QTY, UNITPRICE FROM STOCK_CMB WHERE QTY < 30", 2)
    const inv = Number(q('KDY', 'SELECT MIN(INVNO) FROM Sales_KDY')[0][0])
    await ok(`UPDATE SALES SET BRCODE = 'CMB', QTY = QTY + 1, AMOUNT = (QTY + 1) * UNITPRICE WHERE INVNO = ${inv}`, 1)
    // nothing is visible before the commit
    expect(q('KDY', "SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'KDY-1'")).toEqual([[40]])
    expect((await run('txn/commit', { gid })).outcome).toBe('COMMIT')
    expect(q('KDY', 'SELECT STOCKCODE, QTY FROM Stock_KDY ORDER BY STOCKCODE')).toEqual([['KCMB-2', 21], ['KCMB-3', 7], ['KDY-1', 81], ['KDY-2', 5], ['KDY-3', 7]])
    expect(q('CMB', 'SELECT STOCKCODE, QTY, UNITPRICE FROM Stock_CMB ORDER BY STOCKCODE')).toEqual([['CMB-1', 81, 1.25], ['CMB-2', 21, 2], ['CMB-3', 7, 1]])
    expect(q('KDY', `SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = ${inv}`)).toEqual([[0]])
    expect(q('CMB', `SELECT BRCODE FROM Sales_CMB WHERE INVNO = ${inv}`)).toEqual([['CMB']])
    expect((await run('txn/list', {})).transactions.find((t) => t.gid === gid)?.requestClass).toBe('distributed request')
  })

  it('unknown columns and wrong value types are refused with a clear error, and change nothing', async () => {
    const { run, q } = await makeCtx()
    const gid = (await run('txn/begin', { site: 'CMB' })).gid
    expect(await run('txn/exec', { gid, sql: 'UPDATE Stock_CMB SET NOPE = 1' })).toMatchObject({ ok: false, errorCode: 'SQL_ERROR', error: expect.stringMatching(/no column NOPE/) })
    expect(await run('txn/exec', { gid, site: 'CMB', sql: 'UPDATE Stock_CMB SET NOPE = 1' })).toMatchObject({ ok: false, errorCode: 'SQL_ERROR', error: expect.stringMatching(/no column NOPE/) })
    const g2 = (await run('txn/begin', { site: 'CMB' })).gid
    expect(await run('txn/exec', { gid: g2, sql: "UPDATE STOCK_CMB SET QTY = 'lots' WHERE STOCKCODE = 'CMB-1'" })).toMatchObject({ ok: false, errorCode: 'BAD_INPUT', error: expect.stringMatching(/QTY is INTEGER: 'lots' is the wrong type/) })
    const g3 = (await run('txn/begin', { site: 'CMB' })).gid
    expect(await run('txn/exec', { gid: g3, sql: "INSERT INTO STOCK_CMB (STOCKCODE, ITEMNO, QTY) VALUES (12, 1001, 3)" })).toMatchObject({ ok: false, errorCode: 'BAD_INPUT', error: expect.stringMatching(/STOCKCODE is TEXT/) })
    expect(q('CMB', 'SELECT STOCKCODE, QTY FROM Stock_CMB ORDER BY STOCKCODE')).toEqual([['CMB-1', 40], ['CMB-2', 10], ['CMB-3', 7]])
  })
})

describe('Query console writes are DTM transactions', () => {
  it('a global write commits by 2PC, shows in the Transactions console with its request class, and waits on a lock', async () => {
    const { run, q } = await makeCtx()
    const w = await run('query/run', { site: 'MBI', sql: "UPDATE STOCK_KDY SET QTY = QTY + 1 WHERE STOCKCODE IN ('KDY-1', 'KDY-2')" })
    expect(w).toMatchObject({ changes: 2, requestClass: 'remote transaction' })
    expect(w.plan.notes.join(' ')).toMatch(/two-phase commit/)
    const mine = (await run('txn/list', {})).transactions.find((t) => t.origin === 'MBI' && t.statements.some((s) => s.sql.includes('Stock_KDY')))
    expect(mine).toMatchObject({ outcome: 'COMMIT', requestClass: 'remote transaction' })
    const both = await run('query/run', { site: 'KDY', sql: "BEGIN; UPDATE STOCK_KDY SET QTY = 0 WHERE STOCKCODE = 'KDY-3'; UPDATE STOCK_CMB SET QTY = 0 WHERE STOCKCODE = 'CMB-3'; COMMIT" })
    expect(both.requestClass).toBe('distributed transaction')
    expect([q('KDY', "SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'KDY-3'"), q('CMB', "SELECT QTY FROM Stock_CMB WHERE STOCKCODE = 'CMB-3'")]).toEqual([[[0]], [[0]]])
    // a transaction holding the row: the console's write waits for its lock and is refused when it times out
    const t1 = (await run('txn/begin', { site: 'CMB' })).gid
    await run('txn/exec', { gid: t1, site: 'KDY', sql: "UPDATE Stock_KDY SET QTY = QTY - 5 WHERE STOCKCODE = 'KDY-1'" })
    await expect(run('query/run', { site: 'CMB', sql: "UPDATE STOCK_KDY SET QTY = QTY + 1000 WHERE STOCKCODE = 'KDY-1'" })).rejects.toMatchObject({ code: 'TIMEOUT' })
    expect((await run('txn/commit', { gid: t1 })).outcome).toBe('COMMIT')
    expect(q('KDY', "SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'KDY-1'")).toEqual([[36]])
  })
})
