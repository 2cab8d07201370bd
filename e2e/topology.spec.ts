import { test, expect } from './fixtures'

test.describe('topology console', () => {
  test.beforeEach(async ({ admin }) => {
    await admin.openConsole('topology')
    await admin.topology.waitForChart()
  })

  test('shows three sites and three T1 WAN links with their bandwidth', async ({ admin }) => {
    await expect(admin.topology.siteRows()).toHaveCount(3)
    for (const s of ['CMB', 'MBI', 'KDY']) await expect(admin.topology.siteRow(s)).toBeVisible()
    await expect(admin.topology.linkRows()).toHaveCount(3)
    for (const l of ['CMB-MBI', 'CMB-KDY', 'MBI-KDY']) {
      await expect(admin.topology.linkRow(l)).toContainText('T1 1.544 Mbit/s')
      await expect(admin.topology.linkRow(l)).toHaveAttribute('data-state', 'up')
    }
    await expect(admin.topology.chart()).toHaveAttribute('aria-label', /CMB ok, MBI ok, KDY ok/)
  })

  test('clicking a site opens its details with its servers', async ({ admin }) => {
    await admin.topology.openSite('CMB')
    await expect(admin.topology.detailsTitle()).toContainText('Colombo')
    for (const k of ['router', 'app', 'primary', 'backup', 'repository']) await expect(admin.topology.server(`CMB.${k}`)).toBeVisible()
    await admin.topology.openSite('KDY')
    await expect(admin.topology.detailsTitle()).toContainText('Kandy')
    await expect(admin.topology.server('KDY.repository')).toHaveCount(0)
  })

  test('clicking a link opens its details', async ({ admin, page }) => {
    await admin.topology.openLink('CMB-KDY')
    await expect(page.getByTestId('link-bandwidth')).toHaveText('T1 1.544 Mbit/s')
    await expect(admin.topology.detailsTitle()).toContainText('CMB ⇄ KDY')
  })

  test('failing KDY turns its health light red and restoring brings it back', async ({ admin }) => {
    await admin.failSite('KDY')
    await expect(admin.healthLight('KDY')).toHaveAttribute('data-health', 'down')
    await expect(admin.topology.siteRow('KDY')).toHaveAttribute('data-health', 'down')
    await expect(admin.topology.server('KDY.primary')).toHaveAttribute('data-status', 'down')
    await expect(admin.healthLight('CMB')).toHaveAttribute('data-health', 'ok')
    await admin.restoreSite('KDY')
    await expect(admin.healthLight('KDY')).toHaveAttribute('data-health', 'ok')
    await expect(admin.topology.server('KDY.primary')).toHaveAttribute('data-status', 'up')
  })

  test('a link can be degraded, failed and restored', async ({ admin, page }) => {
    await admin.topology.openLink('CMB-MBI')
    await page.getByTestId('degrade-delay').fill('300')
    await page.getByTestId('action-degrade-link').click()
    await expect(admin.topology.linkRow('CMB-MBI')).toHaveAttribute('data-state', 'degraded')
    await admin.failLink('CMB-MBI')
    await admin.restoreLink('CMB-MBI')
  })
})
