/** The Distributed Integrity Manager as a user meets it: a refused write in the Query console, the Catalog console's Integrity tab. */
import { expect, type Locator, type Page } from '@playwright/test'
import { QueryPage } from './QueryPage'

export class IntegrityPage {
  readonly query: QueryPage
  constructor(readonly page: Page) { this.query = new QueryPage(page) }

  /** Writes `sql` in the Query console, runs it at `site` and waits for the run to end. */
  async write(site: string, sql: string): Promise<void> {
    await this.query.write(sql)
    await this.query.runAndWait(site)
  }
  /** The Query console's error box. */
  queryError(): Locator { return this.query.error() }

  tab(): Locator { return this.page.getByTestId('catalog-tab-integrity') }
  async openTab(): Promise<void> {
    await this.tab().click()
    await expect(this.tab()).toHaveAttribute('aria-selected', 'true')
    await expect(this.panel()).toBeVisible()
  }
  panel(): Locator { return this.page.getByTestId('integrity-panel') }
  /** The GLOBAL_CONSTRAINTS table's row of a constraint. */
  constraintRow(name: string): Locator { return this.page.getByTestId('global-constraints').locator('tbody tr', { hasText: name }).first() }
  summary(): Locator { return this.page.getByTestId('integrity-summary') }
  result(constraint: string): Locator { return this.page.getByTestId(`integrity-${constraint}`) }
  async check(): Promise<void> {
    await this.page.getByTestId('run-integrity').click()
    await expect(this.summary()).toBeVisible({ timeout: 120_000 })
  }
  /** Reserves the next block of invoice numbers for `site` on the Integrity tab; returns its first and last number. */
  async reserveBlock(site: string, size = 1000): Promise<{ lo: number; hi: number }> {
    const rows = this.page.getByTestId('key-blocks').locator(`tbody tr[data-branch="${site}"]`)
    const before = await rows.count()
    await this.page.getByTestId('reserve-block-site').selectOption(site)
    await this.page.getByTestId('reserve-block-size').fill(String(size))
    await this.page.getByTestId('reserve-block-submit').click()
    await expect(rows).toHaveCount(before + 1, { timeout: 30_000 })
    const last = rows.last()
    return { lo: Number(await last.getAttribute('data-lo')), hi: Number(await last.getAttribute('data-hi')) }
  }
}
