/**
 * Query console: write global SQL in the editor, run it at Kandy, see the rows, the request class and
 * the plan diagram with the fragments the optimizer pruned; syntax errors show their position; a long
 * query shows its progress and can be cancelled.
 */
import { test, expect } from './fixtures'
import { QueryPage } from './pages/QueryPage'

test.describe('query console', () => {
  test('runs a global query at Kandy and shows rows and the plan with pruned fragments', async ({ admin, page }) => {
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await expect(q.console()).toBeVisible()
    await q.write("SELECT EMPNO, NAME, SALARY FROM EMPLOYEES WHERE BRCODE = 'MBI' AND SALARY > 1000 ORDER BY EMPNO")
    await q.runAt('KDY')
    await expect(page.getByTestId('query-summary')).toBeVisible()
    await expect(page.getByTestId('query-class')).toHaveText('remote request')
    await expect(page.getByTestId('result-row').first()).toBeVisible()
    expect(Number(await page.getByTestId('result-grid').getAttribute('data-rows'))).toBeGreaterThan(0)
    await page.getByTestId('query-tab-plan').click()
    const diagram = page.getByTestId('plan-diagram')
    await expect(diagram).toBeVisible()
    await expect(diagram).toHaveAttribute('data-pruned', '2')
    await expect(diagram).toHaveAttribute('aria-label', /MBI→KDY/)
    await expect(page.getByTestId('pruned-Employees_CMB')).toContainText('contradicts')
    await expect(page.getByTestId('pruned-Employees_KDY')).toBeVisible()
    await expect(page.getByTestId('plan-step-subquery').first()).toBeVisible()
  })

  test('a distributed aggregate shows its data flows; a syntax error shows its position', async ({ admin, page }) => {
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write('SELECT BRCODE, SUM(AMOUNT) FROM SALES GROUP BY BRCODE ORDER BY BRCODE')
    await q.runAt('KDY')
    await expect(page.getByTestId('query-class')).toHaveText('distributed request')
    await expect(page.getByTestId('result-row')).toHaveCount(3)
    await q.write('SELECT * FROM SALES WHER INVNO = 1')
    await page.getByTestId('query-run').click()
    const err = page.getByTestId('query-error')
    await expect(err).toHaveAttribute('data-code', 'SQL_ERROR')
    await expect(err).toHaveAttribute('data-position', /\d+/)
    await expect(page.getByTestId('query-error-caret')).toContainText('^')
    await page.getByTestId('query-tab-history').click()
    await page.getByTestId('query-history-search').fill('GROUP BY')
    await expect(page.getByTestId('query-history-row')).toHaveCount(1)
  })

  test('a long query shows progress and a Cancel button; cancelling it says so and the engine keeps answering', async ({ admin, page }) => {
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await expect(page.getByTestId('query-cancel')).toHaveCount(0)
    // a self-join of all sales checked pair by pair at the assembly site: far longer than the test
    await q.write('SELECT a.INVNO, b.INVNO FROM SALES a JOIN SALES b ON (a.INVNO * 7 + b.INVNO) % 997 = 0')
    await q.runAt('KDY')
    const cancel = page.getByTestId('query-cancel')
    await expect(cancel).toBeVisible()
    await expect(page.getByTestId('query-run')).toHaveText('Running…')
    await expect(page.getByTestId('query-progress')).toBeVisible()
    await expect.poll(async () => Number(await page.getByTestId('query-progress').getAttribute('data-progress')), { timeout: 20_000 }).toBeGreaterThan(0)
    await cancel.click()
    const done = page.getByTestId('query-cancelled')
    await expect(done).toBeVisible({ timeout: 5_000 })
    await expect(done).toContainText(/cancelled after \d+ of \d+ steps/)
    await expect(page.getByTestId('query-cancel')).toHaveCount(0)
    await expect(page.getByTestId('query-error')).toHaveCount(0)
    // the engine still answers
    await q.write("SELECT NAME FROM EMPLOYEES WHERE BRCODE = 'KDY' ORDER BY EMPNO LIMIT 3")
    await q.runAt('KDY')
    await expect(page.getByTestId('result-row')).toHaveCount(3)
    await expect(page.getByTestId('query-cancelled')).toHaveCount(0)
  })

  test('EXPLAIN shows the plan with its estimates and says the query was not run', async ({ admin, page }) => {
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write('SELECT BRCODE, SUM(AMOUNT) FROM SALES GROUP BY BRCODE')
    await q.page.getByTestId('query-site').selectOption('KDY')
    await q.explain()
    await expect(page.getByTestId('query-explained')).toContainText('not run: times, rows and bytes are estimates')
    await expect(page.getByTestId('query-class')).toHaveText('distributed request')
    // the diagram draws the planned flows with their estimated bytes
    await expect(q.planDiagram()).toHaveAttribute('aria-label', /flows (\w+→\w+ [1-9]\d* B(, )?)+$/)
    await expect(page.getByTestId('plan-step-subquery').first().locator('td.num').first()).toContainText('/ —')
    await q.openTab('explain')
    await expect(page.getByTestId('query-explain-text')).toContainText('estimates (EXPLAIN does not run the query)')
    await expect(page.getByTestId('query-explain-text')).toContainText('partial-aggregation')
  })
})
