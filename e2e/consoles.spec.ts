import { test, expect } from './fixtures'

test.describe('replication & backup and security consoles', () => {
  test('replication shows the streams feeding backups and the main repository, and the scheduled copy', async ({ admin, page }) => {
    await admin.openConsole('replication')
    await expect(page.getByTestId('replication-streams')).toContainText('CMB → CMB.backup')
    await expect(page.getByTestId('replication-streams')).toContainText('KDY → CMB.repository')
    await expect(page.getByTestId('replication-copies')).toContainText('Stock_MBI@CMB')
    await expect(page.getByTestId('replication-not-yet')).toContainText('Not available yet')
  })

  test('security shows every site firewall and the encrypted T1 links', async ({ admin, page }) => {
    await admin.openConsole('security')
    for (const s of ['CMB', 'MBI', 'KDY']) await expect(page.getByTestId(`firewall-${s}`)).toContainText('enabled')
    for (const l of ['CMB-MBI', 'CMB-KDY', 'MBI-KDY']) await expect(page.getByTestId(`encryption-${l}`)).toContainText('encrypted')
  })
})
