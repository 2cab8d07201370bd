/** The live panels of the Backups and Replication & Backup consoles (live mode over PostgreSQL servers). */
import { expect, type Locator, type Page } from '@playwright/test'

export class LiveBackupPage {
  constructor(readonly page: Page) {}
  panel(): Locator { return this.page.getByTestId('live-backup-panel') }
  /** Backs up a site's database with pg_dump and waits for the result line. */
  async take(site: string): Promise<void> {
    await this.page.getByTestId('live-backup-site').selectOption(site)
    await this.page.getByTestId('live-backup-take').click()
    await expect(this.result()).toContainText('backup ', { timeout: 60_000 })
  }
  result(): Locator { return this.page.getByTestId('live-backup-result') }
  /** pg_basebackup of the site's primary, from the console; waits for the result line. */
  async takePhysical(site: string): Promise<void> {
    await this.page.getByTestId('live-backup-site').selectOption(site)
    await this.page.getByTestId('live-backup-take-base').click()
    await expect(this.result()).toContainText('physical backup ', { timeout: 90_000 })
  }
  baseRow(name: string): Locator { return this.page.getByTestId(`live-base-row-${name}`) }
  /** Restores a physical backup into a scratch server and compares it; waits for the verdict in its row. */
  async verifyPhysical(name: string): Promise<void> {
    await this.page.getByTestId(`live-base-verify-${name}`).click()
    await expect(this.page.getByTestId(`live-base-verified-${name}`)).not.toHaveAttribute('data-equal', '', { timeout: 90_000 })
  }
  verified(name: string): Locator { return this.page.getByTestId(`live-base-verified-${name}`) }
  /** Restores a site in place from a physical backup: the button, the site's code typed, the confirmation; waits for the result line. */
  async restorePhysical(name: string, site: string): Promise<void> {
    await this.confirmTyped(`live-base-restore-${name}`, 'live-base-restore-confirm', site)
    await expect(this.result()).toContainText(`${site} restored in place`, { timeout: 120_000 })
  }
  error(): Locator { return this.page.getByTestId('live-backup-error') }
  row(name: string): Locator { return this.page.getByTestId(`live-backup-row-${name}`) }
  sha(name: string): Locator { return this.page.getByTestId(`live-backup-sha-${name}`) }
  /** Asks to restore from a backup, types the site's code (the button is disabled until then) and confirms. */
  async restore(name: string, site: string): Promise<void> {
    await this.confirmTyped(`live-backup-restore-${name}`, 'live-restore-confirm', site)
  }
  /** Opens a confirmation by its button, checks it refuses until the code is typed, types it and confirms. */
  private async confirmTyped(opener: string, confirm: string, code: string): Promise<void> {
    await this.page.getByTestId(opener).click()
    const button = this.page.getByTestId(`${confirm}-button`)
    await expect(button).toBeDisabled()
    await this.page.getByTestId(`${confirm}-input`).fill(code)
    await button.click()
  }
}

export class LiveReplicationPage {
  constructor(readonly page: Page) {}
  panel(): Locator { return this.page.getByTestId('live-repl-panel') }
  site(code: string): Locator { return this.page.getByTestId(`live-repl-site-${code}`) }
  /** The cell of a site's server by the role pg.json gives it (data-role: what the server says, data-port). */
  server(code: string, role: 'primary' | 'standby'): Locator { return this.page.getByTestId(`live-repl-${role}-${code}`) }
  link(code: string): Locator { return this.page.getByTestId(`live-repl-link-${code}`) }
  /** The applier's row for an origin site (data-pending: its changes waiting for the other copies; data-error). */
  propagation(code: string): Locator { return this.page.getByTestId(`live-propagation-${code}`) }
  result(): Locator { return this.page.getByTestId('live-repl-result') }
  error(): Locator { return this.page.getByTestId('live-repl-error') }
  /** Fail over or rebuild the standby: the button, the site's code typed, the confirmation. */
  async act(what: 'failover' | 'rebuild', code: string): Promise<void> {
    await this.page.getByTestId(`live-${what}-${code}`).click()
    const button = this.page.getByTestId(`live-confirm-${what}-${code}-button`)
    await expect(button).toBeDisabled()
    await this.page.getByTestId(`live-confirm-${what}-${code}-input`).fill(code)
    await button.click()
  }
}
