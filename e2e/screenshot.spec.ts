import { test, expect } from './fixtures'
import { join } from 'node:path'
import { ROOT } from './fixtures'

// Saves the README screenshot from the real console (browser host, real engine data).
test('screenshot of the topology console for the README', async ({ admin, page }) => {
  await page.setViewportSize({ width: 1280, height: 800 })
  await admin.openConsole('topology')
  await admin.topology.waitForChart()
  // Let the engine run a little (replication and the noon copy refresh put bytes on the WAN), then pause.
  // Run until past noon site time (at most ~10 s at 3600×) so the noon refresh of Stock_MBI shows on the WAN.
  await admin.setSpeed(3600)
  await expect.poll(async () => Number((await admin.clock().textContent())?.slice(15, 17)), { timeout: 12_000 }).toBeGreaterThanOrEqual(12).catch(() => {})
  await page.waitForTimeout(1200)
  await admin.setSpeed(0)
  await admin.topology.openSite('CMB')
  await expect(page.getByTestId('site-details')).toBeVisible()
  await page.screenshot({ path: join(ROOT, 'docs/screenshot.png') })
})
