import { expect, type Locator, type Page } from '@playwright/test'

/** The Drills panel of the Topology console: failure drills and nemesis faults. */
export class DrillsPage {
  constructor(readonly page: Page) {}

  panel(): Locator { return this.page.getByTestId('drills-panel') }
  description(): Locator { return this.page.getByTestId('drill-description') }
  watchList(): Locator { return this.page.getByTestId('drill-watch') }
  run(): Locator { return this.page.getByTestId('drill-run') }
  report(): Locator { return this.page.getByTestId('drill-report') }
  checks(): Locator { return this.report().getByTestId('drill-check') }
  media(): Locator { return this.page.getByTestId('fault-media') }
  needsRestore(): Locator { return this.page.getByTestId('fault-needs-restore') }

  async chooseSite(site: string): Promise<void> { await this.page.getByTestId('drill-site').selectOption(site) }
  async pick(category: string): Promise<void> {
    await this.page.getByTestId(`drill-pick-${category}`).click()
    await expect(this.page.getByTestId(`drill-pick-${category}`)).toHaveAttribute('aria-checked', 'true')
  }

  /** Starts the picked (non-destructive) drill with one click. */
  async start(): Promise<void> { await this.page.getByTestId('drill-start').click() }

  /** Types `typed` into a typed confirmation (`drill-confirm`, `media-confirm`) and presses its button. */
  async confirm(testid: 'drill-confirm' | 'media-confirm', typed: string): Promise<void> {
    await this.page.getByTestId(`${testid}-input`).fill(typed)
    await this.page.getByTestId(`${testid}-button`).click()
  }
  confirmButton(testid: 'drill-confirm' | 'media-confirm'): Locator { return this.page.getByTestId(`${testid}-button`) }

  async finish(): Promise<void> {
    await this.page.getByTestId('drill-finish').click()
    await expect(this.run()).toHaveAttribute('data-phase', 'checked', { timeout: 60_000 })
  }

  /** Recovers the chosen site from its backup server: asked to type its code first. */
  async recover(site: string): Promise<void> {
    await expect(this.page.getByTestId('fault-recover-button')).toBeDisabled()
    await this.page.getByTestId('fault-recover-input').fill(site)
    await this.page.getByTestId('fault-recover-button').click()
  }
}
