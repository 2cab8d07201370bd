/** The DTM on the sites' real sql.js databases: committed transfers are durable and replicated, aborted ones leave no trace. */
import { describe, expect, it } from 'vitest'
import { Cluster } from '../cluster'
import { Dtm } from './dtm'
import { transfer, type TransferOutcome } from './testkit'

async function cluster(): Promise<{ c: Cluster; dtm: Dtm }> {
  const c = new Cluster({ seed: 9 })
  await c.init()
  const tables: Record<string, string> = { CMB: 'Stock_CMB', MBI: 'Stock_MBI_LCL', KDY: 'Stock_KDY' }
  for (const [site, t] of Object.entries(tables)) {
    const st = c.siteStore(site)
    st.withTransaction((tx) => {
      for (let i = 1; i <= 3; i++) tx.exec(`INSERT INTO ${t} (STOCKCODE, ITEMNO, QTY, UNITPRICE, LASTIN, NEXTIN) VALUES (?, ?, 100, 10, NULL, NULL)`, [`S00${i}`, i])
    })
  }
  // the items the stock lines name (FK_STOCK_<X>_ITEMNO is looked up at the ITEMS primary copy, CMB)
  c.siteStore('CMB').withTransaction((tx) => { for (let i = 1; i <= 9; i++) tx.exec('INSERT INTO ITEMS (ITEMNO, DESCRIPTION, CATEGORY, BRAND, LISTPRICE) VALUES (?, ?, ?, ?, 10)', [i, `Item ${i}`, 'Misc', 'X']) })
  c.sim.runUntilIdle(100_000)
  return { c, dtm: new Dtm(c) }
}

const qty = (c: Cluster, site: string, t: string, code: string) => Number(c.siteStore(site).query(`SELECT QTY FROM ${t} WHERE STOCKCODE = ?`, [code]).rows[0][0])

describe('transactions on the site databases (sql.js)', () => {
  it('commits through the site store (durable, shipped to the repository); aborts leave no trace', async () => {
    const { c, dtm } = await cluster()
    const out: TransferOutcome[] = []
    transfer(dtm, { origin: 'MBI', from: 'CMB', to: 'KDY', item: 'S001', qty: 9, readFirst: true }, (o) => out.push(o))
    c.sim.runUntilTrue(() => out.length === 1 && dtm.summary().coordinators === 0)
    expect(out[0].outcome).toBe('COMMIT')
    expect(qty(c, 'CMB', 'Stock_CMB', 'S001')).toBe(91)
    expect(qty(c, 'KDY', 'Stock_KDY', 'S001')).toBe(109)
    // the committed change flows on like any local commit: the backup server gets it
    c.sim.runUntilTrue(() => Number(c.siteStore('KDY').backup.query("SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'S001'").rows[0]?.[0]) === 109, 1_000_000)
    expect(Number(c.siteStore('KDY').backup.query("SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'S001'").rows[0][0])).toBe(109)

    // a transaction that is aborted after writing at two sites
    const gid = dtm.begin('CMB')
    let n = 0
    dtm.exec(gid, 'CMB', "UPDATE Stock_CMB SET QTY = QTY - 50 WHERE STOCKCODE = 'S002'", [], () => n++)
    dtm.exec(gid, 'MBI', "INSERT INTO Stock_MBI_LCL (STOCKCODE, ITEMNO, QTY) VALUES ('S999', 9, 5)", [], () => n++)
    c.sim.runUntilTrue(() => n === 2)
    dtm.abort(gid)
    c.sim.runUntilTrue(() => dtm.summary().active === 0)
    expect(qty(c, 'CMB', 'Stock_CMB', 'S002')).toBe(100)
    expect(c.siteStore('MBI').query("SELECT COUNT(*) FROM Stock_MBI_LCL WHERE STOCKCODE = 'S999'").rows[0][0]).toBe(0)
    // reads see the transaction's own writes, other transactions do not
    const g2 = dtm.begin('KDY')
    const seen: unknown[] = []
    dtm.exec(g2, 'KDY', "UPDATE Stock_KDY SET QTY = 1 WHERE STOCKCODE = 'S003'")
    dtm.exec(g2, 'KDY', "SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'S003'", [], (r) => seen.push(r.rows?.[0]?.QTY))
    c.sim.runUntilTrue(() => seen.length === 1)
    expect(seen).toEqual([1])
    expect(qty(c, 'KDY', 'Stock_KDY', 'S003')).toBe(100)
    let o = ''
    dtm.commit(g2, (r) => { o = r.outcome })
    c.sim.runUntilTrue(() => o !== '' && dtm.summary().inDoubt === 0)
    expect(qty(c, 'KDY', 'Stock_KDY', 'S003')).toBe(1)
    expect(() => dtm.exec(dtm.begin('CMB'), 'CMB', 'UPDATE Stock_MBI SET QTY = 0')).not.toThrow()
  })
})
