import { expect, type Locator, type Page } from '@playwright/test'

export class CatalogPage {
  constructor(readonly page: Page) {}

  tab(id: 'allocation' | 'global' | 'local' | 'data' | 'checks'): Locator { return this.page.getByTestId(`catalog-tab-${id}`) }
  async openTab(id: 'allocation' | 'global' | 'local' | 'data' | 'checks'): Promise<void> {
    await this.tab(id).click()
    await expect(this.tab(id)).toHaveAttribute('aria-selected', 'true')
  }

  allocationMap(): Locator { return this.page.getByTestId('allocation-map') }
  /** The chip for a fragment in the allocation map (in its site's column). */
  fragmentAt(site: string, fragment: string): Locator { return this.page.getByTestId(`alloc-${site}-${fragment}`) }
  fragmentRow(site: string, fragment: string): Locator { return this.page.getByTestId(`fragment-${site}-${fragment}`) }

  /** Opens the data browser on a fragment from the allocation map. */
  async browse(site: string, fragment: string): Promise<void> {
    await this.openTab('allocation')
    await this.fragmentAt(site, fragment).click()
    await expect(this.browser()).toHaveAttribute('data-fragment', fragment)
    await expect(this.browser()).not.toHaveAttribute('data-total', '')
  }

  /** Picks who the catalogs and the data browser read as: a session of `user` opened in the Security console, or the operator (null). */
  async readAs(user: string | null): Promise<void> {
    const select = this.page.getByTestId('catalog-read-as')
    if (user === null) { await select.selectOption(''); return }
    const label = await select.locator('option', { hasText: `${user} @` }).first().textContent()
    await select.selectOption({ label: label!.trim() })
  }

  /** Column headers of the data browser. */
  browserColumns(): Locator { return this.page.getByTestId('browser-col') }
  /** The note naming the columns left out (above the level read as). */
  browserHidden(): Locator { return this.page.getByTestId('browser-hidden') }

  browser(): Locator { return this.page.getByTestId('data-browser') }
  browserRows(): Locator { return this.page.getByTestId('browser-row') }
  /** Row count the browser reports for the open fragment. */
  async browsedTotal(): Promise<number> { return Number(await this.browser().getAttribute('data-total')) }

  async scrollBrowserTo(fraction: number): Promise<void> {
    await this.page.getByTestId('browser-scroller').evaluate((el, f) => { el.scrollTop = (el.scrollHeight - el.clientHeight) * f }, fraction)
  }

  async runChecks(): Promise<void> {
    await this.openTab('checks')
    await this.page.getByTestId('run-checks').click()
    await expect(this.page.getByTestId('checks-summary')).toBeVisible({ timeout: 120_000 })
  }
}
