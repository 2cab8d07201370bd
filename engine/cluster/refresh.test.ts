import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { Cluster } from '../cluster'
import { nextLocalTime } from '../sim/kernel'
import { jobLog } from './joblog'
import { REFRESH_RETRY_BASE_MS } from './copies'
import { defaultTopology } from '../topology/default'

const rowsOf = (c: Cluster, site: string, t: string) => c.siteStore(site).query(`SELECT * FROM "${t}" ORDER BY 1`).rows
const refreshJobs = (c: Cluster) => jobLog(c).list({ kind: 'refresh' })
/** Refreshes Stock_MBI by hand and runs the clock until the job leaves 'running' (or is missed). */
function refresh(c: Cluster) {
  const id = c.refreshCopy('Stock_MBI')
  c.sim.runUntilTrue(() => jobLog(c).get(id)!.status !== 'running', 1_000_000)
  return jobLog(c).get(id)!
}

describe('Stock_MBI refresh: incremental, consistent, retried (issue 12)', () => {
  let c: Cluster
  beforeEach(async () => { c = await Cluster.create({ seed: 4, sales: 100 }) })
  afterEach(() => c.close())

  it('an incremental refresh ships only the changed rows and gives the same copy as a full one', () => {
    const full = refresh(c)
    expect(full).toMatchObject({ status: 'done', detail: expect.stringMatching(/^full/) })
    const n = c.siteStore('MBI').count('Stock_MBI_LCL')
    expect(full.rows).toBe(n)
    const mbi = c.siteStore('MBI')
    const codes = mbi.query('SELECT STOCKCODE FROM Stock_MBI_LCL ORDER BY STOCKCODE LIMIT 3').rows.map((r) => r[0])
    mbi.exec('UPDATE Stock_MBI_LCL SET QTY = QTY + 5 WHERE STOCKCODE = ?', [codes[0]])
    mbi.exec('UPDATE Stock_MBI_LCL SET QTY = QTY + 1 WHERE STOCKCODE = ?', [codes[0]])
    mbi.exec('DELETE FROM Stock_MBI_LCL WHERE STOCKCODE = ?', [codes[1]])
    mbi.exec("INSERT INTO Stock_MBI_LCL SELECT 'NEW-1', ITEMNO, 9, UNITPRICE, LASTIN, NEXTIN FROM Stock_MBI_LCL WHERE STOCKCODE = ?", [codes[2]])
    c.settle()
    expect(c.copyStatus('Stock_MBI')).toMatchObject({ stale: true })
    expect(c.copyStatus('Stock_MBI').stalenessMs).toBeGreaterThan(0)
    const inc = refresh(c)
    expect(inc).toMatchObject({ status: 'done', detail: expect.stringMatching(/^incremental: 2 row\(s\) upserted, 1 deleted/) })
    expect(inc.rows).toBe(3)
    expect(inc.bytes).toBeLessThan(full.bytes / 10)
    const afterInc = rowsOf(c, 'CMB', 'Stock_MBI')
    expect(afterInc).toEqual(rowsOf(c, 'MBI', 'Stock_MBI_LCL'))
    // the same copy as a full snapshot gives
    ;(c as unknown as { resetCopyLogs(): void }).resetCopyLogs()
    const again = refresh(c)
    expect(again.detail).toMatch(/^full/)
    expect(rowsOf(c, 'CMB', 'Stock_MBI')).toEqual(afterInc)
    expect(c.copyStatus('Stock_MBI')).toMatchObject({ stale: false, stalenessMs: 0, lastMode: 'full', pending: null })
  })

  it('a refresh that meets down links is missed, retried with backoff, and runs when a link returns', () => {
    refresh(c)
    c.siteStore('MBI').exec('UPDATE Stock_MBI_LCL SET QTY = QTY + 3')
    c.settle()
    c.failLink('CMB-MBI')
    c.failLink('MBI-KDY')
    const t0 = c.sim.now
    const j = refresh(c)
    expect(j.status).toBe('missed')
    expect(j.error?.code).toBe('UNREACHABLE')
    expect(j.nextRetryAt).toBe(t0 + REFRESH_RETRY_BASE_MS)
    const st = c.copyStatus('Stock_MBI')
    expect(st.pending).toMatchObject({ job: j.id, attempts: 1, nextRetryAt: t0 + REFRESH_RETRY_BASE_MS })
    expect(st.stale).toBe(true)
    // backoff: 30 s, then 60 s, then 120 s
    c.sim.runUntil(t0 + REFRESH_RETRY_BASE_MS)
    expect(jobLog(c).get(j.id)).toMatchObject({ status: 'missed', attempts: 2, nextRetryAt: t0 + 3 * REFRESH_RETRY_BASE_MS })
    c.sim.runUntil(t0 + 3 * REFRESH_RETRY_BASE_MS)
    expect(jobLog(c).get(j.id)).toMatchObject({ status: 'missed', attempts: 3, nextRetryAt: t0 + 7 * REFRESH_RETRY_BASE_MS })
    c.sim.runUntil(t0 + 4 * REFRESH_RETRY_BASE_MS)
    c.restoreLink('CMB-MBI') // the path returns: the pending refresh runs at once, not at its next backoff
    c.sim.runUntilTrue(() => jobLog(c).get(j.id)!.status !== 'missed', 100_000)
    c.sim.runUntilTrue(() => jobLog(c).get(j.id)!.status === 'done', 100_000)
    const done = jobLog(c).get(j.id)!
    expect(done).toMatchObject({ status: 'done', attempts: 4 })
    expect(done.endAt!).toBeLessThan(t0 + 7 * REFRESH_RETRY_BASE_MS)
    expect(c.copyStatus('Stock_MBI')).toMatchObject({ stale: false, pending: null })
    expect(refreshJobs(c)).toHaveLength(2)
  })

  it('a crash mid-refresh leaves the old copy whole; the retry brings it up to date', () => {
    refresh(c)
    const before = rowsOf(c, 'CMB', 'Stock_MBI')
    const refreshedAt = c.copyStatus('Stock_MBI').lastRefreshAt
    c.siteStore('MBI').exec('UPDATE Stock_MBI_LCL SET QTY = QTY + 11')
    c.settle()
    c.copyApplyFault = (_copy, i) => { if (i === 5) { c.copyApplyFault = undefined; throw new Error('CMB.primary crashed in the middle of the refresh') } }
    const j = refresh(c)
    expect(j.status).toBe('missed')
    expect(j.error?.message).toMatch(/crashed.*left as it was/)
    expect(rowsOf(c, 'CMB', 'Stock_MBI')).toEqual(before)
    expect(c.copyStatus('Stock_MBI').lastRefreshAt).toBe(refreshedAt)
    c.sim.runUntil(c.sim.now + REFRESH_RETRY_BASE_MS) // the backoff's first retry
    c.sim.runUntilTrue(() => jobLog(c).get(j.id)!.status === 'done', 1_000_000)
    expect(jobLog(c).get(j.id)).toMatchObject({ status: 'done', attempts: 2 })
    expect(rowsOf(c, 'CMB', 'Stock_MBI')).toEqual(rowsOf(c, 'MBI', 'Stock_MBI_LCL'))
  })

  it('the schedule is 12:00 and the source site\'s end of day by default, and is editable', async () => {
    const at = (h: number, m = 0) => nextLocalTime(c.sim.now, h, m)
    expect(c.refreshScheduleView('Stock_MBI')).toMatchObject({ times: ['12:00', 'eod'], resolved: ['12:00', '18:00'], endOfDay: '18:00', nextRefreshAt: at(12) })
    c.setRefreshSchedule('Stock_MBI', ['10:15', 'eod'])
    const due = at(10, 15)
    expect(c.nextRefreshAt('Stock_MBI')).toBe(due)
    c.siteStore('MBI').exec('UPDATE Stock_MBI_LCL SET QTY = QTY + 2')
    c.sim.runUntil(due + 60_000)
    const [j] = refreshJobs(c)
    expect(j).toMatchObject({ trigger: 'scheduled', status: 'done', startAt: due })
    expect(c.copyStatus('Stock_MBI').stale).toBe(false)
    expect(() => c.setRefreshSchedule('Stock_MBI', ['9:00'])).toThrow(/HH:MM/)
    expect(() => c.setRefreshSchedule('Stock_MBI', [])).toThrow(/at least one/)
    expect(c.refreshScheduleView('Stock_MBI').times).toEqual(['10:15', 'eod'])
    // the end of day is a site property in the topology data
    const topo = defaultTopology()
    topo.sites.find((s) => s.code === 'MBI')!.endOfDay = '17:30'
    const d = await Cluster.create({ seed: 4, sales: 0, topology: topo })
    try { expect(d.refreshScheduleView('Stock_MBI').resolved).toEqual(['12:00', '17:30']) } finally { d.close() }
  })

  it('a scheduled main-repository feed holds the changes until its feed time', () => {
    c.settle()
    const repo = () => c.siteStore('CMB') && c.siteInternals('CMB').repository!.getMetaNum('src.KDY')
    c.setFeedSchedule({ mode: 'every', minutes: 30 })
    const next = c.feedView().nextFeedAt!
    c.siteStore('KDY').exec("INSERT INTO Sales_KDY VALUES (990001, 'KDY', 1001, 2, 10.5, 21, '2026-11-23 09:00:00', 100)")
    const seq = c.siteStore('KDY').seq
    c.sim.runUntil(next - 1)
    expect(repo()).toBeLessThan(seq)
    c.sim.runUntil(next + 5_000)
    expect(repo()).toBe(seq)
    expect(() => c.setFeedSchedule({ mode: 'every', minutes: 0 })).toThrow(/1 to 1440/)
    c.setFeedSchedule({ mode: 'continuous' })
    expect(c.feedView()).toMatchObject({ describe: 'continuous (each commit)', nextFeedAt: null })
  })
})
