/** The scenario language's issue-17 additions (docs/SCENARIOS.md), each shown on a real cluster. */
import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runScenario } from './index'

const scn = (name: string) => readFileSync(join(__dirname, '../../docs/scenarios', name), 'utf8')
const failed = (r: Awaited<ReturnType<typeof runScenario>>) => r.failed && `${r.failed.line}: ${r.failed.text} → ${r.failed.reason}`

describe('scenario language (issue 17)', () => {
  it('exec … & does not wait: a cross-site deadlock is built from a script, and its victim is named', async () => {
    const r = await runScenario(scn('cross-site-deadlock.scn'))
    expect(failed(r)).toBeUndefined()
    const again = await runScenario(scn('cross-site-deadlock.scn'))
    expect(again.traceHash).toBe(r.traceHash)
  })
  it('query: plan, class, staleness, response time; the clock moves by it; expect cell', async () => {
    const r = await runScenario(`
      seed 4
      sales 300
      expect time 08:30:00.000
      query KDY SELECT BRCODE, COUNT(*) AS N FROM SALES GROUP BY BRCODE ORDER BY BRCODE
      expect rows 3
      expect cell 2 BRCODE KDY
      expect cell 3 1 MBI
      expect class distributed request
      expect plan strategy partial-aggregation
      expect plan uses Sales_CMB@CMB
      expect plan sites CMB,MBI,KDY
      expect response > 1ms
      expect response < 10s
      expect staleness none
      query KDY SELECT COUNT(*) FROM SALES WHERE BRCODE = 'KDY'
      expect class remote request
      expect plan pruned Sales_CMB
      fail site MBI
      fail server CMB.repository
      query CMB SELECT COUNT(*) FROM STOCK_MBI
      expect plan uses Stock_MBI_LCL@CMB
      expect staleness Stock_MBI_LCL >= 0ms
      expect staleness Stock_MBI_LCL < 1d
      expect plan note refreshed
    `)
    expect(failed(r)).toBeUndefined()
    // the first query advanced the clock past 08:30:00.000 by its response time
    const moved = await runScenario('sales 300\nexpect time 08:30:00.000\nquery KDY SELECT BRCODE, COUNT(*) FROM SALES GROUP BY BRCODE\nexpect time 08:30:00.000')
    expect(moved.failed?.line).toBe(4)
    expect(moved.failed?.reason).toMatch(/^clock is 08:30:00\.(?!000)\d{3}/)
    const bad = await runScenario('sales 50\nquery CMB SELECT COUNT(*) FROM ITEMS\nexpect cell 1 1 0')
    expect(bad.failed?.reason).toMatch(/^expected cell 1 COUNT\(\*\) to be 0, got \d+/)
    const bad2 = await runScenario('sales 50\nquery CMB SELECT COUNT(*) FROM ITEMS\nexpect class distributed request')
    expect(bad2.failed?.reason).toBe('request class is remote request, not distributed request')
  })
  it('ticket crash points and a non-waiting ticket', async () => {
    const r = await runScenario(`
      seed 9
      sales 50
      # KDY's server votes (durably) for CMB, then crashes before its reply leaves: CMB still gets a majority (MBI)
      ticket crash KDY at vote restart after 3s
      ticket submit CMB 7001
      expect ticket 7001 accepted at CMB
      expect site KDY up
      advance 5s
      # the claimant decides and writes the sale, then crashes before answering: the client retries at MBI
      ticket crash KDY at decide restart after 10s
      ticket retry KDY>MBI 7002
      expect ticket 7002 accepted at KDY
      sql KDY SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 7002
      expect value 1
      advance 15s
      # a non-waiting ticket: the clock does not move until something runs it
      ticket submit MBI 7003 &
      expect time 08:30:22.075
      advance 2s
      expect ticket 7003 accepted at MBI
    `)
    expect(failed(r)).toBeUndefined()
    const msgs = r.lines.map((l) => l.message ?? '').join('\n')
    expect(msgs).toMatch(/ticket 7002 at KDY>MBI: rejected: already used at KDY/)
  })
  it('sql as a session: a site-local statement is checked like a query (no read up; hidden columns)', async () => {
    const r = await runScenario(`
      seed 5
      sales 100
      user add clerk at KDY clearance INTERNAL password "clerk-pass-1"
      sql KDY SELECT NAME, SALARY FROM Employees_KDY
      expect rows 23
      login clerk at KDY password "clerk-pass-1"
      sql KDY SELECT NAME, SALARY FROM Employees_KDY
      expect error ACCESS_DENIED
      sql KDY SELECT * FROM Employees_KDY WHERE EMPNO < 0
      expect hidden SALARY
      as operator
      sql KDY SELECT NAME, SALARY FROM Employees_KDY WHERE EMPNO < 0
      expect columns NAME,SALARY
    `)
    expect(failed(r)).toBeUndefined()
  })
})
