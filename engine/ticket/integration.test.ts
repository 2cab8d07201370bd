import { describe, expect, it } from 'vitest'
import { runScenario } from '../scenario'
import { Cluster } from '../cluster'
import { ticketsOf } from './index'

describe('tickets on the real site stores', () => {
  it('an accepted sale is recorded exactly once in SALES at the accepting site (concurrent claimants)', async () => {
    const c = new Cluster({ seed: 5 })
    await c.init()
    // the cluster has no data: the item sold must exist (FK_SALES_ITEMNO, looked up at the ITEMS primary copy)
    c.siteStore('CMB').exec("INSERT INTO ITEMS (ITEMNO, DESCRIPTION, CATEGORY, BRAND, LISTPRICE) VALUES (1001, 'Lamp', 'Home', 'X', 5)")
    const svc = ticketsOf(c)
    const countAt = (site: string, inv: number) => Number(c.siteStore(site).query(`SELECT COUNT(*) AS N FROM Sales_${site} WHERE INVNO = ?`, [inv]).rows[0][0])
    for (const [k, sites] of [[9000001, ['CMB']], [9000002, ['CMB', 'MBI']], [9000003, ['MBI', 'KDY', 'CMB']]] as const) {
      const vs = sites.map((s) => svc.present(String(k), [s], { sale: { itemNo: 1001, qty: 2, unitPrice: 5 } }))
      c.sim.runUntilTrue(() => vs.every((v) => v.outcome !== 'pending'))
      const o = svc.outcomeOf(String(k))
      const total = c.siteCodes.reduce((n, s) => n + countAt(s, k), 0)
      expect(total).toBe(o.winner ? 1 : 0)
      if (o.winner) expect(countAt(o.winner, k)).toBe(1)
    }
    expect(svc.outcomeOf('9000001').winner).toBe('CMB')
  })

  it('scenario language: ticket submit / retry and expect ticket', async () => {
    const r = await runScenario(`
sales 50
ticket submit CMB 7001
expect ticket 7001 accepted at CMB
ticket submit KDY 7001
expect ticket 7001 accepted at CMB
fail server CMB.app
ticket retry CMB>KDY 7002
expect ticket 7002 accepted at KDY
`, { seed: 3 })
    expect(r.failed).toBeUndefined()
    expect(r.ok).toBe(true)
  })
})

describe('tickets consult the sales (issue 17, bug 5): acceptance and sale are one outcome', () => {
  const where = (c: Cluster, inv: number) => c.siteCodes.filter((s) => Number(c.siteStore(s).query(`SELECT COUNT(*) FROM Sales_${s} WHERE INVNO = ?`, [inv]).rows[0][0]) > 0)
  const total = (c: Cluster, inv: number) => c.siteCodes.reduce((n, s) => n + Number(c.siteStore(s).query(`SELECT COUNT(*) FROM Sales_${s} WHERE INVNO = ?`, [inv]).rows[0][0]), 0)

  it('a ticket that is already a sale at another site is rejected naming it; SALES keeps it once', async () => {
    const c = await Cluster.create({ seed: 5, sales: 300 })
    const svc = ticketsOf(c)
    for (const inv of [1, 2, 3, 50]) {
      const [owner] = where(c, inv)
      expect(owner).toBeDefined()
      const other = c.siteCodes.find((s) => s !== owner)!
      // presented at a site that is not the owner, and (concurrently) at the owner too
      const vs = [svc.present(String(inv), [other]), svc.present(String(inv), [owner])]
      c.sim.runUntilTrue(() => vs.every((v) => v.outcome !== 'pending'))
      for (const v of vs) {
        expect(v.outcome).toBe('rejected')
        expect(v.answer).toBe(`rejected: ticket ${inv} is already a sale at ${owner} (INVNO ${inv} in SALES)`)
      }
      expect(svc.outcomeOf(String(inv))).toMatchObject({ decided: true, soldAt: owner, acceptedAt: [] })
      expect(total(c, inv)).toBe(1)
    }
  })

  it('a sale written at a site after the ticket servers started is seen by that site before it votes', async () => {
    const c = await Cluster.create({ seed: 5, sales: 300 })
    const svc = ticketsOf(c)
    c.siteStore('KDY').exec("INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, SOLD_AT, EMPNO) VALUES (880001, 'KDY', 1001, 1, 2, 2, '2026-11-23 10:00:00', NULL)")
    const v = svc.present('880001', ['KDY'])
    c.sim.runUntilTrue(() => v.outcome !== 'pending')
    expect(v).toMatchObject({ outcome: 'rejected', answer: expect.stringMatching(/already a sale at KDY/) })
    expect(total(c, 880001)).toBe(1)
  })

  it('a ticket whose sale cannot be written is not reported accepted; presented again once the site can write, it is', async () => {
    const c = await Cluster.create({ seed: 5, sales: 300 })
    const svc = ticketsOf(c)
    c.failServer('KDY.primary') // the application (ticket) server runs; its database does not
    const v = svc.present('880002', ['KDY'])
    c.sim.runUntilTrue(() => v.outcome !== 'pending')
    expect(v.outcome).toBe('rejected')
    expect(v.answer).toMatch(/^not accepted: KDY won ticket 880002 but could not write its sale \(KDY.primary is down/)
    expect(svc.outcomeOf('880002')).toMatchObject({ winner: 'KDY', owed: 'KDY', acceptedAt: [] })
    expect(c.events.some((e) => /ticket 880002 won at KDY but its sale could not be written/.test(e.message))).toBe(true)
    // nobody else can take it meanwhile
    const m = svc.present('880002', ['MBI'])
    c.sim.runUntilTrue(() => m.outcome !== 'pending')
    expect(m).toMatchObject({ outcome: 'rejected', answer: 'rejected: already used at KDY' })
    c.restoreServer('KDY.primary')
    const again = svc.present('880002', ['KDY'])
    c.sim.runUntilTrue(() => again.outcome !== 'pending')
    expect(again.outcome).toBe('accepted')
    expect(svc.outcomeOf('880002')).toMatchObject({ winner: 'KDY', acceptedAt: ['KDY'] })
    expect(svc.outcomeOf('880002').owed).toBeUndefined()
    expect(total(c, 880002)).toBe(1)
    expect(where(c, 880002)).toEqual(['KDY'])
  })
})
