/**
 * What a first-time administrator tripped over (issue 16), each replayed as the administrator acts:
 * a failed statement in a transaction, a new error under an old result, a hidden resize of the plan chart,
 * a silent fallback to a copy, a paused clock, a recovery that leaves the server down, a lost host,
 * EXPLAIN's summary and duplicated join, and the smaller ones (history time, the site picker while running
 * as a session, the login's home site, the Events console's coverage).
 */
import { test, expect } from './fixtures'
import { QueryPage } from './pages/QueryPage'
import { TransactionsPage } from './pages/TransactionsPage'
import { ReplicationPage } from './pages/ReplicationPage'
import { SecurityPage } from './pages/SecurityPage'

const suffix = `${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 1e4)}`

test.describe('issue 16 defects', () => {
  test('1. a statement that fails inside a transaction aborts it visibly, says why, and Begin is ready again', async ({ admin, page }) => {
    await admin.openConsole('transactions')
    const t = new TransactionsPage(page)
    const gid = await t.begin('CMB')
    await t.statement('CMB', "UPDATE EMPLOYEES SET SALARY = SALARY * 1.1 WHERE BRCODE = 'KDY'")
    await expect(t.results().last()).toHaveClass(/bad/)
    await expect(t.outcome()).toContainText('ABORT')
    await expect(t.outcome()).toContainText(gid)
    await expect(t.beginButton()).toBeEnabled()
    await expect(page.getByTestId('txn-commit')).toBeDisabled()
    // the reason stays on screen through the console's refreshes (one per second)
    await expect(page.getByTestId('txn-row').filter({ hasText: gid })).toContainText('ABORT')
    await expect(t.outcome()).toContainText('ABORT')
    const next = await t.begin('CMB')
    expect(next).not.toBe(gid)
    await t.abort()
    await expect(t.outcome()).toContainText('ABORT')
  })

  test('2. a new run clears the previous result: an error is never shown over old rows', async ({ admin, page }) => {
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write("SELECT EMPNO FROM EMPLOYEES WHERE BRCODE = 'KDY'")
    await q.runAndWait('KDY')
    await expect(q.rowCount()).toContainText('rows')
    await q.write('SELECT * FROM NO_SUCH_TABLE')
    await q.run()
    await expect(q.error()).toBeVisible()
    await expect(q.summary()).toHaveCount(0)
    await expect(q.grid()).toHaveCount(0)
  })

  test('3. the plan chart survives a resize while its console is hidden, and fits its box when shown', async ({ admin, page }) => {
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write('SELECT BRCODE, COUNT(*) FROM SALES GROUP BY BRCODE')
    await q.runAndWait('KDY')
    await q.openTab('plan')
    await expect(q.planDiagram().locator('canvas')).toBeVisible()
    await admin.openConsole('topology')
    await page.setViewportSize({ width: 1100, height: 800 })
    await page.setViewportSize({ width: 1600, height: 900 })
    await admin.openConsole('query')
    const canvas = q.planDiagram().locator('canvas').first()
    await expect(canvas).toBeVisible()
    await expect.poll(async () => {
      const box = await q.planDiagram().boundingBox()
      const c = await canvas.boundingBox()
      return box && c ? Math.abs(box.width - c.width) : 9999
    }).toBeLessThan(4)
  })

  test('4. with KDY down a global query says which fragment came from a copy, from where, how stale; the plan draws KDY down', async ({ admin, page }) => {
    await admin.failSite('KDY')
    try {
      await admin.openConsole('query')
      const q = new QueryPage(page)
      await q.write("SELECT COUNT(*) FROM EMPLOYEES WHERE BRCODE = 'KDY'")
      await q.runAndWait('CMB')
      await expect(q.rowCount()).toContainText('1 rows')
      const fb = q.fallback()
      await expect(fb).toBeVisible()
      await expect(fb.getByTestId('fallback-Employees_KDY')).toContainText('CMB')
      await expect(fb.getByTestId('fallback-Employees_KDY')).toContainText('main repository')
      await expect(fb.getByTestId('fallback-Employees_KDY')).toContainText(/stale|up to date|behind/)
      await q.openTab('plan')
      await expect(q.planDiagram()).toHaveAttribute('data-down', 'KDY')
      await expect(q.planDiagram()).toHaveAttribute('aria-label', /KDY down/)
    } finally {
      if (await admin.healthLight('KDY').getAttribute('data-health') !== 'ok') await admin.restoreSite('KDY')
    }
  })

  test('5. the status bar says loudly when the clock is paused, and offers 1×', async ({ admin, page }) => {
    await admin.setSpeed(0)
    const paused = page.getByTestId('clock-paused')
    await expect(paused).toBeVisible()
    await expect(paused).toContainText(/paused/i)
    await paused.getByRole('button').click()
    await expect(page.getByTestId('speed-1')).toHaveAttribute('aria-pressed', 'true')
    await expect(paused).toHaveCount(0)
    await admin.setSpeed(0)
    await expect(paused).toBeVisible()
  })

  test('6. a recovery from backup ends with the site serving, or names the step left; Replication shows every server', async ({ admin, page }) => {
    const r = new ReplicationPage(page)
    try {
      await admin.failSite('KDY')
      await admin.openConsole('replication')
      await expect(r.serverState('KDY.primary')).toHaveAttribute('data-status', 'down')
      await r.recover('KDY', 'backup')
      await expect(r.result()).toContainText('KDY.primary reloaded')
      await expect(r.result()).toContainText(/still down.*restore/i)
      await r.nextStep('KDY').click()
      await expect(admin.healthLight('KDY')).toHaveAttribute('data-health', 'ok')
      await expect(r.serverState('KDY.primary')).toHaveAttribute('data-status', 'up')
      await expect(r.nextStep('KDY')).toHaveCount(0)
      // a primary alone lost its disk: recovery brings it back serving, nothing left to do
      await admin.openConsole('topology')
      await admin.topology.openSite('KDY')
      await page.getByTestId('action-fail-server-KDY.primary').click()
      await admin.openConsole('replication')
      await expect(r.serverState('KDY.primary')).toHaveAttribute('data-status', 'down')
      await r.recover('KDY', 'backup')
      await expect(r.result()).toContainText('serving')
      await expect(r.serverState('KDY.primary')).toHaveAttribute('data-status', 'up')
    } finally {
      if (await admin.healthLight('KDY').getAttribute('data-health') !== 'ok') await admin.restoreSite('KDY')
    }
  })

  test('7. when the host is lost a pending call fails clearly, the lights go grey, and all resumes when it is back', async ({ admin, page, consoleErrors }) => {
    consoleErrors.allow(/WebSocket|ERR_CONNECTION|net::/)
    let down = false
    const live: { close(): Promise<void> }[] = []
    await page.routeWebSocket(/\/ipc/, (ws) => {
      if (down) { void ws.close(); return }
      ws.connectToServer()
      live.push(ws)
    })
    await admin.open()
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write("SELECT NAME FROM EMPLOYEES WHERE BRCODE = 'KDY' LIMIT 3")
    down = true
    for (const ws of live.splice(0)) await ws.close()
    await expect(page.getByTestId('connection-banner')).toBeVisible()
    await q.run()
    await expect(q.error()).toHaveAttribute('data-code', 'UNREACHABLE', { timeout: 5_000 })
    await expect(page.getByTestId('query-run')).toHaveText('Run')
    for (const s of ['CMB', 'MBI', 'KDY']) await expect(admin.healthLight(s)).toHaveAttribute('data-health', 'unknown')
    down = false
    await expect(page.getByTestId('connection-banner')).toHaveCount(0, { timeout: 15_000 })
    for (const s of ['CMB', 'MBI', 'KDY']) await expect(admin.healthLight(s)).toHaveAttribute('data-health', 'ok')
    await q.runAndWait('KDY')
    await expect(q.rows()).toHaveCount(3)
  })

  test('8. EXPLAIN shows a plan, not "N rows" of text, and lists each join once', async ({ admin, page }) => {
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write("SELECT e.NAME, s.AMOUNT FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO WHERE s.BRCODE = 'MBI'")
    await q.page.getByTestId('query-site').selectOption('KDY')
    await q.explain()
    await expect(page.getByTestId('query-explained')).toBeVisible()
    await expect(q.rowCount()).toHaveCount(0)
    await expect(page.getByTestId('plan-joins').locator('tbody tr')).toHaveCount(1)
  })

  test('10a. Query History shows site time, like every other console', async ({ admin, page }) => {
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write(`SELECT ${Date.now() % 100000} AS MARK`)
    await q.runAndWait('CMB')
    await q.openTab('history')
    const clockDate = (await admin.clock().textContent())!.match(/\d{4}-\d{2}-\d{2}/)![0]
    await expect(q.historyRows().first().locator('td').first()).toContainText(clockDate)
  })

  test('10b. a login needs no home site picked by hand; running as a session fixes the site picker', async ({ admin, page }) => {
    const sec = new SecurityPage(page)
    const user = `mgr${suffix}`
    await admin.openConsole('security')
    await sec.addUser('KDY', user, 'kandy-manager-2026', 'CONFIDENTIAL')
    await expect(sec.addResult()).toContainText(`${user} added at KDY`)
    await sec.login('CMB', user, 'kandy-manager-2026')
    await expect(sec.loginError()).toHaveCount(0)
    await expect(sec.loginResult()).toContainText(`${user} logged in at CMB`)
    const id = await sec.sessionIdOf(user)
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await page.getByTestId('query-session').selectOption(id)
    await expect(q.siteSelect()).toHaveValue('CMB')
    await expect(q.siteSelect()).toBeDisabled()
    await page.getByTestId('query-session').selectOption('')
    await expect(q.siteSelect()).toBeEnabled()
    // the login is in the Events console
    await admin.openConsole('events')
    await page.getByTestId('events-filter-text').fill(user)
    await expect(page.getByTestId('event-row').first()).toContainText(`${user} logged in at CMB`)
  })

  test('10c. the Events console logs commits and ticket decisions, not only failures', async ({ admin, page }) => {
    await admin.openConsole('transactions')
    const t = new TransactionsPage(page)
    const gid = await t.begin('KDY')
    await t.statement('KDY', 'UPDATE Stock_KDY SET QTY = 5 WHERE ITEMNO = 2') // matches no row: a statement that succeeds and changes nothing
    await t.commit()
    await expect(t.outcome()).toContainText('COMMIT')
    await admin.openConsole('tickets')
    await page.getByTestId('ticket-new').click()
    const ticket = await page.getByTestId('ticket-input').inputValue()
    await page.getByTestId('ticket-submit').click()
    await expect(page.getByTestId('ticket-answer').first()).toBeVisible()
    await admin.openConsole('events')
    await page.getByTestId('events-filter-text').fill(gid)
    await expect(page.getByTestId('event-row').first()).toContainText(`${gid} committed`)
    await page.getByTestId('events-filter-text').fill(`ticket ${ticket}`)
    await expect(page.getByTestId('event-row').first()).toContainText(/accepted|rejected/)
  })
})
