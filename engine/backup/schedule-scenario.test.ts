import { describe, it, expect } from 'vitest'
import { runScenario } from '../scenario'

describe('scenario verbs for schedules and jobs (issue 12)', () => {
  it('a backup schedule fires on the virtual clock; a missed noon refresh is pending and runs after the link repair', async () => {
    const r = await runScenario(`sales 100
schedule backup KDY every 2h keep 2
advance 7h
expect scheduled backups KDY 2
expect job backup KDY done
schedule pause KDY
refresh schedule Stock_MBI 12:00 eod
feed schedule every 30
feed schedule continuous
sql MBI UPDATE Stock_MBI_LCL SET QTY = QTY + 1
fail link CMB-MBI
fail link MBI-KDY
at 12:01
expect pending Stock_MBI
expect job refresh missed
expect stale Stock_MBI
restore link CMB-MBI
advance 1m
expect job refresh done
expect fresh Stock_MBI
`, { seed: 2 })
    expect(r.failed).toBeUndefined()
    expect(r.ok).toBe(true)
  })

  it('a branch administrator may not schedule another site', async () => {
    const r = await runScenario('sales 0\nrole branch-admin KDY\nschedule backup CMB daily 02:00\nexpect error ACCESS_DENIED\nschedule backup KDY daily 02:00 keep 1', { seed: 1 })
    expect(r.failed).toBeUndefined()
  })
})
