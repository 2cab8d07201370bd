/**
 * The DIM's keys unique across fragments and foreign keys, enforced inside the write's transaction on every
 * write path: the Query console (query/run → autocommit), the Transactions console (txn/exec, global and
 * fragment statements), scenarios (`sql SITE`), the CLI (`iddb sql --local`) and ticket-accepted sales. Each
 * violation is CONSTRAINT_VIOLATION naming the constraint, the row and the site, and changes nothing (row counts
 * and checksums of every site's data compared before/after); the engine still takes a valid write afterwards.
 * Concurrent inserts of one EMPNO at two sites: exactly one commits, whatever the interleaving.
 */
import { describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from '../cluster'
import { Dtm, type CommitResult, type ExecResult } from '../txn/dtm'
import { runScenario } from '../scenario'
import { ticketsOf } from '../ticket'
import { checkIntegrity } from './check'
import { Dim } from './index'
import { firstRow, sale, setup, snapshot } from './testkit'

type Err = { code: string; message: string; site?: string }
const refused = (p: Promise<unknown>) => p.then(() => null, (x: Err) => x)

async function fixture() {
  const f = await setup()
  const { cluster: c } = f
  const num = (site: string, sql: string) => Number(firstRow(c, site, sql)[0])
  return {
    ...f,
    cmbEmp: num('CMB', 'SELECT EMPNO FROM Employees_CMB ORDER BY EMPNO LIMIT 1'),
    kdyEmp: num('KDY', 'SELECT EMPNO FROM Employees_KDY ORDER BY EMPNO LIMIT 1'),
    item: num('KDY', 'SELECT ITEMNO FROM ITEMS ORDER BY ITEMNO LIMIT 1'),
    soldItem: num('MBI', 'SELECT ITEMNO FROM Sales_MBI ORDER BY INVNO LIMIT 1'),
    seller: num('MBI', 'SELECT EMPNO FROM Sales_MBI WHERE EMPNO IS NOT NULL ORDER BY INVNO LIMIT 1'),
    cmbInv: num('CMB', 'SELECT INVNO FROM Sales_CMB ORDER BY INVNO LIMIT 1'),
    kdyInv: num('KDY', 'SELECT INVNO FROM Sales_KDY ORDER BY INVNO LIMIT 1'),
  }
}

function expectViolation(e: Err | null, what: string, constraint: string | RegExp, site?: string): void {
  expect(e, what).not.toBeNull()
  expect(e!.code, `${what}: ${e!.message}`).toBe('CONSTRAINT_VIOLATION')
  if (typeof constraint === 'string') expect(e!.message, what).toContain(constraint)
  else expect(e!.message, what).toMatch(constraint)
  expect(e!.message, what).toMatch(/row \(/)
  if (site) expect(e!.site, what).toBe(site)
}

describe('DIM keys and foreign keys: Query console (query/run)', () => {
  it('refuses a duplicate key at another branch, a missing item or seller, a referenced delete; nothing changes; valid writes pass', async () => {
    const { cluster, run, cmbEmp, kdyEmp, item, soldItem, seller, cmbInv, kdyInv } = await fixture()
    const cases: [string, string, string | RegExp, string?][] = [
      ['KDY', `INSERT INTO EMPLOYEES (EMPNO, NAME, BRCODE) VALUES (${cmbEmp}, 'Twin', 'KDY')`, 'PK_EMPLOYEES', 'KDY'],
      ['KDY', `INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (${kdyEmp}, 'Twin', 'KDY')`, 'PK_EMPLOYEES', 'KDY'],
      ['CMB', `INSERT INTO EMPLOYEES (EMPNO, NAME, BRCODE) VALUES (880100, 'A', 'CMB'), (880100, 'B', 'MBI')`, 'PK_EMPLOYEES'],
      ['KDY', sale(cmbInv, 'KDY', item, 1, 5, 5, kdyEmp), 'PK_SALES', 'KDY'],
      ['CMB', sale(910010, 'KDY', 424242, 1, 5, 5, kdyEmp), 'FK_SALES_ITEMNO', 'KDY'],
      ['MBI', sale(910011, 'MBI', item, 1, 5, 5, 999999), 'FK_SALES_EMPNO', 'MBI'],
      ['CMB', `INSERT INTO STOCK_KDY (STOCKCODE, ITEMNO, QTY, UNITPRICE) VALUES ('KDY-X1', 424242, 1, 1)`, 'FK_STOCK_KDY_ITEMNO', 'KDY'],
      ['CMB', `UPDATE SALES SET ITEMNO = 424242 WHERE INVNO = ${kdyInv}`, 'FK_SALES_ITEMNO', 'KDY'],
      ['CMB', `UPDATE SALES SET EMPNO = 999999 WHERE INVNO = ${kdyInv}`, 'FK_SALES_EMPNO', 'KDY'],
      ['CMB', `DELETE FROM ITEMS WHERE ITEMNO = ${soldItem}`, /FK_(SALES|STOCK_\w+)_ITEMNO/],
      ['KDY', `DELETE FROM EMPLOYEES WHERE EMPNO = ${seller}`, 'FK_SALES_EMPNO'],
    ]
    cluster.settle(30_000)
    const before = snapshot(cluster)
    for (const [site, sql, constraint, where] of cases) {
      expectViolation(await refused(run('query/run', { site, sql })), sql, constraint, where)
      cluster.settle(30_000)
      expect(snapshot(cluster), sql).toEqual(before)
    }
    expect(Dim.of(cluster).stats.remoteProbes).toBeGreaterThan(0)
    // the engine is alive and valid writes pass: a new employee, a sale by a seller of another branch, a moved employee
    expect((await run('query/run', { site: 'KDY', sql: `INSERT INTO EMPLOYEES (EMPNO, NAME, BRCODE) VALUES (880101, 'New', 'KDY')` })).changes).toBe(1)
    expect((await run('query/run', { site: 'KDY', sql: sale(910012, 'KDY', item, 2, 5, 10, cmbEmp) })).changes).toBe(1)
    expect((await run('query/run', { site: 'CMB', sql: `UPDATE EMPLOYEES SET BRCODE = 'CMB' WHERE EMPNO = ${seller}` })).changes).toBe(1)
    expect(firstRow(cluster, 'CMB', `SELECT BRCODE FROM Employees_CMB WHERE EMPNO = ${seller}`)[0]).toBe('CMB')
    // an employee nothing references can go; an item nothing references too
    expect((await run('query/run', { site: 'MBI', sql: 'DELETE FROM EMPLOYEES WHERE EMPNO = 880101' })).changes).toBe(1)
    cluster.settle(30_000)
    expect(checkIntegrity(cluster).ok).toBe(true)
  })
})

describe('DIM keys and foreign keys: Transactions console (txn/exec)', () => {
  it('global and fragment statements that break a key or a foreign key fail and abort the transaction; nothing changes', async () => {
    const { cluster, run, cmbEmp, item, seller, cmbInv } = await fixture()
    cluster.settle(30_000)
    const before = snapshot(cluster)
    const bad: [string | undefined, string, string][] = [
      ['KDY', `INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (${cmbEmp}, 'Twin', 'KDY')`, 'PK_EMPLOYEES'],
      [undefined, sale(cmbInv, 'MBI', item, 1, 5, 5, seller), 'PK_SALES'],
      [undefined, sale(920020, 'KDY', 424242, 1, 5, 5, seller), 'FK_SALES_ITEMNO'],
      ['MBI', `INSERT INTO Sales_MBI (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, EMPNO) VALUES (920021, 'MBI', ${item}, 1, 5, 5, 999999)`, 'FK_SALES_EMPNO'],
      ['MBI', `DELETE FROM Employees_MBI WHERE EMPNO = ${seller}`, 'FK_SALES_EMPNO'],
    ]
    for (const [site, sql, constraint] of bad) {
      const t = await run('txn/begin', { site: 'KDY' })
      // an earlier valid statement of the same transaction is undone with it
      const first = await run('txn/exec', { gid: t.gid, sql: `UPDATE EMPLOYEES SET SALARY = SALARY + 1 WHERE EMPNO = ${cmbEmp}` })
      expect(first.ok, first.error ?? '').toBe(true)
      const r = await run('txn/exec', { gid: t.gid, sql, ...(site ? { site } : {}) })
      expect(r.ok, sql).toBe(false)
      expect(r.errorCode, `${sql}: ${r.error}`).toBe('CONSTRAINT_VIOLATION')
      expect(r.error).toContain(constraint)
      await run('txn/commit', { gid: t.gid }).then((c) => expect(c.outcome).not.toBe('COMMIT'), (e: Err) => expect(['ABORTED', 'NOT_FOUND']).toContain(e.code))
      cluster.settle(30_000)
      expect(snapshot(cluster), sql).toEqual(before)
    }
    // a valid sale commits; its lookups at sites where the transaction has no work (PK_SALES at Sales_CMB and
    // Sales_MBI, the item at the ITEMS primary copy at CMB, the seller at the other branches) are dim.lookup
    // requests over the network: those sites do not become participants
    const dim = Dim.of(cluster)
    const remote0 = dim.stats.remoteProbes
    const bytes = () => [...cluster.net.links.values()].reduce((a, l) => a + l.stats.bytes, 0)
    cluster.settle(30_000)
    const b0 = bytes()
    const { gid } = await run('txn/begin', { site: 'KDY' })
    const ok = await run('txn/exec', { gid, sql: sale(920022, 'KDY', item, 2, 5, 10, seller) })
    expect(ok.ok, ok.error ?? '').toBe(true)
    expect(bytes()).toBeGreaterThan(b0)
    expect((await run('txn/commit', { gid })).outcome).toBe('COMMIT')
    // Sales_CMB, Sales_MBI, ITEMS@CMB; the seller (an MBI employee) first in Employees_KDY, then at CMB and MBI
    expect(dim.stats.remoteProbes - remote0).toBe(5)
    expect(Object.keys(Dtm.of(cluster).info.get(gid)!.sites)).toEqual(['KDY'])
    // a transaction's lookups see its own earlier writes: a new employee sells at once; an employee whose sales
    // the same transaction deleted first can go
    const t3 = (await run('txn/begin', { site: 'MBI' })).gid
    for (const sql of [`INSERT INTO EMPLOYEES (EMPNO, NAME, BRCODE) VALUES (880200, 'Fresh', 'KDY')`, sale(920023, 'KDY', item, 1, 5, 5, 880200), 'DELETE FROM SALES WHERE EMPNO = 880200', 'DELETE FROM EMPLOYEES WHERE EMPNO = 880200']) {
      const x = await run('txn/exec', { gid: t3, sql })
      expect(x.ok, `${sql}: ${x.error}`).toBe(true)
    }
    expect((await run('txn/commit', { gid: t3 })).outcome).toBe('COMMIT')
  })
})

describe('DIM keys and foreign keys: scenarios, CLI and tickets', () => {
  it('scenario sql SITE: a duplicate EMPNO of another branch and an unknown item are refused', async () => {
    const r = await runScenario(`
sql KDY INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (1, 'Twin', 'KDY')
expect error CONSTRAINT_VIOLATION
sql KDY INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (990101, 'KDY', 424242, 1, 1, 1)
expect error CONSTRAINT_VIOLATION
sql CMB DELETE FROM ITEMS
expect error CONSTRAINT_VIOLATION
sql CMB INSERT INTO Sales_CMB (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (990102, 'CMB', 1001, 1, 1, 1)
expect changes 1
check integrity
expect ok
`, { seed: 3, sales: 200 })
    expect(r.ok, JSON.stringify(r.failed)).toBe(true)
  })

  it('CLI: iddb sql --local refuses a duplicate EMPNO of another branch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-dimk-'))
    try {
      const c = await Cluster.create({ seed: 2, sales: 100, dataDir: dir })
      const emp = Number(firstRow(c, 'CMB', 'SELECT EMPNO FROM Employees_CMB LIMIT 1')[0])
      c.close({ checkpoint: true })
      const { sql } = await import('../../src-main/cli/commands/data')
      await expect(sql.run(['--data', dir, '--site', 'KDY', '--local', `INSERT INTO Employees_KDY (EMPNO, NAME, BRCODE) VALUES (${emp}, 'Twin', 'KDY')`])).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION', message: expect.stringContaining('PK_EMPLOYEES') })
      const c2 = await Cluster.open(dir)
      expect(Number(firstRow(c2, 'KDY', `SELECT COUNT(*) FROM Employees_KDY WHERE EMPNO = ${emp}`)[0])).toBe(0)
      c2.close()
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })

  it('a ticket whose sale names no such item, or no such seller, is not accepted and writes nothing', async () => {
    const { cluster } = await setup(200)
    const svc = ticketsOf(cluster)
    cluster.settle(30_000)
    const before = snapshot(cluster)
    for (const [tkt, sale] of [['9100001', { itemNo: 424242, qty: 1, unitPrice: 5 }], ['9100002', { itemNo: 1001, qty: 1, unitPrice: 5, empNo: 999999 }]] as const) {
      const v = svc.present(tkt, ['KDY'], { sale })
      cluster.sim.runUntilTrue(() => v.outcome !== 'pending')
      expect(v.outcome, v.answer).not.toBe('accepted')
      expect(v.answer).toMatch(/CONSTRAINT_VIOLATION|FK_SALES_(ITEMNO|EMPNO)/)
    }
    cluster.settle(30_000)
    expect(snapshot(cluster)).toEqual(before)
    const ok = svc.present('9100003', ['KDY'], { sale: { qty: 1, unitPrice: 5 } })
    cluster.sim.runUntilTrue(() => ok.outcome !== 'pending')
    expect(ok.outcome, ok.answer).toBe('accepted')
  })
})

