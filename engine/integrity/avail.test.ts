/**
 * Issue 14's claim against the DIM (issue 11): an HQ outage stops none of a branch's local work. A branch's sale is
 * decidable at the branch when its invoice number lies in a block the branch reserved (INVOICE_BLOCKS, replicated,
 * append-only) and its item is in the branch's ITEMS replica (item deletes are eager: they remove the row at every
 * replica in their own 2PC transaction). And the DIM stays sound: no duplicate INVNO, no sale of a deleted item.
 */
import { describe, expect, it } from 'vitest'
import type { Cluster } from '../cluster'
import { Dtm, type CommitResult, type ExecResult } from '../txn/dtm'
import { ticketsOf } from '../ticket'
import { reserveKeyBlock, keyBlocksAt } from './blocks'
import { checkIntegrity } from './check'
import { firstRow, sale, setup, snapshot } from './testkit'

type Err = { code: string; message: string; site?: string }
const refused = (p: Promise<unknown>) => p.then(() => null, (x: Err) => x)
const KDY_LO = 50_000_001, MBI_LO = 51_000_001, SIZE = 1000

async function fixture() {
  const f = await setup(300)
  const c = f.cluster
  const num = (site: string, sql: string) => Number(firstRow(c, site, sql)[0])
  c.settle(30_000)
  reserveKeyBlock(c, 'KDY', { lo: KDY_LO, size: SIZE })
  reserveKeyBlock(c, 'MBI', { lo: MBI_LO, size: SIZE })
  c.settle(30_000)
  return {
    ...f,
    item: num('KDY', 'SELECT ITEMNO FROM ITEMS ORDER BY ITEMNO LIMIT 1'),
    kdyEmp: num('KDY', 'SELECT EMPNO FROM Employees_KDY ORDER BY EMPNO LIMIT 1'),
    mbiEmp: num('MBI', 'SELECT EMPNO FROM Employees_MBI ORDER BY EMPNO LIMIT 1'),
  }
}

const count = (c: Cluster, site: string, sql: string) => Number(firstRow(c, site, sql)[0])

/** One global transaction of the DTM begun at `origin`: its statements, then COMMIT; `done` gets the outcome (in simulation time). */
function txn(c: Cluster, origin: string, stmts: string[], done: (outcome: string) => void): string {
  const dtm = Dtm.of(c)
  const gid = dtm.begin(origin)
  const next = (i: number): void => {
    if (i === stmts.length) { dtm.commit(gid, (r: CommitResult) => done(r.outcome)); return }
    dtm.execGlobal(gid, stmts[i], [], (r: ExecResult) => {
      if (r.ok) return next(i + 1)
      try { dtm.abort(gid, 'test') } catch { /* over */ }
      done(`${r.error?.code}: ${r.error?.message}`)
    })
  }
  next(0)
  return gid
}

describe('invoice-number blocks', () => {
  it('are reserved at the primary copy, replicated to every site, and refused when they overlap a block or a sale, or are written directly', async () => {
    const { cluster: c, run } = await fixture()
    for (const s of c.siteCodes) expect(keyBlocksAt(c, s).map((b) => `${b.branch}:${b.lo}-${b.hi}`)).toEqual([`KDY:${KDY_LO}-${KDY_LO + SIZE - 1}`, `MBI:${MBI_LO}-${MBI_LO + SIZE - 1}`])
    const before = snapshot(c)
    // below the highest block; over the generated history (INVNO 1..n at every branch); a direct write of the relation
    expect(() => reserveKeyBlock(c, 'CMB', { lo: KDY_LO + 10, size: 5 })).toThrow(/above every block/)
    const hist = count(c, 'CMB', 'SELECT MAX(INVNO) FROM Sales_CMB')
    expect(() => reserveKeyBlock(c, 'MBI', { lo: 1, size: 100 })).toThrow(/above every block/)
    expect(hist).toBeGreaterThan(0)
    const e = await refused(run('query/run', { site: 'CMB', sql: `INSERT INTO INVOICE_BLOCKS (BLOCKNO, BRCODE, LO, HI) VALUES (99, 'CMB', 60000001, 60001000)` }))
    expect(e?.code, e?.message).toBe('CONSTRAINT_VIOLATION')
    expect(e?.message).toMatch(/RSV_INVOICE_BLOCKS/)
    const d = await refused(run('query/run', { site: 'CMB', sql: 'DELETE FROM INVOICE_BLOCKS' }))
    expect(d?.code, d?.message).toBe('CONSTRAINT_VIOLATION')
    expect(d?.message).toMatch(/append-only/)
    c.settle(30_000)
    expect(snapshot(c)).toEqual(before)
    // a block holding an existing sale of any branch is refused, naming it
    expect((await run('query/run', { site: 'CMB', sql: sale(70_000_005, 'CMB', count(c, 'KDY', 'SELECT MIN(ITEMNO) FROM ITEMS'), 1, 5, 5, count(c, 'CMB', 'SELECT MIN(EMPNO) FROM Employees_CMB')) })).changes).toBe(1)
    expect(() => reserveKeyBlock(c, 'KDY', { lo: 70_000_000, size: 10 })).toThrow(/holds 1 existing SALES.INVNO \(70000005\)/)
    // the next block, by default one above the highest
    expect(reserveKeyBlock(c, 'KDY', { lo: 70_000_006, size: 10 })).toMatchObject({ branch: 'KDY', lo: 70_000_006, hi: 70_000_015 })
    expect(reserveKeyBlock(c, 'CMB', { size: 10 })).toMatchObject({ branch: 'CMB', lo: 70_000_016, hi: 70_000_025 })
  })
})

