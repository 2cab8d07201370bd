/**
 * The start screen's choice of mode in Chromium: the console opened over the live servers (`iddb serve --pg DIR`,
 * the shared live fixture) switches to the embedded simulation from its header — typed confirmation, the page starts
 * again at the login screen, which says "Simulation", and the live badge is gone — then back to the live servers of
 * the same deployment (the badge names the three servers again). The host is left live for the specs after it.
 */
import { liveTest as test, expect, pgMissing } from './liveHost'
import { LoginPage, adminCredentials } from './pages/LoginPage'
import { ModePage } from './pages/ModePage'

test.describe('the console\'s mode: live servers ⇄ simulation', () => {
  test.skip(pgMissing !== null, `PostgreSQL unavailable: ${pgMissing}`)

  test('switches to the simulation and back to the live servers from the header', async ({ page, live }) => {
    test.setTimeout(240_000)
    await live.open(page)
    const mode = new ModePage(page)
    const login = new LoginPage(page)
    await expect(mode.current()).toHaveAttribute('data-mode', 'live')
    await expect(page.getByTestId('live-badge')).toBeVisible()

    await mode.switchTo('simulation')
    await mode.expectLoginIn('simulation')
    await login.submit(adminCredentials())
    await expect(login.badge()).toHaveAttribute('data-user', adminCredentials().user)
    await expect(mode.current()).toHaveAttribute('data-mode', 'simulation')
    await expect(page.getByTestId('live-badge')).toHaveCount(0)

    // a directory that is not a deployment is refused, and the console stays as it was
    await mode.switchTo('live', '/nonexistent-deployment')
    await expect(mode.error()).toBeVisible()
    await expect(mode.current()).toHaveAttribute('data-mode', 'simulation')

    await page.getByTestId('mode-deployment').fill(live.dir)
    await page.getByTestId('mode-confirm-input').fill('live')
    await page.getByTestId('mode-confirm-button').click()
    await mode.expectLoginIn('live')
    await login.submit(adminCredentials())
    await expect(page.getByTestId('live-badge').getByTestId('live-server')).toHaveCount(3)
    await expect(mode.current()).toHaveAttribute('data-mode', 'live')
  })
})
