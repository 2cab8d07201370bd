/** Live mode's Catalog local catalogs (read from the servers) and the Topology console's drills at the servers. */
import { expect, type Locator, type Page } from '@playwright/test'

export class LiveOpsPage {
  constructor(readonly page: Page) {}

  // ---- Catalog console, Local catalogs tab ----
  liveCatalog(): Locator { return this.page.getByTestId('live-catalog') }
  source(): Locator { return this.page.getByTestId('live-catalog-source') }
  readAt(): Locator { return this.page.getByTestId('live-catalog-read-at') }
  /** A row of LCAT_TABLES as read from the server (data-num-rows: reltuples, data-count: count(*)). */
  tableRow(table: string): Locator { return this.page.getByTestId(`live-lcat-${table}`) }
  tableRows(): Locator { return this.page.getByTestId('live-lcat-tables').locator('tbody tr') }
  async pickSite(site: string): Promise<void> {
    await this.page.getByTestId(`live-catalog-site-${site}`).click()
    await expect(this.liveCatalog()).toHaveAttribute('data-site', site)
  }
  /** ANALYZE at the site's server and read again; waits until a read newer than the one shown is on screen. */
  async analyze(): Promise<void> {
    const before = (await this.liveCatalog().getAttribute('data-read-at')) ?? ''
    await this.page.getByTestId('live-catalog-analyze').click()
    await expect(this.liveCatalog()).not.toHaveAttribute('data-read-at', before)
    await expect(this.source()).toContainText('just after ANALYZE')
  }

  // ---- Topology console, failure drills at the servers ----
  drills(): Locator { return this.page.getByTestId('live-drills') }
  server(id: string): Locator { return this.page.getByTestId(`live-server-${id}`) }
  /** Stops a server, typing its id to confirm; waits until the panel shows it stopped. */
  async stopServer(id: string): Promise<void> {
    await this.page.getByTestId(`live-stop-${id}`).click()
    await this.page.getByTestId('confirm-live-stop-input').fill(id)
    await this.page.getByTestId('confirm-live-stop-button').click()
    await expect(this.server(id)).toHaveAttribute('data-running', 'false', { timeout: 30_000 })
  }
  /** Starts a stopped server; waits until it runs and answers. */
  async startServer(id: string): Promise<void> {
    await this.page.getByTestId(`live-start-${id}`).click()
    await expect(this.server(id)).toHaveAttribute('data-up', 'true', { timeout: 90_000 })
  }
  error(): Locator { return this.page.getByTestId('live-drill-error') }
  /** The console's link to a site (data-cut: whether it is cut). */
  link(site: string): Locator { return this.page.getByTestId(`live-link-${site}`) }
  /** Makes the site's server unreachable from the console; waits until the panel shows the link cut. */
  async cutLink(site: string): Promise<void> {
    await this.page.getByTestId(`live-cut-${site}`).click()
    await expect(this.link(site)).toHaveAttribute('data-cut', 'true')
  }
  async restoreLink(site: string): Promise<void> {
    await this.page.getByTestId(`live-restore-${site}`).click()
    await expect(this.link(site)).toHaveAttribute('data-cut', 'false')
  }
}
