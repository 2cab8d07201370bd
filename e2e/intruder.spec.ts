/**
 * The intruder drill from the Security console (modern profile, as the shared host runs): every router probe is
 * blocked and counted by the firewalls, and the packet inspector shows only ciphertext on the links; an edited
 * rule table is kept, a bad rule is refused by its form. The legacy profile (plaintext credentials and unit
 * prices, redacted) cannot be switched to from the console: engine/security/intruder.test.ts and
 * src-main/handlers/security-wan.test.ts drive it at the scenario and handler level.
 */
import { test, expect } from './fixtures'
import { IntruderPage } from './pages/IntruderPage'

test.describe('intruder drill', () => {
  test('probes are blocked by every firewall and the intruder sniffs only ciphertext', async ({ admin, page }) => {
    const wan = new IntruderPage(page)
    await admin.openConsole('security')
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
