import { test, expect } from './fixtures'
import { FailoverPage } from './pages/FailoverPage'
import { QueryPage } from './pages/QueryPage'

test('fail KDY\'s primary, promote its backup by typing KDY (RPO and RTO shown), write, repair and fail back', async ({ admin, page }) => {
  const fo = new FailoverPage(page)
  await admin.openConsole('topology')
  await admin.topology.openSite('KDY')
  await expect(fo.primaryHost()).toContainText('KDY-db1')
  await expect(fo.lag()).toBeVisible()
  await fo.setMode('sync')

  // a primary failure: the backup server is promoted only once the site's code is typed
  await page.getByTestId('action-fail-server-KDY.primary').click()
  await expect(admin.topology.server('KDY.primary')).toHaveAttribute('data-status', 'down')
  await page.getByTestId('confirm-promote-input').fill('MBI')
  await expect(page.getByTestId('confirm-promote-button')).toBeDisabled()
  await page.getByTestId('confirm-promote-input').fill('')
  await fo.promote('KDY')
  await expect(fo.report()).toHaveAttribute('data-kind', 'failover')
  await expect(fo.rpo()).toHaveAttribute('data-txns', '0')
  await expect(fo.rto()).toHaveText(/\d/)
  await expect(fo.primaryHost()).toContainText('KDY-db2')
  await expect(admin.topology.server('KDY.primary')).toHaveAttribute('data-status', 'up')
  await expect(page.getByTestId('failover-rejoin')).toHaveAttribute('data-rejoin', 'waiting-repair')

  // the site takes writes on the promoted server
  const query = new QueryPage(page)
  await admin.openConsole('query')
  await query.write("INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (990777, 'KDY', 1001, 1, 1, 1)")
  await query.runAndWait('KDY')
  await expect(query.error()).toHaveCount(0)

  // the old primary is repaired: it rejoins as the backup, then fail back by typing KDY
  await admin.openConsole('topology')
  await admin.topology.openSite('KDY')
  await admin.setSpeed(60)
  await page.getByTestId('action-restore-server-KDY.backup').click()
  await expect(page.getByTestId('failover-rejoin')).toHaveAttribute('data-rejoin', 'none', { timeout: 20_000 })
  await expect(fo.lag()).toHaveAttribute('data-batches', '0', { timeout: 20_000 })
  await fo.failback('KDY')
  await expect(fo.rpo()).toHaveAttribute('data-txns', '0')
  await expect(fo.primaryHost()).toContainText('KDY-db1')
  await expect(fo.backupHost()).toContainText('KDY-db2')

  await admin.openConsole('query')
  await query.write('SELECT COUNT(*) AS N FROM Sales_KDY WHERE INVNO = 990777')
  await query.runAndWait('KDY')
  await expect(query.rows().first()).toContainText('1')

  await admin.openConsole('events')
  await expect(page.getByTestId('events-console')).toContainText('RTO')
})

test('failing a whole site asks for its code first', async ({ admin, page }) => {
  await admin.openConsole('topology')
  await admin.topology.openSite('MBI')
  await page.getByTestId('action-fail-site').click()
  await expect(page.getByTestId('confirm-fail-site-button')).toBeDisabled()
  await expect(admin.healthLight('MBI')).toHaveAttribute('data-health', 'ok')
  await page.getByTestId('confirm-fail-site-input').fill('MBI')
  await page.getByTestId('confirm-fail-site-button').click()
  await expect(admin.healthLight('MBI')).toHaveAttribute('data-health', 'down')
  await admin.restoreSite('MBI')
})