describe('DIM keys: a ticket-accepted sale while another branch is unreachable', () => {
  it('is written: the ticket vote proved the invoice number unused, so INVNO is checked in the fragment only; a plain sale of the same kind is still refused', async () => {
    const { cluster } = await setup(200)
    const svc = ticketsOf(cluster)
    cluster.settle(30_000)
    // Mumbai cut off: neither CMB-MBI nor MBI-KDY
    cluster.failLink('CMB-MBI'); cluster.failLink('MBI-KDY')
    const v = svc.present('9100101', ['CMB'], { sale: { itemNo: 1001, qty: 1, unitPrice: 5 } })
    cluster.sim.runUntilTrue(() => v.outcome !== 'pending')
    expect(v.outcome, v.answer).toBe('accepted')
    expect(Number(firstRow(cluster, 'CMB', 'SELECT COUNT(*) FROM Sales_CMB WHERE INVNO = 9100101')[0])).toBe(1)
    // the same write outside the protocol proves nothing: the DIM still needs Sales_MBI to judge INVNO
    const r = await runScenario(`
fail link CMB-MBI
fail link MBI-KDY
sql CMB INSERT INTO Sales_CMB (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (9100102, 'CMB', 1001, 1, 1, 1)
expect error UNREACHABLE
`, { seed: 3, sales: 200 })
    expect(r.ok, JSON.stringify(r.failed)).toBe(true)
  })
})

