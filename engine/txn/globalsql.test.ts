/** Global SQL inside transactions: localization to fragments, 2PL + 2PC over the sub-transactions, refusals. */
import { beforeAll, describe, expect, it } from 'vitest'
import { loadSqlJs } from '../site/sqljs'
import { Cluster } from '../cluster'
import { Dtm, STEPS, type ExecResult } from './dtm'
import { MemoryStore } from './store'
import { QueryCatalog } from '../query/catalog'
import { stockCluster, transfer, type TransferOutcome } from './testkit'
import { checkBank, healAndSettle, snapshot } from './invariants'

const SITES = ['CMB', 'MBI', 'KDY']

describe('localizing a global statement', () => {
  // the localization as the DTM runs it (sites without data: every fragment is an empty in-memory table)
  const c = new Cluster({ seed: 1 })
  const dtm = new Dtm(c)
  const locOf = (sql: string, params: (string | number | null)[] = [], origin = 'CMB') => {
    const gid = dtm.begin(origin)
    let r: ExecResult | undefined
    dtm.execGlobal(gid, sql, params, (x) => { r = x })
    c.sim.runUntilTrue(() => r !== undefined, 100_000)
    try { dtm.abort(gid) } catch { /* already ended */ }
    if (r && !r.ok && !r.localized?.ops.length) throw Object.assign(new Error(r.error?.message), r.error)
    return r!.localized!
  }
  const cat = new QueryCatalog(c.topology)
  for (const site of c.siteCodes) {
    const st = new MemoryStore()
    for (const f of cat.fragments) {
      if (f.site !== site || f.kind === 'copy') continue
      const rel = cat.relation(f.relation)!
      st.createTable(f.name, rel.key[0], [], f.columns.map((x) => ({ name: x.toUpperCase(), type: rel.columns.find((y) => y.name === x)!.type })))
    }
    dtm.setStore(site, st)
  }
  beforeAll(async () => { await loadSqlJs() })
  it('routes by the fragmentation predicate and the fragment names', () => {
    const a = locOf("UPDATE EMPLOYEES SET SALARY = SALARY * 1.1 WHERE BRCODE = 'KDY'")
    expect(a.ops.map((o) => o.site)).toEqual(['KDY'])
    expect(a.ops[0].sql).toMatch(/^UPDATE "Employees_\w+" SET "SALARY" = "SALARY" \* 1\.1 WHERE "BRCODE" = 'KDY'$/i)
    expect(a.pruned).toHaveLength(2)
    expect(locOf('UPDATE EMPLOYEES SET SALARY = SALARY + 1').ops.map((o) => o.site).sort()).toEqual(['CMB', 'KDY', 'MBI'])
    expect(locOf("SELECT * FROM EMPLOYEES WHERE BRCODE <> 'KDY'").ops.map((o) => o.site).sort()).toEqual(['CMB', 'MBI'])
    expect(locOf("SELECT * FROM EMPLOYEES WHERE BRCODE IN ('KDY', 'MBI') OR EMPNO = 3").ops.map((o) => o.site).sort()).toEqual(['CMB', 'KDY', 'MBI'])
    expect(locOf("DELETE FROM EMPLOYEES WHERE BRCODE IN ('KDY', 'MBI') AND (SALARY > 10 OR EMPNO BETWEEN 1 AND 5)").ops.map((o) => o.site).sort()).toEqual(['KDY', 'MBI'])
    const ins = locOf("INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY) VALUES (?, ?, 1001, 2)", [990001, 'MBI'])
    expect(ins.ops).toEqual([{ site: 'MBI', fragment: expect.stringMatching(/^Sales_mbi$/i), sql: expect.stringContaining("VALUES (990001, 'MBI', 1001, 2)") }])
    const two = locOf("INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY) VALUES (990002, 'KDY', 1001, 2 * 3), (990003, 'CMB', 1002, 1)")
    expect(two.ops.map((o) => o.site).sort()).toEqual(['CMB', 'KDY'])
    expect(two.ops.find((o) => o.site === 'KDY')!.sql).toContain("(990002, 'KDY', 1001, 6)")
    expect(locOf("UPDATE STOCK_KDY SET QTY = QTY - 5 WHERE STOCKCODE = 'K-0001'").ops).toEqual([{ site: 'KDY', fragment: 'Stock_KDY', sql: `UPDATE "Stock_KDY" SET "QTY" = "QTY" - 5 WHERE "STOCKCODE" = 'K-0001'` }])
    // MBI's stock: the authoritative local fragment, never the scheduled copy at CMB
    expect(locOf("SELECT QTY FROM STOCK_MBI WHERE STOCKCODE = 'S1'").ops.map((o) => `${o.fragment}@${o.site}`)).toEqual(['Stock_MBI_LCL@MBI'])
    // a replicated relation is locked, read and written at its primary copy whatever the origin
    expect(locOf('UPDATE ITEMS SET LISTPRICE = 3 WHERE ITEMNO = 1001', [], 'KDY').ops.map((o) => o.site)).toEqual(['CMB'])
    expect(locOf('SELECT * FROM ITEMS WHERE ITEMNO = 1001', [], 'MBI').ops.map((o) => o.site)).toEqual(['CMB'])
    // a join reads each base reference's fragments (under S locks), then runs the statement over those rows
    expect(locOf('SELECT E.NAME, S.INVNO FROM EMPLOYEES E JOIN SALES S ON E.EMPNO = S.EMPNO WHERE S.BRCODE = \'KDY\'').ops.map((o) => o.fragment).sort()).toEqual(['Employees_CMB', 'Employees_KDY', 'Employees_MBI', 'Sales_KDY'])
  })
  it('refuses what it cannot do safely, naming the construct; unknown columns and wrong types are errors', () => {
    const refused = (sql: string, code: string, what: RegExp) => expect(() => locOf(sql)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(what) }))
    refused("UPDATE EMPLOYEES SET EMPNO = 9 WHERE EMPNO = 7", 'UNSUPPORTED', /the key of EMPLOYEES/)
    refused('UPDATE Stocks_CMB_FRG SET QTY = 1', 'UNSUPPORTED', /vertical fragment/)
    refused('SELECT * FROM STOCK_KDY WHERE QTY = ?', 'BAD_INPUT', /1 parameter|parameters/)
    refused("INSERT INTO SALES (INVNO, ITEMNO) VALUES (1, 2)", 'BAD_INPUT', /must give BRCODE/)
    refused('UPDATE EMPLOYEES SET NOPE = 1', 'SQL_ERROR', /no column NOPE/)
    refused('UPDATE Stock_CMB SET NOPE = 1', 'SQL_ERROR', /no column NOPE/)
    refused('UPDATE Stock_CMB SET QTY = 1 WHERE NOPE = 2', 'SQL_ERROR', /no column NOPE/)
    // a wrong value type is refused at the site, before anything changes
    const gid = dtm.begin('CMB')
    let r: ExecResult | undefined
    dtm.execGlobal(gid, "UPDATE STOCK_CMB SET QTY = 'lots'", [], (x) => { r = x })
    c.sim.runUntilTrue(() => r !== undefined, 100_000)
    expect(r).toMatchObject({ ok: true, affected: 0 }) // no rows here: nothing to check
  })
})

