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
import { createHash } from 'node:crypto'
import { Cluster } from '../cluster'
import { JobRunner } from '../../src-main/engine-host/jobs'
import { calls, type CallInput, type CallName, type CallOutput } from '../../src-main/ipc/contract'
import { handlers } from '../../src-main/handlers/index'
import type { HandlerContext } from '../../src-main/handlers/context'
import { localAdmin } from '../security/identities'
import { runScenario } from '../scenario'
import { Dtm, type CommitResult } from '../txn/dtm'
import { ticketsOf } from '../ticket'
import { checkIntegrity } from './check'
import { globalConstraints } from './constraints'
import { Dim } from './index'

async function setup(sales = 300) {
  const cluster = await Cluster.create({ seed: 3, sales })
  const ctx: HandlerContext = { cluster, jobs: new JobRunner(() => {}), host: 'cli', dataDir: null, actor: localAdmin('test'), emit: () => {}, clock: { speed: 0, setSpeed: () => {} } }
  const run = <N extends CallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> =>
    (handlers[name] as (c: HandlerContext, i: unknown) => Promise<CallOutput<N>>)(ctx, calls[name].input.parse(input))
  return { cluster, run }
}

/** Row counts and a checksum of every data table at every site's primary. */
function snapshot(c: Cluster): Record<string, string> {
  const out: Record<string, string> = {}
  for (const s of c.siteCodes) {
    const st = c.siteStore(s)
    for (const t of st.tables()) {
      const r = st.query(`SELECT * FROM "${t}" ORDER BY 1`)
      out[`${s}.${t}`] = `${r.rows.length}:${createHash('sha256').update(JSON.stringify(r.rows)).digest('hex').slice(0, 16)}`
    }
  }
  return out
}

const firstRow = (c: Cluster, site: string, sql: string) => c.siteStore(site).query(sql).rows[0]

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
    const sale = (inv: number, br: string, itemno: number, qty: number, price: number, amount: number, emp: number | string) =>
      `INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, SOLD_AT, EMPNO) VALUES (${inv}, '${br}', ${itemno}, ${qty}, ${price}, ${amount}, '2026-11-23 10:00:00', ${emp})`
    const cases: [string, string, string, string][] = [
      // [site, statement, constraint, site named]
      ['KDY', `INSERT INTO EMPLOYEES (EMPNO, NAME, BRCODE) VALUES (${cmbEmp}, 'Dup', 'KDY')`, 'PK_EMPLOYEES', 'KDY'],
      ['CMB', `INSERT INTO EMPLOYEES (EMPNO, NAME, BRCODE) VALUES (880001, 'A', 'CMB'), (880001, 'B', 'MBI')`, 'PK_EMPLOYEES', ''],
      ['MBI', sale(otherInv, 'KDY', item, 1, 5, 5, kdyEmp), 'PK_SALES', 'KDY'],
      ['KDY', sale(910001, 'KDY', 424242, 1, 5, 5, kdyEmp), 'FK_SALES_ITEMNO', 'KDY'],
      ['KDY', sale(910002, 'KDY', item, 1, 5, 5, 777777), 'FK_SALES_EMPNO', 'KDY'],
      ['CMB', `INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (880002, 'Wrong', 'CMB')`, 'FRAG_Employees_KDY', 'KDY'],
      ['KDY', sale(910003, 'KDY', item, -1, 5, -5, kdyEmp), 'CK_SALES_QTY', 'KDY'],
      ['KDY', sale(910004, 'KDY', item, 2, 5, 99, kdyEmp), 'CK_SALES_AMOUNT', 'KDY'],
      ['CMB', `UPDATE SALES SET QTY = QTY + 1 WHERE INVNO = ${kdyInv}`, 'CK_SALES_AMOUNT', 'KDY'],
      ['CMB', `UPDATE SALES SET ITEMNO = 424242 WHERE INVNO = ${kdyInv}`, 'FK_SALES_ITEMNO', 'KDY'],
      ['CMB', `UPDATE STOCK_KDY SET QTY = -3 WHERE STOCKCODE = '${stock}'`, 'CK_STOCK_KDY_QTY', 'KDY'],
      ['CMB', `UPDATE STOCK_KDY SET ITEMNO = 424242 WHERE STOCKCODE = '${stock}'`, 'FK_STOCK_KDY_ITEMNO', 'KDY'],
      ['CMB', `UPDATE EMPLOYEES SET EMPNO = ${cmbEmp} WHERE EMPNO = ${kdyEmp}`, 'PK_EMPLOYEES', 'KDY'],
      ['KDY', `DELETE FROM ITEMS WHERE ITEMNO = ${soldItem}`, 'FK_', ''],
      ['KDY', `DELETE FROM EMPLOYEES WHERE EMPNO = ${seller}`, 'FK_SALES_EMPNO', ''],
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
    // remote lookups are charged: an insert at KDY checked INVNO at CMB and MBI over the links
    expect(Object.keys(ok.perLinkBytes).some((k) => /KDY/.test(k) && !k.startsWith('LAN'))).toBe(true)
    // every refusal but the wrong-fragment insert (refused while routing, before the rows reach checkWrite) is counted by the DIM
    expect(Dim.of(cluster).stats.violations).toBe(cases.length - 1)
  })
})