describe('a branch sells while Colombo is down', () => {
  it('a KDY sale with an INVNO of its block and an item of its replica commits (Transactions console and Query console); one outside its blocks is refused', async () => {
    const { cluster: c, run, item, kdyEmp } = await fixture()
    c.failSite('CMB')
    // the Transactions console: BEGIN at KDY, the sale and its stock update, COMMIT
    const { gid } = await run('txn/begin', { site: 'KDY' })
    const x = await run('txn/exec', { gid, sql: sale(KDY_LO, 'KDY', item, 1, 5, 5, kdyEmp) })
    expect(x.ok, x.error ?? '').toBe(true)
    const y = await run('txn/exec', { gid, sql: `UPDATE STOCK_KDY SET QTY = QTY - 1 WHERE ITEMNO = ${item}` })
    expect(y.ok, y.error ?? '').toBe(true)
    expect((await run('txn/commit', { gid })).outcome).toBe('COMMIT')
    // the Query console
    expect((await run('query/run', { site: 'KDY', sql: sale(KDY_LO + 1, 'KDY', item, 2, 5, 10, kdyEmp) })).changes).toBe(1)
    expect(count(c, 'KDY', `SELECT COUNT(*) FROM Sales_KDY WHERE INVNO IN (${KDY_LO}, ${KDY_LO + 1})`)).toBe(2)
    // a number outside KDY's blocks needs the other branches' fragments (Sales_CMB among them) and nobody's block: refused
    for (const inv of [60_000_001, MBI_LO + 3]) {
      const e = await refused(run('query/run', { site: 'KDY', sql: sale(inv, 'KDY', item, 1, 5, 5, kdyEmp) }))
      expect(e?.code, `${inv}: ${e?.message}`).toBe('UNREACHABLE')
      expect(e?.message).toMatch(/CMB/)
      expect(count(c, 'KDY', `SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = ${inv}`)).toBe(0)
    }
    // a duplicate of KDY's own sale is refused at KDY alone
    const dup = await refused(run('query/run', { site: 'KDY', sql: sale(KDY_LO, 'KDY', item, 1, 5, 5, kdyEmp) }))
    expect(dup?.code, dup?.message).toBe('CONSTRAINT_VIOLATION')
    expect(dup?.message).toMatch(/PK_SALES/)
    c.restoreSite('CMB')
    c.settle(60_000)
    expect(checkIntegrity(c).ok).toBe(true)
  })
})

