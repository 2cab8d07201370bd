import { describe, expect, it } from 'vitest'
import { runScenario } from '../scenario'
import { Cluster } from '../cluster'
import { ticketsOf } from './index'

describe('tickets on the real site stores', () => {
  it('an accepted sale is recorded exactly once in SALES at the accepting site (concurrent claimants)', async () => {
    const c = new Cluster({ seed: 5 })
    await c.init()
    // the sales' item must exist (FK_SALES_ITEMNO: the DIM refuses a sale of an unknown item)
    for (const s of c.siteCodes) c.siteStore(s).exec("INSERT INTO ITEMS (ITEMNO, DESCRIPTION) VALUES (1, 'test item')")
    const svc = ticketsOf(c)
    const countAt = (site: string, inv: number) => Number(c.siteStore(site).query(`SELECT COUNT(*) AS N FROM Sales_${site} WHERE INVNO = ?`, [inv]).rows[0][0])
    for (const [k, sites] of [[9000001, ['CMB']], [9000002, ['CMB', 'MBI']], [9000003, ['MBI', 'KDY', 'CMB']]] as const) {
      const vs = sites.map((s) => svc.present(String(k), [s], { sale: { itemNo: 1, qty: 2, unitPrice: 5 } }))
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
