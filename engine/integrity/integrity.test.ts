/**
 * The Distributed Integrity Manager on every user-visible write path: the Query console (query/run), the
 * Transactions console (txn/exec, global and fragment statements), scenarios (`sql SITE`, `check integrity`),
 * the CLI (`iddb sql --local`, `iddb check integrity`) and ticket-accepted sales. Every constraint violated
 * is refused with CONSTRAINT_VIOLATION naming the constraint, the row and the site, and changes nothing
 * (row counts and checksums of every site's data compared before/after; the engine still answers).
 */
import { describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from '../cluster'
import { runScenario } from '../scenario'
import { checkIntegrity } from './check'
import { globalConstraints } from './constraints'
import { firstRow, sale, setup, snapshot } from './testkit'

describe('DIM: declared constraints', () => {
  it('GLOBAL_CONSTRAINTS is in the replicated global catalog (same at every site, shown by catalog/global) and the generated data satisfies every constraint', async () => {
    const { cluster, run } = await setup()
    const names = globalConstraints(cluster.topology).map((c) => c.name).sort()
    expect(names).toEqual(expect.arrayContaining(['PK_EMPLOYEES', 'PK_SALES', 'PK_STOCK_KDY', 'FK_SALES_ITEMNO', 'FK_SALES_EMPNO', 'FK_STOCK_CMB_ITEMNO', 'FRAG_Employees_KDY', 'FRAG_Sales_MBI', 'CK_SALES_QTY', 'CK_SALES_AMOUNT', 'CK_STOCK_MBI_QTY']))
    const at = cluster.siteCodes.map((s) => JSON.stringify(cluster.siteStore(s).query('SELECT * FROM GLOBAL_CONSTRAINTS ORDER BY CNAME').rows))
    expect(new Set(at).size).toBe(1)
    expect(JSON.parse(at[0]).length).toBe(names.length)
    const g = await run('catalog/global', { site: 'KDY' })
    expect(g.constraints.rows.map((r) => r[0])).toContain('FK_SALES_EMPNO')
    const rep = checkIntegrity(cluster)
    expect(rep.violations).toEqual([])
    expect(rep.ok).toBe(true)
    expect(rep.constraints.find((c) => c.constraint === 'PK_SALES')!.checkedRows).toBe(300)
  })
})

describe('DIM: Query console writes (query/run)', () => {
  it('refuses every constraint violated, naming constraint, row and site, and changes nothing; a valid write still goes through', async () => {
    const { cluster, run } = await setup()
    const cmbEmp = Number(firstRow(cluster, 'CMB', 'SELECT EMPNO FROM Employees_CMB LIMIT 1')[0])
    const kdyEmp = Number(firstRow(cluster, 'KDY', 'SELECT EMPNO FROM Employees_KDY LIMIT 1')[0])
    const item = Number(firstRow(cluster, 'KDY', 'SELECT ITEMNO FROM ITEMS LIMIT 1')[0])
    const soldItem = Number(firstRow(cluster, 'MBI', 'SELECT ITEMNO FROM Sales_MBI LIMIT 1')[0])
    const seller = Number(firstRow(cluster, 'MBI', 'SELECT EMPNO FROM Sales_MBI WHERE EMPNO IS NOT NULL LIMIT 1')[0])
    const otherInv = Number(firstRow(cluster, 'CMB', 'SELECT INVNO FROM Sales_CMB LIMIT 1')[0])
    const kdyInv = Number(firstRow(cluster, 'KDY', 'SELECT INVNO FROM Sales_KDY LIMIT 1')[0])
    const stock = String(firstRow(cluster, 'KDY', 'SELECT STOCKCODE FROM Stock_KDY LIMIT 1')[0])
    // the row rules (CHECK, fragment predicates); keys and foreign keys: keys.test.ts
    void cmbEmp; void otherInv; void soldItem
    const cases: [string, string, string, string][] = [
      // [site, statement, constraint, site named]
      ['CMB', `INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (880002, 'Wrong', 'CMB')`, 'FRAG_Employees_KDY', 'KDY'],
      ['KDY', sale(910003, 'KDY', item, -1, 5, -5, kdyEmp), 'CK_SALES_QTY', 'KDY'],
      ['KDY', sale(910004, 'KDY', item, 2, 5, 99, kdyEmp), 'CK_SALES_AMOUNT', 'KDY'],
      ['CMB', `UPDATE SALES SET QTY = QTY + 1 WHERE INVNO = ${kdyInv}`, 'CK_SALES_AMOUNT', 'KDY'],
      ['CMB', `UPDATE STOCK_KDY SET QTY = -3 WHERE STOCKCODE = '${stock}'`, 'CK_STOCK_KDY_QTY', 'KDY'],
    ]
    const before = snapshot(cluster)
    for (const [site, sql, constraint, where] of cases) {
      const e = await run('query/run', { site, sql }).then(() => null, (x: { code: string; message: string; site?: string }) => x)
      expect(e, sql).not.toBeNull()
      expect(e!.code, `${sql}: ${e!.message}`).toBe('CONSTRAINT_VIOLATION')
      expect(e!.message, sql).toContain(constraint)
      expect(e!.message).toMatch(/row \(/)
      if (where) expect(e!.site, sql).toBe(where)
      cluster.settle(30_000)
      expect(snapshot(cluster), sql).toEqual(before)
    }
    // the wrong fragment is refused; through the global name the same row is routed to its own fragment
    const ok = await run('query/run', { site: 'KDY', sql: sale(910005, 'MBI', item, 2, 5, 10, seller) })
    expect(ok.changes).toBe(1)
    expect(firstRow(cluster, 'MBI', 'SELECT BRCODE FROM Sales_MBI WHERE INVNO = 910005')[0]).toBe('MBI')
  })
})

describe('DIM: Transactions console (txn/exec)', () => {
  it('refuses violating global and fragment statements inside a transaction; nothing changes when it commits', async () => {
    const { cluster, run } = await setup()
    const item = Number(firstRow(cluster, 'KDY', 'SELECT ITEMNO FROM ITEMS LIMIT 1')[0])
    const kdyEmp = Number(firstRow(cluster, 'KDY', 'SELECT EMPNO FROM Employees_KDY LIMIT 1')[0])
    const before = snapshot(cluster)
    const stockBefore = before['KDY.Stock_KDY']
    const bad: [string | undefined, string, string][] = [
      [undefined, `INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, EMPNO) VALUES (920003, 'KDY', ${item}, -2, 5, -10, ${kdyEmp})`, 'CK_SALES_QTY'],
      ['KDY', `INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (880003, 'Wrong', 'CMB')`, 'FRAG_Employees_KDY'],
    ]
    // a violating statement is refused where its rows are checked; its transaction cannot commit it
    for (const [site, sql, constraint] of bad) {
      const t = await run('txn/begin', { site: 'KDY' })
      const r = await run('txn/exec', { gid: t.gid, sql, ...(site ? { site } : {}) })
      expect(r.ok, sql).toBe(false)
      expect(r.errorCode, `${sql}: ${r.error}`).toBe('CONSTRAINT_VIOLATION')
      expect(r.error).toContain(constraint)
      await run('txn/commit', { gid: t.gid }).then((c) => expect(c.outcome).not.toBe('COMMIT'), (e: { code: string }) => expect(['ABORTED', 'NOT_FOUND']).toContain(e.code))
    }
    cluster.settle(30_000)
    expect(snapshot(cluster)).toEqual(before)
    const { gid } = await run('txn/begin', { site: 'KDY' })
    // a valid statement runs and commits
    const good = await run('txn/exec', { gid, sql: `INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, EMPNO) VALUES (920009, 'KDY', ${item}, 2, 5, 10, ${kdyEmp})` })
    expect(good.ok, good.error ?? '').toBe(true)
    const c = await run('txn/commit', { gid })
    expect(c.outcome).toBe('COMMIT')
    cluster.settle(30_000)
    const after = snapshot(cluster)
    expect(after['KDY.Sales_KDY']).not.toBe(before['KDY.Sales_KDY'])
    delete after['KDY.Sales_KDY']; delete before['KDY.Sales_KDY']
    expect(after).toEqual(before)
    expect(checkIntegrity(cluster).ok).toBe(true)
    // an UPDATE whose after-image breaks a CHECK is refused at the participant, which aborts the transaction
    const t2 = await run('txn/begin', { site: 'CMB' })
    const q = await run('txn/exec', { gid: t2.gid, sql: 'UPDATE STOCK_KDY SET QTY = QTY - 100000' })
    expect(q.errorCode, q.error ?? '').toBe('CONSTRAINT_VIOLATION')
    expect(q.error).toContain('CK_STOCK_KDY_QTY')
    await expect(run('txn/commit', { gid: t2.gid })).rejects.toMatchObject({ code: 'ABORTED' })
    cluster.settle(30_000)
    expect(snapshot(cluster)['KDY.Stock_KDY']).toBe(stockBefore)
  })
})

describe('DIM: scenarios, CLI and tickets', () => {
  it('scenario: sql SITE writes are checked; check integrity reports rows written behind the DIM', async () => {
    const r = await runScenario(`
sql KDY INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (880011, 'Wrong', 'CMB')
expect error CONSTRAINT_VIOLATION
sql KDY INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (990001, 'KDY', 1, -1, 1, -1)
expect error CONSTRAINT_VIOLATION
sql KDY INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (880010, 'Fine', 'KDY')
expect changes 1
check integrity
expect ok
`, { seed: 3, sales: 200 })
    expect(r.ok, JSON.stringify(r.failed)).toBe(true)
    // the same script fails at the refused write when it expects success
    const bad = await runScenario(`sql KDY INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (880012, 'Wrong', 'CMB')\n`, { seed: 3, sales: 200 })
    expect(bad.ok).toBe(false)
    expect(bad.failed?.reason).toMatch(/CONSTRAINT_VIOLATION|FRAG_Employees_KDY/)
  })

  it('check integrity (engine, catalog/checkIntegrity, scenario) lists rows that violate constraints', async () => {
    const { cluster, run } = await setup()
    // a DBA's raw engine write (not a user path) bypasses the DIM: exactly what check integrity is for
    cluster.siteStore('KDY').exec("INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (990002, 'CMB', 424242, -1, 2, 7)")
    cluster.siteStore('MBI').exec("INSERT INTO Employees_MBI (EMPNO, NAME, BRCODE) VALUES (1, 'Twin', 'MBI')")
    const rep = await run('catalog/checkIntegrity', {})
    expect(rep.ok).toBe(false)
    const bad = new Set(rep.constraints.filter((c) => !c.ok).map((c) => c.constraint))
    expect([...bad].sort()).toEqual(['CK_SALES_AMOUNT', 'CK_SALES_QTY', 'FK_SALES_ITEMNO', 'FRAG_Sales_KDY', 'PK_EMPLOYEES'])
    expect(rep.violations.find((v) => v.constraint === 'PK_EMPLOYEES')).toMatchObject({ site: 'MBI', fragment: 'Employees_MBI', row: { EMPNO: 1 } })
    expect(rep.violations.find((v) => v.constraint === 'FK_SALES_ITEMNO')?.row.INVNO).toBe(990002)
  })

  it('CLI: iddb sql --local is checked; iddb check integrity exits 0 on clean data and 1 listing violating rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-dim-'))
    try {
      const c = await Cluster.create({ seed: 2, sales: 100, dataDir: dir })
      c.close({ checkpoint: true })
      const { sql } = await import('../../src-main/cli/commands/data')
      const check = await import('../../src-main/cli/commands/check')
      const out: string[] = []
      const w = process.stdout.write.bind(process.stdout)
      process.stdout.write = ((s: string) => { out.push(String(s)); return true }) as typeof process.stdout.write
      try {
        await expect(sql.run(['--data', dir, '--site', 'KDY', '--local', "INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (880013, 'Wrong', 'CMB')"])).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' })
        expect(await check.run(['integrity', '--data', dir])).toBe(0)
        expect(out.join('')).toContain('integrity ok')
        const c2 = await Cluster.open(dir)
        c2.siteStore('KDY').exec("INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (990003, 'KDY', 424242, 1, 1, 1)")
        c2.close({ checkpoint: true })
        out.length = 0
        expect(await check.run(['integrity', '--data', dir])).toBe(1)
        expect(out.join('')).toMatch(/FK_SALES_ITEMNO[\s\S]*990003/)
      } finally { process.stdout.write = w }
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
