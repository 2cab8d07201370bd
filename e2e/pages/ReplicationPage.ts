/** Replication & Backup: recovery actions, each server's state, scheduled copies. */
import { expect, type Locator, type Page } from '@playwright/test'

export class ReplicationPage {
  constructor(readonly page: Page) {}
  console(): Locator { return this.page.getByTestId('replication-console') }
  /** Asks for a recovery, is asked to type the site's code (the button is disabled until it is typed), types it and confirms. */
  async recover(site: string, from: 'backup' | 'repository'): Promise<void> {
    await this.page.getByTestId(`recover-${site}-${from}`).click()
    const button = this.page.getByTestId(`confirm-recover-${site}-button`)
    await expect(button).toBeDisabled()
    await this.page.getByTestId(`confirm-recover-${site}-input`).fill(site)
    await button.click()
  }
  result(): Locator { return this.page.getByTestId('recovery-result') }
  error(): Locator { return this.page.getByTestId('recovery-error') }
  /** The step a recovery left to do for `site` (a button that does it). */
  nextStep(site: string): Locator { return this.page.getByTestId(`recovery-next-${site}`) }
  /** A server's state light (data-status up / down). */
  serverState(id: string): Locator { return this.page.getByTestId(`server-state-${id}`) }
}
