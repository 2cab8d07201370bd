/**
 * Replica control (issue 17, bug 2; docs/REPLICATION.md): ITEMS is replicated with primary-copy control at
 * Colombo, so concurrent updates of one row issued at two sites are ordered by the primary copy and every
 * replica ends equal; a read-only replica and a derived fragment (Stocks_CMB_FRG at MBI) refuse a local write.
 */
import { describe, it, expect, beforeEach } from 'vitest'
import { Cluster } from '../cluster'
import { Dqp } from '../query/dqp'
import { Dtm } from '../txn/dtm'
import { replicaControl } from './replication'

let cluster: Cluster
let dqp: Dqp

beforeEach(async () => {
  cluster = await Cluster.create({ seed: 17, sales: 200 })
  dqp = await Dqp.create(cluster)
})

const items = (site: string, itemno: number) => cluster.siteStore(site).query('SELECT DESCRIPTION, LISTPRICE FROM ITEMS WHERE ITEMNO = ?', [itemno]).rows
const consistent = () => cluster.checkFragmentation('ITEMS').results.find((r) => r.check === 'replica-consistency')!

describe('replica control: primary copy', () => {
  it('concurrent updates of one ITEMS row at two sites leave every replica equal', async () => {
    const itemno = cluster.siteStore('CMB').query('SELECT MIN(ITEMNO) FROM ITEMS').rows[0][0] as number
    // issued at the same virtual instant at KDY and at MBI (neither waits for the other)
    const [a, b] = await Promise.all([
      dqp.run('KDY', `UPDATE ITEMS SET DESCRIPTION = 'from Kandy', LISTPRICE = 11 WHERE ITEMNO = ${itemno}`),
      dqp.run('MBI', `UPDATE ITEMS SET DESCRIPTION = 'from Mumbai', LISTPRICE = 22 WHERE ITEMNO = ${itemno}`),
    ])
    expect(a.changes).toBe(1)
    expect(b.changes).toBe(1)
    expect(a.plan.fragments.map((f) => f.site)).toEqual(['CMB'])
    expect(a.plan.notes.join(' ')).toMatch(/primary-copy/)
    cluster.settle()
    const rows = items('CMB', itemno)
    for (const s of ['MBI', 'KDY']) expect(items(s, itemno)).toEqual(rows)
    expect(consistent()).toMatchObject({ ok: true })
  })

  it('a site-local write of a read-only ITEMS replica is refused and changes nothing (the primary copy takes it)', () => {
    const itemno = cluster.siteStore('CMB').query('SELECT MIN(ITEMNO) FROM ITEMS').rows[0][0] as number
    const before = items('KDY', itemno)
    expect(() => cluster.siteStore('KDY').exec(`UPDATE ITEMS SET LISTPRICE = 1 WHERE ITEMNO = ${itemno}`))
      .toThrow(expect.objectContaining({ code: 'UNSUPPORTED', site: 'KDY', message: expect.stringMatching(/read-only replica of ITEMS.*primary copy at CMB/) }))
    expect(items('KDY', itemno)).toEqual(before)
    // two site-local writes at two sites were the way replicas diverged: the primary copy takes writes, and they reach every copy
    cluster.siteStore('CMB').exec(`UPDATE ITEMS SET LISTPRICE = 3 WHERE ITEMNO = ${itemno}`)
    cluster.settle()
    for (const s of ['CMB', 'MBI', 'KDY']) expect(items(s, itemno)[0][1]).toBe(3)
    expect(consistent()).toMatchObject({ ok: true })
  })

  it('a transaction statement on a read-only replica or a derived fragment is refused before it locks anything', () => {
    const dtm = Dtm.of(cluster)
    const gid = dtm.begin('KDY')
    let res: { ok: boolean; error?: { code: string; message: string } } | undefined
    dtm.exec(gid, 'KDY', 'UPDATE ITEMS SET LISTPRICE = 1 WHERE ITEMNO = 1001', [], (r) => { res = r })
    cluster.sim.runUntilTrue(() => res !== undefined, 100_000)
    expect(res).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED', message: expect.stringMatching(/read-only replica/) } })
    res = undefined
    dtm.exec(dtm.begin('MBI'), 'MBI', "UPDATE Stocks_CMB_FRG SET QTY = 1 WHERE STOCKCODE = 'x'", [], (r) => { res = r })
    cluster.sim.runUntilTrue(() => res !== undefined, 100_000)
    expect(res).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED', message: expect.stringMatching(/read-only except through its source/) } })
    for (const s of ['CMB', 'MBI', 'KDY']) expect(dtm.locks(s).lockCount).toBe(0)
  })

  it('the catalog names each replicated relation\'s control scheme', () => {
    const rc = replicaControl(cluster.topology)
    expect(rc.find((r) => r.relation === 'ITEMS')).toMatchObject({ scheme: 'primary-copy', primary: 'CMB', copies: ['MBI', 'KDY'] })
    expect(rc.find((r) => r.fragment === 'Stocks_CMB_FRG')).toMatchObject({ scheme: 'derived', primary: 'CMB', copies: ['MBI'], source: 'Stock_CMB', refresh: 'sync' })
    expect(rc.find((r) => r.fragment === 'Stock_MBI')).toMatchObject({ scheme: 'derived', source: 'Stock_MBI_LCL', refresh: 'scheduled' })
  })
})

