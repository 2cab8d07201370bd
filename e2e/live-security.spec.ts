/**
 * Security over live servers in Chromium (`iddb serve --pg DIR`, the shared live deployment of e2e/liveHost.ts):
 * the Security console's live panel lists each site's users as roles at its PostgreSQL server holding
 * SCRAM-SHA-256 verifiers (checked at the servers themselves); a user added at Kandy becomes a role at Kandy's
 * server only and logs in there (a wrong password refused by the server); a Kandy administrator created in the
 * console logs in to the console through Kandy's server. What it creates it removes again (the roles go too).
 * Skipped, with its reason, where PostgreSQL is not available.
 */
import { liveTest as test, expect, pgMissing } from './liveHost'
import { LoginPage, adminCredentials } from './pages/LoginPage'
import { SecurityPage } from './pages/SecurityPage'
import { LiveSecurityPage } from './pages/LiveSecurityPage'

const CLERK = { user: 'e2e-clerk', password: 'e2e-clerk-pass-1' }
const KANDY = { user: 'kdy-boss', password: 'kdy-boss-pass-1' }

test.describe('security over live PostgreSQL servers', () => {
  test.skip(pgMissing !== null, `PostgreSQL unavailable: ${pgMissing}`)
  test.describe.configure({ mode: 'serial' })

  const roleAt = async (atServer: <T>(site: string, sql: string) => Promise<T[]>, site: string, user: string) =>
    (await atServer<{ scram: boolean; login: boolean }>(site, `SELECT starts_with(rolpassword, 'SCRAM-SHA-256$') AS scram, rolcanlogin AS login FROM pg_authid WHERE rolname = 'iddb_u_${user}'`))[0]

  test('the live panel lists the servers\' roles with SCRAM-SHA-256; a user added at Kandy logs in at Kandy\'s server', async ({ page, live }) => {
    const admin = await live.open(page)
    await admin.openConsole('security')
    const roles = new LiveSecurityPage(page)
    const sec = new SecurityPage(page)
    await expect(roles.panel()).toBeVisible()
    const hq = adminCredentials().user
    await expect(roles.verifier('CMB', hq)).toHaveText('SCRAM-SHA-256')
    await expect(roles.siteAuth('CMB')).toContainText('scram-sha-256')
    expect(await roleAt(live.atServer, 'CMB', hq)).toEqual({ scram: true, login: true })

    await sec.addUser('KDY', CLERK.user, CLERK.password, 'INTERNAL')
    await expect(sec.addResult()).toContainText(`${CLERK.user} added at KDY`)
    await expect(roles.verifier('KDY', CLERK.user)).toHaveText('SCRAM-SHA-256')
    await expect(roles.role('KDY', CLERK.user)).toContainText('LOGIN')
    await expect(roles.role('KDY', CLERK.user)).toContainText('Employees_KDY') // read in part: no SALARY
    expect(await roleAt(live.atServer, 'KDY', CLERK.user)).toEqual({ scram: true, login: true })
    expect(await roleAt(live.atServer, 'CMB', CLERK.user)).toBeUndefined()

    await sec.login('KDY', CLERK.user, 'not-the-password')
    await expect(sec.loginError()).toContainText('AUTH_FAILED')
    await sec.login('KDY', CLERK.user, CLERK.password)
    await expect(sec.loginResult()).toContainText(`${CLERK.user} logged in at KDY`)
    await expect(sec.loginResult()).toContainText('KDY.primary')
    await expect(sec.loginResult()).toContainText('SCRAM-SHA-256')
  })

  test('a Kandy administrator created in the live console logs in through Kandy\'s server', async ({ page, live }) => {
    const admin = await live.open(page)
    await admin.openConsole('security')
    const panel = page.getByTestId('identities-panel')
    await panel.getByTestId('identity-user').fill(KANDY.user)
    await panel.getByTestId('identity-password').fill(KANDY.password)
    await panel.getByTestId('identity-role').selectOption('branch-admin')
    await panel.getByTestId('identity-site').selectOption('KDY')
    await panel.getByTestId('identity-submit').click()
    await expect(panel.getByTestId(`identity-${KANDY.user}`)).toHaveAttribute('data-role', 'branch-admin')
    await expect(new LiveSecurityPage(page).verifier('KDY', KANDY.user)).toHaveText('SCRAM-SHA-256')
    expect(await roleAt(live.atServer, 'KDY', KANDY.user)).toEqual({ scram: true, login: true })

    const login = new LoginPage(page)
    await login.logout()
    await login.submit({ user: KANDY.user, password: 'not-the-password' })
    await expect(login.error()).toContainText('AUTH_FAILED')
    await login.submit(KANDY)
    await expect(login.badge()).toHaveAttribute('data-role', 'branch-admin')
    await expect(login.badge().getByTestId('identity-role')).toHaveText('branch administrator of KDY')
    await login.logout()

    // as the HQ DBA again: remove what this spec added; the roles leave the servers with them
    await login.submit(adminCredentials())
    await admin.openConsole('security')
    await page.getByTestId('identities-panel').getByTestId(`identity-remove-${KANDY.user}`).click()
    await expect(page.getByTestId(`identity-${KANDY.user}`)).toHaveCount(0)
    await page.getByTestId(`user-remove-${CLERK.user}`).click()
    await expect(page.getByTestId(`user-${CLERK.user}`)).toHaveCount(0)
    await expect(new LiveSecurityPage(page).role('KDY', CLERK.user)).toHaveCount(0)
    expect(await roleAt(live.atServer, 'KDY', KANDY.user)).toBeUndefined()
    expect(await roleAt(live.atServer, 'KDY', CLERK.user)).toBeUndefined()
  })
})
