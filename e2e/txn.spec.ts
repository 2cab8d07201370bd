/**
 * Transactions and Deadlocks consoles: run a two-site transaction by hand (begin at CMB, statements at
 * CMB and KDY, commit), see its 2PC sequence diagram; run global SQL by hand (localized to the sites); build a cross-site deadlock with one click and see
 * it found in the global wait-for graph, its victim and its record.
 */
import { test, expect } from './fixtures'
import { QueryPage } from './pages/QueryPage'
import { TransactionsPage } from './pages/TransactionsPage'
import { TopologyPage } from './pages/TopologyPage'

test.describe('transactions console', () => {
  test('a two-site transaction commits with distributed 2PC and its timeline shows PREPARE and the votes', async ({ admin, page }) => {
    await admin.openConsole('transactions')
    const t = new TransactionsPage(page)
    await expect(t.console()).toBeVisible()
    await page.getByTestId('txn-protocol').selectOption('distributed')
    await page.getByTestId('txn-origin').selectOption('CMB')
    await page.getByTestId('txn-begin').click()
    await expect(page.getByTestId('txn-gid')).toHaveText(/^CMB-\d+$/)
    await t.statement('CMB', 'UPDATE Stock_CMB SET QTY = QTY - 1 WHERE ITEMNO = 3')
    await expect(page.getByTestId('txn-stmt-result')).toHaveCount(1)
    await t.statement('KDY', 'UPDATE Stock_KDY SET QTY = QTY + 1 WHERE ITEMNO = 3')
    await expect(page.getByTestId('txn-stmt-result')).toHaveCount(2)
    await expect(page.getByTestId('txn-stmt-result').nth(1)).not.toHaveClass(/bad/)
    await page.getByTestId('txn-commit').click()
    await expect(page.getByTestId('txn-outcome')).toContainText('COMMIT')
    const seq = page.getByTestId('txn-sequence')
    await expect(seq).toBeVisible()
    await expect(seq.getByTestId('seq-msg-PREPARE').first()).toBeAttached()
    await expect(seq.getByTestId('seq-msg-PEERVOTE').first()).toBeAttached()
    await expect(page.getByTestId('txn-row').first()).toContainText('COMMIT')
  })

  test('global SQL by hand: begin at KDY, statements on global names are localized to their sites, commit', async ({ admin, page }) => {
    await admin.openConsole('transactions')
    const t = new TransactionsPage(page)
    await page.getByTestId('txn-origin').selectOption('KDY')
    await page.getByTestId('txn-begin').click()
    await expect(page.getByTestId('txn-gid')).toHaveText(/^KDY-\d+$/)
    const results = page.getByTestId('txn-stmt-result')
    const before = await results.count()
    await t.statement('', "SELECT EMPNO, SALARY FROM EMPLOYEES WHERE BRCODE = 'KDY'")
    await expect(results).toHaveCount(before + 1)
    await expect(results.nth(before)).not.toHaveClass(/bad/)
    await expect(results.nth(before).getByTestId('txn-stmt-op')).toHaveCount(1)
    await expect(results.nth(before).getByTestId('txn-stmt-op')).toContainText(/KDY · Employees_KDY: SELECT/i)
    await t.statement('', "UPDATE EMPLOYEES SET SALARY = SALARY * 1.1 WHERE BRCODE <> 'MBI'")
    await expect(results).toHaveCount(before + 2)
    await expect(results.nth(before + 1)).not.toHaveClass(/bad/)
    await expect(results.nth(before + 1).getByTestId('txn-stmt-op')).toHaveCount(2)
    await expect(results.nth(before + 1)).toContainText('row(s) changed')
    // what cannot be done safely is refused, naming the construct (the transaction goes on)
    await t.statement('', "UPDATE EMPLOYEES SET EMPNO = EMPNO + 100000 WHERE BRCODE = 'KDY'")
    await expect(results).toHaveCount(before + 3)
    await expect(results.nth(before + 2)).toHaveClass(/bad/)
    await expect(results.nth(before + 2)).toContainText('the key of EMPLOYEES')
    await page.getByTestId('txn-commit').click()
    await expect(page.getByTestId('txn-outcome')).toContainText('COMMIT')
    const row = page.getByTestId('txn-row').first()
    await expect(row).toContainText(/KDY-\d+/)
    await expect(row).toContainText('CMB COMMIT')
    await expect(row).toContainText('KDY COMMIT')
    // one statement spanned CMB and KDY: the transaction is a distributed request
    await expect(row.getByTestId('txn-class')).toHaveText('distributed request')
  })

  test('an aborted transaction leaves no trace and the in-doubt panel is empty', async ({ admin, page }) => {
    const q = new QueryPage(page)
    const cells = async (sql: string): Promise<string[]> => {
      await admin.openConsole('query')
      await q.write(sql)
      await q.runAndWait('KDY')
      await expect(q.rows()).toHaveCount(1)
      return (await q.rows().first().locator('.cell').allTextContents()).slice(1).map((x) => x.trim())
    }
    // a stock line at Kandy that has something to lose
    const [item] = await cells('SELECT ITEMNO, QTY FROM Stock_KDY WHERE QTY > 0 ORDER BY ITEMNO LIMIT 1')
    const stock = `SELECT ITEMNO, SUM(QTY) AS QTY, COUNT(*) AS N FROM Stock_KDY WHERE ITEMNO = ${item} GROUP BY ITEMNO`
    const before = await cells(stock)
    expect(Number(before[1])).toBeGreaterThan(0)
    await admin.openConsole('transactions')
    await page.getByTestId('txn-begin').click()
    const t = new TransactionsPage(page)
    await t.statement('KDY', `UPDATE Stock_KDY SET QTY = 0 WHERE ITEMNO = ${item}`)
    await expect(page.getByTestId('txn-stmt-result').first()).toContainText(/[1-9]\d* row\(s\) changed/)
    await page.getByTestId('txn-abort').click()
    await expect(page.getByTestId('txn-outcome')).toContainText('ABORT')
    await expect(page.getByTestId('txn-indoubt')).toContainText('No in-doubt transactions')
    // KDY's stock is what it was: the aborted update left no trace
    expect(await cells(stock)).toEqual(before)
  })
})

