/** The Query console as a user drives it: write SQL in the editor, run it (at a site), read the result grid. */
import { expect, type Locator, type Page } from '@playwright/test'

export type QueryTab = 'results' | 'plan' | 'explain' | 'history'

export class QueryPage {
  constructor(readonly page: Page) {}
  console() { return this.page.getByTestId('query-console') }
  editor() { return this.page.getByTestId('sql-editor').locator('.cm-content') }
  async write(sql: string): Promise<void> {
    await this.editor().click()
    await this.page.keyboard.press('ControlOrMeta+a')
    await this.page.keyboard.press('Delete')
    await this.page.keyboard.insertText(sql)
  }
  async run(): Promise<void> { await this.page.getByTestId('query-run').click() }
  async explain(): Promise<void> { await this.page.getByTestId('query-explain').click() }
  async runAt(site: string): Promise<void> {
    await this.page.getByTestId('query-site').selectOption(site)
    await this.run()
  }
  /** Runs at `site` and waits until the run is over (a result, an error or a cancellation is on screen). */
  async runAndWait(site: string): Promise<void> {
    await this.runAt(site)
    await expect(this.page.getByTestId('query-run')).toHaveText('Run', { timeout: 30_000 })
  }
  async openTab(tab: QueryTab): Promise<void> {
    await this.page.getByTestId(`query-tab-${tab}`).click()
    await expect(this.page.getByTestId(`query-tab-${tab}`)).toHaveAttribute('aria-selected', 'true')
  }
  headers() { return this.page.getByTestId('result-grid').locator('.head .cell') }
  grid(): Locator { return this.page.getByTestId('result-grid') }
  rows(): Locator { return this.page.getByTestId('result-row') }
  summary(): Locator { return this.page.getByTestId('query-summary') }
  rowCount(): Locator { return this.page.getByTestId('query-rowcount') }
  error(): Locator { return this.page.getByTestId('query-error') }
  /** The Results tab's notice that a fragment was read from a copy instead of its primary. */
  fallback(): Locator { return this.page.getByTestId('query-fallback') }
  planDiagram(): Locator { return this.page.getByTestId('plan-diagram') }
  historyRows(): Locator { return this.page.getByTestId('query-history-row') }
  siteSelect(): Locator { return this.page.getByTestId('query-site') }
}
