/**
 * Write paths through the DQP (INSERT/UPDATE/DELETE on global names) and failure paths (site or link
 * down before or during a query): results always equal the centralized repository, or the request
 * fails naming the unreachable site and fragment — never a partial result.
 */
import { describe, it, expect, beforeEach } from 'vitest'
import { Cluster } from '../cluster'
import { Dqp } from './dqp'
import { centralReference, runCentral, sameResult } from './testkit'

let cluster: Cluster
let dqp: Dqp

beforeEach(async () => {
  cluster = await Cluster.create({ seed: 5, sales: 300 })
  dqp = await Dqp.create(cluster)
})

async function agrees(sql: string, site = 'KDY'): Promise<void> {
  const ref = await centralReference(cluster)
  const got = await dqp.run(site, sql)
  const want = runCentral(ref, sql)
  expect(sameResult(got.rows, want.rows, /ORDER BY/i.test(sql)), sql).toBeUndefined()
  ref.close()
}

describe('DQP writes', () => {
  it('INSERT routes each row to its horizontal fragment', async () => {
    const r = await dqp.run('KDY', "INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, SOLD_AT, EMPNO) VALUES (900001, 'KDY', 1001, 2, 10.5, 21, '2026-11-23 09:00:00', 90), (900002, 'MBI', 1002, 1, 5, 5, '2026-11-23 09:01:00', 60)")
    expect(r.changes).toBe(2)
    expect(r.requestClass).toBe('distributed request')
    expect(cluster.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 900001').rows[0][0]).toBe(1)
    expect(cluster.siteStore('MBI').query('SELECT COUNT(*) FROM Sales_MBI WHERE INVNO = 900002').rows[0][0]).toBe(1)
    await agrees('SELECT * FROM SALES WHERE INVNO > 900000 ORDER BY INVNO')
    // the new row is outside the old HKEY: stats are current, so the point lookup still finds it
    const p = await dqp.run('CMB', 'SELECT INVNO FROM SALES WHERE INVNO = 900002')
    expect(p.rows).toEqual([[900002]])
    await expect(dqp.run('KDY', "INSERT INTO SALES (INVNO, BRCODE) VALUES (900003, 'XYZ')")).rejects.toMatchObject({ code: 'BAD_INPUT' })
  })

  it('single-site UPDATE is a remote transaction; UPDATE changing BRCODE moves the row atomically', async () => {
    const u = await dqp.run('CMB', "UPDATE SALES SET QTY = QTY + 1, AMOUNT = (QTY + 1) * UNITPRICE WHERE BRCODE = 'MBI' AND QTY = 1")
    expect(u.requestClass).toBe('remote transaction')
    await agrees('SELECT INVNO, QTY FROM SALES ORDER BY INVNO')
    const inv = cluster.siteStore('KDY').query('SELECT INVNO FROM Sales_KDY ORDER BY INVNO LIMIT 1').rows[0][0] as number
    const m = await dqp.run('MBI', `UPDATE SALES SET BRCODE = 'CMB', QTY = QTY * 2, AMOUNT = (QTY * 2) * UNITPRICE WHERE INVNO = ${inv}`)
    expect(m.changes).toBe(1)
    expect(m.requestClass).toBe('distributed request')
    expect(cluster.siteStore('KDY').query(`SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = ${inv}`).rows[0][0]).toBe(0)
    expect(cluster.siteStore('CMB').query(`SELECT BRCODE FROM Sales_CMB WHERE INVNO = ${inv}`).rows[0][0]).toBe('CMB')
    await agrees('SELECT * FROM SALES ORDER BY INVNO')
    expect(cluster.checkFragmentation('SALES').ok ?? true).toBeTruthy()
  })

  it('a move whose destination is down changes nothing', async () => {
    const inv = cluster.siteStore('KDY').query('SELECT INVNO FROM Sales_KDY ORDER BY INVNO LIMIT 1').rows[0][0] as number
    cluster.failSite('MBI')
    await expect(dqp.run('CMB', `UPDATE SALES SET BRCODE = 'MBI' WHERE INVNO = ${inv}`)).rejects.toMatchObject({ code: 'UNREACHABLE' })
    expect(cluster.siteStore('KDY').query(`SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = ${inv}`).rows[0][0]).toBe(1)
  })

  it('DELETE over all fragments, and a write to Stock_CMB keeps Stocks_CMB_FRG in step', async () => {
    const d = await dqp.run('KDY', 'DELETE FROM SALES WHERE QTY >= 4')
    expect(d.requestClass).toBe('distributed request')
    await agrees('SELECT COUNT(*), MAX(QTY) FROM SALES')
    await dqp.run('KDY', "UPDATE STOCK_CMB SET QTY = 777 WHERE STOCKCODE = (SELECT MIN(STOCKCODE) FROM STOCK_CMB)").catch(() => undefined)
    const code = cluster.siteStore('CMB').query('SELECT MIN(STOCKCODE) FROM Stock_CMB').rows[0][0] as string
    const w = await dqp.run('KDY', `UPDATE STOCK_CMB SET QTY = 777, UNITPRICE = 1.25 WHERE STOCKCODE = '${code}'`)
    expect(w.requestClass).toBe('remote transaction')
    expect(cluster.siteStore('MBI').query(`SELECT QTY FROM Stocks_CMB_FRG WHERE STOCKCODE = ?`, [code]).rows[0][0]).toBe(777)
    const frg = await dqp.run('MBI', `SELECT QTY FROM Stocks_CMB_FRG WHERE STOCKCODE = '${code}'`)
    expect(frg.rows).toEqual([[777]])
    await expect(dqp.run('KDY', `UPDATE Stocks_CMB_FRG SET QTY = 1`)).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    await dqp.run('CMB', "INSERT INTO ITEMS (ITEMNO, DESCRIPTION, CATEGORY, BRAND, LISTPRICE) VALUES (99999, 'Test item', 'Accessory', 'Anker', 9.99)")
    for (const s of ['CMB', 'MBI', 'KDY']) expect(cluster.siteStore(s).query('SELECT COUNT(*) FROM ITEMS WHERE ITEMNO = 99999').rows[0][0]).toBe(1)
  })
})

describe('DQP failure paths', () => {
  it('site down: uses the main repository copy for its fragment, or fails naming the site and fragment', async () => {
    cluster.settle()
    cluster.failSite('KDY')
    const r = await dqp.run('MBI', 'SELECT BRCODE, COUNT(*) FROM SALES GROUP BY BRCODE ORDER BY BRCODE')
    expect(r.plan.fragments.some((f) => f.fragment === 'Sales_KDY' && f.server === 'repository')).toBe(true)
    expect(r.plan.notes.join(' ')).toMatch(/main repository/)
    cluster.restoreSite('KDY')
    await agrees('SELECT BRCODE, COUNT(*) FROM SALES GROUP BY BRCODE ORDER BY BRCODE', 'MBI')
    // both the branch and Colombo down: no copy of Sales_KDY is reachable
    cluster.failSite('KDY')
    cluster.failServer('CMB.repository')
    await expect(dqp.run('MBI', 'SELECT COUNT(*) FROM SALES')).rejects.toThrow(/Sales_KDY.*unreachable|unreachable.*Sales_KDY/)
  })

  it('Stock_MBI: the Colombo copy answers (with its staleness) when Mumbai is down', async () => {
    cluster.failSite('MBI')
    cluster.failServer('CMB.repository')
    const r = await dqp.run('CMB', 'SELECT COUNT(*) FROM STOCK_MBI')
    expect(r.plan.fragments.some((f) => f.role === 'scheduled-copy')).toBe(true)
    expect(r.explain ?? r.plan.notes.join(' ')).toMatch(/copy|refreshed/)
  })

  it('a link down reroutes through the third site; a link failing mid-query is survived or reported', async () => {
    cluster.failLink('CMB-KDY')
    await agrees('SELECT COUNT(*), SUM(AMOUNT) FROM SALES', 'KDY')
    cluster.restoreLink('CMB-KDY')
    // fail the KDY site while the sub-queries are in flight: KDY's fragment is re-read from the repository
    cluster.sim.schedule(3, 'test.fail', () => cluster.failSite('MBI'))
    const r = await dqp.run('KDY', 'SELECT BRCODE, SUM(AMOUNT) FROM SALES GROUP BY BRCODE ORDER BY BRCODE').catch((e) => e)
    if (r instanceof Error) expect(String(r.message)).toMatch(/MBI|Sales_MBI/)
    else {
      expect(r.plan.notes.join(' ')).toMatch(/failed during the query|main repository/)
      cluster.restoreSite('MBI')
      const ref = await centralReference(cluster)
      expect(sameResult(r.rows, runCentral(ref, 'SELECT BRCODE, SUM(AMOUNT) FROM SALES GROUP BY BRCODE ORDER BY BRCODE').rows, true)).toBeUndefined()
    }
  })

  it('the query site itself down is refused', async () => {
    cluster.failSite('KDY')
    await expect(dqp.run('KDY', 'SELECT 1 FROM ITEMS')).rejects.toMatchObject({ code: 'SITE_DOWN' })
  })
})

describe('DQP transactions of several statements', () => {
  it('classifies remote / distributed transactions and undoes everything when a statement fails', async () => {
    const kdy = cluster.siteStore('KDY').query('SELECT INVNO, QTY FROM Sales_KDY ORDER BY INVNO LIMIT 1').rows[0] as [number, number]
    const mbi = cluster.siteStore('MBI').query('SELECT INVNO, QTY FROM Sales_MBI ORDER BY INVNO LIMIT 1').rows[0] as [number, number]
    const one = await dqp.run('CMB', `BEGIN; UPDATE SALES SET QTY = QTY + 1, AMOUNT = (QTY + 1) * UNITPRICE WHERE BRCODE = 'KDY' AND INVNO = ${kdy[0]}; UPDATE EMPLOYEES SET SALARY = SALARY + 1 WHERE BRCODE = 'KDY' AND EMPNO = 90; COMMIT`)
    expect(one.requestClass).toBe('remote transaction')
    const two = await dqp.run('CMB', `BEGIN; UPDATE SALES SET QTY = QTY + 1, AMOUNT = (QTY + 1) * UNITPRICE WHERE BRCODE = 'KDY' AND INVNO = ${kdy[0]}; UPDATE SALES SET QTY = QTY + 1, AMOUNT = (QTY + 1) * UNITPRICE WHERE BRCODE = 'MBI' AND INVNO = ${mbi[0]}; COMMIT`)
    expect(two.requestClass).toBe('distributed transaction')
    expect(cluster.siteStore('KDY').query(`SELECT QTY FROM Sales_KDY WHERE INVNO = ${kdy[0]}`).rows[0][0]).toBe(kdy[1] + 2)
    cluster.failSite('CMB')
    const before = cluster.siteStore('KDY').query(`SELECT QTY FROM Sales_KDY WHERE INVNO = ${kdy[0]}`).rows[0][0]
    await expect(dqp.run('KDY', `BEGIN; UPDATE SALES SET QTY = 99, AMOUNT = (99) * UNITPRICE WHERE BRCODE = 'KDY' AND INVNO = ${kdy[0]}; DELETE FROM SALES WHERE BRCODE = 'CMB'; COMMIT`)).rejects.toThrow(/statement 2 of the transaction failed: .*CMB.* aborted, nothing changed/)
    expect(cluster.siteStore('KDY').query(`SELECT QTY FROM Sales_KDY WHERE INVNO = ${kdy[0]}`).rows[0][0]).toBe(before)
    await expect(dqp.run('KDY', 'BEGIN; SELECT 1 FROM SALES; COMMIT')).rejects.toMatchObject({ code: 'UNSUPPORTED' })
  })
})
