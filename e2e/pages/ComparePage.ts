/** The Compare console: the run form, run and cancel, the per-branch charts, the request list and the design picker. */
import { expect, type Locator, type Page } from '@playwright/test'

export const COMPARE_CHARTS = ['response', 'wan', 'availability', 'recovery', 'costs'] as const

export class ComparePage {
  constructor(readonly page: Page) {}
  console(): Locator { return this.page.getByTestId('compare-console') }
  runButton(): Locator { return this.page.getByTestId('compare-run') }
  progress(): Locator { return this.page.getByTestId('compare-progress') }
  headline(): Locator { return this.page.getByTestId('compare-headline') }
  cancelled(): Locator { return this.page.getByTestId('compare-cancelled') }
  error(): Locator { return this.page.getByTestId('compare-error') }
  chart(id: (typeof COMPARE_CHARTS)[number]): Locator { return this.page.getByTestId(`chart-${id}-canvas`) }
  explanation(id: (typeof COMPARE_CHARTS)[number]): Locator { return this.page.getByTestId(`chart-${id}-explain`) }
  branchTab(code: string): Locator { return this.page.getByTestId(`compare-branch-${code}`) }
  requests(): Locator { return this.page.getByTestId('compare-requests').locator('tbody tr') }
  statusDesign(): Locator { return this.page.getByTestId('status-design') }

  /** Opens the workload form and sets the simulated day to [from, to) local hours (a short day runs quickly). */
  async setDay(from: number, to: number): Promise<void> {
    const form = this.page.getByTestId('compare-form')
    if (!(await form.evaluate((d) => (d as HTMLDetailsElement).open))) await form.locator('summary').click()
    await this.page.getByTestId('compare-from').fill(String(from))
    await this.page.getByTestId('compare-to').fill(String(to))
  }

  async setOutage(which: 'hq' | 'kdy', on: boolean, from?: number, to?: number): Promise<void> {
    const box = this.page.getByTestId(`compare-${which}-on`)
    if ((await box.isChecked()) !== on) await box.click()
    if (on && from !== undefined && to !== undefined) {
      await this.page.getByTestId(`compare-${which}-from`).fill(String(from))
      await this.page.getByTestId(`compare-${which}-to`).fill(String(to))
    }
  }

  async setRateScale(x: number): Promise<void> { await this.page.getByTestId('compare-rate-scale').fill(String(x)) }

  /** Runs and waits for the report (the headline figures appear). */
  async runAndWait(timeout = 120_000): Promise<void> {
    await this.runButton().click()
    await expect(this.headline()).toBeVisible({ timeout })
    await expect(this.runButton()).toBeEnabled({ timeout })
  }

  /** The names of the series a chart holds (read back from the drawn chart). */
  async series(id: (typeof COMPARE_CHARTS)[number]): Promise<string[]> {
    await expect(this.chart(id)).not.toHaveAttribute('data-series', '')
    return ((await this.chart(id).getAttribute('data-series')) ?? '').split('|')
  }

  /** Switches the live cluster's design in the picker, confirming by typing its name. */
  async switchDesign(design: string): Promise<void> {
    await this.page.getByTestId('design-pick').selectOption(design)
    await this.page.getByTestId('design-confirm-input').fill(design)
    await this.page.getByTestId('design-confirm-button').click()
  }
}