test.describe('in-doubt transactions', () => {
  test('a participant crashed at READY is in doubt while its coordinator is down; the operator resolves it by hand', async ({ admin, page }) => {
    await admin.openConsole('transactions')
    const t = new TransactionsPage(page)
    await page.getByTestId('txn-protocol').selectOption('centralized')
    // KDY crashes right after force-writing READY (its vote is never sent) and restarts 1 s later; the coordinator
    // times out in WAIT, decides ABORT and crashes before it can tell anyone (and stays down)
    await t.armCrash('KDY', 'ready', 1000)
    await t.armCrash('CMB', 'decide', 3_600_000)
    const gid = await t.begin('CMB')
    // a write (a read-only participant would vote RO and never be READY)
    await t.statement('KDY', 'UPDATE Stock_KDY SET QTY = QTY + 1 WHERE QTY >= 0')
    await expect(t.results().last()).not.toHaveClass(/bad/)
    await expect(t.results().last()).toContainText(/[1-9]\d* row\(s\) changed/)
    await t.commit()
    await expect(t.outcome()).toContainText('ABORT')
    // KDY came back READY: it cannot learn the decision from anyone, so it is in doubt and keeps its locks
    const row = t.inDoubtRow(gid, 'KDY')
    await expect(row).toHaveCount(1, { timeout: 30_000 })
    await expect(row).toContainText('READY')
    await expect(row).toContainText('Stock_KDY')
    // the operator resolves it by hand (abort: nothing was committed anywhere)
    await row.getByTestId('indoubt-abort').click()
    await expect(row).toHaveCount(0)
    await expect(t.inDoubt()).toContainText('No in-doubt transactions')
    // the coordinator's site is still down (its restart is an hour of virtual time away): the operator brings it back
    await admin.open()
    await admin.openConsole('topology')
    await new TopologyPage(page).openSite('CMB')
    const restore = page.getByTestId('action-restore-site')
    await expect(restore).toBeEnabled()
    await restore.click()
    await expect(restore).toBeDisabled({ timeout: 30_000 })
    await admin.openConsole('transactions')
    await expect(t.inDoubt()).toContainText('No in-doubt transactions')
  })
})

test.describe('deadlocks console', () => {
  test('one click builds a CMB–KDY deadlock; the global detector finds it and aborts the youngest', async ({ admin, page }) => {
    await admin.openConsole('deadlocks')
    await expect(page.getByTestId('deadlocks-console')).toBeVisible()
    await expect(page.getByTestId('dl-detector')).toContainText('CMB')
    await page.getByTestId('dl-demo').click()
    await expect(page.getByTestId('dl-demo-result')).toContainText('victim', { timeout: 30_000 })
    await expect(page.getByTestId('dl-demo-victim')).toHaveText(/^[A-Z]{3}-\d+$/)
    await expect(page.getByTestId('dl-history-row').first()).toContainText('global')
    await expect(page.getByTestId('dl-graph')).toBeVisible()
  })
})
