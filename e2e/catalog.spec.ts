import { testWithData as test, expect } from './fixtures'
import { SecurityPage } from './pages/SecurityPage'

/** `iddb sql --json` output → first cell of the first row. */
function scalar(json: string): number {
  const out = JSON.parse(json) as { rows?: unknown[][] } | unknown[][] | Record<string, unknown>[]
  const rows = Array.isArray(out) ? out : (out as { rows: unknown[][] }).rows
  const first = rows[0] as unknown[] | Record<string, unknown>
  return Number(Array.isArray(first) ? first[0] : Object.values(first)[0])
}

test.describe('catalog console', () => {
  test.beforeEach(async ({ admin }) => {
    await admin.openConsole('catalog')
  })

  test('shows the fragments at their sites in the allocation map', async ({ admin }) => {
    const c = admin.catalog
    await expect(c.allocationMap()).toBeVisible()
    for (const s of ['CMB', 'MBI', 'KDY']) {
      await expect(c.fragmentAt(s, 'ITEMS')).toBeVisible()
      await expect(c.fragmentAt(s, `Employees_${s}`)).toContainText(`BRCODE = '${s}'`)
      await expect(c.fragmentAt(s, `Sales_${s}`)).toBeVisible()
    }
    // The spec's stock allocation: Stock_CMB at CMB with its vertical fragment at MBI; Stock_MBI_LCL at MBI, its copy Stock_MBI at CMB; Stock_KDY at KDY
    await expect(c.fragmentAt('CMB', 'Stock_CMB')).toBeVisible()
    await expect(c.fragmentAt('MBI', 'Stocks_CMB_FRG')).toContainText('vertical')
    await expect(c.fragmentAt('MBI', 'Stock_MBI_LCL')).toBeVisible()
    await expect(c.fragmentAt('CMB', 'Stock_MBI')).toContainText('copy')
    await expect(c.fragmentAt('KDY', 'Stock_KDY')).toBeVisible()
    await expect(c.fragmentAt('KDY', 'Stock_CMB')).toHaveCount(0)
    // replica control: ITEMS is primary copy at CMB; Stocks_CMB_FRG is derived, read-only except through Stock_CMB
    await expect(admin.page.getByTestId('replica-control-ITEMS')).toContainText('primary copy')
    await expect(admin.page.getByTestId('replica-control-ITEMS')).toContainText('CMB (primary copy)')
    await expect(admin.page.getByTestId('replica-control-Stocks_CMB_FRG')).toContainText('Stock_CMB@CMB')
  })

  test('browses a fragment and its row count equals what iddb sql returns', async ({ admin, iddb }) => {
    const c = admin.catalog
    await c.browse('CMB', 'Sales_CMB')
    const shown = await c.browsedTotal()
    expect(shown).toBeGreaterThan(0)
    const counted = scalar(iddb.cli(['sql', '--data', iddb.dataDir!, '--site', 'CMB', '--json', 'SELECT COUNT(*) AS N FROM Sales_CMB']))
    expect(shown).toBe(counted)
    // The map's NROWS agrees too
    await c.openTab('allocation')
    await expect(c.fragmentAt('CMB', 'Sales_CMB')).toHaveAttribute('data-rows', String(counted))
    // Rows are real and scroll: the first and, after scrolling to the end, the last row show up
    await c.browse('KDY', 'Sales_KDY')
    await expect(c.browserRows().first()).toContainText('KDY')
    const total = await c.browsedTotal()
    await c.scrollBrowserTo(1)
    await expect(admin.page.locator(`[data-testid="browser-row"][data-row-index="${total - 1}"]`)).toContainText('KDY')
  })

  test('shows the global schema, each site\'s local catalog and passing fragmentation checks', async ({ admin, page }) => {
    const c = admin.catalog
    await c.openTab('global')
    await expect(page.getByTestId('global-views')).toContainText('V_BRANCH_REVENUE')
    await expect(page.getByTestId('global-tables')).toContainText('EMPLOYEES')
    await c.openTab('local')
    await page.getByTestId('local-site-KDY').click()
    await expect(page.getByTestId('lcat-tables')).toContainText('Sales_KDY')
    await expect(page.getByTestId('lcat-tables')).not.toContainText('Sales_CMB')
    await expect(page.getByTestId('lcat-columns')).toContainText('HKEY')
    await c.runChecks()
    await expect(page.getByTestId('checks-summary')).toHaveAttribute('data-ok', 'true')
    await expect(page.getByTestId('check-SALES-disjointness')).toHaveAttribute('data-ok', 'true')
  })
})

test.describe('catalog console: regenerating data', () => {
  test('a generation job shows its progress in the jobs indicator and the fragments follow the new data', async ({ admin, page, iddb }) => {
    await admin.openConsole('catalog')
    const c = admin.catalog
    await c.openTab('allocation')
    await page.getByTestId('generate-sales').fill('5000')
    await page.getByTestId('generate-data').click()
    // The job is listed in the status bar's jobs indicator and finishes
    await page.getByTestId('jobs-indicator').getByRole('button').click()
    const job = page.getByTestId('jobs-popup').locator('[data-status]').first()
    await expect(job).toContainText('generate')
    await expect(job).toHaveAttribute('data-status', 'done', { timeout: 120_000 })
    // Horizontal fragments of SALES now hold exactly the 5000 generated rows between them
    const rows = async (s: string) => Number(await c.fragmentAt(s, `Sales_${s}`).getAttribute('data-rows'))
    await expect.poll(async () => (await rows('CMB')) + (await rows('MBI')) + (await rows('KDY')), { timeout: 30_000 }).toBe(5000)
    const counted = JSON.parse(iddb.cli(['sql', '--data', iddb.dataDir!, '--site', 'KDY', '--json', 'SELECT COUNT(*) FROM Sales_KDY'])).rows[0][0]
    expect(await rows('KDY')).toBe(counted)
  })
})

test.describe('catalog console: read as a session', () => {
  test('an INTERNAL session browses staff without SALARY, and the local catalog hides its key range', async ({ admin, page }) => {
    const sec = new SecurityPage(page)
    const clerk = `rd${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 1e4)}`
    await admin.openConsole('security')
    await sec.addUser('CMB', clerk, 'colombo-clerk-1', 'INTERNAL')
    await expect(sec.addResult()).toContainText(`${clerk} added at CMB`)
    await sec.login('CMB', clerk, 'colombo-clerk-1')
    await expect(sec.loginResult()).toContainText(`${clerk} logged in at CMB`)
    await admin.openConsole('catalog')
    const c = admin.catalog
    await c.browse('CMB', 'Employees_CMB')
    await expect(c.browserColumns().filter({ hasText: 'SALARY' })).toHaveCount(1) // the operator is trusted
    await c.readAs(clerk)
    await expect(c.browserHidden()).toContainText('SALARY')
    await expect(c.browserColumns().filter({ hasText: 'SALARY' })).toHaveCount(0)
    await expect(c.browserColumns().filter({ hasText: 'EMPNO' })).toHaveCount(1)
    await expect(c.browserRows().first()).toContainText('CMB')
    await c.openTab('local')
    const salary = page.getByTestId('lcat-columns').locator('tr', { hasText: 'Employees_CMB' }).filter({ hasText: 'SALARY' })
    await expect(salary).toHaveCount(1)
    await expect(salary.locator('td').nth(4)).toHaveText('NULL')
    await c.readAs(null)
    await expect(salary.locator('td').nth(4)).not.toHaveText('NULL')
  })
})
