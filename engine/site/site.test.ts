import { describe, it, expect } from 'vitest'
import { Cluster } from '../cluster'

describe('sites: stores, replication, catalogs', () => {
  it('creates a cluster with generated data at every site', async () => {
    const t0 = performance.now()
    const c = await Cluster.create({ seed: 7, sales: 5000 })
    const took = performance.now() - t0
    const cmb = c.siteStore('CMB')
    const counts = Object.fromEntries(c.siteCodes.map((s) => [s, c.siteStore(s).count(`Sales_${s}`)]))
    expect(counts.CMB + counts.MBI + counts.KDY).toBe(5000)
    expect(c.siteStore('CMB').count('Employees_CMB')).toBe(48)
    expect(c.siteStore('MBI').count('Employees_MBI')).toBe(31)
    expect(c.siteStore('KDY').count('Employees_KDY')).toBe(23)
    expect(cmb.repository!.count('SALES')).toBe(5000)
    expect(cmb.repository!.count('EMPLOYEES')).toBe(102)
    expect(cmb.backup.count('Sales_CMB')).toBe(counts.CMB)
    const items = cmb.count('ITEMS')
    expect(c.siteStore('KDY').count('ITEMS')).toBe(items)
    expect(c.siteStore('MBI').count('Stocks_CMB_FRG')).toBe(cmb.count('Stock_CMB'))
    expect(cmb.count('Stock_MBI')).toBe(c.siteStore('MBI').count('Stock_MBI_LCL'))
    // catalogs
    const lc = cmb.query("SELECT NUM_ROWS FROM LCAT_TABLES WHERE TABLE_NAME = 'Sales_CMB'").rows[0][0]
    expect(lc).toBe(counts.CMB)
    const fr = c.siteStore('KDY').query("SELECT NROWS FROM FRAGMENT_TABLES WHERE FNAME = 'Sales_CMB'").rows[0][0]
    expect(fr).toBe(counts.CMB)
    // LKEY/HKEY from the bulk-load statistics equal a real scan
    for (const col of ['INVNO', 'SOLD_AT', 'AMOUNT', 'EMPNO']) {
      const [lo, hi] = cmb.query(`SELECT LKEY, HKEY FROM LCAT_COLUMNS WHERE "TABLE" = 'Sales_CMB' AND COL_NAME = ?`, [col]).rows[0]
      expect([lo, hi]).toEqual(cmb.query(`SELECT MIN(${col}), MAX(${col}) FROM Sales_CMB`).rows[0])
    }
    expect(cmb.query("SELECT PCT_UNIQUE FROM LCAT_INDEXES WHERE INDEX_NAME = 'PK_Sales_CMB'").rows[0][0]).toBe(100)
    expect(Number(cmb.query("SELECT PCT_UNIQUE FROM LCAT_INDEXES WHERE INDEX_NAME = 'IX_Employees_CMB_DEPT'").rows[0][0])).toBeLessThan(20)
    expect(took).toBeLessThan(20_000)
  })

  it('ships commits to backup, repository and replicas; keeps catalogs fresh', async () => {
    const c = await Cluster.create({ seed: 3, sales: 2000 })
    const kdy = c.siteStore('KDY')
    const before = kdy.count('Sales_KDY')
    const hi = Number(kdy.query("SELECT HKEY FROM LCAT_COLUMNS WHERE \"TABLE\" = 'Sales_KDY' AND COL_NAME = 'INVNO'").rows[0][0])
    kdy.exec("INSERT INTO Sales_KDY VALUES (999999, 'KDY', 1001, 2, 10.5, 21, '2026-11-23 09:00:00', 100)")
    expect(kdy.query("SELECT NUM_ROWS FROM LCAT_TABLES WHERE TABLE_NAME = 'Sales_KDY'").rows[0][0]).toBe(before + 1)
    expect(kdy.query("SELECT HKEY FROM LCAT_COLUMNS WHERE \"TABLE\" = 'Sales_KDY' AND COL_NAME = 'INVNO'").rows[0][0]).toBe(999999)
    expect(kdy.backup.count('Sales_KDY')).toBe(before) // not yet shipped
    c.settle()
    expect(kdy.backup.count('Sales_KDY')).toBe(before + 1)
    expect(c.siteStore('CMB').repository!.query('SELECT QTY FROM SALES WHERE INVNO = 999999').rows).toEqual([[2]])
    expect(c.siteStore('CMB').query("SELECT NROWS FROM FRAGMENT_TABLES WHERE FNAME = 'Sales_KDY'").rows[0][0]).toBe(before + 1)
    kdy.exec('DELETE FROM Sales_KDY WHERE INVNO = 999999')
    expect(kdy.query("SELECT HKEY FROM LCAT_COLUMNS WHERE \"TABLE\" = 'Sales_KDY' AND COL_NAME = 'INVNO'").rows[0][0]).toBe(hi)
    // Stock_CMB → Stocks_CMB_FRG at MBI
    const cmb = c.siteStore('CMB')
    const code = cmb.query('SELECT STOCKCODE FROM Stock_CMB LIMIT 1').rows[0][0]
    cmb.exec('UPDATE Stock_CMB SET QTY = 4242 WHERE STOCKCODE = ?', [code])
    c.settle()
    expect(c.siteStore('MBI').query('SELECT QTY FROM Stocks_CMB_FRG WHERE STOCKCODE = ?', [code]).rows).toEqual([[4242]])
    expect(c.checkFragmentation().ok).toBe(true)
  })

  it('fragmentation checks fail with the failing rows when a fragment is wrong', async () => {
    const c = await Cluster.create({ seed: 4, sales: 1000 })
    expect(c.checkFragmentation().ok).toBe(true)
    // a CMB sale recorded in Mumbai's fragment: violates Sales_MBI's predicate
    c.siteStore('MBI').exec("INSERT INTO Sales_MBI VALUES (888888, 'CMB', 1001, 1, 5, 5, '2026-11-23 09:00:00', 60)")
    c.settle()
    const rep = c.checkFragmentation('SALES')
    expect(rep.ok).toBe(false)
    const disj = rep.results.find((r) => r.check === 'disjointness')!
    expect(disj.ok).toBe(false)
    expect(disj.failing[0]).toMatchObject({ fragment: 'Sales_MBI', key: [888888] })
    const comp = rep.results.find((r) => r.check === 'completeness')!
    expect(comp.failing.some((f) => f.key[0] === 888888 && f.fragment === 'Sales_CMB')).toBe(true)
    // a vertical fragment out of step breaks the join reconstruction
    const cmb = c.siteInternals('MBI').primary
    cmb.run("UPDATE Stocks_CMB_FRG SET QTY = -1 WHERE rowid = 1")
    const st = c.checkFragmentation('STOCK_CMB')
    expect(st.results.find((r) => r.check === 'reconstruction')!.ok).toBe(false)
    // ITEMS replica drift
    c.siteInternals('KDY').primary.run('DELETE FROM ITEMS WHERE ITEMNO = (SELECT MIN(ITEMNO) FROM ITEMS)')
    const it = c.checkFragmentation('ITEMS').results[0]
    expect(it.ok).toBe(false)
    expect(it.failing[0].site).toBe('KDY')
  })

  it('a fourth branch added by configuration gets its fragments, catalogs and replication', async () => {
    const { withBranch, defaultTopology } = await import('../topology/default')
    const topo = withBranch(defaultTopology(), { code: 'GAL', name: 'Galle', city: 'Galle', lanBps: 1e9, lanDelayMs: 0.2, x: 40, y: 90, clients: 4, staff: 15, links: [{ to: 'CMB', delayMs: 6 }] })
    const c = await Cluster.create({ seed: 8, topology: topo, sales: 800 })
    const gal = c.siteStore('GAL')
    expect(gal.tables().sort()).toEqual(['Employees_GAL', 'INVOICE_BLOCKS', 'ITEMS', 'Sales_GAL', 'Stock_GAL'])
    expect(gal.count('Employees_GAL')).toBe(15)
    expect(gal.count('Sales_GAL')).toBeGreaterThan(0)
    gal.exec("INSERT INTO Sales_GAL VALUES (990001, 'GAL', 1001, 1, 5, 5, '2026-11-23 09:00:00', 103)")
    c.settle()
    expect(c.siteStore('CMB').repository!.query("SELECT BRCODE FROM SALES WHERE INVNO = 990001").rows).toEqual([['GAL']])
    expect(c.siteStore('KDY').query("SELECT NROWS FROM FRAGMENT_TABLES WHERE FNAME = 'Sales_GAL'").rows[0][0]).toBe(gal.count('Sales_GAL'))
    expect(c.checkFragmentation().ok).toBe(true)
  })

  it('a failed link holds changes back; restoring it delivers them in order', async () => {
    const c = await Cluster.create({ seed: 6, sales: 300 })
    c.failLink('CMB-KDY'); c.failLink('MBI-KDY')
    const kdy = c.siteStore('KDY')
    for (let i = 0; i < 5; i++) kdy.exec(`INSERT INTO Sales_KDY VALUES (${700000 + i}, 'KDY', 1001, 1, 5, 5, 'x', 80)`)
    kdy.exec('UPDATE Sales_KDY SET QTY = 9 WHERE INVNO = 700002')
    c.sim.advance(60_000)
    const repo = c.siteStore('CMB').repository!
    expect(repo.query('SELECT COUNT(*) FROM SALES WHERE INVNO >= 700000').rows[0][0]).toBe(0)
    expect(kdy.backup.query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO >= 700000').rows[0][0]).toBe(5) // LAN still works
    c.restoreLink('CMB-KDY')
    c.settle()
    expect(repo.query('SELECT COUNT(*), SUM(QTY) FROM SALES WHERE INVNO >= 700000').rows[0]).toEqual([5, 13])
    expect(() => { c.failSite('KDY'); kdy.query('SELECT 1') }).toThrow(/down/)
  })

  it('recovers a primary from its backup (redo from the log) and a branch from the main repository', async () => {
    const c = await Cluster.create({ seed: 13, sales: 1500 })
    const kdy = c.siteStore('KDY')
    c.failServer('KDY.backup') // the backup lags behind
    for (let i = 0; i < 4; i++) kdy.exec(`INSERT INTO Sales_KDY VALUES (${600000 + i}, 'KDY', 1001, 1, 5, 5, 'x', 80)`)
    c.settle(5_000)
    const n = kdy.count('Sales_KDY')
    c.siteInternals('KDY').primary.run('DELETE FROM Sales_KDY WHERE INVNO < 1000') // media damage
    c.restoreServer('KDY.backup')
    const r = c.recoverFromBackup('KDY')
    expect(r.redone).toBe(4)
    expect(kdy.count('Sales_KDY')).toBe(n)
    expect(kdy.query("SELECT NUM_ROWS FROM LCAT_TABLES WHERE TABLE_NAME = 'Sales_KDY'").rows[0][0]).toBe(n)
    c.settle()
    expect(kdy.backup.count('Sales_KDY')).toBe(n)
    // lose the branch's data entirely, then restore it from Colombo's main repository
    const k = c.siteInternals('KDY').primary
    k.run('DELETE FROM Sales_KDY'); k.run('DELETE FROM Employees_KDY')
    c.restoreFromRepository('KDY')
    c.settle()
    expect(kdy.count('Sales_KDY')).toBe(n)
    expect(kdy.count('Employees_KDY')).toBe(23)
    expect(c.checkFragmentation().ok).toBe(true)
  })

  it('the main repository keeps a row moved KDY→CMB even when the KDY delete arrives after the CMB insert', async () => {
    const c = await Cluster.create({ seed: 8, sales: 300 })
    const kdy = c.siteStore('KDY'), cmb = c.siteStore('CMB')
    const repo = cmb.repository!
    kdy.exec("INSERT INTO Sales_KDY VALUES (810001, 'KDY', 1001, 1, 5, 5, 'x', 80)")
    kdy.exec("INSERT INTO Sales_KDY VALUES (810002, 'KDY', 1001, 2, 5, 10, 'x', 80)")
    c.settle()
    expect(repo.query('SELECT BRCODE FROM SALES WHERE INVNO = 810001').rows).toEqual([['KDY']])
    // KDY's channel to Colombo is cut: its delete is held back while CMB's insert reaches the repository
    c.failLink('CMB-KDY'); c.failLink('MBI-KDY')
    kdy.exec('DELETE FROM Sales_KDY WHERE INVNO = 810001')
    c.sim.advance(1)
    cmb.exec("INSERT INTO Sales_CMB VALUES (810001, 'CMB', 1001, 1, 5, 5, 'x', 11)")
    c.sim.advance(60_000)
    expect(repo.query('SELECT BRCODE FROM SALES WHERE INVNO = 810001').rows).toEqual([['CMB']])
    // a plain delete at KDY still reaches the repository, and a later move back is applied
    kdy.exec('DELETE FROM Sales_KDY WHERE INVNO = 810002')
    c.restoreLink('CMB-KDY'); c.restoreLink('MBI-KDY')
    c.settle()
    expect(repo.query('SELECT BRCODE FROM SALES WHERE INVNO = 810001').rows).toEqual([['CMB']]) // the stale delete was skipped
    expect(repo.query('SELECT COUNT(*) FROM SALES WHERE INVNO = 810002').rows[0][0]).toBe(0)
    cmb.exec('DELETE FROM Sales_CMB WHERE INVNO = 810001')
    kdy.exec("INSERT INTO Sales_KDY VALUES (810001, 'KDY', 1001, 3, 5, 15, 'x', 80)")
    c.settle()
    expect(repo.query('SELECT BRCODE, QTY FROM SALES WHERE INVNO = 810001').rows).toEqual([['KDY', 3]])
    expect(c.checkFragmentation().ok).toBe(true)
  })

  it('catalog statistics stay exact under updates, deletes of extremes and index changes', async () => {
    const c = await Cluster.create({ seed: 5, sales: 400 })
    const cmb = c.siteStore('CMB')
    const stats = (t: string, col: string) => cmb.query('SELECT LKEY, HKEY FROM LCAT_COLUMNS WHERE "TABLE" = ? AND COL_NAME = ?', [t, col]).rows[0]
    const scan = (t: string, col: string) => cmb.query(`SELECT MIN(${col}), MAX(${col}) FROM ${t}`).rows[0]
    const pct = (ix: string) => Number(cmb.query('SELECT PCT_UNIQUE FROM LCAT_INDEXES WHERE INDEX_NAME = ?', [ix]).rows[0][0])
    const distinctPct = (t: string, col: string) => {
      const [d, n] = cmb.query(`SELECT COUNT(DISTINCT ${col}), COUNT(*) FROM ${t}`).rows[0].map(Number)
      return Math.round((d / n) * 10000) / 100
    }
    const max = Number(scan('Sales_CMB', 'AMOUNT')[1])
    cmb.exec('DELETE FROM Sales_CMB WHERE AMOUNT = ?', [max]) // removes the high key
    cmb.exec('UPDATE Sales_CMB SET QTY = QTY + 1000 WHERE INVNO IN (SELECT INVNO FROM Sales_CMB LIMIT 3)')
    for (const col of ['AMOUNT', 'QTY', 'INVNO']) expect(stats('Sales_CMB', col)).toEqual(scan('Sales_CMB', col))
    expect(cmb.query("SELECT NUM_ROWS FROM LCAT_TABLES WHERE TABLE_NAME = 'Sales_CMB'").rows[0][0]).toBe(cmb.count('Sales_CMB'))
    // a non-unique index's distinct share follows changes of its column, not of others
    cmb.exec("UPDATE Employees_CMB SET DEPT = 'NEWDEPT' WHERE EMPNO IN (SELECT EMPNO FROM Employees_CMB LIMIT 5)")
    expect(pct('IX_Employees_CMB_DEPT')).toBe(distinctPct('Employees_CMB', 'DEPT'))
    // an index created by DDL appears in LCAT_INDEXES at the next commit
    cmb.exec('CREATE INDEX IX_SALES_CMB_ITEM ON Sales_CMB (ITEMNO)')
    cmb.exec('UPDATE Sales_CMB SET ITEMNO = ITEMNO WHERE INVNO IN (SELECT INVNO FROM Sales_CMB LIMIT 1)')
    expect(pct('IX_SALES_CMB_ITEM')).toBe(distinctPct('Sales_CMB', 'ITEMNO'))
  })

  it('targets apply what arrives in one window as one transaction, and a delivered batch is never sent twice', async () => {
    const c = await Cluster.create({ seed: 9, sales: 0 })
    const kdy = c.siteStore('KDY')
    const backup = c.siteInternals('KDY').backup
    c.settle()
    c.net.resetStats()
    const sent = new Map<string, number>()
    c.net.onEvent((e) => { if (e.type === 'sent') sent.set(e.msg.kind, (sent.get(e.msg.kind) ?? 0) + 1) })
    const applied0 = backup.getMetaNum('src.KDY')
    for (let i = 0; i < 8; i++) { kdy.exec(`INSERT INTO Sales_KDY VALUES (${700000 + i}, 'KDY', 1001, 1, 5, 5, 'x', 80)`); c.sim.advance(1) }
    // the batches reached the backup over the LAN but wait for the apply window
    expect(backup.getMetaNum('src.KDY')).toBe(applied0)
    c.settle()
    expect(kdy.backup.count('Sales_KDY')).toBe(8)
    expect(backup.getMetaNum('src.KDY')).toBe(kdy.seq)
    // one message per committed batch on each channel, however long it waited at the target
    expect(c.net.lanStats.get('KDY')!.messages).toBe(8)
    expect(sent.get('repl.backup')).toBe(8)
    expect(sent.get('repl.repository')).toBe(8)
  })
})
