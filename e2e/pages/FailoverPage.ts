/** The failover panel of a site in the Topology console (docs/FAILOVER.md). */
import { expect, type Locator, type Page } from '@playwright/test'

export class FailoverPage {
  constructor(readonly page: Page) {}

  panel(): Locator { return this.page.getByTestId('failover-panel') }
  primaryHost(): Locator { return this.page.getByTestId('failover-primary-host') }
  backupHost(): Locator { return this.page.getByTestId('failover-backup-host') }
  report(): Locator { return this.page.getByTestId('failover-report') }
  rpo(): Locator { return this.page.getByTestId('failover-rpo') }
  rto(): Locator { return this.page.getByTestId('failover-rto') }
  lag(): Locator { return this.page.getByTestId('failover-lag') }

  async setMode(mode: 'sync' | 'async'): Promise<void> {
    await this.page.getByTestId('failover-mode').selectOption(mode)
    await expect(this.page.getByTestId('failover-mode')).toHaveValue(mode)
  }

  /** Promotes the open site's backup server, typing the site's code as asked. */
  async promote(site: string): Promise<void> {
    await expect(this.page.getByTestId('confirm-promote-button')).toBeDisabled()
    await this.page.getByTestId('confirm-promote-input').fill(site)
    await this.page.getByTestId('confirm-promote-button').click()
    await expect(this.report()).toHaveAttribute('data-kind', /failover|switchover/)
  }

  async failback(site: string): Promise<void> {
    await this.page.getByTestId('confirm-failback-input').fill(site)
    await this.page.getByTestId('confirm-failback-button').click()
    await expect(this.report()).toHaveAttribute('data-kind', 'failback')
  }
}