describe('global statements on the site databases', () => {
  let c: Cluster
  beforeAll(async () => { c = await Cluster.create({ seed: 21, sales: 300 }) }, 60_000)
  const q = (site: string, sql: string) => c.siteStore(site).query(sql).rows
  const run = (dtm: Dtm, gid: string, sql: string, params: (string | number | null)[] = []): ExecResult => {
    let r: ExecResult | undefined
    dtm.execGlobal(gid, sql, params, (x) => { r = x })
    c.sim.runUntilTrue(() => r !== undefined, 1_000_000)
    return r!
  }
  const commit = (dtm: Dtm, gid: string): string => {
    let o: string | undefined
    dtm.commit(gid, (r) => { o = r.outcome })
    c.sim.runUntilTrue(() => o !== undefined && dtm.unfinishedAt(gid).length === 0, 1_000_000)
    return o!
  }

  it('UPDATE EMPLOYEES … WHERE BRCODE = KDY, a routed INSERT INTO SALES and a STOCK_KDY update commit together', () => {
    const dtm = new Dtm(c)
    const kdyEmp = q('KDY', 'SELECT EMPNO, SALARY FROM Employees_KDY ORDER BY EMPNO')
    const cmbBefore = q('CMB', 'SELECT SUM(SALARY) FROM Employees_CMB')[0][0]
    const [stockCode, stockQty] = q('KDY', 'SELECT STOCKCODE, QTY FROM Stock_KDY ORDER BY STOCKCODE LIMIT 1')[0]
    expect(kdyEmp.length).toBeGreaterThan(0)
    const gid = dtm.begin('CMB')
    const u = run(dtm, gid, "UPDATE EMPLOYEES SET SALARY = SALARY * 1.1 WHERE BRCODE = 'KDY'")
    expect(u).toMatchObject({ ok: true, affected: kdyEmp.length, site: 'KDY' })
    expect(run(dtm, gid, 'INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (?, ?, 1001, 2, 5, 10)', [990001, 'MBI'])).toMatchObject({ ok: true, affected: 1, site: 'MBI' })
    expect(run(dtm, gid, 'UPDATE STOCK_KDY SET QTY = QTY - 5 WHERE STOCKCODE = ?', [String(stockCode)])).toMatchObject({ ok: true, affected: 1 })
    // reads inside the transaction see its own writes
    const mine = run(dtm, gid, 'SELECT QTY FROM STOCK_KDY WHERE STOCKCODE = ?', [String(stockCode)])
    expect(mine.rows).toEqual([{ QTY: Number(stockQty) - 5 }])
    // nothing is visible at the sites before the decision
    expect(q('MBI', 'SELECT COUNT(*) FROM Sales_MBI WHERE INVNO = 990001')[0][0]).toBe(0)
    expect(Object.keys(dtm.info.get(gid)!.sites).sort()).toEqual(['KDY', 'MBI'])
    expect(commit(dtm, gid)).toBe('COMMIT')
    const after = q('KDY', 'SELECT EMPNO, SALARY FROM Employees_KDY ORDER BY EMPNO')
    after.forEach((r, i) => expect(Number(r[1])).toBeCloseTo(Number(kdyEmp[i][1]) * 1.1, 6))
    expect(q('CMB', 'SELECT SUM(SALARY) FROM Employees_CMB')[0][0]).toBe(cmbBefore)
    expect(q('MBI', 'SELECT BRCODE, QTY FROM Sales_MBI WHERE INVNO = 990001')).toEqual([['MBI', 2]])
    expect(Number(q('KDY', `SELECT QTY FROM Stock_KDY WHERE STOCKCODE = '${String(stockCode)}'`)[0][0])).toBe(Number(stockQty) - 5)
    dtm.dispose()
  })

  it('an aborted global transaction leaves no trace; a refused statement aborts nothing else; S locks block writers', () => {
    const dtm = new Dtm(c)
    const sum = () => q('CMB', 'SELECT SUM(SALARY) FROM Employees_CMB')[0][0]
    const before = sum()
    const g1 = dtm.begin('MBI')
    expect(run(dtm, g1, 'UPDATE EMPLOYEES SET SALARY = SALARY + 1000').ok).toBe(true)
    const bad = run(dtm, g1, "UPDATE EMPLOYEES SET EMPNO = EMPNO + 1 WHERE BRCODE = 'CMB'")
    expect(bad).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED' } })
    dtm.abort(g1)
    c.sim.runUntilTrue(() => dtm.summary().active === 0, 1_000_000)
    expect(sum()).toBe(before)
    // a reader holds S locks until it ends: the writer waits for them
    const reader = dtm.begin('CMB')
    const r = run(dtm, reader, "SELECT EMPNO, SALARY FROM EMPLOYEES WHERE BRCODE = 'CMB'")
    expect(r.ok && r.rows!.length).toBeGreaterThan(0)
    expect(dtm.locks('CMB').heldLocks(reader).map((l) => l.mode)).toContain('S')
    const writer = dtm.begin('KDY')
    let w: ExecResult | undefined
    dtm.execGlobal(writer, "UPDATE EMPLOYEES SET SALARY = SALARY + 1 WHERE BRCODE = 'CMB'", [], (x) => { w = x })
    c.sim.advance(1000)
    expect(w).toBeUndefined()
    expect(dtm.wfgView().global).toContainEqual({ from: writer, to: reader })
    expect(commit(dtm, reader)).toBe('COMMIT')
    c.sim.runUntilTrue(() => w !== undefined, 1_000_000)
    expect(w!.ok).toBe(true)
    expect(commit(dtm, writer)).toBe('COMMIT')
    expect(Number(sum())).toBeCloseTo(Number(before) + r.rows!.length, 6)
    dtm.dispose()
  })
})

