/**
 * Security console and multi-level security: add a user at Kandy, a wrong password is refused (no session),
 * the right one opens an INTERNAL session; in the Query console, running as that session a `*` leaves the
 * SECRET salary out (and says so) and naming it is refused (no read up), which the audit log records;
 * logging out closes the session. A login at another site is checked by the home site over the WAN.
 * The host is shared by every spec, so user names carry a per-run suffix.
 */
import { test, expect } from './fixtures'
import { QueryPage } from './pages/QueryPage'
import { SecurityPage } from './pages/SecurityPage'

const suffix = `${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 1e4)}`
const PASSWORD = 'kandy-clerk-2026'

test.describe('security console', () => {
  test('a Kandy clerk logs in at INTERNAL: SALARY is hidden from *, refused by name and audited; logout closes the session', async ({ admin, page }) => {
    const sec = new SecurityPage(page)
    const clerk = `clerk${suffix}`
    await admin.openConsole('security')
    await expect(sec.console()).toBeVisible()
    // the firewall and encryption panels are still there, and the labels are shown
    await expect(page.getByTestId('firewall-KDY')).toContainText('enabled')
    await expect(sec.labels()).toContainText('SALARY')

    await sec.addUser('KDY', clerk, PASSWORD, 'INTERNAL')
    await expect(sec.addResult()).toContainText(`${clerk} added at KDY`)
    await expect(sec.userRow(clerk)).toContainText('KDY')
    await expect(sec.userRow(clerk)).toContainText('INTERNAL')
    await expect(page.getByTestId('sec-add-password')).toHaveAttribute('type', 'password')

    // a wrong password: refused, no session
    await sec.login('KDY', clerk, 'not-the-password')
    await expect(sec.loginError()).toContainText('wrong user name or password')
    await expect(sec.sessionRows(clerk)).toHaveCount(0)

    // the right one opens a session at Kandy, at the user's clearance
    await sec.login('KDY', clerk, PASSWORD)
    await expect(sec.loginError()).toHaveCount(0)
    await expect(sec.loginResult()).toContainText(`${clerk} logged in at KDY`)
    const id = await sec.sessionIdOf(clerk)
    await expect(sec.session(id)).toBeVisible()
    await expect(sec.session(id)).toContainText('INTERNAL')
    await expect(page.getByTestId('sec-login-password')).toHaveValue('')

    // the Query console runs as that session
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await page.getByTestId('query-session').selectOption(id)
    await expect(page.getByTestId('query-site')).toHaveValue('KDY')
    await q.write('SELECT * FROM EMPLOYEES')
    await q.run()
    await expect(page.getByTestId('query-summary')).toBeVisible()
    await expect(page.getByTestId('query-runas')).toContainText(`as ${clerk} · INTERNAL session`)
    await expect(page.getByTestId('result-row').first()).toBeVisible()
    const headers = await q.headers().allTextContents()
    expect(headers).toContain('NAME')
    expect(headers).not.toContain('SALARY')
    await expect(page.getByTestId('query-hidden')).toContainText('hidden above INTERNAL: SALARY')

    await q.write('SELECT NAME, SALARY FROM EMPLOYEES')
    await q.run()
    const err = page.getByTestId('query-error')
    await expect(err).toHaveAttribute('data-code', 'ACCESS_DENIED')
    await expect(err).toContainText('no read up')
    await expect(err).toContainText('EMPLOYEES.SALARY is SECRET')

    // the operator (no session) is not restricted
    await page.getByTestId('query-session').selectOption('')
    await q.run()
    await expect(page.getByTestId('query-error')).toHaveCount(0)
    await expect(page.getByTestId('query-runas')).toContainText('operator')
    await expect(q.headers()).toContainText(['#', 'NAME', 'SALARY'])

    // a transaction begun as the session: its coordinator is the session's site, and a write above the clearance is refused
    await admin.openConsole('transactions')
    await page.getByTestId('txn-run-as').selectOption(id)
    await expect(page.getByTestId('txn-origin')).toHaveValue('KDY')
    await page.getByTestId('txn-begin').click()
    await expect(page.getByTestId('txn-gid')).toHaveText(/^KDY-\d+$/)
    await page.getByTestId('txn-stmt-site').selectOption('')
    await page.getByTestId('txn-stmt-sql').fill("UPDATE EMPLOYEES SET SALARY = 1 WHERE BRCODE = 'KDY'")
    await page.getByTestId('txn-exec').click()
    await expect(page.getByTestId('txn-stmt-result').last()).toContainText(`${clerk} is cleared to INTERNAL; EMPLOYEES.SALARY is SECRET`)
    await page.getByTestId('txn-abort').click()
    await expect(page.getByTestId('txn-gid')).toHaveText('—')
    await page.getByTestId('txn-run-as').selectOption('')

    // the audit log has the refusals: the wrong password and the read up
    await admin.openConsole('security')
    await expect(sec.auditRows(clerk, true).filter({ hasText: 'no read up' })).toHaveCount(1)
    await expect(sec.auditRows(clerk, true).filter({ hasText: 'wrong user name or password' })).toHaveCount(1)
    await expect(sec.auditRows(clerk, true).first()).toContainText('refused')

    // logging out closes the session
    await sec.logout(id)
    await expect(sec.session(id)).toHaveCount(0)
    await expect(sec.sessionRows(clerk)).toHaveCount(0)
    await expect(sec.auditRows(clerk, false).filter({ hasText: 'logout' })).toHaveCount(1)
  })

  test('a login at another site is checked by the home site over the encrypted WAN; bad input is shown by its form', async ({ admin, page }) => {
    const sec = new SecurityPage(page)
    const manager = `mgr${suffix}`
    await admin.openConsole('security')
    await sec.addUser('KDY', manager, PASSWORD, 'CONFIDENTIAL')
    await expect(sec.userRow(manager)).toContainText('CONFIDENTIAL')
    // the same name again is refused, next to the add form
    await sec.addUser('CMB', manager, PASSWORD, 'PUBLIC')
    await expect(sec.addError()).toContainText('already exists')
    // too short a password
    await sec.addUser('CMB', `x${manager}`, 'short', 'PUBLIC')
    await expect(sec.addError()).toContainText('at least 8 characters')

    await sec.login('CMB', manager, PASSWORD, { home: 'KDY', level: 'PUBLIC' })
    const id = await sec.sessionIdOf(manager)
    await expect(sec.session(id)).toContainText('checked by KDY')
    await expect(sec.session(id)).toContainText('PUBLIC')
    await expect(sec.session(id)).toContainText('CONFIDENTIAL')
    // the operator resets the password: the session ends, the old password no longer works, the new one does
    await sec.resetPassword(manager, 'a-new-password-1')
    await expect(page.getByTestId('sec-reset-result')).toContainText(`new password set for ${manager} at KDY`)
    await expect(sec.sessionRows(manager)).toHaveCount(0)
    await sec.login('KDY', manager, PASSWORD)
    await expect(page.getByTestId('sec-login-error')).toContainText('wrong user name or password')
    await sec.login('KDY', manager, 'a-new-password-1')
    const id2 = await sec.sessionIdOf(manager)
    await sec.logout(id2)
    await expect(sec.sessionRows(manager)).toHaveCount(0)
    await page.getByTestId(`user-remove-${manager}`).click()
    await expect(sec.userRow(manager)).toHaveCount(0)
  })
})
