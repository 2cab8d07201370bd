/** The console as an administrator uses it: navigation, status bar, and the per-console pages. */
import { expect, type Locator, type Page } from '@playwright/test'
import { ReplicationPage } from './ReplicationPage'
import { TopologyPage } from './TopologyPage'
import { CatalogPage } from './CatalogPage'

export const CONSOLES = [
  { id: 'topology', label: 'Topology' },
  { id: 'catalog', label: 'Catalog' },
  { id: 'query', label: 'Query' },
  { id: 'transactions', label: 'Transactions' },
  { id: 'deadlocks', label: 'Deadlocks' },
  { id: 'replication', label: 'Replication & Backup' },
  { id: 'security', label: 'Security' },
  { id: 'tickets', label: 'Tickets' },
  { id: 'backups', label: 'Backups' },
  { id: 'jobs', label: 'Jobs' },
  { id: 'compare', label: 'Compare' },
  { id: 'events', label: 'Events' },
] as const

export type ConsoleId = (typeof CONSOLES)[number]['id']

export class AdminConsole {
  readonly topology: TopologyPage
  readonly catalog: CatalogPage

  constructor(readonly page: Page, readonly url: string) {
    this.topology = new TopologyPage(page)
    this.catalog = new CatalogPage(page)
  }

  async open(): Promise<void> {
    await this.page.goto(this.url)
    await expect(this.page.getByTestId('status-bar')).toBeVisible()
    await expect(this.page.getByTestId('clock-time')).not.toHaveText('—')
  }

  navLink(id: ConsoleId): Locator { return this.page.getByTestId(`nav-${id}`) }

  async openConsole(id: ConsoleId): Promise<void> {
    await this.navLink(id).click()
    const label = CONSOLES.find((c) => c.id === id)!.label
    await expect(this.page.getByTestId('console-title')).toHaveText(label)
  }

  consoleTitle(): Locator { return this.page.getByTestId('console-title') }
  emptyState(): Locator { return this.page.getByTestId('empty-state') }
  healthLight(site: string): Locator { return this.page.getByTestId(`health-${site}`) }
  healthLights(): Locator { return this.page.getByTestId('health-lights').locator('[data-health]') }
  clock(): Locator { return this.page.getByTestId('clock-time') }

  async setSpeed(speed: 0 | 1 | 60 | 3600): Promise<void> {
    await this.page.getByTestId(`speed-${speed}`).click()
    await expect(this.page.getByTestId(`speed-${speed}`)).toHaveAttribute('aria-pressed', 'true')
  }

  /** Fails a whole site from its details panel and waits for its health light to go red. */
  async failSite(site: string): Promise<void> {
    await this.openConsole('topology')
    await this.topology.openSite(site)
    await this.requestFailSite(site)
    await expect(this.healthLight(site)).toHaveAttribute('data-health', 'down')
  }

  /** Asks to fail the open site: a destructive action, confirmed by typing the site's code (the call may still be refused). */
  async requestFailSite(site: string): Promise<void> {
    await this.page.getByTestId('action-fail-site').click()
    await this.page.getByTestId('confirm-fail-site-input').fill(site)
    await this.page.getByTestId('confirm-fail-site-button').click()
  }

  /** Restores a site and waits for its health light to go green. */
  async restoreSite(site: string): Promise<void> {
    await this.openConsole('topology')
    await this.topology.openSite(site)
    await this.page.getByTestId('action-restore-site').click()
    await expect(this.healthLight(site)).toHaveAttribute('data-health', 'ok')
  }

  async failLink(link: string): Promise<void> {
    await this.openConsole('topology')
    await this.topology.openLink(link)
    await this.page.getByTestId('action-fail-link').click()
    await expect(this.topology.linkRow(link)).toHaveAttribute('data-state', 'down')
  }

  async restoreLink(link: string): Promise<void> {
    await this.openConsole('topology')
    await this.topology.openLink(link)
    await this.page.getByTestId('action-restore-link').click()
    await expect(this.topology.linkRow(link)).toHaveAttribute('data-state', 'up')
  }

  /** Replication & Backup: restore a branch from the Colombo main repository (or its backup server). */
  async recoverSite(site: string, from: 'backup' | 'repository'): Promise<void> {
    await this.openConsole('replication')
    await new ReplicationPage(this.page).recover(site, from)
  }

  async refreshCopy(copy: string): Promise<void> {
    await this.openConsole('replication')
    await this.page.getByTestId(`refresh-${copy}`).click()
  }
}
