/** Issue 17, bug 4: a restore from the main repository never discards a commit the repository has not received. */
import { describe, it, expect } from 'vitest'
import { Cluster } from '../cluster'
import { EngineError } from '../errors'
import { waitForRepository } from './repository'

const SALE = (n: number) => `INSERT INTO Sales_KDY VALUES (${n}, 'KDY', 1001, 1, 5, 5, '2026-11-23 09:00:00', 80)`
const has = (c: Cluster, n: number) => c.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = ?', [n]).rows[0][0]
const inRepo = (c: Cluster, n: number) => c.siteStore('CMB').repository!.query('SELECT COUNT(*) FROM SALES WHERE INVNO = ?', [n]).rows[0][0]

describe('restore from the main repository (issue 17, bug 4)', () => {
  it('the reproduction: links cut, a sale at KDY, links back, restore while the repository lags → refused, the sale kept; after catching up it restores and keeps it', async () => {
    const c = await Cluster.create({ seed: 11, sales: 300 })
    c.failLink('CMB-KDY'); c.failLink('MBI-KDY')
    c.siteStore('KDY').exec(SALE(830001))
    c.restoreLink('CMB-KDY'); c.restoreLink('MBI-KDY')
    expect(inRepo(c, 830001)).toBe(0) // the repository still lags
    let err: unknown
    try { c.restoreFromRepository('KDY') } catch (e) { err = e }
    expect(err).toBeInstanceOf(EngineError)
    expect(err).toMatchObject({ code: 'CONFLICT', site: 'KDY' })
    expect((err as Error).message).toMatch(/main repository holds KDY's commits up to record \d+, but KDY has committed up to \d+: restoring now would discard/)
    c.settle()
    expect(has(c, 830001)).toBe(1)
    expect(inRepo(c, 830001)).toBe(1)
    // waiting is the other way out: once the repository holds everything, the restore keeps the sale
    expect(waitForRepository(c, 'KDY')).toBe(true)
    let rows: number | undefined
    c.restoreFromRepository('KDY', (n) => { rows = n })
    c.settle()
    expect(rows).toBeGreaterThan(0)
    expect(has(c, 830001)).toBe(1)
    expect(inRepo(c, 830001)).toBe(1)
    expect(c.checkFragmentation().ok).toBe(true)
  })

  it('a commit at the branch while the rows are in transit: the restore is refused on arrival, the commit kept', async () => {
    const c = await Cluster.create({ seed: 12, sales: 300 })
    c.settle()
    let rows: number | undefined
    let refused: EngineError | undefined
    c.restoreFromRepository('KDY', (n) => { rows = n }, (e) => { refused = e })
    c.siteStore('KDY').exec(SALE(840001)) // committed before the repository's rows arrive
    c.sim.runUntilTrue(() => rows !== undefined || refused !== undefined, 2_000_000)
    expect(rows).toBeUndefined()
    expect(refused).toMatchObject({ code: 'CONFLICT', site: 'KDY' })
    c.settle()
    expect(has(c, 840001)).toBe(1)
    expect(inRepo(c, 840001)).toBe(1)
  })

  it('waitForRepository refuses (false) while the branch cannot reach Colombo', async () => {
    const c = await Cluster.create({ seed: 13, sales: 300 })
    c.failLink('CMB-KDY'); c.failLink('MBI-KDY')
    c.siteStore('KDY').exec(SALE(850001))
    expect(waitForRepository(c, 'KDY', 5_000)).toBe(false)
    expect(() => c.restoreFromRepository('KDY')).toThrow(/would discard record/)
    expect(has(c, 850001)).toBe(1)
  })
})
