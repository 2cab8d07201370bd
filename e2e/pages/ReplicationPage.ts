/** Replication & Backup: recovery actions, each server's state, scheduled copies. */
import type { Locator, Page } from '@playwright/test'

export class ReplicationPage {
  constructor(readonly page: Page) {}
  console(): Locator { return this.page.getByTestId('replication-console') }
  async recover(site: string, from: 'backup' | 'repository'): Promise<void> { await this.page.getByTestId(`recover-${site}-${from}`).click() }
  result(): Locator { return this.page.getByTestId('recovery-result') }
  error(): Locator { return this.page.getByTestId('recovery-error') }
  /** The step a recovery left to do for `site` (a button that does it). */
  nextStep(site: string): Locator { return this.page.getByTestId(`recovery-next-${site}`) }
  /** A server's state light (data-status up / down). */
  serverState(id: string): Locator { return this.page.getByTestId(`server-state-${id}`) }
}