describe('no duplicate INVNO, blocks or not', () => {
  it('a number of KDY\'s block is refused at another branch, before and after KDY sold it; concurrent sales of one number: exactly one commits', async () => {
    const { cluster: c, run, item, kdyEmp, mbiEmp } = await fixture()
    // MBI selling a number of KDY's block first: refused (else KDY, checking its own fragment only, could sell it again)
    const first = await refused(run('query/run', { site: 'MBI', sql: sale(KDY_LO + 50, 'MBI', item, 1, 5, 5, mbiEmp) }))
    expect(first?.code, first?.message).toBe('CONSTRAINT_VIOLATION')
    expect(first?.message).toMatch(/PK_SALES.*another branch's block of INVOICE_BLOCKS/)
    // … by a ticket too: the ticket vote proves no sale holds it, not that no block does
    const v = ticketsOf(c).present(String(KDY_LO + 51), ['MBI'], { sale: { itemNo: item, qty: 1, unitPrice: 5 } })
    c.sim.runUntilTrue(() => v.outcome !== 'pending')
    expect(v.outcome, v.answer).not.toBe('accepted')
    expect(count(c, 'MBI', `SELECT COUNT(*) FROM Sales_MBI WHERE INVNO = ${KDY_LO + 51}`)).toBe(0)
    // KDY sells it; MBI again: refused
    expect((await run('query/run', { site: 'KDY', sql: sale(KDY_LO + 50, 'KDY', item, 1, 5, 5, kdyEmp) })).changes).toBe(1)
    const after = await refused(run('query/run', { site: 'MBI', sql: sale(KDY_LO + 50, 'MBI', item, 1, 5, 5, mbiEmp) }))
    expect(after?.code).toBe('CONSTRAINT_VIOLATION')
    // concurrent sales of one number: two at KDY (in its block), KDY and MBI (in KDY's block), KDY and MBI (in nobody's)
    let inv = KDY_LO + 100
    for (const gap of [0, 3, 40]) {
      for (const [a, b, n] of [['KDY', 'KDY', ++inv], ['KDY', 'MBI', ++inv], ['MBI', 'KDY', ++inv], ['KDY', 'MBI', 80_000_000 + inv], ['CMB', 'KDY', 80_100_000 + inv]] as const) {
        const done: string[] = []
        const go = (site: string, emp: number) => { txn(c, site, [sale(n, site, item, 1, 5, 5, emp)], (o) => done.push(o)) }
        go(a, a === 'MBI' ? mbiEmp : kdyEmp)
        c.sim.schedule(gap, 'test.second', () => go(b, b === 'MBI' ? mbiEmp : kdyEmp))
        c.sim.runUntilTrue(() => done.length === 2, 2_000_000)
        c.settle(20_000)
        const rows = c.siteCodes.reduce((t, s) => t + count(c, s, `SELECT COUNT(*) FROM Sales_${s} WHERE INVNO = ${n}`), 0)
        expect(rows, `${n} ${a}/${b} gap ${gap}: ${done.join(' | ')}`).toBe(1)
        expect(done.filter((o) => o === 'COMMIT'), `${n}: ${done.join(' | ')}`).toHaveLength(1)
      }
    }
    expect(checkIntegrity(c).ok).toBe(true)
  })
})

describe('ITEMS deletes are eager', () => {
  it('a delete removes the item at every replica in its own commit; it is refused while a replica is unreachable; a sale of the deleted item is refused at a branch even with CMB down', async () => {
    const { cluster: c, run, kdyEmp } = await fixture()
    for (const no of [7771, 7772]) expect((await run('query/run', { site: 'CMB', sql: `INSERT INTO ITEMS (ITEMNO, DESCRIPTION, CATEGORY, BRAND, LISTPRICE) VALUES (${no}, 'Eager', 'Misc', 'X', 5)` })).changes).toBe(1)
    c.settle(30_000)
    for (const s of c.siteCodes) expect(count(c, s, 'SELECT COUNT(*) FROM ITEMS WHERE ITEMNO IN (7771, 7772)'), s).toBe(2)
    // a replica unreachable: refused, nothing deleted anywhere
    c.failLink('CMB-MBI'); c.failLink('MBI-KDY')
    const e = await refused(run('query/run', { site: 'CMB', sql: 'DELETE FROM ITEMS WHERE ITEMNO = 7771' }))
    expect(e?.code, e?.message).toBe('UNREACHABLE')
    expect(e?.message).toMatch(/eager.*MBI/)
    for (const s of c.siteCodes) expect(count(c, s, 'SELECT COUNT(*) FROM ITEMS WHERE ITEMNO = 7771'), s).toBe(1)
    c.restoreLink('CMB-MBI'); c.restoreLink('MBI-KDY')
    c.settle(30_000)
    // the delete commits at every replica in its 2PC, before replication has carried it anywhere
    const dtm = Dtm.of(c)
    const gid = dtm.begin('CMB')
    let r: ExecResult | undefined
    dtm.execGlobal(gid, 'DELETE FROM ITEMS WHERE ITEMNO = 7771', [], (x) => { r = x })
    c.sim.runUntilTrue(() => r !== undefined)
    expect(r!.ok, r!.error?.message).toBe(true)
    let out: CommitResult | undefined
    dtm.commit(gid, (x) => { out = x })
    c.sim.runUntilTrue(() => out !== undefined && dtm.unfinishedAt(gid).length === 0)
    expect(out!.outcome).toBe('COMMIT')
    expect(Object.keys(dtm.info.get(gid)!.sites).sort()).toEqual(['CMB', 'KDY', 'MBI'])
    // each replica's part ran as an operation of the transaction (it deleted the row there) and committed with it
    for (const s of ['KDY', 'MBI']) expect(dtm.info.get(gid)!.statements.filter((x) => x.site === s).map((x) => [x.sql, x.ok, x.rows]), s).toEqual([['DELETE FROM "ITEMS" WHERE "ITEMNO" = 7771', true, 1]])
    for (const s of c.siteCodes) expect(count(c, s, 'SELECT COUNT(*) FROM ITEMS WHERE ITEMNO = 7771'), s).toBe(0)
    // Colombo goes down right after: a KDY sale of the deleted item (INVNO of its block) is refused; of another item, accepted
    c.failSite('CMB')
    const s1 = await refused(run('query/run', { site: 'KDY', sql: sale(KDY_LO + 200, 'KDY', 7771, 1, 5, 5, kdyEmp) }))
    expect(s1?.code, s1?.message).toBe('UNREACHABLE')
    expect((await run('query/run', { site: 'KDY', sql: sale(KDY_LO + 201, 'KDY', 7772, 1, 5, 5, kdyEmp) })).changes).toBe(1)
    c.restoreSite('CMB')
    c.settle(60_000)
    // with Colombo back the same sale is refused for what it is: no such item
    const s2 = await refused(run('query/run', { site: 'KDY', sql: sale(KDY_LO + 200, 'KDY', 7771, 1, 5, 5, kdyEmp) }))
    expect(s2?.code, s2?.message).toBe('CONSTRAINT_VIOLATION')
    expect(s2?.message).toMatch(/FK_SALES_ITEMNO/)
    // the replication of the delete later finds the rows gone: every copy (and the replicas' backups) agree
    for (const s of c.siteCodes) {
      expect(count(c, s, 'SELECT COUNT(*) FROM ITEMS WHERE ITEMNO = 7771'), s).toBe(0)
      expect(Number(c.siteInternals(s).backup.scalar('SELECT COUNT(*) FROM ITEMS WHERE ITEMNO = 7771')), `${s} backup`).toBe(0)
    }
    expect(checkIntegrity(c).ok).toBe(true)
  })

  it('a replicated insert still on its way when the item is deleted does not bring the row back at the replica', async () => {
    const { cluster: c } = await fixture()
    const repl = c.replication
    const dtm = Dtm.of(c)
    // a busy replica: what arrives is applied 2 s later (the channel's apply window, an option of replication)
    ;(repl as unknown as { h: { applyWindowMs?: number } }).h.applyWindowMs = 2_000
    // the insert commits at the primary copy; at that instant (its batch not applied at KDY and MBI yet) the delete
    // begins: its part at each replica must wait for the insert to be applied there, then delete the row
    let inserted: string | undefined
    txn(c, 'CMB', [`INSERT INTO ITEMS (ITEMNO, DESCRIPTION, CATEGORY, BRAND, LISTPRICE) VALUES (7781, 'Late', 'Misc', 'X', 5)`], (o) => { inserted = o })
    c.sim.runUntilTrue(() => inserted !== undefined && count(c, 'CMB', 'SELECT COUNT(*) FROM ITEMS WHERE ITEMNO = 7781') === 1)
    expect(inserted).toBe('COMMIT')
    const lagging = repl.appliedSeq('CMB', 'KDY') < repl.fenceSeq('CMB', 'KDY') && count(c, 'KDY', 'SELECT COUNT(*) FROM ITEMS WHERE ITEMNO = 7781') === 0
    let out: string | undefined
    const gid = txn(c, 'CMB', ['DELETE FROM ITEMS WHERE ITEMNO = 7781'], (x) => { out = x })
    c.sim.runUntilTrue(() => out !== undefined)
    expect(lagging, 'the insert had not reached KDY when the delete began').toBe(true)
    expect(out).toBe('COMMIT')
    // each replica's part ran after that replica had applied the insert (its fence), and deleted the row itself: had it
    // run before, it would have deleted nothing, and the insert applied after it would hold the row at the replica until
    // the delete's own batch came — a window in which a branch's local FK probe would accept a sale of the deleted item
    for (const s of ['KDY', 'MBI']) expect(dtm.info.get(gid)!.statements.filter((x) => x.site === s).map((x) => x.rows), s).toEqual([1])
    let seen = 0
    // from the commit on, no replica ever holds the row again (each event of the settle is looked at)
    const present = () => c.siteCodes.filter((s) => count(c, s, 'SELECT COUNT(*) FROM ITEMS WHERE ITEMNO = 7781') > 0)
    const until = c.sim.now + 15_000
    c.sim.runUntilTrue(() => { if (dtm.unfinishedAt(gid).length === 0 && present().length) seen++; return c.sim.now >= until })
    expect(seen).toBe(0)
    expect(present()).toEqual([])
    c.settle(30_000)
    expect(present()).toEqual([])
  })
})
