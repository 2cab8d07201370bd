/** Failure drills from the Topology console: one click to start, what to watch, the after-check; a media failure confirmed by typing the site's code, refused service, restore. */
import { test, expect } from './fixtures'
import { DrillsPage } from './pages/DrillsPage'
import { QueryPage } from './pages/QueryPage'

test.describe('failure drills', () => {
  test.beforeEach(async ({ admin }) => {
    await admin.openConsole('topology')
    await admin.topology.waitForChart()
  })

  test('the transaction drill: started with one click, its description shown, the after-check reports nothing lost', async ({ page }) => {
    const d = new DrillsPage(page)
    await d.pick('transaction')
    await expect(d.description()).toContainText('deadlocks')
    await expect(d.watchList().locator('li')).toHaveCount(3)
    await d.start()
    await expect(d.run()).toHaveAttribute('data-category', 'transaction')
    await expect(d.run()).toHaveAttribute('data-phase', 'running')
    await d.finish()
    await expect(d.report()).toHaveAttribute('data-ok', 'true')
    await expect(d.report()).toHaveAttribute('data-lost', '0')
    await expect(d.checks()).toHaveCount(7)
    await expect(d.checks().filter({ hasText: 'committed transfers kept' })).toHaveAttribute('data-ok', 'true')
  })

  test('the media drill asks for the site code, then reports that the damage was found and nothing committed was lost', async ({ page }) => {
    const d = new DrillsPage(page)
    await d.chooseSite('KDY')
    await d.pick('media')
    await expect(d.description()).toContainText('next access')
    await page.getByTestId('drill-confirm-input').fill('MBI')
    await expect(d.confirmButton('drill-confirm')).toBeDisabled()
    await d.confirm('drill-confirm', 'KDY')
    await expect(d.run()).toHaveAttribute('data-category', 'media')
    await d.finish()
    await expect(d.report()).toHaveAttribute('data-ok', 'true')
    await expect(page.getByTestId('drill-steps')).toContainText('recovered from KDY.backup')
  })

  test('a media failure by hand: typed confirmation, unnoticed until an access, the site refuses service, restore', async ({ admin, page }) => {
    const d = new DrillsPage(page)
    await d.chooseSite('KDY')
    await expect(d.media()).toHaveAttribute('data-state', 'ok')
    await page.getByTestId('media-confirm-input').fill('CMB')
    await expect(d.confirmButton('media-confirm')).toBeDisabled()
    await d.confirm('media-confirm', 'KDY')
    await expect(d.media()).toHaveAttribute('data-state', 'damaged-unnoticed')
    await expect(admin.topology.siteRow('KDY')).toHaveAttribute('data-health', 'ok')

    // the next access: a write at Kandy
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write('UPDATE Stock_KDY SET QTY = QTY WHERE ITEMNO = -1')
    await q.runAndWait('KDY')
    await expect(q.error()).toContainText('CORRUPT_DATA')
    await expect(q.error()).toContainText('restore')

    await admin.openConsole('topology')
    await d.chooseSite('KDY')
    await expect(d.media()).toHaveAttribute('data-state', 'needs-restore')
    await expect(d.needsRestore()).toContainText('media failure')
    await expect(admin.topology.siteRow('KDY')).not.toHaveAttribute('data-health', 'ok')
    await d.recover('KDY')
    await expect(d.media()).toHaveAttribute('data-state', 'ok')
    await expect(admin.topology.siteRow('KDY')).toHaveAttribute('data-health', 'ok')
  })
})
