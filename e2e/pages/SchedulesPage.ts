/** Backup schedules (Backups console), the Jobs console and the replication schedules (Replication console). */
import { expect, type Locator, type Page } from '@playwright/test'

export class SchedulesPage {
  constructor(readonly page: Page) {}
  // ---- backup schedules (Backups console)
  schedules(): Locator { return this.page.getByTestId('schedules-table').locator('tbody tr[data-testid^="schedule-row-"]') }
  /** Creates a backup schedule of `site` every `hours` hours keeping `keep`, and waits for its row. */
  async createEvery(site: string, hours: number, keep: number): Promise<void> {
    const before = await this.schedules().count()
    await this.page.getByTestId('schedule-site').selectOption(site)
    await this.page.getByTestId('schedule-kind').selectOption('every')
    await this.page.getByTestId('schedule-hours').fill(String(hours))
    await this.page.getByTestId('schedule-retain').fill(String(keep))
    await this.page.getByTestId('schedule-submit').click()
    await expect(this.schedules()).toHaveCount(before + 1)
  }
  // ---- jobs
  jobs(kind?: string): Locator { return this.page.getByTestId('engine-jobs-table').locator(kind ? `tr[data-kind="${kind}"]` : 'tbody tr[data-kind]') }
  async filterKind(kind: string): Promise<void> { await this.page.getByTestId('jobs-filter-kind').selectOption(kind) }
  async filterStatus(status: string): Promise<void> { await this.page.getByTestId('jobs-filter-status').selectOption(status) }
  /** Advances virtual time from the Jobs console (+10 min, +1 h or +6 h). */
  async advance(ms: 600_000 | 3_600_000 | 21_600_000): Promise<void> {
    const b = this.page.getByTestId(`jobs-advance-${ms}`)
    await b.click()
    await expect(b).toBeEnabled()
  }
  // ---- replication schedules
  async setRefreshTimes(copy: string, times: string): Promise<void> {
    await this.page.getByTestId(`refresh-times-${copy}`).fill(times)
    await this.page.getByTestId(`refresh-times-save-${copy}`).click()
  }
  resolved(copy: string): Locator { return this.page.getByTestId(`refresh-resolved-${copy}`) }
  copyState(copy: string): Locator { return this.page.getByTestId(`copy-state-${copy}`) }
  copyPending(copy: string): Locator { return this.page.getByTestId(`copy-pending-${copy}`) }
}
