/** The Deadlocks console's live panel (live mode): the servers' wait-for graph, the detector, the cross-server demo. */
import { expect, type Locator, type Page } from '@playwright/test'

export class LiveDeadlocksPage {
  constructor(readonly page: Page) {}
  panel(): Locator { return this.page.getByTestId('ldl-panel') }
  detector(): Locator { return this.page.getByTestId('ldl-detector') }
  servers(): Locator { return this.page.getByTestId('ldl-server') }
  graph(): Locator { return this.page.getByTestId('ldl-graph') }
  edges(): Locator { return this.page.getByTestId('ldl-edge') }
  result(): Locator { return this.page.getByTestId('ldl-demo-result') }
  victim(): Locator { return this.page.getByTestId('ldl-demo-victim') }
  survivor(): Locator { return this.page.getByTestId('ldl-demo-survivor') }
  detection(): Locator { return this.page.getByTestId('ldl-demo-detection') }
  historyRows(): Locator { return this.page.getByTestId('ldl-history-row') }

  /** Runs the demo between two sites and waits for its outcome. */
  async runDemo(a = 'CMB', b = 'KDY'): Promise<void> {
    await this.page.getByTestId('ldl-demo-a').selectOption(a)
    await this.page.getByTestId('ldl-demo-b').selectOption(b)
    await this.page.getByTestId('ldl-demo').click()
    await expect(this.result()).toBeVisible({ timeout: 30_000 })
  }
}
