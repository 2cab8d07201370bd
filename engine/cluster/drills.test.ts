import { describe, expect, it } from 'vitest'
import { Cluster } from '../cluster'
import { DRILL_CATEGORIES, drillView, finishDrill, runDrill, startDrill } from './drills'

describe('failure drills', () => {
  it.each(DRILL_CATEGORIES)('the %s drill: its fault strikes, the repair and the check find nothing committed lost', async (category) => {
    const c = await Cluster.create({ seed: 31, sales: 400 })
    const v = runDrill(c, category, 'KDY', { confirmed: true })
    expect(v.report!.checks.filter((x) => !x.ok)).toEqual([])
    expect(v.report).toMatchObject({ ok: true, lost: 0 })
    expect(v.report!.committed).toBeGreaterThan(0)
    if (category !== 'transaction') expect(v.report!.aborted + v.report!.committed).toBe(16)
    if (category === 'media') expect(v.steps.map((s) => s.text).join('\n')).toMatch(/found on access: media failure/)
    for (const s of c.siteCodes) expect(c.isSiteUp(s)).toBe(true)
  }, 60_000)

  it('the check is not blind: a committed change removed behind the workload\'s back is reported lost', async () => {
    const c = await Cluster.create({ seed: 32, sales: 400 })
    startDrill(c, 'transaction', 'KDY')
    c.sim.advance(5_000)
    // an out-of-band write undoes part of what the committed transfers did at Kandy
    c.siteStore('KDY').exec('UPDATE Stock_KDY SET QTY = QTY + 100 WHERE STOCKCODE = (SELECT MIN(STOCKCODE) FROM Stock_KDY)')
    const v = finishDrill(c)
    expect(v.report!.ok).toBe(false)
    expect(v.report!.lost).toBeGreaterThanOrEqual(1)
    expect(v.report!.checks.find((x) => x.name === 'committed transfers kept')!.ok).toBe(false)
  }, 60_000)

  it('refuses bad starts and changes nothing', async () => {
    const c = await Cluster.create({ seed: 33, sales: 100 })
    expect(() => startDrill(c, 'media', 'KDY')).toThrow(/confirm/)
    expect(() => startDrill(c, 'nope' as never)).toThrow(/unknown drill/)
    expect(() => startDrill(c, 'system', 'XXX')).toThrow(/unknown site/)
    c.failSite('MBI')
    expect(() => startDrill(c, 'system', 'KDY')).toThrow(/MBI is not up/)
    expect(drillView(c)).toBeNull()
    expect(() => finishDrill(c)).toThrow(/no drill is running/)
  })
})
