/** Schedules and jobs through the console only: a backup schedule runs on the virtual clock and its run is in the Jobs page; the refresh schedule is edited; a missed refresh is pending and retried after the link repair. */
import { test, expect } from './fixtures'
import { SchedulesPage } from './pages/SchedulesPage'

test.describe('schedules and jobs', () => {
  test('a backup schedule, the Jobs page, the refresh schedule, and a missed refresh retried after a link repair', async ({ admin, page }) => {
    const s = new SchedulesPage(page)
    await admin.setSpeed(0)
    // a backup schedule of KDY every hour, keeping 2
    await admin.openConsole('backups')
    await s.createEvery('KDY', 1, 2)
    await expect(s.schedules().first()).toContainText('every 1 h')
    await expect(s.schedules().first()).toHaveAttribute('data-state', 'active')

    // the clock moves on: the scheduled backup runs and is a job in the Jobs page
    await admin.openConsole('jobs')
    await s.advance(3_600_000)
    await s.filterKind('backup')
    const backup = s.jobs('backup').first()
    await expect(backup).toHaveAttribute('data-status', 'done')
    await expect(backup).toHaveAttribute('data-trigger', 'scheduled')
    await expect(backup).toHaveAttribute('data-site', 'KDY')
    await admin.openConsole('backups')
    await expect(s.schedules().first().getByTestId('schedule-last-status')).toHaveText('done')

    // the Stock_MBI refresh schedule: the next full hour and the end of Mumbai's working day (the host is shared, so
    // the day's time is whatever the specs before left it at: move into the working day first)
    const hour = async () => Number(/(\d\d):\d\d:\d\d/.exec((await admin.clock().textContent()) ?? '')![1])
    await admin.openConsole('jobs')
    for (let i = 0; i < 4 && ((await hour()) < 6 || (await hour()) > 15); i++) {
      const before = (await admin.clock().textContent()) ?? ''
      await s.advance(21_600_000)
      await expect(admin.clock()).not.toHaveText(before)
    }
    const next = String((await hour()) + 1).padStart(2, '0')
    await admin.openConsole('replication')
    await s.setRefreshTimes('Stock_MBI', `${next}:00, eod`)
    await expect(s.resolved('Stock_MBI')).toHaveText(`${next}:00, 18:00`)

    // Mumbai cut off before that hour: the scheduled refresh is missed and pending
    await admin.failLink('CMB-MBI')
    await admin.failLink('MBI-KDY')
    await admin.openConsole('jobs')
    await s.filterKind('refresh')
    await s.advance(3_600_000)
    const refresh = s.jobs('refresh').first()
    await expect(refresh).toHaveAttribute('data-status', 'missed')
    await expect(refresh).toHaveAttribute('data-trigger', 'scheduled')
    await expect(refresh.getByTestId('job-retry')).toContainText('pending')
    await admin.openConsole('replication')
    await expect(s.copyState('Stock_MBI')).toHaveText('missed · pending')

    // the link is repaired: the pending refresh runs
    await admin.restoreLink('CMB-MBI')
    await admin.openConsole('jobs')
    await s.advance(600_000)
    await expect(refresh).toHaveAttribute('data-status', 'done')
    await s.filterStatus('done')
    // (the host is shared by every spec: other refreshes may be listed as done too)
    await expect(s.jobs('refresh').first()).toHaveAttribute('data-status', 'done')
    await admin.openConsole('replication')
    await expect(s.copyState('Stock_MBI')).not.toHaveText('missed · pending')

    // the host is shared by the specs after this one: the other link back, and the default refresh schedule
    await admin.restoreLink('MBI-KDY')
    await admin.openConsole('replication')
    await s.setRefreshTimes('Stock_MBI', '12:00, eod')
    await expect(s.resolved('Stock_MBI')).toHaveText('12:00, 18:00')
  })
})
