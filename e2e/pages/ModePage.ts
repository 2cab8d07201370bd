import { expect, type Locator, type Page } from '@playwright/test'

/** The console's mode switch in the header (simulation ⇄ live servers) and the mode line of the login screen. */
export class ModePage {
  constructor(readonly page: Page) {}

  current(): Locator { return this.page.getByTestId('mode-current') }
  loginMode(): Locator { return this.page.getByTestId('login-mode') }
  error(): Locator { return this.page.getByTestId('mode-error') }

  /** Opens the switch, types the deployment (live) and the mode's name, and confirms. */
  async switchTo(mode: 'simulation' | 'live', deployment?: string): Promise<void> {
    await this.current().click()
    if (deployment !== undefined) await this.page.getByTestId('mode-deployment').fill(deployment)
    await this.page.getByTestId('mode-confirm-input').fill(mode)
    await this.page.getByTestId('mode-confirm-button').click()
  }

  /** After a switch the page starts again at the login screen, which names the mode it opened. */
  async expectLoginIn(mode: 'simulation' | 'live'): Promise<void> {
    await expect(this.loginMode()).toHaveAttribute('data-mode', mode, { timeout: 120_000 })
    await expect(this.page.getByTestId('login-screen')).toHaveAttribute('data-phase', 'login')
  }
}
