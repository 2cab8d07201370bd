/**
 * The Compare console (issue 14): switch the live cluster's design (the status bar shows it), run a short
 * comparison from the console and see both designs' series on every chart, open one of its requests in the Query
 * console, and cancel a long comparison. A host of its own: switching the design re-initialises the cluster.
 */
import { test as base, expect } from './console-errors'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli, startHost, stopHost, type IddbHost } from './fixtures'
import { AdminConsole } from './pages/AdminConsole'
import { LoginPage, adminCredentials } from './pages/LoginPage'
import { COMPARE_CHARTS, ComparePage } from './pages/ComparePage'

const test = base.extend<{ admin: AdminConsole }, { iddb: IddbHost }>({
  iddb: [async ({}, use) => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'iddb-e2e-compare-')), 'data')
    runCli(['init', '--data', dataDir, '--seed', '3', '--sales', '2000'])
    const { url, child } = await startHost(dataDir)
    try { await use({ url, dataDir, cli: runCli }) } finally { await stopHost(child, dataDir) }
  }, { scope: 'worker', timeout: 180_000 }],
  admin: async ({ page, iddb }, use) => {
    await new LoginPage(page).login(iddb.url, adminCredentials())
    const admin = new AdminConsole(page, iddb.url)
    await admin.open()
    await use(admin)
  },
})

test.describe('compare console', () => {
  test('switching the design re-initialises the cluster and the status bar shows it', async ({ admin, page }) => {
    test.setTimeout(180_000)
    const c = new ComparePage(page)
    await expect(c.statusDesign()).toHaveAttribute('data-design', 'distributed')
    await admin.openConsole('compare')
    await c.switchDesign('legacy')
    // the cluster is new: console sessions end, the identity logs in again
    const login = new LoginPage(page)
    await login.submit(adminCredentials())
    await expect(login.badge()).toHaveAttribute('data-user', adminCredentials().user)
    await expect(c.statusDesign()).toHaveAttribute('data-design', 'legacy', { timeout: 60_000 })
    await admin.openConsole('compare')
    await expect(page.getByTestId('design-current')).toHaveText('legacy')
    await c.switchDesign('distributed')
    await login.submit(adminCredentials())
    await expect(c.statusDesign()).toHaveAttribute('data-design', 'distributed', { timeout: 60_000 })
  })

  test('a short comparison draws both designs on every chart; a request opens in the Query console, a sale with its message sequence in Transactions', async ({ admin, page }) => {
    test.setTimeout(180_000)
    await admin.openConsole('compare')
    const c = new ComparePage(page)
    await c.setDay(13, 15)
    await c.setOutage('hq', true, 13.5, 14)
    await c.setOutage('kdy', true, 14.25, 14.5)
    await c.runAndWait()
    for (const id of COMPARE_CHARTS) {
      const s = await c.series(id)
      expect(s.some((n) => n.startsWith('distributed')), `${id}: ${s.join(', ')}`).toBe(true)
      expect(s.some((n) => n.startsWith('legacy')), `${id}: ${s.join(', ')}`).toBe(true)
      await expect(c.explanation(id)).not.toBeEmpty()
    }
    await c.branchTab('KDY').click()
    expect((await c.series('wan')).some((n) => n.includes('KDY'))).toBe(true)
    await expect(c.requests().first()).toBeVisible()
    const open = page.getByTestId('request-open-query').first()
    await open.click()
    await expect(admin.consoleTitle()).toHaveText('Query')
    await expect(page.getByTestId('compare-origin')).toContainText('From the comparison')
    const sql = (await page.getByTestId('origin-sql').textContent())!.trim()
    await expect(page.locator('.cm-content')).toContainText(sql.split('\n')[0].slice(0, 30))

    // a served POS sale of the distributed run opens in the Transactions console with its message sequence
    await admin.openConsole('compare')
    await page.getByTestId('requests-design').selectOption('distributed')
    await page.getByTestId('requests-kind').selectOption('pos_sale')
    await page.getByTestId('request-open-txn').first().click()
    await expect(admin.consoleTitle()).toHaveText('Transactions')
    await expect(page.getByTestId('origin-design')).toHaveText('distributed')
    const seq = page.getByTestId('origin-sequence')
    await expect(seq).toBeVisible()
    await expect(seq.locator('[data-testid^="seq-lane-"]').first()).toBeAttached()
  })

  test('a long comparison can be cancelled', async ({ admin, page }) => {
    await admin.openConsole('compare')
    const c = new ComparePage(page)
    await c.setDay(8, 18)
    await c.setRateScale(5)
    await c.runButton().click()
    await expect(c.progress()).toBeVisible()
    await page.getByTestId('compare-cancel').click()
    await expect(c.cancelled()).toBeVisible({ timeout: 30_000 })
    await expect(c.runButton()).toBeEnabled()
  })
})
