/**
 * The Distributed Integrity Manager from the consoles: a Query console INSERT that breaks a key unique across
 * the branches (EMPNO 1 exists at one of them) or a foreign key (SALES.ITEMNO = 424242, no such item) is refused
 * with its CONSTRAINT_VIOLATION message in the error box, and nothing is written; the Catalog console's
 * Integrity tab lists the declared constraints and runs `check integrity` over the stored rows.
 */
import { test, expect } from './fixtures'
import { IntegrityPage } from './pages/IntegrityPage'

test.describe('distributed integrity manager', () => {
  test('the Query console refuses a duplicate EMPNO and an unknown ITEMNO, naming the constraint, the row and the site', async ({ admin, page }) => {
    await admin.openConsole('query')
    const dim = new IntegrityPage(page)
    await dim.write('KDY', "INSERT INTO EMPLOYEES (EMPNO, NAME, BRCODE) VALUES (1, 'Twin', 'KDY')")
    await expect(dim.queryError()).toHaveAttribute('data-code', 'CONSTRAINT_VIOLATION')
    await expect(dim.queryError()).toContainText('PRIMARY KEY PK_EMPLOYEES')
    await expect(dim.queryError()).toContainText('EMPNO 1 already exists')
    await expect(dim.queryError()).toContainText('nothing was changed')
    await dim.write('CMB', "INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, EMPNO) VALUES (9900001, 'KDY', 424242, 1, 5, 5, NULL)")
    await expect(dim.queryError()).toHaveAttribute('data-code', 'CONSTRAINT_VIOLATION')
    await expect(dim.queryError()).toContainText('FOREIGN KEY FK_SALES_ITEMNO')
    await expect(dim.queryError()).toContainText('ITEMS has no row with ITEMNO 424242')
    await expect(dim.queryError()).toContainText('(site KDY)')
    // nothing was written: the invoice is not there
    await dim.write('CMB', 'SELECT COUNT(*) AS N FROM SALES WHERE INVNO = 9900001')
    await expect(dim.queryError()).toHaveCount(0)
    await expect(dim.query.rows()).toHaveCount(1)
    await expect(dim.query.rows().first()).toContainText('0')
  })

  test('the Catalog console lists the declared constraints and checks the stored rows against them', async ({ admin, page }) => {
    await admin.openConsole('catalog')
    const dim = new IntegrityPage(page)
    await dim.openTab()
    for (const c of ['PK_EMPLOYEES', 'PK_SALES', 'FK_SALES_ITEMNO', 'FK_SALES_EMPNO', 'FRAG_Employees_KDY', 'CK_SALES_AMOUNT']) await expect(dim.constraintRow(c)).toBeVisible()
    await expect(dim.constraintRow('FK_SALES_ITEMNO')).toContainText('ITEMS')
    await dim.check()
    await expect(dim.summary()).toHaveAttribute('data-ok', 'true')
    await expect(dim.result('PK_EMPLOYEES')).toHaveAttribute('data-ok', 'true')
    await expect(dim.result('FK_SALES_EMPNO')).toHaveAttribute('data-ok', 'true')
  })
})
