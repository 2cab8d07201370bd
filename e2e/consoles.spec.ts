import { test, expect } from './fixtures'

test.describe('replication & backup and security consoles', () => {
  test('replication shows the streams feeding backups and the main repository, and the scheduled copy', async ({ admin, page }) => {
    await admin.openConsole('replication')
    await expect(page.getByTestId('replication-streams')).toContainText('CMB → CMB.backup')
    await expect(page.getByTestId('replication-streams')).toContainText('KDY → CMB.repository')
    await expect(page.getByTestId('replication-copies')).toContainText('Stock_MBI@CMB')
  })

  test('an administrator restores Kandy from the main repository and refreshes Stock_MBI by hand', async ({ admin, page }) => {
    await admin.recoverSite('KDY', 'repository')
    await expect(page.getByTestId('recovery-result')).toContainText(/KDY restored from the main repository: \d+ rows/)
    await admin.refreshCopy('Stock_MBI')
    await expect(page.getByTestId('recovery-result')).toContainText(/Stock_MBI@CMB refreshed: \d+ rows/)
    await expect(page.getByTestId('copy-state-Stock_MBI')).toHaveText('fresh')
  })

  test('recovery from a backup server that is down is refused with a clear error', async ({ admin, page }) => {
    await admin.openConsole('replication')
    await page.getByTestId('replication-backups').getByRole('row', { name: /MBI backup server/ }).getByRole('button', { name: 'Fail' }).click()
    await admin.recoverSite('MBI', 'backup')
    await expect(page.getByTestId('recovery-error')).toContainText('SITE_DOWN')
    await expect(page.getByTestId('recovery-error')).toContainText('MBI.backup is down')
    await page.getByTestId('replication-backups').getByRole('row', { name: /MBI backup server/ }).getByRole('button', { name: 'Restore' }).click()
  })

  test('security shows every site firewall and the encrypted T1 links', async ({ admin, page }) => {
    await admin.openConsole('security')
    for (const s of ['CMB', 'MBI', 'KDY']) await expect(page.getByTestId(`firewall-${s}`)).toContainText('enabled')
    for (const l of ['CMB-MBI', 'CMB-KDY', 'MBI-KDY']) await expect(page.getByTestId(`encryption-${l}`)).toContainText('encrypted')
  })
})
