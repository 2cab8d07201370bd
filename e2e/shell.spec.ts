import { test, expect } from './fixtures'
import { CONSOLES } from './pages/AdminConsole'

test.describe('console shell', () => {
  test('loads with the navigation, the simulated clock and one health light per site', async ({ admin, page }) => {
    await expect(page).toHaveTitle('Infinity DDB Console')
    for (const c of CONSOLES) await expect(admin.navLink(c.id)).toBeVisible()
    await expect(admin.clock()).toHaveText(/^\w{3} \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
    await expect(admin.healthLights()).toHaveCount(3)
    for (const s of ['CMB', 'MBI', 'KDY']) await expect(admin.healthLight(s)).toHaveAttribute('data-health', 'ok')
  })

  test('navigation reaches every console', async ({ admin, page }) => {
    for (const c of CONSOLES) {
      await admin.openConsole(c.id)
      await expect(page).toHaveURL(new RegExp(`#/${c.id}$`))
      // Either the real console or an honest empty state, never both.
      const empty = await admin.emptyState().isVisible()
      if (empty) await expect(admin.emptyState()).toContainText('Not available yet')
      else await expect(page.locator(`[data-console="${c.id}"] .console-body > *`).first()).toBeVisible()
    }
  })

  test('the speed control runs and pauses the simulated clock', async ({ admin }) => {
    await admin.setSpeed(3600)
    const before = await admin.clock().textContent()
    await expect(admin.clock()).not.toHaveText(before!, { timeout: 10_000 })
    await admin.setSpeed(0)
    const paused = await admin.clock().textContent()
    await expect(admin.page.getByTestId('clock-paused')).toBeVisible()
    // a fresh page asks the engine for its clock again: paused, it has not moved
    await admin.open()
    await expect(admin.clock()).toHaveText(paused!)
    await expect(admin.page.getByTestId('speed-0')).toHaveAttribute('aria-pressed', 'true')
  })

  test('the events console shows engine events', async ({ admin, page }) => {
    // A failure and a recovery are engine events; the log must show them.
    await admin.failLink('MBI-KDY')
    await admin.restoreLink('MBI-KDY')
    await admin.openConsole('events')
    await expect(page.getByTestId('event-row').filter({ hasText: 'MBI-KDY' }).first()).toBeVisible()
  })
})
