/** The WAN defences in the Security console: firewall rule tables, the intruder drill and the packet inspector. */
import type { Locator, Page } from '@playwright/test'

export class IntruderPage {
  constructor(readonly page: Page) {}

  drill(): Locator { return this.page.getByTestId('intruder-drill') }
  /** The network profile badge of the Security console (modern or legacy). */
  profile(): Locator { return this.page.getByTestId('security-profile') }
  /** The secret markers of the inspector's plaintext rows (what was read in clear, redacted). */
  secrets(): Locator { return this.inspector().getByTestId('pi-secret') }
  summary(): Locator { return this.page.getByTestId('drill-summary') }
  probeRow(site: string): Locator { return this.page.getByTestId(`drill-probe-${site}`) }
  sniffRow(link: string): Locator { return this.page.getByTestId(`drill-sniff-${link}`) }
  inspector(): Locator { return this.page.getByTestId('pi-table') }
  /** Inspector rows of sealed (ciphertext) or plain frames. */
  packets(sealed: boolean): Locator { return this.inspector().locator(`tr[data-sealed="${sealed}"]`) }
  rules(): Locator { return this.page.getByTestId('fw-table') }
  blocked(): Locator { return this.page.getByTestId('fw-blocked') }
  ruleError(): Locator { return this.page.getByTestId('fw-error') }

  async runDrill(): Promise<void> { await this.page.getByTestId('drill-run').click() }
  async chooseFirewall(site: string): Promise<void> { await this.page.getByTestId('fw-site').selectOption(site) }
  async inspect(link: string): Promise<void> { await this.page.getByTestId('pi-link').selectOption(link) }
  /** Adds a rule at the end of the draft table and saves. */
  async addRule(action: 'allow' | 'deny', service: string, from: string): Promise<void> {
    const n = await this.rules().locator('tr[data-testid^="fw-rule-"]').count()
    await this.page.getByTestId('fw-add').click()
    await this.page.getByTestId(`fw-action-${n}`).selectOption(action)
    await this.page.getByTestId(`fw-service-${n}`).selectOption(service)
    await this.page.getByTestId(`fw-from-${n}`).fill(from)
    await this.page.getByTestId('fw-save').click()
  }
}