describe('DIM keys: concurrent inserts of one EMPNO at two sites', () => {
  it('exactly one of two interleaved transactions commits, for every interleaving tried', async () => {
    const { cluster } = await setup(100)
    const dtm = Dtm.of(cluster)
    let empno = 881000
    const outcomes: string[] = []
    for (const gap of [0, 1, 5, 20, 60, 150, 400]) {
      for (const [a, b] of [['CMB', 'KDY'], ['MBI', 'CMB'], ['KDY', 'MBI']]) {
        const e = ++empno
        const done: Record<string, string> = {}
        const go = (site: string) => {
          const gid = dtm.begin(site)
          dtm.execGlobal(gid, `INSERT INTO EMPLOYEES (EMPNO, NAME, BRCODE) VALUES (${e}, 'Race ${site}', '${site}')`, [], (r: ExecResult) => {
            if (!r.ok) { done[site] = r.error?.code ?? 'ERR'; return }
            dtm.commit(gid, (c: CommitResult) => { done[site] = c.outcome })
          })
        }
        go(a)
        cluster.sim.schedule(gap, 'test.second', () => go(b))
        cluster.sim.runUntilTrue(() => Object.keys(done).length === 2, 2_000_000)
        const commits = Object.values(done).filter((x) => x === 'COMMIT').length
        outcomes.push(`${gap}:${a}/${b}:${done[a]}/${done[b]}`)
        expect(commits, JSON.stringify(done)).toBe(1)
        cluster.settle(20_000)
        const rows = cluster.siteCodes.reduce((n, s) => n + Number(firstRow(cluster, s, `SELECT COUNT(*) FROM Employees_${s} WHERE EMPNO = ${e}`)[0]), 0)
        expect(rows, `${e}: ${JSON.stringify(done)}`).toBe(1)
      }
    }
    // both ways of losing were seen: a deadlock victim (or a lock wait that ended) and a refusal after the winner committed
    expect(outcomes.some((o) => o.includes('CONSTRAINT_VIOLATION')), outcomes.join(' ')).toBe(true)
    expect(checkIntegrity(cluster).ok).toBe(true)
  })
})
