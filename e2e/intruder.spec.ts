/**
 * The intruder drill from the Security console. Modern profile (the shared host): every router probe is blocked
 * and counted by the firewalls, and the packet inspector shows only ciphertext on the links; an edited rule table
 * is kept, a bad rule is refused by its form. Legacy profile (a host of its own on a data directory made by
 * `iddb init --profile legacy`): the same intruder reaches every router's services and reads a credential and
 * unit prices in clear, and the console shows them redacted, never the password.
 */
import { test, testWithLegacyData, expect } from './fixtures'
import { IntruderPage } from './pages/IntruderPage'

test.describe('intruder drill', () => {
  test('probes are blocked by every firewall and the intruder sniffs only ciphertext', async ({ admin, page }) => {
    const wan = new IntruderPage(page)
    await admin.openConsole('security')
    await expect(wan.profile()).toHaveText('modern')
    await expect(wan.drill()).toBeVisible()
    await wan.runDrill()
    await expect(wan.summary()).toContainText('modern profile')
    await expect(wan.summary()).toContainText('0 credential(s) and 0 unit price(s) read in clear')
    for (const site of ['CMB', 'MBI', 'KDY']) {
      await expect(wan.probeRow(site)).toContainText('6 / 6')
      await expect(wan.probeRow(site)).toContainText('nothing')
    }
    await expect(wan.sniffRow('CMB-MBI')).toContainText('nothing: ciphertext')
    await expect(wan.packets(true).first()).toBeVisible()
    await expect(wan.packets(false)).toHaveCount(0)
    await expect(wan.packets(true).first()).toContainText('ciphertext')
    await wan.inspect('CMB-MBI')
    await expect(wan.packets(true).first()).toContainText('CMB-MBI')
    // the firewall counted and logged the probes
    await wan.chooseFirewall('KDY')
    await expect(wan.blocked()).not.toHaveText('0')
    await expect(page.getByTestId('fw-log')).toContainText('203.0.113.66')
  })

  test('a site rule table is edited and kept; a bad host is refused with its error', async ({ admin, page }) => {
    const wan = new IntruderPage(page)
    await admin.openConsole('security')
    await wan.chooseFirewall('MBI')
    await wan.addRule('deny', 'telnet', '198.51.100.7')
    await expect(wan.rules()).toContainText('telnet')
    await expect(page.getByTestId('fw-from-1')).toHaveValue('198.51.100.7')
    await wan.addRule('allow', 'ssh', 'bad host!')
    await expect(wan.ruleError()).toContainText('BAD_INPUT')
  })
})

testWithLegacyData.describe('intruder drill, legacy profile', () => {
  testWithLegacyData('the intruder reaches the routers and reads a credential and unit prices in clear, shown redacted', async ({ admin, page }) => {
    const wan = new IntruderPage(page)
    await admin.openConsole('security')
    await expect(wan.profile()).toHaveText('legacy')
    await expect(page.getByTestId('security-console')).toContainText('no firewalls, no encryption')
    await wan.runDrill()
    await expect(wan.summary()).toContainText('legacy profile')
    await expect(wan.summary()).toContainText('0 of 18 probes blocked')
    await expect(wan.summary()).toContainText('(0 sealed): 1 credential(s) and')
    await expect(wan.summary()).not.toContainText('and 0 unit price(s)')
    for (const site of ['CMB', 'MBI', 'KDY']) {
      await expect(wan.probeRow(site)).toContainText('0 / 6')
      await expect(wan.probeRow(site)).not.toContainText('nothing')
    }
    // the drill's traffic (a branch login to Colombo, a query shipping Mumbai's unit prices) crosses CMB-MBI in clear
    const sniff = wan.sniffRow('CMB-MBI')
    await expect(sniff).toContainText('credential')
    await expect(sniff).toContainText('user drill.clerk, password ‹credential in clear (redacted)›')
    await expect(sniff).toContainText('unit-prices')
    await expect(sniff).toContainText('unit prices (MBI-')
    await expect(page.getByTestId('drill-sniffs')).not.toContainText('ciphertext')
    await expect(page.getByTestId('drill-sniffs')).not.toContainText(/drill-[0-9a-f]{12}/)
    // the packet inspector: plain frames only, the login's password replaced by the redaction marker
    await wan.inspect('CMB-MBI')
    await expect(wan.packets(false).first()).toContainText('CMB-MBI')
    await expect(wan.packets(true)).toHaveCount(0)
    await expect(wan.secrets().first()).toContainText('password in clear (redacted)')
    await expect(wan.inspector()).toContainText('credential in clear (redacted)')
    await expect(wan.inspector()).toContainText('UNITPRICE')
    await expect(wan.inspector()).not.toContainText(/drill-[0-9a-f]{12}/)
  })
})
