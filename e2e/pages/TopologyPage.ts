import { expect, type Locator, type Page } from '@playwright/test'

export class TopologyPage {
  constructor(readonly page: Page) {}

  chart(): Locator { return this.page.getByTestId('topology-chart') }
  async waitForChart(): Promise<void> { await expect(this.chart()).toHaveAttribute('data-ready', 'true') }
  siteRows(): Locator { return this.page.getByTestId('sites-table').locator('tbody tr') }
  linkRows(): Locator { return this.page.getByTestId('links-table').locator('tbody tr') }
  siteRow(site: string): Locator { return this.page.getByTestId(`site-${site}`) }
  linkRow(link: string): Locator { return this.page.getByTestId(`link-${link}`) }
  details(): Locator { return this.page.getByTestId('details-panel') }
  detailsTitle(): Locator { return this.details().getByTestId('details-title') }

  async openSite(site: string): Promise<void> {
    await this.siteRow(site).click()
    await expect(this.page.getByTestId('site-details')).toHaveAttribute('data-site', site)
  }

  async openLink(link: string): Promise<void> {
    await this.linkRow(link).click()
    await expect(this.page.getByTestId('link-details')).toHaveAttribute('data-link', link)
  }

  server(id: string): Locator { return this.page.getByTestId(`server-${id}`) }
}
