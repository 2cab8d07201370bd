/**
 * The console as a daily tool: export a result (every row) to CSV and JSON, copy a cell and a row, open a
 * plan's fragment in the Catalog, Esc cancels a query, every console reachable from the keyboard with a
 * visible focus, the chosen site / editor text / open tab kept across a reload, and an accessibility check
 * (axe-core) of every console with no serious or critical violation.
 */
import { readFileSync } from 'node:fs'
import AxeBuilder from '@axe-core/playwright'
import { test, expect } from './fixtures'
import { CONSOLES } from './pages/AdminConsole'
import { QueryPage } from './pages/QueryPage'

test.describe('the console as a daily tool', () => {
  test('a result exports whole to CSV and JSON; a cell and a row copy; a plan fragment opens in the Catalog', async ({ admin, page, context }) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'])
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write('SELECT EMPNO, NAME, BRCODE FROM EMPLOYEES ORDER BY EMPNO')
    await q.runAndWait('CMB')
    const total = Number((await q.rowCount().textContent())!.replace(/[^\d]/g, ''))
    expect(total).toBeGreaterThan(10)
    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()])
    const lines = readFileSync((await csv.path())!, 'utf8').trimEnd().split('\r\n')
    expect(lines[0]).toBe('EMPNO,NAME,BRCODE')
    expect(lines).toHaveLength(total + 1)
    const [json] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-json').click()])
    const rows = JSON.parse(readFileSync((await json.path())!, 'utf8')) as { EMPNO: number }[]
    expect(rows).toHaveLength(total)
    expect(rows[0]).toHaveProperty('NAME')

    const cell = q.rows().first().locator('.cell').nth(2)
    await cell.click()
    await page.getByTestId('copy-cell').click()
    await expect(page.getByTestId('copy-status')).toHaveText('cell copied')
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe((await cell.textContent())!.trim())
    await page.getByTestId('copy-row').click()
    expect((await page.evaluate(() => navigator.clipboard.readText())).split('\t')).toHaveLength(3)

    await q.write("SELECT NAME FROM EMPLOYEES WHERE BRCODE = 'KDY'")
    await q.runAndWait('KDY')
    await q.openTab('plan')
    await page.getByTestId('open-catalog-Employees_KDY').first().click()
    await expect(admin.consoleTitle()).toHaveText('Catalog')
    await expect(page.getByTestId('data-browser')).toHaveAttribute('data-fragment', 'Employees_KDY')
  })

  test('Esc cancels a running query', async ({ admin, page }) => {
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write('SELECT a.INVNO, b.INVNO FROM SALES a JOIN SALES b ON (a.INVNO * 7 + b.INVNO) % 997 = 0')
    await q.runAt('KDY')
    await expect(page.getByTestId('query-cancel')).toBeVisible()
    await expect.poll(async () => Number(await page.getByTestId('query-progress').getAttribute('data-progress')), { timeout: 20_000 }).toBeGreaterThan(0)
    await page.keyboard.press('Escape')
    await expect(page.getByTestId('query-cancelled')).toBeVisible()
  })

  test('the chosen site, the editor text and the open tab survive a reload', async ({ admin, page }) => {
    await admin.openConsole('query')
    const q = new QueryPage(page)
    const sql = `SELECT ${Date.now() % 100000} AS KEPT`
    await q.write(sql)
    await q.siteSelect().selectOption('MBI')
    await q.openTab('history')
    await page.reload()
    await expect(admin.consoleTitle()).toHaveText('Query')
    await expect(q.editor()).toHaveText(sql)
    await expect(q.siteSelect()).toHaveValue('MBI')
    await expect(page.getByTestId('query-tab-history')).toHaveAttribute('aria-selected', 'true')
    await q.openTab('results')
  })

  test('every console is reached from the keyboard, with the focus visible', async ({ admin, page }) => {
    await admin.openConsole('topology')
    for (const c of CONSOLES) {
      const link = admin.navLink(c.id)
      // from the top of the page, Tab until the console's link has the focus (bounded)
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur())
      for (let i = 0; i < 80 && !(await link.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press('Tab')
      await expect(link).toBeFocused()
      expect(await link.evaluate((el) => getComputedStyle(el).outlineStyle)).not.toBe('none')
      await page.keyboard.press('Enter')
      await expect(admin.consoleTitle()).toHaveText(c.label)
    }
  })

  test('no console has a serious or critical accessibility violation (axe-core)', async ({ admin, page }) => {
    test.setTimeout(180_000) // one axe pass per console (eleven of them) on a shared machine
    const found: string[] = []
    for (const c of CONSOLES) {
      await admin.openConsole(c.id)
      await expect(page.locator('.console-body').locator('[data-testid]').first()).toBeVisible()
      const r = await new AxeBuilder({ page }).include('body').analyze()
      for (const v of r.violations) if (v.impact === 'serious' || v.impact === 'critical') found.push(`${c.id}: ${v.id} (${v.impact}) ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`)
    }
    expect(found).toEqual([])
  })
})
