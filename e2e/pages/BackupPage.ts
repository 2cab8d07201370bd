/** The Backups console: take a backup, save its files, upload kept files, plan and confirm a restore, the jobs table. */
import { expect, type Download, type Locator, type Page } from '@playwright/test'

export class BackupPage {
  constructor(readonly page: Page) {}
  console(): Locator { return this.page.getByTestId('backup-console') }
  /** Backs up `target` (a site code or 'all') and waits for the result line. */
  async take(target: string): Promise<void> {
    await this.page.getByTestId('backup-target').selectOption(target)
    await this.page.getByTestId('backup-take').click()
    await expect(this.result()).toBeVisible({ timeout: 60_000 })
  }
  result(): Locator { return this.page.getByTestId('backup-result') }
  error(): Locator { return this.page.getByTestId('backup-error') }
  rows(): Locator { return this.page.getByTestId('backup-list').locator('tbody tr[data-testid^="backup-row-"]') }
  row(i: number): Locator { return this.rows().nth(i) }
  /** Saves the backup in row i: resolves with its downloads (the site files, then the manifest). */
  async save(i: number, files: number): Promise<Download[]> {
    const out: Download[] = []
    const got = new Promise<void>((resolve) => {
      const on = (d: Download) => { out.push(d); if (out.length === files) { this.page.off('download', on); resolve() } }
      this.page.on('download', on)
    })
    await this.row(i).locator('[data-testid^="backup-save-"]').click()
    await got
    return out
  }
  async upload(paths: string[]): Promise<void> { await this.page.getByTestId('backup-upload-input').setInputFiles(paths) }
  async planRestore(i: number): Promise<void> {
    await this.row(i).locator('[data-testid^="backup-plan-"]').click()
    await expect(this.plan()).toBeVisible()
  }
  plan(): Locator { return this.page.getByTestId('restore-plan') }
  confirmInput(): Locator { return this.page.getByTestId('restore-confirm-input') }
  confirmButton(): Locator { return this.page.getByTestId('restore-confirm-button') }
  jobRows(kind: string): Locator { return this.page.getByTestId('jobs-table').locator(`tr[data-kind="${kind}"]`) }
}