describe('derived fragments are read-only except through their source', () => {
  it('a direct write on Stocks_CMB_FRG at MBI is refused; the global STOCK_CMB answer stays right', async () => {
    cluster.settle()
    const code = cluster.siteStore('CMB').query('SELECT MIN(STOCKCODE) FROM Stock_CMB').rows[0][0] as string
    const qty = cluster.siteStore('CMB').query('SELECT QTY FROM Stock_CMB WHERE STOCKCODE = ?', [code]).rows[0][0]
    for (const sql of [`UPDATE Stocks_CMB_FRG SET QTY = 424242 WHERE STOCKCODE = '${code}'`, `DELETE FROM Stocks_CMB_FRG WHERE STOCKCODE = '${code}'`, "INSERT INTO Stocks_CMB_FRG (STOCKCODE, ITEMNO, QTY) VALUES ('ZZZ', 1, 1)"]) {
      expect(() => cluster.siteStore('MBI').exec(sql), sql)
        .toThrow(expect.objectContaining({ code: 'UNSUPPORTED', site: 'MBI', message: expect.stringMatching(/Stocks_CMB_FRG at MBI is a vertical fragment kept in step with Stock_CMB: it is read-only except through its source/) }))
    }
    expect(cluster.siteStore('MBI').query('SELECT QTY FROM Stocks_CMB_FRG WHERE STOCKCODE = ?', [code]).rows).toEqual([[qty]])
    const r = await dqp.run('MBI', `SELECT QTY FROM STOCK_CMB WHERE STOCKCODE = '${code}'`)
    expect(r.rows).toEqual([[qty]])
    // through its source it follows
    cluster.siteStore('CMB').exec('UPDATE Stock_CMB SET QTY = 5151 WHERE STOCKCODE = ?', [code])
    cluster.settle()
    expect(cluster.siteStore('MBI').query('SELECT QTY FROM Stocks_CMB_FRG WHERE STOCKCODE = ?', [code]).rows).toEqual([[5151]])
    expect(cluster.checkFragmentation('STOCK_CMB').ok).toBe(true)
  })

  it('the engine\'s own refresh of a scheduled copy and a restore from the repository still write them', async () => {
    cluster.refreshCopy('Stock_MBI')
    cluster.settle()
    expect(cluster.copyStatus('Stock_MBI').stale).toBe(false)
    let done = false
    cluster.restoreFromRepository('MBI', () => { done = true })
    cluster.sim.runUntilTrue(() => done, 1_000_000)
    expect(done).toBe(true)
    cluster.settle()
    expect(cluster.checkFragmentation().ok).toBe(true)
  })
})