describe('bank invariant with global names', () => {
  for (const [protocol, seed] of [['distributed', 31], ['centralized', 32], ['linear', 33]] as const) {
    it(`${protocol}: concurrent transfers written on STOCK_<SITE>, with crashes at 2PC steps and restarts`, () => {
      const { cluster, dtm, items } = stockCluster({ seed, items: 4, qty: 200, dtm: { protocol } })
      const initial = snapshot(dtm, cluster)
      const results: TransferOutcome[] = []
      const rng = cluster.sim.rng.fork('wl')
      const n = 200
      for (let i = 0; i < n; i++) {
        const from = rng.pick(SITES)
        const to = rng.pick(SITES.filter((s) => s !== from))
        const spec = { origin: rng.pick(SITES), from, to, item: rng.pick(items), qty: rng.int(1, 20), readFirst: rng.chance(0.5), global: true }
        cluster.sim.schedule(rng.next() * n * 200, 'test.client', () => transfer(dtm, spec, (o) => results.push(o)))
      }
      for (let i = 0; i < 10; i++) {
        cluster.sim.schedule(rng.next() * n * 200, 'test.chaos', () => {
          if (rng.chance(0.5)) dtm.crashAt(rng.pick(SITES), rng.pick(STEPS), { restartAfterMs: rng.int(5, 1500) })
          else { const s = rng.pick(SITES); if (cluster.isSiteUp(s)) { cluster.failSite(s); cluster.sim.schedule(rng.int(20, 1500), 'test.restart', () => cluster.restoreSite(s)) } }
        })
      }
      cluster.sim.runUntilTrue(() => results.length === n, 20_000_000)
      expect(results).toHaveLength(n)
      expect(healAndSettle(cluster, dtm)).toBe(true)
      expect(checkBank(dtm, cluster, initial, results)).toEqual([])
      expect(results.filter((r) => r.outcome === 'COMMIT').length).toBeGreaterThan(n / 3)
      expect(results.filter((r) => r.outcome === 'ABORT').length).toBeGreaterThan(3)
      // the statements really went through localization: the recorded operations name the fragments
      const stmts = dtm.list(1000).flatMap((t) => t.statements.map((s) => s.sql))
      expect(stmts.some((s) => s.includes('"Stock_MBI_LCL"'))).toBe(true)
      expect(stmts.some((s) => /STOCK_(CMB|KDY|MBI)\b/.test(s))).toBe(false)
    })
  }
})