describe('DIM: Transactions console (txn/exec)', () => {
  it('refuses violating global and fragment statements inside a transaction; nothing changes when it commits', async () => {
    const { cluster, run } = await setup()
    const cmbEmp = Number(firstRow(cluster, 'CMB', 'SELECT EMPNO FROM Employees_CMB LIMIT 1')[0])
    const item = Number(firstRow(cluster, 'KDY', 'SELECT ITEMNO FROM ITEMS LIMIT 1')[0])
    const kdyEmp = Number(firstRow(cluster, 'KDY', 'SELECT EMPNO FROM Employees_KDY LIMIT 1')[0])
    const soldItem = Number(firstRow(cluster, 'KDY', 'SELECT ITEMNO FROM Sales_KDY LIMIT 1')[0])
    const before = snapshot(cluster)
    const stockBefore = before['KDY.Stock_KDY']
    const { gid } = await run('txn/begin', { site: 'KDY' })
    const bad: [string | undefined, string, string][] = [
      [undefined, `INSERT INTO EMPLOYEES (EMPNO, NAME, BRCODE) VALUES (${cmbEmp}, 'Dup', 'KDY')`, 'PK_EMPLOYEES'],
      [undefined, `INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, EMPNO) VALUES (920001, 'KDY', 424242, 1, 5, 5, ${kdyEmp})`, 'FK_SALES_ITEMNO'],
      [undefined, `INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, EMPNO) VALUES (920002, 'KDY', ${item}, 1, 5, 5, 777777)`, 'FK_SALES_EMPNO'],
      [undefined, `INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, EMPNO) VALUES (920003, 'KDY', ${item}, -2, 5, -10, ${kdyEmp})`, 'CK_SALES_QTY'],
      ['KDY', `INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (880003, 'Wrong', 'CMB')`, 'FRAG_Employees_KDY'],
      ['KDY', `INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (${cmbEmp}, 'Dup', 'KDY')`, 'PK_EMPLOYEES'],
      [undefined, `DELETE FROM ITEMS WHERE ITEMNO = ${soldItem}`, 'FK_'],
    ]
    for (const [site, sql, constraint] of bad) {
      const r = await run('txn/exec', { gid, sql, ...(site ? { site } : {}) })
      expect(r.ok, sql).toBe(false)
      expect(r.errorCode, `${sql}: ${r.error}`).toBe('CONSTRAINT_VIOLATION')
      expect(r.error).toContain(constraint)
    }
    // a valid statement in the same transaction still runs and commits
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

  it('concurrent inserts of the same EMPNO at two sites: exactly one commits', async () => {
    const { cluster } = await setup()
    const dtm = Dtm.of(cluster)
    for (let round = 0; round < 3; round++) {
      const empno = 870000 + round
      const a = dtm.begin('CMB'), b = dtm.begin('KDY')
      const out: Record<string, CommitResult> = {}
      const go = (gid: string, br: string) => dtm.execGlobal(gid, `INSERT INTO EMPLOYEES (EMPNO, NAME, BRCODE) VALUES (${empno}, 'Twin ${br}', '${br}')`, [], (r) => {
        if (!r.ok) { try { dtm.abort(gid, r.error?.message) } catch { /* already aborted */ } out[gid] = { gid, outcome: 'ABORT', reason: r.error?.message, latencyMs: 0 }; return }
        try { dtm.commit(gid, (x) => { out[gid] = x }) } catch (e) { out[gid] = { gid, outcome: 'ABORT', reason: String(e), latencyMs: 0 } }
      })
      // round 0: both statements start together; later rounds: the second starts while the first holds its locks
      go(a, 'CMB')
      if (round > 0) cluster.sim.runUntil(cluster.sim.now + (round === 1 ? 30 : 200))
      go(b, 'KDY')
      cluster.sim.runUntilTrue(() => Object.keys(out).length === 2, 5_000_000)
      const outcomes = [out[a].outcome, out[b].outcome].sort()
      expect(outcomes, JSON.stringify(out)).toEqual(['ABORT', 'COMMIT'])
      cluster.settle(30_000)
      const n = cluster.siteCodes.reduce((s, x) => s + Number(firstRow(cluster, x, `SELECT COUNT(*) FROM Employees_${x} WHERE EMPNO = ${empno}`)[0]), 0)
      expect(n).toBe(1)
    }
    expect(checkIntegrity(cluster).ok).toBe(true)
  })
})

describe('DIM: scenarios, CLI and tickets', () => {
  it('scenario: sql SITE writes are checked; check integrity reports rows written behind the DIM', async () => {
    const r = await runScenario(`
sql KDY INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (1, 'Dup', 'KDY')
expect error CONSTRAINT_VIOLATION
sql KDY INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (990001, 'KDY', 424242, 1, 1, 1)
expect error CONSTRAINT_VIOLATION
sql KDY INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (880010, 'Fine', 'KDY')
expect changes 1
check integrity
expect ok
`, { seed: 3, sales: 200 })
    expect(r.ok, JSON.stringify(r.failed)).toBe(true)
    // the same script fails at the refused write when it expects success
    const bad = await runScenario(`sql KDY INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (1, 'Dup', 'KDY')\n`, { seed: 3, sales: 200 })
    expect(bad.ok).toBe(false)
    expect(bad.failed?.reason).toMatch(/CONSTRAINT_VIOLATION|PK_EMPLOYEES/)
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
        await expect(sql.run(['--data', dir, '--site', 'KDY', '--local', "INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (1, 'Dup', 'KDY')"])).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' })
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

  it('a ticket-accepted sale that would break a constraint is not written (the acceptance is logged as refused by the DIM)', async () => {
    const { cluster } = await setup()
    const taken = Number(firstRow(cluster, 'CMB', 'SELECT INVNO FROM Sales_CMB LIMIT 1')[0])
    const item = Number(firstRow(cluster, 'KDY', 'SELECT ITEMNO FROM ITEMS LIMIT 1')[0])
    const t = ticketsOf(cluster)
    const before = snapshot(cluster)
    const done: string[] = []
    t.present(String(taken), ['KDY'], { sale: { itemNo: item, qty: 1, unitPrice: 5 }, onDone: (v) => done.push(v.outcome) })
    t.present('930001', ['KDY'], { sale: { itemNo: 424242, qty: 1, unitPrice: 5 }, onDone: (v) => done.push(v.outcome) })
    cluster.sim.runUntilTrue(() => done.length === 2, 5_000_000)
    cluster.settle(30_000)
    expect(snapshot(cluster)).toEqual(before)
    const refused = cluster.events.filter((e) => e.kind === 'ticket' && /not written to SALES/.test(e.message)).map((e) => e.message).join('\n')
    expect(refused).toMatch(/PK_SALES/)
    expect(refused).toMatch(/FK_SALES_ITEMNO/)
    // a valid sale is written
    t.present('930002', ['KDY'], { sale: { itemNo: item, qty: 2, unitPrice: 5 }, onDone: (v) => done.push(v.outcome) })
    cluster.sim.runUntilTrue(() => done.length === 3, 5_000_000)
    expect(firstRow(cluster, 'KDY', 'SELECT AMOUNT FROM Sales_KDY WHERE INVNO = 930002')[0]).toBe(10)
  })
})
